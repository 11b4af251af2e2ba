// Parity with transformers: tiny random checkpoints that transformers saved, loaded by
// oft::models::load_pretrained, give transformers' outputs for the same inputs
// (tests/golden/gen_models.py records them with the versions used).
#include <cstdio>
#include <set>

#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "model_test_util.h"
#include "oft/adapter/config.h"
#include "oft/tuner/oft_model.h"

namespace oft::test {
namespace {

struct Case {
  std::string name;
  bool causal;
  double rtol;  // in the checkpoint's dtype: fp32 1e-5; half precision rounds differently per op order
};

// Relative to the largest |expected|: fp32 is the same math up to summation order; fp16 / bf16 may differ
// by about two units in the last place of those formats (2^-10, 2^-7) where kernels differ (on the
// machine that wrote the data every case matched exactly).
const Case kCases[] = {{"bert", false, 1e-5},
                       {"gpt2", true, 1e-5},
                       {"llama_sharded", true, 1e-5},
                       {"llama3_rope", true, 1e-5},
                       {"llama_linear_rope", true, 1e-5},
                       {"mistral_window", true, 1e-5},
                       {"mistral_fp16", true, 2e-3},
                       {"qwen2_bf16", true, 1.6e-2}};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class ModelGolden : public ::testing::TestWithParam<Case> {};

at::Tensor compared(const Case& c, const at::Tensor& output, const at::Tensor& mask) {
  return c.causal ? valid_positions(output, mask) : output;
}

TEST_P(ModelGolden, OutputsMatchTransformers) {
  const Case& c = GetParam();
  torch::NoGradGuard no_grad;
  const auto golden = hf_expected(c.name);
  const auto model = models::load_pretrained(hf_dir(c.name));
  EXPECT_EQ(model.output_name, golden.cases.at("output_name").get<std::string>());
  const at::Tensor ids = golden.get("input_ids"), mask = golden.get("attention_mask");
  const at::Tensor expected = golden.get("output");
  const at::Tensor out = model.forward(ids, mask);
  EXPECT_EQ(out.scalar_type(), expected.scalar_type());
  const at::Tensor actual_valid = compared(c, out, mask), expected_valid = compared(c, expected, mask);
  std::printf("%s: relative error %.3g (tolerance %.2g)\n", c.name.c_str(),
              relative_error(actual_valid, expected_valid), c.rtol);
  EXPECT_TRUE(close(actual_valid, expected_valid, c.rtol, c.name + " output"));
  EXPECT_TRUE(close(model.forward(ids, at::Tensor()), golden.get("output_nomask"), c.rtol, c.name + " without mask"));
}

// The module tree names its parameters as transformers' state dict: the checkpoint's keys plus
// lm_head.weight where it is tied to the embeddings (one tensor, not saved).
TEST_P(ModelGolden, ParameterNamesAreTheCheckpointKeys) {
  const Case& c = GetParam();
  const auto model = models::load_pretrained(hf_dir(c.name));
  std::set<std::string> keys;
  for (const auto& entry : std::filesystem::directory_iterator(hf_dir(c.name)))
    if (entry.path().extension() == ".safetensors")
      for (const auto& item : safetensors::load(entry.path()).tensors) keys.insert(item.first);
  std::set<std::string> names;
  const auto parameters = model.module->named_parameters();
  for (const auto& item : parameters) names.insert(item.key());
  const bool tied = model.config.value("tie_word_embeddings", c.name == "gpt2") && c.causal;
  if (tied) {
    ASSERT_EQ(names.count("lm_head.weight"), 1u);
    names.erase("lm_head.weight");
    // Loading keeps the tie: lm_head.weight is the embedding's very tensor, with the checkpoint's data.
    const at::Tensor& head = parameters["lm_head.weight"];
    int holders = 0;
    for (const auto& item : parameters) holders += item.value().unsafeGetTensorImpl() == head.unsafeGetTensorImpl();
    EXPECT_EQ(holders, 2);
    EXPECT_FALSE(head.is_meta());
  }
  EXPECT_EQ(names, keys);
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, ModelGolden, ::testing::ValuesIn(kCases),
                         [](const auto& test) { return test.param.name; });

// A half-precision checkpoint loaded as fp32 gives transformers' output for dtype=torch.float32.
TEST(ModelGoldenHalf, HalfPrecisionCheckpointsLoadInARequestedDtype) {
  torch::NoGradGuard no_grad;
  for (const std::string name : {"mistral_fp16", "qwen2_bf16"}) {
    const auto golden = hf_expected(name);
    models::LoadOptions options;
    options.dtype = at::kFloat;
    const auto model = models::load_pretrained(hf_dir(name), options);
    for (const auto& p : model.module->parameters()) EXPECT_EQ(p.scalar_type(), at::kFloat);
    const at::Tensor mask = golden.get("attention_mask");
    const at::Tensor out = model.forward(golden.get("input_ids"), mask);
    EXPECT_TRUE(
        close(valid_positions(out, mask), valid_positions(golden.get("output_fp32"), mask), 1e-5, name + " as fp32"));
  }
}

// OFT with PEFT's default targets for the model_type, on a loaded checkpoint: the forward runs the OFT
// layers (through the LayerSlots), and merging gives the same outputs.
class LoadedModelOft : public ::testing::TestWithParam<std::pair<std::string, std::vector<std::string>>> {};

TEST_P(LoadedModelOft, DefaultTargetsAdaptAndMerge) {
  const auto& [name, targets] = GetParam();
  torch::NoGradGuard no_grad;
  auto model = models::load_pretrained(hf_dir(name));
  model.module->eval();
  const auto golden = hf_expected(name);
  const at::Tensor ids = golden.get("input_ids"), mask = golden.get("attention_mask");
  const at::Tensor base = model.forward(ids, mask);

  OFTConfig config;
  config.oft_block_size = 4;
  OFTModel peft(model.module, config, {.info = model.info});
  std::vector<std::string> expected;
  const int64_t layers = model.config.contains("n_layer") ? model.config.at("n_layer").get<int64_t>()
                                                          : model.config.at("num_hidden_layers").get<int64_t>();
  for (int64_t i = 0; i < layers; ++i)
    for (const auto& t : targets)
      expected.push_back(t.substr(0, t.find('#')) + std::to_string(i) + t.substr(t.find('#') + 1));
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(peft.targeted_module_names(), expected);
  // Identity at init: the adapted model gives the base outputs.
  EXPECT_TRUE(close(model.forward(ids, mask), base, 1e-5, name + " with identity adapters"));

  for (auto& item : model.module->named_parameters())
    if (item.key().find("oft_R") != std::string::npos) item.value().normal_(0.0, 0.1);
  const at::Tensor adapted = model.forward(ids, mask);
  EXPECT_GT(relative_error(adapted, base), 1e-3) << "the adapters must change the output";
  peft.merge_and_unload();
  EXPECT_TRUE(close(model.forward(ids, mask), adapted, 1e-4, name + " merged"));
  for (const auto& item : model.module->named_parameters()) EXPECT_EQ(item.key().find("oft_R"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    PeftDefaults, LoadedModelOft,
    ::testing::Values(
        std::make_pair(std::string("bert"), std::vector<std::string>{"encoder.layer.#.attention.self.query",
                                                                     "encoder.layer.#.attention.self.value"}),
        std::make_pair(std::string("gpt2"), std::vector<std::string>{"transformer.h.#.attn.c_attn"}),
        std::make_pair(std::string("llama_sharded"),
                       std::vector<std::string>{"model.layers.#.self_attn.q_proj", "model.layers.#.self_attn.v_proj"})),
    [](const auto& test) { return test.param.first; });

}  // namespace
}  // namespace oft::test
