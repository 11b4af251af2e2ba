#pragma once
// ModelInfo: what OFTModel needs to know about a model beyond its module tree (from its config.json).
// Its own header so that model loading (oft/models/pretrained.h) does not depend on OFTModel.
#include <string>

namespace oft {

// What OFTModel needs to know about the model beyond its module tree (from its config.json).
struct ModelInfo {
  std::string model_type = "custom";     // selects PEFT's default target list when target_modules is unset
  std::string output_layer;              // excluded from "all-linear" (e.g. "lm_head"); empty: none
  std::string quantization_method;       // quantization_config's quant_method; empty when dense
  std::string quantization_config_json;  // config.json "quantization_config", handed to dispatchers
  std::string merge_refusal;       // why no layer may merge, from the format of quantization_config; "" = no objection
  bool layers_replicated = false;  // base model layers replicated (merging is refused)
  std::string name_or_path;        // written as base_model_name_or_path
};

}  // namespace oft
