#pragma once
// safetensors::load's reader on bytes already in memory: the same checks, `file` names them in
// errors. Private: the fuzz target (fuzz/) feeds it without a file system round trip.
#include <string>
#include <vector>

#include "oft/io/safetensors.h"

namespace oft::safetensors {

Contents load_bytes(const std::vector<char>& bytes, const std::string& file);

}  // namespace oft::safetensors
