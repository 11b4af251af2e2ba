#pragma once
// Writes a file so that readers see either the old file or the complete new one, never a partial
// write: the content goes to a temporary file in the same folder, which is renamed over the target.
#include <filesystem>
#include <functional>
#include <ostream>

#include "oft/export.h"

namespace oft {

// Calls `write` with a stream to the temporary file; throws FormatError naming `path` if anything
// fails, and removes the temporary file in that case.
OFT_CORE_API void write_atomically(const std::filesystem::path& path, const std::function<void(std::ostream&)>& write);

}  // namespace oft
