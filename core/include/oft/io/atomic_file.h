#pragma once
// Writes files and folders so that readers see either the old content or the complete new one, never
// a partial write, even if the process is killed: the content goes to a temporary sibling, which is
// renamed over the target.
#include <filesystem>
#include <functional>
#include <ostream>

#include "oft/export.h"

namespace oft {

// Calls `write` with a stream to the temporary file; throws FormatError naming `path` if anything
// fails, and removes the temporary file in that case.
OFT_CORE_API void write_atomically(const std::filesystem::path& path, const std::function<void(std::ostream&)>& write);

// Calls `fill` with an empty temporary folder next to `dir` (".<name>.oft-tmp.<pid>.<n>"), then puts it
// in place of `dir`: an existing folder is swapped out in one step (renameat2 RENAME_EXCHANGE) and then
// removed, so `dir` is at every moment absent, the old folder or the complete new one. If `fill` throws,
// the temporary folder is removed and `dir` is left as it was. Temporary folders of processes that died
// (killed) are removed by the next call for the same `dir`. Throws FormatError naming `dir` when it is
// not a folder or the file system refuses.
OFT_CORE_API void write_folder_atomically(const std::filesystem::path& dir,
                                          const std::function<void(const std::filesystem::path&)>& fill);

}  // namespace oft
