// models::input_scale_groups: which norm or linear feeds which linears, per architecture, from module
// paths alone (transformers' names).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "oft/hf/input_scale_groups.h"

namespace oft::models {
namespace {

using Producer = InputScaleGroup::Producer;

std::vector<std::string> llama_block(const std::string& p) {
  return {p,
          p + ".self_attn",
          p + ".self_attn.q_proj",
          p + ".self_attn.k_proj",
          p + ".self_attn.v_proj",
          p + ".self_attn.o_proj",
          p + ".mlp",
          p + ".mlp.gate_proj",
          p + ".mlp.up_proj",
          p + ".mlp.down_proj",
          p + ".input_layernorm",
          p + ".post_attention_layernorm"};
}

std::vector<std::string> with_blocks(std::vector<std::string> paths,
                                     const std::vector<std::vector<std::string>>& blocks) {
  for (const auto& block : blocks) paths.insert(paths.end(), block.begin(), block.end());
  return paths;
}

TEST(InputScaleGroups, LlamaFamilyNormsAndUpProjFeedTheirReaders) {
  const auto paths = with_blocks({"model", "model.embed_tokens", "model.layers", "model.norm", "lm_head"},
                                 {llama_block("model.layers.0"), llama_block("model.layers.1")});
  for (const std::string type : {"llama", "mistral", "qwen2"}) {
    SCOPED_TRACE(type);
    const auto groups = input_scale_groups(type, paths);
    ASSERT_EQ(groups.size(), 6u);
    const std::string b = "model.layers.1.";
    EXPECT_EQ(groups[3].producer, b + "input_layernorm");
    EXPECT_EQ(groups[3].producer_kind, Producer::Norm);
    EXPECT_EQ(groups[3].readers,
              (std::vector<std::string>{b + "self_attn.q_proj", b + "self_attn.k_proj", b + "self_attn.v_proj"}));
    EXPECT_EQ(groups[4].producer, b + "post_attention_layernorm");
    EXPECT_EQ(groups[4].readers, (std::vector<std::string>{b + "mlp.gate_proj", b + "mlp.up_proj"}));
    EXPECT_EQ(groups[5].producer, b + "mlp.up_proj");
    EXPECT_EQ(groups[5].producer_kind, Producer::Linear);
    EXPECT_EQ(groups[5].readers, (std::vector<std::string>{b + "mlp.down_proj"}));
    EXPECT_EQ(groups[0].producer, "model.layers.0.input_layernorm");
  }
}

TEST(InputScaleGroups, Gpt2LayerNormsFeedCAttnAndCFc) {
  const std::vector<std::string> paths = {"transformer",
                                          "transformer.h.0",
                                          "transformer.h.0.ln_1",
                                          "transformer.h.0.attn",
                                          "transformer.h.0.attn.c_attn",
                                          "transformer.h.0.attn.c_proj",
                                          "transformer.h.0.ln_2",
                                          "transformer.h.0.mlp",
                                          "transformer.h.0.mlp.c_fc",
                                          "transformer.h.0.mlp.c_proj",
                                          "transformer.ln_f",
                                          "lm_head"};
  const auto groups = input_scale_groups("gpt2", paths);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].producer, "transformer.h.0.ln_1");
  EXPECT_EQ(groups[0].readers, std::vector<std::string>{"transformer.h.0.attn.c_attn"});
  EXPECT_EQ(groups[1].producer, "transformer.h.0.ln_2");
  EXPECT_EQ(groups[1].readers, std::vector<std::string>{"transformer.h.0.mlp.c_fc"});
}

TEST(InputScaleGroups, NoGroupWithoutEveryReaderNorForOtherArchitectures) {
  auto block = llama_block("model.layers.0");
  std::erase(block, "model.layers.0.self_attn.k_proj");
  const auto groups = input_scale_groups("llama", block);
  ASSERT_EQ(groups.size(), 2u);  // input_layernorm's group would miss a reader of the norm
  EXPECT_EQ(groups[0].producer, "model.layers.0.post_attention_layernorm");
  EXPECT_TRUE(input_scale_groups("bert", {"encoder.layer.0.attention.output.LayerNorm"}).empty());
  EXPECT_TRUE(input_scale_groups("custom", llama_block("model.layers.0")).empty());
}

}  // namespace
}  // namespace oft::models
