#include "oft/hf/generation.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <limits>
#include <optional>
#include <string>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "hf/cached_decoding.h"
#include "oft/errors.h"
#include "oft/log.h"

namespace oft::models {

struct Decoder::State {
  std::shared_ptr<torch::nn::Module> module;  // keeps the model alive
  detail::CachedDecoding* decoding;
  c10::Device device;
  KVCache cache;
};

namespace {

c10::Device device_of(const torch::nn::Module& module) {
  const auto parameters = module.parameters();
  return parameters.empty() ? c10::Device(c10::kCPU) : parameters.front().device();
}

at::Tensor ids_tensor(const std::vector<int64_t>& ids) {
  return at::tensor(ids, at::TensorOptions().dtype(at::kLong)).view({1, static_cast<int64_t>(ids.size())});
}

void check_sampling(const SamplingOptions& o) {
  if (o.greedy) return;
  if (!(o.temperature > 0.0)) throw UsageError("temperature must be > 0, got " + std::to_string(o.temperature));
  if (o.top_k < 0) throw UsageError("top_k must be >= 0 (0: off), got " + std::to_string(o.top_k));
  if (!(o.top_p > 0.0 && o.top_p <= 1.0)) throw UsageError("top_p must be in (0, 1], got " + std::to_string(o.top_p));
}

// The vocabulary size config.json declares, to refuse out-of-range prompt ids with a clear message.
std::optional<int64_t> vocab_size(const Pretrained& model) {
  const auto it = model.config.find("vocab_size");
  if (it == model.config.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

int64_t choose(const at::Tensor& logits, const SamplingOptions& o, at::Generator& generator) {
  if (o.greedy) return logits.argmax(-1).item<int64_t>();
  const at::Tensor probs = at::softmax(warp_logits(logits, o), -1);
  return at::multinomial(probs, 1, /*replacement=*/false, generator).item<int64_t>();
}

std::vector<int64_t> eos_of(const nlohmann::json& json, const std::filesystem::path& file) {
  const auto it = json.find("eos_token_id");
  if (it == json.end() || it->is_null()) return {};
  auto id = [&](const nlohmann::json& v) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0)
      throw FormatError(file.string() + ": key 'eos_token_id' must be a token id or a list of them, got " + it->dump());
    return v.get<int64_t>();
  };
  if (!it->is_array()) return {id(*it)};
  std::vector<int64_t> ids;
  for (const auto& v : *it) ids.push_back(id(v));
  return ids;
}

std::optional<nlohmann::json> read_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(file.string() + " is not valid JSON: " + e.what());
  }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

Decoder::Decoder(const Pretrained& model) {
  auto* decoding = dynamic_cast<detail::CachedDecoding*>(model.module.get());
  if (!decoding)
    throw UsageError("a " + (model.info.model_type.empty() ? std::string("this") : model.info.model_type) +
                     " model cannot generate: KV-cached decoding is built for the causal LMs (gpt2, llama, mistral, "
                     "qwen2)");
  state_ = std::make_unique<State>(State{model.module, decoding, device_of(*model.module), {}});
}

Decoder::~Decoder() = default;

at::Tensor Decoder::append(const at::Tensor& ids) {
  torch::NoGradGuard no_grad;
  return state_->decoding->forward_cached(ids.to(state_->device), state_->cache);
}

int64_t Decoder::length() const { return state_->cache.length; }
const KVCache& Decoder::cache() const { return state_->cache; }
void Decoder::reset() { state_->cache = {}; }

at::Tensor warp_logits(const at::Tensor& logits, const SamplingOptions& o) {
  check_sampling({.greedy = false, .temperature = o.temperature, .top_k = o.top_k, .top_p = o.top_p});
  const double removed = -std::numeric_limits<double>::infinity();
  at::Tensor scores = logits.to(at::kFloat);
  if (o.temperature != 1.0) scores = scores / o.temperature;
  const int64_t vocab = scores.size(-1);
  if (o.top_k > 0 && o.top_k < vocab) {
    const at::Tensor kth = std::get<0>(scores.topk(o.top_k, -1)).narrow(-1, o.top_k - 1, 1);
    scores = scores.masked_fill(scores < kth, removed);
  }
  if (o.top_p < 1.0) {
    // Ascending order: drop the low tail whose total probability is at most 1 - top_p, keeping the top token.
    const auto [sorted, order] = scores.sort(/*dim=*/-1, /*descending=*/false);
    at::Tensor drop = sorted.softmax(-1).cumsum(-1) <= (1.0 - o.top_p);
    drop.narrow(-1, vocab - 1, 1).fill_(false);
    scores = scores.masked_fill(drop.scatter(-1, order, drop), removed);
  }
  return scores;
}

std::vector<int64_t> generate(const Pretrained& model, const std::vector<int64_t>& prompt,
                              const GenerationOptions& options, const std::function<void(int64_t)>& on_token) {
  if (prompt.empty()) throw UsageError("generation needs a prompt of at least one token");
  if (options.max_new_tokens < 1)
    throw UsageError("max_new_tokens must be at least 1, got " + std::to_string(options.max_new_tokens));
  check_sampling(options.sampling);
  if (const auto vocab = vocab_size(model))
    for (const int64_t id : prompt)
      if (id < 0 || id >= *vocab)
        throw UsageError("prompt token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                         std::to_string(*vocab - 1) + ")");
  torch::NoGradGuard no_grad;
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(options.sampling.seed);
  std::optional<Decoder> decoder;
  if (options.use_cache) decoder.emplace(model);
  std::vector<int64_t> context = prompt, generated;
  at::Tensor next = ids_tensor(prompt);
  const auto start = std::chrono::steady_clock::now();
  double prefill_seconds = 0.0;
  while (static_cast<int64_t>(generated.size()) < options.max_new_tokens) {
    const at::Tensor logits = decoder ? decoder->append(next) : model.forward(ids_tensor(context), at::Tensor());
    const int64_t token = choose(logits.select(1, -1)[0].to(at::kFloat), options.sampling, generator);
    if (generated.empty()) prefill_seconds = seconds_since(start);
    generated.push_back(token);
    context.push_back(token);
    logger()->debug("token {} -> {}", generated.size(), token);
    if (on_token) on_token(token);
    if (std::find(options.eos_token_ids.begin(), options.eos_token_ids.end(), token) != options.eos_token_ids.end())
      break;
    next = ids_tensor({token});
  }
  const double total = seconds_since(start);
  const double decode = total - prefill_seconds;
  logger()->info(
      "generated {} tokens after a {}-token prompt in {:.3f} s (first token {:.3f} s, then {:.1f} tokens/s{})",
      generated.size(), prompt.size(), total, prefill_seconds,
      generated.size() > 1 && decode > 0 ? static_cast<double>(generated.size() - 1) / decode : 0.0,
      options.use_cache ? "" : ", no KV cache");
  return generated;
}

std::vector<int64_t> eos_token_ids(const std::filesystem::path& model_dir) {
  for (const char* name : {"generation_config.json", "config.json"}) {
    const auto file = model_dir / name;
    const auto json = read_json(file);
    if (!json) continue;
    if (!json->is_object()) throw FormatError(file.string() + " must hold a JSON object");
    const auto ids = eos_of(*json, file);
    if (!ids.empty()) return ids;
  }
  return {};
}

}  // namespace oft::models
