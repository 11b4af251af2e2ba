#include "hf/checkpoint_files.h"

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "oft/errors.h"

namespace oft::models::detail {

namespace fs = std::filesystem;

nlohmann::json read_json_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw FormatError("cannot read " + path.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(path.string() + " is not valid JSON: " + e.what());
  }
}

safetensors::TensorMap read_checkpoint(const fs::path& dir) {
  const auto single = dir / "model.safetensors";
  if (fs::exists(single)) return safetensors::load(single).tensors;
  const auto index_path = dir / "model.safetensors.index.json";
  if (!fs::exists(index_path))
    throw FormatError(dir.string() +
                      " has neither model.safetensors nor model.safetensors.index.json "
                      "(pytorch_model.bin checkpoints are not supported: save them as safetensors)");
  const auto index = read_json_file(index_path);
  if (!index.contains("weight_map") || !index.at("weight_map").is_object())
    throw FormatError(index_path.string() + " has no \"weight_map\" object");
  std::map<std::string, std::vector<std::string>> by_file;
  for (const auto& [key, file] : index.at("weight_map").items()) {
    if (!file.is_string())
      throw FormatError(index_path.string() + ": weight_map entry '" + key + "' is not a file name");
    by_file[file.get<std::string>()].push_back(key);
  }
  safetensors::TensorMap all;
  std::map<std::string, std::string> shard_of;  // tensor -> the shard it came from, to refuse a second copy
  for (const auto& [file, keys] : by_file) {
    if (fs::path(file).has_parent_path() || file.empty() || file == "." || file == "..")
      throw FormatError(index_path.string() + " names shard '" + file + "' outside the folder");
    if (!fs::is_regular_file(dir / file))
      throw FormatError(index_path.string() + " maps tensor '" + keys.front() + "' to shard " + file +
                        ", which is not a file in " + dir.string());
    auto shard = safetensors::load(dir / file).tensors;
    for (const auto& key : keys)
      if (!shard.count(key))
        throw FormatError(index_path.string() + " maps tensor '" + key + "' to " + file +
                          ", which does not contain it");
    for (auto& [key, tensor] : shard) {
      if (auto [it, fresh] = shard_of.emplace(key, file); !fresh)
        throw FormatError(index_path.string() + ": tensor '" + key + "' is in two shards, " + it->second + " and " +
                          file + " (which one is meant?)");
      all[key] = std::move(tensor);
    }
  }
  return all;
}

}  // namespace oft::models::detail
