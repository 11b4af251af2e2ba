// A whole HQQ checkpoint as transformers lays it out (tests/golden/gen_hqq.py: the tiny LLaMA with every
// decoder linear an hqq HQQLinear, 4-bit, group 32, axis 1, fp32 compute; HqqConfig.to_dict() as
// quantization_config), loaded through the host with the built plugin: its logits equal those of the
// hqq-patched transformers model within 1e-5 (relative to the largest logit: fp32 throughout, the
// matmul order differs), and save_pretrained writes back the same tensors.
#include <filesystem>

#include <ATen/ATen.h>

#include "hqq_linear.h"
#include "oft/hf/pretrained.h"
#include "oft/io/safetensors.h"
#include "plugin_loading.h"
#include "test_support.h"

namespace oft::hqq::test {
namespace {

namespace fs = std::filesystem;

const fs::path kCheckpoint = fs::path(OFT_GOLDEN_DIR) / "hqq" / "llama_hqq";

TEST(HqqCheckpoint, LoadsHqqsModelAndComputesItsLogits) {
  models::LoadOptions options;
  options.formats = oft::test::load_only_plugin(OFT_HQQ_PLUGIN_FILE, "hqq").formats;
  const models::Pretrained model = models::load_pretrained(kCheckpoint, options);
  EXPECT_EQ(model.info.quantization_method, "hqq");
  int hqq_layers = 0;
  for (const auto& item : model.module->named_modules())
    if (std::dynamic_pointer_cast<HqqLinear>(item.value())) ++hqq_layers;
  EXPECT_EQ(hqq_layers, 14);  // 2 decoder layers x (q, k, v, o, gate, up, down); lm_head stays dense
  const auto golden = oft::test::load_golden("hqq/llama_hqq_logits.safetensors");
  torch::NoGradGuard no_grad;
  const at::Tensor logits = model.forward(golden.get("input_ids"), at::Tensor());
  EXPECT_TRUE(oft::test::close(logits, golden.get("logits"), 1e-5, "logits"));
  RecordProperty("logits_rel_err", std::to_string(oft::test::relative_error(logits, golden.get("logits"))));
}

TEST(HqqCheckpoint, SavePretrainedWritesHqqsTensorsBack) {
  models::LoadOptions options;
  options.formats = oft::test::load_only_plugin(OFT_HQQ_PLUGIN_FILE, "hqq").formats;
  const models::Pretrained model = models::load_pretrained(kCheckpoint, options);
  const fs::path out = fs::temp_directory_path() / ("hqq_checkpoint_" + std::to_string(::getpid()));
  models::save_pretrained(model, out, options.formats.get());
  const auto original = safetensors::load(kCheckpoint / "model.safetensors").tensors;
  const auto saved = safetensors::load(out / "model.safetensors").tensors;
  EXPECT_EQ(saved.size(), original.size());
  for (const auto& [name, tensor] : original) {
    ASSERT_TRUE(saved.count(name)) << name;
    EXPECT_EQ(saved.at(name).scalar_type(), tensor.scalar_type()) << name;
    EXPECT_TRUE(at::equal(saved.at(name), tensor)) << name;
  }
  const models::Pretrained reloaded = models::load_pretrained(out, options);
  EXPECT_EQ(reloaded.info.quantization_method, "hqq");
  fs::remove_all(out);
}

}  // namespace
}  // namespace oft::hqq::test
