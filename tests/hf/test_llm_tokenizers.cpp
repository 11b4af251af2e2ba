// oft::models::load_tokenizer() against transformers' PreTrainedTokenizerFast (and the sentencepiece
// package for tokenizer.model) on small tokenizers trained offline in the GPT-2, LLaMA-3, Qwen2,
// LLaMA-2 and Mistral layouts, GPT-2 with lstrip/rstrip/single_word added tokens
// (tests/golden/gen_llm_tokenizers.py): ids and decoded text of 1500
// strings per layout must be equal, plus the loader's errors.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "oft/errors.h"
#include "oft/hf/text_tokenizer.h"

#ifndef OFT_GOLDEN_DIR
#error "OFT_GOLDEN_DIR must point at tests/golden/data"
#endif

namespace {

using nlohmann::json;
using oft::models::load_tokenizer;
namespace fs = std::filesystem;

const fs::path kGolden = fs::path(OFT_GOLDEN_DIR) / "llm_tokenizers";

const json& golden() {
  static const json data = [] {
    std::ifstream in(kGolden / "cases.json");
    if (!in)
      throw std::runtime_error("missing " + (kGolden / "cases.json").string() +
                               ": run tests/golden/gen_llm_tokenizers.py");
    return json::parse(in);
  }();
  return data;
}

std::optional<int64_t> optional_id(const json& value) {
  return value.is_null() ? std::nullopt : std::optional<int64_t>(value.get<int64_t>());
}

std::string show(const std::vector<int64_t>& ids) {
  std::ostringstream out;
  for (auto id : ids) out << id << ' ';
  return out.str();
}

class LlmTokenizerParity : public ::testing::TestWithParam<std::string> {};

TEST_P(LlmTokenizerParity, IdsAndTextEqualTransformers) {
  const json& layout = golden()["layouts"][GetParam()];
  const auto& strings = golden()["strings"];
  const auto tokenizer = load_tokenizer(kGolden / GetParam());
  EXPECT_EQ(tokenizer->bos_id(), optional_id(layout["bos"]));
  EXPECT_EQ(tokenizer->eos_id(), optional_id(layout["eos"]));
  EXPECT_EQ(tokenizer->pad_id(), optional_id(layout["pad"]));
  EXPECT_EQ(tokenizer->vocab_size(), layout["vocab_size"].get<std::size_t>());
  std::size_t id_mismatches = 0, text_mismatches = 0;
  for (std::size_t i = 0; i < strings.size(); ++i) {
    const auto text = strings[i].get<std::string>();
    const auto& expected = layout["cases"][i];
    const auto want_ids = expected[0].get<std::vector<int64_t>>();
    const auto ids = tokenizer->encode(text);
    if (ids != want_ids && ++id_mismatches <= 5)
      ADD_FAILURE() << "ids of " << json(text).dump() << "\n  got  " << show(ids) << "\n  want " << show(want_ids);
    const auto want_text = expected[1].is_null() ? text : expected[1].get<std::string>();
    const auto want_skipped = expected[2].is_null() ? want_text : expected[2].get<std::string>();
    const auto decoded = tokenizer->decode(want_ids), skipped = tokenizer->decode(want_ids, true);
    if ((decoded != want_text || skipped != want_skipped) && ++text_mismatches <= 5)
      ADD_FAILURE() << "decode of " << json(text).dump() << "\n  got  " << json(decoded).dump() << " / "
                    << json(skipped).dump() << "\n  want " << json(want_text).dump() << " / "
                    << json(want_skipped).dump();
  }
  EXPECT_EQ(id_mismatches, 0u) << "of " << strings.size() << " strings";
  EXPECT_EQ(text_mismatches, 0u) << "of " << strings.size() << " strings";
}

INSTANTIATE_TEST_SUITE_P(Layouts, LlmTokenizerParity,
                         ::testing::Values("gpt2", "gpt2_added", "llama3", "qwen2", "llama2", "mistral", "spm"),
                         [](const auto& param_info) { return param_info.param; });

// One tokenizer shared by threads (the BPE word cache is shared): the same ids as one thread alone.
TEST(LlmTokenizer, ConcurrentEncodingGivesTheSameIds) {
  const auto tokenizer = load_tokenizer(kGolden / "qwen2");
  const auto& strings = golden()["strings"];
  std::vector<std::vector<int64_t>> expected;
  for (const auto& c : golden()["layouts"]["qwen2"]["cases"]) expected.push_back(c[0].get<std::vector<int64_t>>());
  std::atomic<std::size_t> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (std::size_t i = static_cast<std::size_t>(t); i < strings.size(); i += 2)
        if (tokenizer->encode(strings[i].get<std::string>()) != expected[i]) ++mismatches;
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0u);
}

TEST(LlmTokenizer, SpecialTokensTemplateIsOptional) {
  const auto tokenizer = load_tokenizer(kGolden / "llama2");
  const auto with = tokenizer->encode("Hello world"), without = tokenizer->encode("Hello world", false);
  ASSERT_EQ(with.size(), without.size() + 1);
  EXPECT_EQ(with.front(), *tokenizer->bos_id());
  EXPECT_EQ(std::vector<int64_t>(with.begin() + 1, with.end()), without);
}

// A scratch folder removed at the end of the test.
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("oft-llm-tokenizer-" + std::to_string(::getpid()) + "-" +
                                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  void write(const std::string& name, const std::string& content) const { std::ofstream(path / name) << content; }
};

std::string format_error(const fs::path& dir) {
  try {
    load_tokenizer(dir);
  } catch (const oft::FormatError& e) {
    return e.what();
  }
  return "no FormatError";
}

TEST(LlmTokenizer, FolderWithoutTokenizerIsRefused) {
  TempDir dir;
  const auto message = format_error(dir.path);
  EXPECT_NE(message.find(dir.path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("tokenizer.json, tokenizer.model or vocab.txt"), std::string::npos) << message;
}

TEST(LlmTokenizer, UnsupportedComponentIsNamed) {
  std::ifstream in(kGolden / "gpt2" / "tokenizer.json");
  json spec = json::parse(in);
  spec["pre_tokenizer"] = {{"type", "UnicodeScripts"}};
  TempDir dir;
  dir.write("tokenizer.json", spec.dump());
  const auto message = format_error(dir.path);
  EXPECT_NE(message.find("pre_tokenizer type \"UnicodeScripts\" is not supported"), std::string::npos) << message;
  EXPECT_NE(message.find("ByteLevel, Split, Metaspace, Sequence"), std::string::npos) << message;
  EXPECT_NE(message.find("tokenizer.json"), std::string::npos) << message;

  spec = json::parse(std::ifstream(kGolden / "gpt2" / "tokenizer.json"));
  spec["model"]["type"] = "Unigram";
  dir.write("tokenizer.json", spec.dump());
  EXPECT_NE(format_error(dir.path).find("model type \"Unigram\" is not supported"), std::string::npos);
}

TEST(LlmTokenizer, MalformedJsonAndMergesAreRefused) {
  TempDir dir;
  dir.write("tokenizer.json", "{\"model\": ");
  EXPECT_NE(format_error(dir.path).find("is not a valid tokenizer.json"), std::string::npos);
  json spec = json::parse(std::ifstream(kGolden / "gpt2" / "tokenizer.json"));
  spec["model"]["merges"].push_back(json::array({"nosuchtoken", "x"}));
  dir.write("tokenizer.json", spec.dump());
  EXPECT_NE(format_error(dir.path).find("names a token missing from the vocabulary"), std::string::npos);
}

TEST(LlmTokenizer, BadInputIsAUsageError) {
  const auto tokenizer = load_tokenizer(kGolden / "qwen2");
  EXPECT_THROW(tokenizer->encode("ab\xC3"), oft::UsageError);
  EXPECT_THROW(tokenizer->encode("\xED\xA0\x80"), oft::UsageError);  // a UTF-16 surrogate
  EXPECT_THROW(tokenizer->decode({static_cast<int64_t>(tokenizer->vocab_size())}), oft::UsageError);
  EXPECT_THROW(tokenizer->decode({-1}), oft::UsageError);
}

// Expected text from transformers' BertTokenizer.decode on the MiniLM vocabulary.
TEST(LlmTokenizer, WordPieceFolderLoadsBert) {
  const auto tokenizer = load_tokenizer(fs::path(OFT_GOLDEN_DIR) / "tokenizer");
  const auto ids = tokenizer->encode("I can't believe it's 3.5% [MASK] unaffable!");
  EXPECT_EQ(ids, (std::vector<int64_t>{101, 1045, 2064, 1005, 1056, 2903, 2009, 1005, 1055, 1017, 1012, 1019, 1003, 103,
                                       14477, 20961, 3468, 999, 102}));
  EXPECT_EQ(tokenizer->decode(ids), "[CLS] i can ' t believe it ' s 3. 5 % [MASK] unaffable! [SEP]");
  EXPECT_EQ(tokenizer->decode(ids, true), "i can ' t believe it ' s 3. 5 % unaffable!");
  EXPECT_EQ(tokenizer->encode("Hello, world!", false), (std::vector<int64_t>{7592, 1010, 2088, 999}));
  EXPECT_EQ(tokenizer->pad_id(), 0);

  // A hub BERT folder also has a WordPiece tokenizer.json: vocab.txt's BertTokenizer runs it.
  TempDir dir;
  for (const char* file : {"vocab.txt", "tokenizer_config.json"})
    fs::copy_file(fs::path(OFT_GOLDEN_DIR) / "tokenizer" / file, dir.path / file);
  dir.write("tokenizer.json", R"({"model": {"type": "WordPiece", "vocab": {}}})");
  EXPECT_EQ(load_tokenizer(dir.path)->encode("I can't believe it's 3.5% [MASK] unaffable!"), ids);
}

}  // namespace
