#include "causal_lm_data.h"

#include <fstream>
#include <memory>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "causal_lm_rows.h"
#include "oft/hf/text_tokenizer.h"

namespace oft::app {
namespace {

// config.json's vocab_size, when the folder's config names one (the embedding's row count).
std::optional<int64_t> config_vocab_size(const std::filesystem::path& model_dir) {
  std::ifstream in(model_dir / "config.json");
  const nlohmann::json config = nlohmann::json::parse(in, nullptr, false);
  if (!config.is_object() || !config.contains("vocab_size") || !config["vocab_size"].is_number_integer())
    return std::nullopt;
  return config["vocab_size"].get<int64_t>();
}

}  // namespace

CausalLmData load_causal_lm_data(const std::filesystem::path& file, const CausalLmDataOptions& options) {
  std::unique_ptr<models::TextTokenizer> tokenizer;
  const TokenizerSource source = [&]() -> const models::TextTokenizer& {
    if (!tokenizer) tokenizer = models::load_tokenizer(options.model_dir);
    return *tokenizer;
  };
  std::vector<CausalLmRow> rows = read_causal_lm_rows(file, source);
  if (const std::optional<int64_t> vocab = config_vocab_size(options.model_dir)) check_vocabulary(rows, file, *vocab);
  const std::optional<int64_t> eos = options.packing ? source().eos_id() : std::nullopt;
  rows = fit_causal_lm_rows(std::move(rows), file, options.max_length, options.packing, eos);

  size_t longest = 0;
  for (const CausalLmRow& r : rows) longest = std::max(longest, r.ids.size());
  const auto n = static_cast<int64_t>(rows.size()), t = static_cast<int64_t>(longest);
  CausalLmData d{at::zeros({n, t}, at::kLong), at::zeros({n, t}, at::kLong), at::full({n, t}, -100, at::kLong)};
  auto ids = d.input_ids.accessor<int64_t, 2>();
  auto mask = d.attention_mask.accessor<int64_t, 2>();
  auto labels = d.labels.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) {
    const CausalLmRow& r = rows[static_cast<size_t>(i)];
    for (size_t j = 0; j < r.ids.size(); ++j) {
      ids[i][static_cast<int64_t>(j)] = r.ids[j];
      mask[i][static_cast<int64_t>(j)] = 1;
      if (r.loss[j]) labels[i][static_cast<int64_t>(j)] = r.ids[j];
    }
  }
  return d;
}

}  // namespace oft::app
