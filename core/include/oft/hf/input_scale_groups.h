#pragma once
// Which op produces the input of which linear layers, for quantizers that scale a layer's input per
// channel (AWQ): the scale s is folded into the producer (its output divided by s) and into every
// linear reading that output (weight columns multiplied by s), so the model computes the same function.
// Architecture knowledge, kept here so that `oft quantize` and the plugins need none. Torch-free.
#include <string>
#include <vector>

#include "oft/export.h"

namespace oft::models {

struct InputScaleGroup {
  enum class Producer {
    Norm,    // RMSNorm / LayerNorm: weight (and bias) divided by s
    Linear,  // a linear layer whose output feeds the readers only: output rows (and bias) divided by s
  };
  std::string producer;  // module path, e.g. "model.layers.0.input_layernorm"
  Producer producer_kind = Producer::Norm;
  std::vector<std::string> readers;  // linear layers reading exactly the producer's output
};

// The groups of a model of `model_type` whose modules (named_modules() paths) are `module_paths`, block
// by block in the order AWQ searches them:
//   llama, mistral, qwen2: input_layernorm -> self_attn.{q,k,v}_proj; post_attention_layernorm ->
//                          mlp.{gate,up}_proj; mlp.up_proj -> mlp.down_proj (act(gate) * up is linear in up);
//   gpt2:                  ln_1 -> attn.c_attn; ln_2 -> mlp.c_fc (GELU before c_proj: no linear group).
// None for other model types (bert: its LayerNorms also feed residual paths). A group is left out unless
// its producer and every reader exist.
OFT_CORE_API std::vector<InputScaleGroup> input_scale_groups(const std::string& model_type,
                                                             const std::vector<std::string>& module_paths);

}  // namespace oft::models
