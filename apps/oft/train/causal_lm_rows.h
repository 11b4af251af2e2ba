#pragma once
// `oft train` causal_lm data: JSON lines of one of three shapes, read into token rows with loss masks.
// LibTorch-free.
//   {"input_ids": [int, ...]}                 the ids as given; loss on every token
//   {"text": "..."}                           tokenizer(text) with special tokens (LLaMA's BOS); loss on every token
//   {"prompt": "...", "completion": "..."}   tokenizer(prompt) + tokenizer(completion, no special tokens) + EOS
//                                             (when the tokenizer has one); loss on the completion and EOS only
// One file holds one shape. docs/text-training.md describes masking, truncation and packing.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <vector>

namespace oft::models {
class TextTokenizer;
}

namespace oft::app {

struct CausalLmRow {
  std::vector<int64_t> ids;
  std::vector<uint8_t> loss;  // 1 where the token is a target the loss counts (never the row's first token)
  int64_t line = 0;           // the row's line in its file, for errors
};

// The model folder's tokenizer, loaded only when a row needs it.
using TokenizerSource = std::function<const models::TextTokenizer&()>;

// Every row of `file`, tokenized, not yet truncated. FormatError naming the file, line and the expected
// shape for malformed lines, mixed shapes and empty files.
std::vector<CausalLmRow> read_causal_lm_rows(const std::filesystem::path& file, const TokenizerSource& tokenizer);

// FormatError naming the file and line of the first id outside [0, vocab_size): a tokenizer that does not
// belong to the model, or ids for another model.
void check_vocabulary(const std::vector<CausalLmRow>& rows, const std::filesystem::path& file, int64_t vocab_size);

// Training rows of at most max_length tokens. Without packing: each row truncated on the right; a row left
// with fewer than two tokens or no target is a FormatError naming its line. With packing: the rows
// concatenated, `separator` (the EOS id) between them where a row does not already end with it, cut into
// max_length blocks (the last one may be shorter).
std::vector<CausalLmRow> fit_causal_lm_rows(std::vector<CausalLmRow> rows, const std::filesystem::path& file,
                                            int64_t max_length, bool packing, std::optional<int64_t> separator);

}  // namespace oft::app
