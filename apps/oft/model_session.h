#pragma once
// A model folder loaded for a command, with its adapters: what plan, forward and merge share.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "compute_options.h"
#include "host.h"
#include "oft/hf/pretrained.h"
#include "oft/tuner/oft_model.h"

namespace oft::app {

// `--adapter [NAME=]DIR`: the adapter saved in DIR, loaded under NAME (default "default").
struct AdapterArgument {
  std::string name;
  std::filesystem::path dir;
  static AdapterArgument parse(const std::string& text);
};

struct ModelSession {
  models::Pretrained model;
  std::optional<OFTModel> oft;  // set once an adapter is attached
  ComputeSettings compute;      // where the model lives and its dtype
};

// Loads the checkpoint with the host's quantized-linear formats, straight onto compute.device in compute.dtype.
ModelSession load_model(Host& host, const std::filesystem::path& dir, const ComputeSettings& compute = {});

// Loads each adapter (the first through OFTModel::from_pretrained, the others with load_adapter) and
// activates `active` (default: the first loaded).
void attach_adapters(Host& host, ModelSession& session, const std::vector<AdapterArgument>& adapters,
                     const std::vector<std::string>& active);

}  // namespace oft::app
