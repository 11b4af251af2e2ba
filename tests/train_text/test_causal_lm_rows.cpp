// `oft train` causal_lm rows (apps/oft/train/causal_lm_rows.h): the three JSONL shapes, loss masks,
// truncation, packing and the errors. Expected ids are transformers 5.24.0's AutoTokenizer on
// tests/golden/data/llm_tokenizers/llama2 (tokenizers 0.23.3).
#include <fstream>
#include <memory>

#include <gtest/gtest.h>
#include <unistd.h>

#include "causal_lm_rows.h"
#include "oft/errors.h"
#include "oft/hf/text_tokenizer.h"

namespace oft::app {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int64_t>;
using Loss = std::vector<uint8_t>;

class CausalLmRows : public ::testing::Test {
 protected:
  fs::path write(const std::string& text) {
    const fs::path file = fs::temp_directory_path() / ("oft_causal_lm_rows_" + std::to_string(::getpid()) + ".jsonl");
    std::ofstream(file) << text;
    files_.push_back(file);
    return file;
  }
  void TearDown() override {
    for (const auto& f : files_) fs::remove(f);
  }
  std::vector<CausalLmRow> read(const std::string& text) { return read_causal_lm_rows(write(text), tokenizer_); }

  const TokenizerSource tokenizer_ = [this]() -> const models::TextTokenizer& {
    if (!loaded_) loaded_ = models::load_tokenizer(fs::path(OFT_GOLDEN_DIR) / "llm_tokenizers/llama2");
    return *loaded_;
  };
  const TokenizerSource no_tokenizer_ = []() -> const models::TextTokenizer& {
    throw std::logic_error("the tokenizer was loaded for rows of ids");
  };
  std::unique_ptr<models::TextTokenizer> loaded_;
  std::vector<fs::path> files_;
};

std::string message(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

TEST_F(CausalLmRows, TextRowsAreTokenizedWithSpecialTokensAndCountEveryToken) {
  const auto rows = read("{\"text\": \"Hello world\"}\n\n{\"text\": \"The cat\"}\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].ids, (Ids{1, 686, 420, 301, 687, 298, 290}));  // BOS first, as tokenizer(text)
  EXPECT_EQ(rows[0].loss, Loss(7, 1));
  EXPECT_EQ(rows[1].ids, (Ids{1, 711, 409, 431}));
  EXPECT_EQ(rows[1].line, 3);
}

TEST_F(CausalLmRows, PromptCompletionRowsCountOnlyTheCompletionAndEos) {
  const auto rows = read("{\"prompt\": \"Hello\", \"completion\": \" world\"}\n");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].ids, (Ids{1, 686, 420, 301, 375, 687, 298, 290, 2}));
  EXPECT_EQ(rows[0].loss, (Loss{0, 0, 0, 0, 1, 1, 1, 1, 1}));
}

TEST_F(CausalLmRows, IdRowsNeedNoTokenizer) {
  const auto rows = read_causal_lm_rows(write("{\"input_ids\": [5, 6, 7]}\n"), no_tokenizer_);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].ids, (Ids{5, 6, 7}));
  EXPECT_EQ(rows[0].loss, Loss(3, 1));
}

TEST_F(CausalLmRows, ErrorsNameTheFileLineAndExpectedShape) {
  const std::string mixed = message([&] { read("{\"text\": \"a b\"}\n{\"prompt\": \"a\", \"completion\": \"b\"}\n"); });
  EXPECT_NE(mixed.find(".jsonl:2:"), std::string::npos) << mixed;
  EXPECT_NE(mixed.find("one file holds one shape"), std::string::npos) << mixed;
  const std::string missing = message([&] { read("{\"prompt\": \"a\"}\n"); });
  EXPECT_NE(missing.find(":1: expected {\"prompt\": string, \"completion\": string}"), std::string::npos) << missing;
  const std::string wrong = message([&] { read("{\"label\": 1}\n"); });
  EXPECT_NE(wrong.find(":1: expected exactly one of the shapes"), std::string::npos) << wrong;
  const std::string syntax = message([&] { read("{\"input_ids\": [1, 2]}\n{\"input_ids\": [1,\n"); });
  EXPECT_NE(syntax.find(":2: expected {\"input_ids\": [int, ...]}"), std::string::npos) << syntax;
  EXPECT_THROW(read("\n"), FormatError);
}

TEST_F(CausalLmRows, IdsOutsideTheModelsVocabularyNameTheLine) {
  const std::vector<CausalLmRow> rows{{{1, 2}, {1, 1}, 1}, {{3, 862}, {1, 1}, 5}};
  EXPECT_NO_THROW(check_vocabulary(rows, "d.jsonl", 863));
  const std::string outside = message([&] { check_vocabulary(rows, "d.jsonl", 862); });
  EXPECT_NE(outside.find("d.jsonl:5: token id 862 is outside the model's vocabulary of 862"), std::string::npos)
      << outside;
}

TEST_F(CausalLmRows, PaddedRowsAreTruncatedAndMustKeepATarget) {
  std::vector<CausalLmRow> rows{{{1, 2, 3, 4, 5}, {0, 0, 1, 1, 1}, 1}};
  const auto fitted = fit_causal_lm_rows(rows, "d.jsonl", 3, false, std::nullopt);
  EXPECT_EQ(fitted[0].ids, (Ids{1, 2, 3}));
  EXPECT_EQ(fitted[0].loss, (Loss{0, 0, 1}));
  const std::string cut = message([&] { fit_causal_lm_rows(rows, "d.jsonl", 2, false, std::nullopt); });
  EXPECT_NE(cut.find("d.jsonl:1: no completion token within data.max_length 2"), std::string::npos) << cut;
  const std::string shortrow = message([&] { fit_causal_lm_rows({{{7}, {1}, 4}}, "d.jsonl", 8, false, std::nullopt); });
  EXPECT_NE(shortrow.find("d.jsonl:4: needs at least two tokens"), std::string::npos) << shortrow;
}

TEST_F(CausalLmRows, PackingJoinsRowsWithEosAndCutsBlocks) {
  std::vector<CausalLmRow> rows{{{1, 10, 11}, {1, 1, 1}, 1}, {{1, 20, 21, 2}, {0, 0, 1, 1}, 2}, {{1, 30}, {1, 1}, 3}};
  const auto blocks = fit_causal_lm_rows(rows, "d.jsonl", 4, true, 2);
  // stream: 1 10 11 [2] | 1 20 21 2 (ends with EOS already) | 1 30 [2]
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(blocks[0].ids, (Ids{1, 10, 11, 2}));
  EXPECT_EQ(blocks[1].ids, (Ids{1, 20, 21, 2}));
  EXPECT_EQ(blocks[1].loss, (Loss{0, 0, 1, 1}));
  EXPECT_EQ(blocks[2].ids, (Ids{1, 30, 2}));
  EXPECT_EQ(blocks[2].line, 3);
  const auto wide = fit_causal_lm_rows(rows, "d.jsonl", 5, true, 2);
  ASSERT_EQ(wide.size(), 2u);
  EXPECT_EQ(wide[1].ids, (Ids{20, 21, 2, 1, 30}));
  EXPECT_EQ(wide[1].loss, (Loss{0, 1, 1, 1, 1}));
  EXPECT_THROW(fit_causal_lm_rows(rows, "d.jsonl", 4, true, std::nullopt), UsageError);
}

}  // namespace
}  // namespace oft::app
