#pragma once
// A run killed while writing leaves temporaries next to what it wrote: write_folder_atomically's
// ".<name>.oft-tmp.<pid>.<n>" and ".<name>.oft-old.<pid>.<n>" folders (checkpoint, adapter), write_atomically's
// "<name>.tmp.<pid>.<n>" files (metrics.json, eval_logits.safetensors). No reader takes them for outputs, but
// they would pile up in output_dir over kills; `oft train` removes those of processes that no longer run
// when it starts (as rank 0, the only writer). Other names are left alone: output_dir may hold the user's.
#include <filesystem>
#include <string>

namespace oft::app {

// True for a temporary of one of the outputs above; `pid` receives its writer's.
bool parse_temporary_name(const std::string& name, long& pid);

// Removes the temporaries in `folder` (not below it) whose writing process is gone; returns how many.
int remove_stale_temporaries(const std::filesystem::path& folder);

}  // namespace oft::app
