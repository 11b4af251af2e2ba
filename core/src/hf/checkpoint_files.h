#pragma once
// The files of a Hugging Face model folder that come from outside: JSON files (config.json, the shard
// index) and the checkpoint, one model.safetensors or the shards model.safetensors.index.json lists.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "oft/io/safetensors.h"

namespace oft::models::detail {

// FormatError naming the file when it cannot be read or is not JSON.
nlohmann::json read_json_file(const std::filesystem::path& path);

// model.safetensors, or the shards of model.safetensors.index.json (transformers prefers the single file
// too). FormatError naming the index and the shard or tensor for: no checkpoint, an index without a
// "weight_map" object, a shard outside the folder or missing, a tensor the index maps to a shard that
// lacks it, a tensor in two shards; and whatever safetensors::load refuses in a shard.
safetensors::TensorMap read_checkpoint(const std::filesystem::path& dir);

}  // namespace oft::models::detail
