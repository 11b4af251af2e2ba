#pragma once
// The data shipped with oft (the repository's data/ folders) wherever oft runs from: the build mirrors
// data/<name> to build/share/oft/<name> and `cmake --install` copies it to <prefix>/share/oft/<name>, so
// <folder of the oft executable>/../share/oft/<name> finds it in the build tree and in an install alike,
// whatever the current folder.
#include <filesystem>
#include <string>

namespace oft::app {

// <folder of the running executable>/../share/oft/<name>, normalized (it need not exist); empty when the
// executable cannot be found (no /proc).
std::filesystem::path bundled_data_folder(const std::string& name);

}  // namespace oft::app
