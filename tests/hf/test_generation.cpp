// KV-cached generation (oft/hf/generation.h) against transformers' generate() and PEFT
// (tests/golden/gen_generation.py): greedy continuations token for token, cached logits against full
// re-runs, transformers' warpers, seeded sampling, top-k, EOS, and the refusals.
#include <fstream>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>

#include "model_test_util.h"
#include "oft/errors.h"
#include "oft/hf/generation.h"
#include "oft/tuner/oft_model.h"

namespace oft::test {
namespace {

const nlohmann::json& golden() {
  static const nlohmann::json json = [] {
    std::ifstream in(std::filesystem::path(OFT_GOLDEN_DIR) / "generation" / "expected.json");
    return nlohmann::json::parse(in);
  }();
  return json;
}

// A golden case's model with its adapter (if any) attached, in eval mode.
struct LoadedCase {
  models::Pretrained model;
  std::optional<OFTModel> oft;
};

LoadedCase load_case(const nlohmann::json& c) {
  LoadedCase loaded{models::load_pretrained(hf_dir(c.at("model").get<std::string>())), std::nullopt};
  if (!c.at("adapter").is_null())
    loaded.oft.emplace(OFTModel::from_pretrained(
        loaded.model.module,
        std::filesystem::path(OFT_GOLDEN_DIR) / "generation" / "adapters" / c.at("adapter").get<std::string>(),
        {.info = loaded.model.info}));
  loaded.model.module->eval();
  return loaded;
}

std::vector<int64_t> ids_of(const nlohmann::json& v) { return v.get<std::vector<int64_t>>(); }

at::Tensor row(const std::vector<int64_t>& ids) {
  return at::tensor(ids, at::kLong).view({1, static_cast<int64_t>(ids.size())});
}

// One test per check, looping over the cases (a process per test costs about a second of LibTorch start-up).
TEST(GenerationGolden, GreedyIdsEqualTransformers) {
  for (const auto& c : golden().at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    auto loaded = load_case(c);
    models::GenerationOptions options;
    options.max_new_tokens = c.at("max_new_tokens").get<int64_t>();
    options.eos_token_ids = ids_of(c.at("eos_token_ids"));
    for (const bool cache : {true, false}) {
      options.use_cache = cache;
      std::vector<int64_t> streamed;
      const auto ids = models::generate(loaded.model, ids_of(c.at("prompt_ids")), options,
                                        [&](int64_t id) { streamed.push_back(id); });
      EXPECT_EQ(ids, ids_of(c.at("new_ids"))) << (cache ? "with" : "without") << " the KV cache";
      EXPECT_EQ(streamed, ids);
    }
  }
}

// The cache must not change the numbers: each step's logits against the whole sequence run again.
// fp32: 1e-5 relative (summation order differs); bf16: 2e-2 (one bf16 rounding step, 2^-7, with margin).
TEST(GenerationGolden, CachedLogitsEqualFullRerunAtEveryStep) {
  torch::NoGradGuard no_grad;
  for (const auto& c : golden().at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    auto loaded = load_case(c);
    const bool half = loaded.model.module->parameters().front().scalar_type() != at::kFloat;
    const double rtol = half ? 2e-2 : 1e-5;
    std::vector<int64_t> context = ids_of(c.at("prompt_ids"));
    models::Decoder decoder(loaded.model);
    at::Tensor logits = decoder.append(row(context));
    EXPECT_TRUE(close(logits, loaded.model.forward(row(context), {}), rtol, "prefill"));
    for (const int64_t token : ids_of(c.at("new_ids"))) {
      context.push_back(token);
      logits = decoder.append(row({token}));
      const at::Tensor full = loaded.model.forward(row(context), {}).narrow(1, -1, 1);
      ASSERT_TRUE(close(logits, full, rtol, "step " + std::to_string(context.size())));
    }
    EXPECT_EQ(decoder.length(), static_cast<int64_t>(context.size()));
    const auto& keys = decoder.cache().keys;
    ASSERT_FALSE(keys.empty());
    EXPECT_EQ(keys.front().size(0), 1);
    EXPECT_EQ(keys.front().size(2), static_cast<int64_t>(context.size()));
  }
}

TEST(GenerationGoldenData, HasTheCasesTheTestsRelyOn) {
  std::set<std::string> names;
  for (const auto& c : golden().at("cases")) names.insert(c.at("name").get<std::string>());
  for (const char* name : {"gpt2", "llama", "llama_oft", "mistral_window", "mistral_window_oft", "llama_eos"})
    EXPECT_TRUE(names.count(name)) << name;
}

TEST(GenerationEos, StopsAtTheEosToken) {
  const auto& cases = golden().at("cases");
  for (const auto& c : cases) {
    if (c.at("eos_token_ids").empty()) continue;
    const auto ids = ids_of(c.at("new_ids"));
    ASSERT_LT(ids.size(), c.at("max_new_tokens").get<size_t>()) << "the golden case must stop early";
    EXPECT_EQ(ids.back(), c.at("eos_token_ids").at(0).get<int64_t>());
  }
}

TEST(GenerationEos, ReadsEosIdsFromGenerationConfigThenConfig) {
  EXPECT_EQ(models::eos_token_ids(hf_dir("llama_sharded")), std::vector<int64_t>{2});
  EXPECT_TRUE(models::eos_token_ids(hf_dir("qwen2_bf16")).empty());
  TempDir dir;
  std::ofstream(dir.path / "config.json") << R"({"eos_token_id": 7})";
  EXPECT_EQ(models::eos_token_ids(dir.path), std::vector<int64_t>{7});
  std::ofstream(dir.path / "generation_config.json") << R"({"eos_token_id": [3, 4]})";
  EXPECT_EQ(models::eos_token_ids(dir.path), (std::vector<int64_t>{3, 4}));
  std::ofstream(dir.path / "generation_config.json") << R"({"eos_token_id": "x"})";
  EXPECT_THROW(models::eos_token_ids(dir.path), FormatError);
}

TEST(GenerationWarpers, EqualTransformersWarpers) {
  for (const auto& w : golden().at("warpers")) {
    models::SamplingOptions o{.greedy = false,
                              .temperature = w.at("temperature").get<double>(),
                              .top_k = w.at("top_k").get<int64_t>(),
                              .top_p = w.at("top_p").get<double>()};
    const at::Tensor out = models::warp_logits(at::tensor(w.at("logits").get<std::vector<float>>()), o);
    const auto& expected = w.at("expected");
    ASSERT_EQ(out.size(0), static_cast<int64_t>(expected.size()));
    for (size_t i = 0; i < expected.size(); ++i) {
      const float v = out[static_cast<int64_t>(i)].item<float>();
      if (expected[i].is_null())
        EXPECT_EQ(v, -std::numeric_limits<float>::infinity()) << w.dump() << " index " << i;
      else
        EXPECT_NEAR(v, expected[i].get<float>(), 1e-6) << w.dump() << " index " << i;
    }
  }
}

TEST(GenerationSampling, IsReproducibleWithASeedAndStaysInTheTopK) {
  const auto loaded = load_case(golden().at("cases").at(1));
  models::GenerationOptions options;
  options.max_new_tokens = 15;
  options.sampling = {.greedy = false, .temperature = 3.0, .top_k = 4, .top_p = 1.0, .seed = 11};
  const std::vector<int64_t> prompt{5, 17, 33};
  const auto first = models::generate(loaded.model, prompt, options);
  EXPECT_EQ(models::generate(loaded.model, prompt, options), first);
  options.sampling.seed = 12;
  EXPECT_NE(models::generate(loaded.model, prompt, options), first) << "a different seed draws differently";
  // Every drawn token is among the 4 largest logits of its step.
  torch::NoGradGuard no_grad;
  std::vector<int64_t> context = prompt;
  for (const int64_t token : first) {
    const at::Tensor last = loaded.model.forward(row(context), {}).select(1, -1)[0];
    const at::Tensor top = std::get<1>(last.topk(4));
    EXPECT_TRUE(top.eq(token).any().item<bool>()) << "token " << token << " outside the top 4";
    context.push_back(token);
  }
}

TEST(GenerationErrors, RefusesWhatItCannotDo) {
  const auto gpt2 = models::load_pretrained(hf_dir("gpt2"));
  models::Decoder decoder(gpt2);
  EXPECT_THROW(decoder.append(at::zeros({2, 3}, at::kLong)), UsageError);
  decoder.append(at::zeros({1, 30}, at::kLong));
  EXPECT_THROW(decoder.append(at::zeros({1, 3}, at::kLong)), UsageError);  // past n_positions (32)
  EXPECT_THROW(models::Decoder{models::load_pretrained(hf_dir("bert"))}, UsageError);
  EXPECT_THROW(models::generate(gpt2, {}, {}), UsageError);
  EXPECT_THROW(models::generate(gpt2, {64}, {}), UsageError);  // vocabulary of 64
  models::GenerationOptions bad;
  bad.sampling = {.greedy = false, .temperature = 0.0};
  EXPECT_THROW(models::generate(gpt2, {1}, bad), UsageError);
  bad.sampling = {.greedy = false, .top_p = 0.0};
  EXPECT_THROW(models::generate(gpt2, {1}, bad), UsageError);
}

}  // namespace
}  // namespace oft::test
