// Hugging Face model folders: errors that name the tensor or key, the key prefixes transformers
// accepts, saving and reloading, meta-device builds and quantized linear layers through a
// FormatRegistry.
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "model_test_util.h"
#include "oft/adapter/config.h"
#include "oft/errors.h"
#include "oft/nn/linear.h"
#include "oft/plugin/format_registry.h"
#include "oft/tuner/oft_model.h"

namespace oft::test {
namespace {

namespace fs = std::filesystem;

nlohmann::json read_config(const fs::path& dir) {
  std::ifstream in(dir / "config.json");
  return nlohmann::json::parse(in);
}

// Every tensor of a checkpoint folder (shards merged).
safetensors::TensorMap read_tensors(const fs::path& dir) {
  safetensors::TensorMap all;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".safetensors")
      for (auto& [key, t] : safetensors::load(entry.path()).tensors) all[key] = t;
  return all;
}

void write_checkpoint(const fs::path& dir, const nlohmann::json& config, const safetensors::TensorMap& tensors) {
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << config.dump(2);
  safetensors::save(dir / "model.safetensors", tensors, {{"format", "pt"}});
}

// The FormatError message of loading `dir`, or "" when it loads.
std::string load_error(const fs::path& dir, const models::LoadOptions& options = {}) {
  try {
    models::load_pretrained(dir, options);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

// The golden output of `name` at the positions its mask keeps, from a model loaded from `dir`.
::testing::AssertionResult matches_golden(const std::string& name, const fs::path& dir, double rtol = 1e-5) {
  torch::NoGradGuard no_grad;
  const auto golden = hf_expected(name);
  const auto model = models::load_pretrained(dir);
  const at::Tensor mask = golden.get("attention_mask");
  return close(valid_positions(model.forward(golden.get("input_ids"), mask), mask),
               valid_positions(golden.get("output"), mask), rtol, name + " from " + dir.string());
}

TEST(ModelCheckpoint, MissingTensorIsNamed) {
  TempDir dir;
  auto tensors = read_tensors(hf_dir("bert"));
  tensors.erase("encoder.layer.1.attention.self.key.weight");
  write_checkpoint(dir.path, read_config(hf_dir("bert")), tensors);
  const auto error = load_error(dir.path);
  EXPECT_TRUE(contains(error, "missing tensors: encoder.layer.1.attention.self.key.weight"));
  EXPECT_TRUE(contains(error, "BertModel"));
}

TEST(ModelCheckpoint, WrongShapeOrDtypeIsNamed) {
  TempDir dir;
  auto tensors = read_tensors(hf_dir("llama_sharded"));
  tensors["model.layers.0.self_attn.k_proj.weight"] = at::zeros({32, 32});
  tensors["model.layers.1.mlp.up_proj.weight"] = at::zeros({64, 32}, at::kChar);
  write_checkpoint(dir.path, read_config(hf_dir("llama_sharded")), tensors);
  const auto error = load_error(dir.path);
  EXPECT_TRUE(contains(
      error, "model.layers.0.self_attn.k_proj.weight (checkpoint [32, 32], LlamaForCausalLM expects [16, 32])"));
  EXPECT_TRUE(contains(error, "model.layers.1.mlp.up_proj.weight (checkpoint dtype Char, expected a float dtype)"));
}

TEST(ModelCheckpoint, ConfigErrorsNameTheKey) {
  TempDir dir;
  const auto tensors = read_tensors(hf_dir("llama_sharded"));
  auto config = read_config(hf_dir("llama_sharded"));
  auto missing = config;
  missing.erase("hidden_size");
  write_checkpoint(dir.path, missing, tensors);
  EXPECT_TRUE(contains(load_error(dir.path), "config.json of a llama model: key 'hidden_size' is missing"));

  auto no_heads = config;
  no_heads["num_key_value_heads"] = 0;
  write_checkpoint(dir.path, no_heads, tensors);
  EXPECT_TRUE(contains(load_error(dir.path), "key 'num_key_value_heads' must be at least 1, got 0"));

  auto yarn = config;
  yarn["rope_parameters"] = {{"rope_type", "yarn"}, {"rope_theta", 10000.0}, {"factor", 4.0}};
  write_checkpoint(dir.path, yarn, tensors);
  EXPECT_TRUE(contains(load_error(dir.path), "rope type 'yarn', which is not supported"));

  auto t5 = config;
  t5["model_type"] = "t5";
  write_checkpoint(dir.path, t5, tensors);
  EXPECT_TRUE(contains(load_error(dir.path), "model_type 't5' is not supported"));
}

TEST(ModelCheckpoint, FolderWithoutWeightsSaysWhatItLooksFor) {
  TempDir dir;
  fs::copy_file(hf_dir("bert") / "config.json", dir.path / "config.json");
  EXPECT_TRUE(contains(load_error(dir.path), "neither model.safetensors nor model.safetensors.index.json"));
  EXPECT_TRUE(contains(load_error(dir.path / "nowhere"), "cannot read"));
}

// transformers loads BertModel from BertFor* checkpoints ("bert." prefix, head tensors unused) and
// GPT2LMHeadModel from GPT2Model checkpoints (no "transformer." prefix, old mask buffers).
TEST(ModelCheckpoint, PrefixesAsTransformersHandlesThem) {
  TempDir bert, gpt2;
  safetensors::TensorMap prefixed;
  for (auto& [key, t] : read_tensors(hf_dir("bert"))) prefixed["bert." + key] = t;
  prefixed["cls.predictions.bias"] = at::zeros({64});
  prefixed["bert.embeddings.position_ids"] = at::arange(32).unsqueeze(0);
  write_checkpoint(bert.path, read_config(hf_dir("bert")), prefixed);
  EXPECT_TRUE(matches_golden("bert", bert.path));

  safetensors::TensorMap bare;
  for (auto& [key, t] : read_tensors(hf_dir("gpt2"))) bare[key.substr(std::string("transformer.").size())] = t;
  bare["h.0.attn.bias"] = at::ones({1, 1, 32, 32});
  write_checkpoint(gpt2.path, read_config(hf_dir("gpt2")), bare);
  EXPECT_TRUE(matches_golden("gpt2", gpt2.path));
}

TEST(ModelCheckpoint, BertWithoutPoolerLoads) {
  TempDir dir;
  auto tensors = read_tensors(hf_dir("bert"));
  tensors.erase("pooler.dense.weight");
  tensors.erase("pooler.dense.bias");
  write_checkpoint(dir.path, read_config(hf_dir("bert")), tensors);
  const auto model = models::load_pretrained(dir.path);
  for (const auto& item : model.module->named_parameters()) EXPECT_NE(item.key().rfind("pooler.", 0), 0u) << item.key();
}

// save_pretrained writes transformers' keys (tied lm_head not saved), the dtype, and a folder that
// loads back to the same outputs.
TEST(ModelCheckpoint, SaveAndReloadRoundTrip) {
  for (const std::string name : {"gpt2", "llama_sharded", "qwen2_bf16", "bert"}) {
    TempDir dir;
    const auto model = models::load_pretrained(hf_dir(name));
    models::save_pretrained(model, dir.path);
    const auto saved = safetensors::load(dir.path / "model.safetensors");
    const auto original = read_tensors(hf_dir(name));
    std::set<std::string> saved_keys, original_keys;
    for (const auto& item : saved.tensors) saved_keys.insert(item.first);
    for (const auto& item : original) original_keys.insert(item.first);
    EXPECT_EQ(saved_keys, original_keys) << name;
    for (const auto& [key, t] : original) EXPECT_TRUE(saved.tensors.at(key).equal(t)) << name << " " << key;
    EXPECT_EQ(saved.metadata.at("format"), "pt");
    EXPECT_EQ(read_config(dir.path).at("dtype"), read_config(hf_dir(name)).at("dtype")) << name;
    if (name != "bert") {
      EXPECT_TRUE(matches_golden(name, dir.path, name == "qwen2_bf16" ? 1.6e-2 : 1e-5));
    }
  }
}

TEST(ModelCheckpoint, SaveRefusesAdaptedAndMetaModels) {
  TempDir dir;
  auto model = models::load_pretrained(hf_dir("llama_sharded"));
  OFTConfig config;
  config.oft_block_size = 4;
  OFTModel peft(model.module, config, {.info = model.info});
  EXPECT_THROW(models::save_pretrained(model, dir.path), UsageError);
  peft.merge_and_unload();
  EXPECT_NO_THROW(models::save_pretrained(model, dir.path));

  models::LoadOptions meta;
  meta.device = c10::kMeta;
  EXPECT_THROW(models::save_pretrained(models::load_pretrained(hf_dir("bert"), meta), dir.path / "meta"), UsageError);
}

// A 7B LLaMA built on the meta device: the whole tree, transformers' names, no storage.
TEST(ModelCheckpoint, MetaBuildAllocatesNothing) {
  const nlohmann::json llama7b = {{"model_type", "llama"},      {"vocab_size", 32000},     {"hidden_size", 4096},
                                  {"intermediate_size", 11008}, {"num_hidden_layers", 32}, {"num_attention_heads", 32},
                                  {"num_key_value_heads", 32}};
  const auto model = models::from_config(llama7b, c10::kMeta);
  int64_t count = 0;
  for (const auto& p : model.module->parameters()) {
    EXPECT_TRUE(p.is_meta());
    count += p.numel();
  }
  EXPECT_EQ(count, 6738415616);  // LLaMA-2-7B's parameter count
  EXPECT_EQ(model.module->named_parameters().size(), 32u * 9 + 3);

  for (const std::string name : {"gpt2", "bert"})
    for (const auto& p : models::from_config(read_config(hf_dir(name)), c10::kMeta).module->parameters())
      EXPECT_TRUE(p.is_meta()) << name;

  models::LoadOptions meta;
  meta.device = c10::kMeta;
  const auto qwen = models::load_pretrained(hf_dir("qwen2_bf16"), meta);  // reads config.json only
  for (const auto& p : qwen.module->parameters()) {
    EXPECT_TRUE(p.is_meta());
    EXPECT_EQ(p.scalar_type(), at::kBFloat16);
  }
}

TEST(ModelCheckpoint, FromConfigBuildsARandomModelOnTheCpu) {
  torch::NoGradGuard no_grad;
  const auto model = models::from_config(read_config(hf_dir("gpt2")));
  const at::Tensor out = model.forward(at::randint(0, 64, {2, 5}), at::Tensor());
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 5, 64}));
  EXPECT_TRUE(out.isfinite().all().item<bool>());
  EXPECT_THROW(model.forward(at::randint(0, 64, {1, 33}), at::Tensor()), UsageError);  // n_positions 32
}

// --- quantized checkpoints ----------------------------------------------------------------------

// A test format: int8 weight with one scale per output row ("qweight", "scale", "bias").
class RowInt8 : public sdk::LinearModule {
 public:
  RowInt8(at::Tensor qweight, at::Tensor scale, at::Tensor bias) {
    q = register_buffer("qweight", qweight);
    s = register_buffer("scale", scale);
    if (bias.defined()) b = register_parameter("bias", bias);
  }
  std::string format() const override { return "row_int8"; }
  std::string type_name() const override { return "RowInt8"; }
  int64_t in_features() const override { return q.size(1); }
  int64_t out_features() const override { return q.size(0); }
  c10::ScalarType compute_dtype() const override { return s.scalar_type(); }
  c10::Device device() const override { return q.device(); }
  at::Tensor forward(const at::Tensor& x) override { return at::linear(x, dense_weight(), b); }
  sdk::MergePolicy merge_policy() const override { return {sdk::MergeMode::Refused, "test format"}; }
  at::Tensor dense_weight() override { return q.to(s.scalar_type()) * s.unsqueeze(1); }
  void set_dense_weight(const at::Tensor&) override { throw std::invalid_argument("row_int8 cannot store weights"); }
  at::Tensor q, s, b;
};

class RowInt8Format : public sdk::LinearFormat {
 public:
  std::string name() const override { return "row_int8"; }
  bool recognizes(const sdk::TensorMap& t, const std::string&) const override { return t.count("qweight") != 0; }
  std::shared_ptr<sdk::LinearModule> load(const sdk::TensorMap& t, const sdk::LinearShape& shape,
                                          const std::string&) const override {
    if (t.at("qweight").sizes() != at::IntArrayRef{shape.out_features, shape.in_features})
      throw std::invalid_argument("qweight does not fit the module");
    return std::make_shared<RowInt8>(t.at("qweight"), t.at("scale"), t.count("bias") ? t.at("bias") : at::Tensor());
  }
  std::shared_ptr<sdk::LinearModule> quantize(const at::Tensor&, const at::Tensor&, const std::string&,
                                              const at::Tensor&) const override {
    throw std::invalid_argument("not needed by the test");
  }
  std::string quantization_config(const std::string&) const override { return R"({"quant_method": "row_int8"})"; }
  std::vector<sdk::QuantizeMethod> quantize_methods() const override { return {}; }
  // Refuses merging in models quantized with it (the loader hands that to ModelInfo).
  std::string model_merge_refusal(const std::string& config) const override {
    return config.find("row_int8") != std::string::npos ? "row_int8 models do not merge" : "";
  }
  sdk::TensorMap save(const sdk::LinearModule& layer) const override {
    const auto& l = dynamic_cast<const RowInt8&>(layer);
    sdk::TensorMap out{{"qweight", l.q}, {"scale", l.s}};
    if (l.b.defined()) out["bias"] = l.b;
    return out;
  }
};

TEST(ModelCheckpoint, QuantizedLinearLayersLoadThroughTheFormatRegistry) {
  torch::NoGradGuard no_grad;
  TempDir quantized, saved;
  auto tensors = read_tensors(hf_dir("llama_sharded"));
  auto dense = models::load_pretrained(hf_dir("llama_sharded"));
  auto dense_params = dense.module->named_parameters();
  for (const std::string path : {"model.layers.0.self_attn.q_proj", "model.layers.1.mlp.down_proj"}) {
    const at::Tensor w = tensors.at(path + ".weight");
    const at::Tensor scale = w.abs().amax(1) / 127;
    const at::Tensor q = at::round(w / scale.unsqueeze(1)).to(at::kChar);
    tensors.erase(path + ".weight");
    tensors[path + ".qweight"] = q;
    tensors[path + ".scale"] = scale;
    dense_params[path + ".weight"].copy_(q.to(at::kFloat) * scale.unsqueeze(1));  // the same layer, dequantized
  }
  auto config = read_config(hf_dir("llama_sharded"));
  config["quantization_config"] = {{"quant_method", "row_int8"}};
  write_checkpoint(quantized.path, config, tensors);

  EXPECT_TRUE(contains(load_error(quantized.path), "quant_method 'row_int8'"));
  auto registry = std::make_shared<FormatRegistry>();
  registry->add({std::make_shared<RowInt8Format>()}, "test");
  models::LoadOptions options;
  options.formats = registry;
  auto model = models::load_pretrained(quantized.path, options);
  EXPECT_EQ(model.info.quantization_method, "row_int8");
  EXPECT_EQ(model.info.merge_refusal, "row_int8 models do not merge");
  EXPECT_EQ(dense.info.merge_refusal, "");
  auto params = model.module->named_buffers();
  EXPECT_EQ(params["model.layers.0.self_attn.q_proj.qweight"].scalar_type(), at::kChar);

  const auto golden = hf_expected("llama_sharded");
  const at::Tensor ids = golden.get("input_ids"), mask = golden.get("attention_mask");
  const at::Tensor expected = dense.forward(ids, mask);
  EXPECT_TRUE(close(model.forward(ids, mask), expected, 1e-5, "quantized layers"));

  EXPECT_THROW(models::save_pretrained(model, saved.path), UsageError);  // needs the registry
  models::save_pretrained(model, saved.path, registry.get());
  const auto file = safetensors::load(saved.path / "model.safetensors").tensors;
  EXPECT_EQ(file.count("model.layers.1.mlp.down_proj.qweight"), 1u);
  EXPECT_EQ(file.count("model.layers.1.mlp.down_proj.weight"), 0u);
  EXPECT_EQ(read_config(saved.path).at("quantization_config").at("quant_method"), "row_int8");
  EXPECT_TRUE(close(models::load_pretrained(saved.path, options).forward(ids, mask), expected, 1e-5, "reloaded"));
}

// transformers itself loads what save_pretrained wrote (no missing or unexpected keys) and computes
// the same outputs (tests/hf/hf_load_check.py).
TEST(ModelCheckpoint, TransformersLoadsSavedModels) {
  if (!fs::exists(OFT_PYTHON)) GTEST_SKIP() << "no " << OFT_PYTHON << " (scripts/setup.sh --peers)";
  for (const std::string name : {"gpt2", "qwen2_bf16", "bert"}) {
    TempDir dir;
    torch::NoGradGuard no_grad;
    const auto model = models::load_pretrained(hf_dir(name));
    models::save_pretrained(model, dir.path / "model");
    const auto golden = hf_expected(name);
    const at::Tensor ids = golden.get("input_ids"), mask = golden.get("attention_mask");
    safetensors::save(dir.path / "io.safetensors",
                      {{"input_ids", ids}, {"attention_mask", mask}, {"output", model.forward(ids, mask)}});
    const std::string command = std::string(OFT_PYTHON) + " " + OFT_HF_LOAD_CHECK + " " +
                                (dir.path / "model").string() + " " + (dir.path / "io.safetensors").string() + " " +
                                (name == "qwen2_bf16" ? "1.6e-2" : "1e-5");
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
  }
}

}  // namespace
}  // namespace oft::test
