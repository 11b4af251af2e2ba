// oft::models::BertTokenizer against Hugging Face's BertTokenizer (Rust tokenizers) with the
// all-MiniLM-L6-v2 vocabulary: ids of ~100 varied sentences, batches with truncation and padding,
// other tokenizer_config.json settings (tests/golden/gen_tokenizer.py), plus the loader's errors.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "oft/errors.h"
#include "oft/hf/tokenizer.h"

#ifndef OFT_GOLDEN_DIR
#error "OFT_GOLDEN_DIR must point at tests/golden/data"
#endif

namespace {

using nlohmann::json;
using oft::models::BertTokenizer;
namespace fs = std::filesystem;

const fs::path kGolden = fs::path(OFT_GOLDEN_DIR) / "tokenizer";

const json& golden() {
  static const json data = [] {
    std::ifstream in(kGolden / "cases.json");
    if (!in)
      throw std::runtime_error("missing " + (kGolden / "cases.json").string() + ": run tests/golden/gen_tokenizer.py");
    return json::parse(in);
  }();
  return data;
}

const BertTokenizer& minilm() {
  static const BertTokenizer tokenizer = BertTokenizer::from_pretrained(kGolden);
  return tokenizer;
}

// A scratch folder removed at the end of the test.
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("oft-tokenizer-" + std::to_string(::getpid()) + "-" +
                                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  fs::path write(const std::string& name, const std::string& content) const {
    std::ofstream(path / name, std::ios::binary) << content;
    return path / name;
  }
};

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const oft::FormatError& e) {
    return std::string("FormatError: ") + e.what();
  } catch (const oft::UsageError& e) {
    return std::string("UsageError: ") + e.what();
  }
  return "no error";
}

TEST(Tokenizer, GoldenFileRecordsWhereItCameFrom) {
  const json& g = golden();
  EXPECT_FALSE(g["versions"]["transformers"].get<std::string>().empty());
  EXPECT_FALSE(g["versions"]["tokenizers"].get<std::string>().empty());
  EXPECT_GE(g["cases"].size(), 100u);
  EXPECT_EQ(minilm().vocab_size(), 30522u);  // config.json's vocab_size
}

TEST(Tokenizer, EncodeMatchesTransformers) {
  int checked = 0;
  for (const auto& c : golden()["cases"]) {
    const auto text = c["text"].get<std::string>();
    EXPECT_EQ(minilm().encode(text), c["ids"].get<std::vector<int64_t>>()) << "text: " << c["text"].dump();
    auto tokens = c["tokens"].get<std::vector<std::string>>();
    tokens = std::vector<std::string>(tokens.begin() + 1, tokens.end() - 1);  // without [CLS]/[SEP]
    EXPECT_EQ(minilm().tokenize(text), tokens) << "text: " << c["text"].dump();
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(golden()["cases"].size()));
}

// Where transformers' pure-Python tokenizer differs from the Rust one (final sigma, characters
// newer than Python's Unicode tables), the model's tokenizer (Rust) is the reference.
TEST(Tokenizer, FollowsTheRustTokenizerWhereThePythonOneDiffers) {
  int differing = 0;
  for (const auto& c : golden()["cases"]) {
    if (c["legacy_agrees"].get<bool>()) continue;
    ++differing;
    const auto ids = minilm().encode(c["text"].get<std::string>());
    EXPECT_EQ(ids, c["ids"].get<std::vector<int64_t>>()) << "text: " << c["text"].dump();
    EXPECT_NE(ids, c["legacy_ids"].get<std::vector<int64_t>>()) << "text: " << c["text"].dump();
  }
  EXPECT_GT(differing, 0) << "the golden data should hold sentences where the two tokenizers differ";
}

TEST(Tokenizer, BatchesTruncateAndPadLikeTransformers) {
  for (const auto& b : golden()["batches"]) {
    const auto texts = b["texts"].get<std::vector<std::string>>();
    const auto padding = b["padding"] == "longest" ? oft::models::Padding::Longest : oft::models::Padding::MaxLength;
    const auto batch = minilm().encode_batch(texts, b["max_length"].get<std::size_t>(), padding);
    const auto want_ids = b["input_ids"].get<std::vector<std::vector<int64_t>>>();
    const auto want_mask = b["attention_mask"].get<std::vector<std::vector<int64_t>>>();
    ASSERT_EQ(batch.rows, want_ids.size()) << b["texts"].dump();
    ASSERT_EQ(batch.length, want_ids[0].size()) << b["texts"].dump();
    ASSERT_EQ(batch.input_ids.size(), batch.rows * batch.length);
    ASSERT_EQ(batch.attention_mask.size(), batch.rows * batch.length);
    for (std::size_t r = 0; r < batch.rows; ++r) {
      const auto at = static_cast<std::ptrdiff_t>(r * batch.length);
      const auto end = at + static_cast<std::ptrdiff_t>(batch.length);
      EXPECT_EQ(std::vector<int64_t>(batch.input_ids.begin() + at, batch.input_ids.begin() + end), want_ids[r])
          << "row " << r << " of " << b["texts"].dump() << ", max_length " << b["max_length"];
      EXPECT_EQ(std::vector<int64_t>(batch.attention_mask.begin() + at, batch.attention_mask.begin() + end),
                want_mask[r])
          << "row " << r << " of " << b["texts"].dump();
    }
  }
}

TEST(Tokenizer, TokenizerConfigSettingsMatchTransformers) {
  for (const auto& v : golden()["variants"]) {
    TempDir dir;
    fs::copy_file(kGolden / "vocab.txt", dir.path / "vocab.txt");
    dir.write("tokenizer_config.json", v["tokenizer_config"].dump());
    const auto tokenizer = BertTokenizer::from_pretrained(dir.path);
    for (const auto& c : v["cases"])
      EXPECT_EQ(tokenizer.encode(c["text"].get<std::string>()), c["ids"].get<std::vector<int64_t>>())
          << "tokenizer_config " << v["tokenizer_config"].dump() << ", text " << c["text"].dump();
  }
}

TEST(Tokenizer, SpecialIdsAndLookups) {
  const auto& t = minilm();
  EXPECT_EQ(t.id_to_token(t.cls_id()), "[CLS]");
  EXPECT_EQ(t.id_to_token(t.sep_id()), "[SEP]");
  EXPECT_EQ(t.id_to_token(t.pad_id()), "[PAD]");
  EXPECT_EQ(t.id_to_token(t.unk_id()), "[UNK]");
  EXPECT_EQ(t.token_to_id("no-such-token-in-the-vocabulary"), t.unk_id());
  EXPECT_EQ(t.id_to_token(t.token_to_id("##ing")), "##ing");
  EXPECT_NE(error_of([&] { t.id_to_token(static_cast<int64_t>(t.vocab_size())); }).find("outside the vocabulary"),
            std::string::npos);
}

TEST(Tokenizer, MissingVocabularyNamesTheFile) {
  TempDir dir;
  const auto message = error_of([&] { BertTokenizer::from_pretrained(dir.path); });
  EXPECT_NE(message.find("FormatError"), std::string::npos) << message;
  EXPECT_NE(message.find((dir.path / "vocab.txt").string()), std::string::npos) << message;
}

TEST(Tokenizer, VocabularyWithoutASpecialTokenIsAnError) {
  const std::vector<std::string> specials = {"[PAD]", "[UNK]", "[CLS]", "[SEP]"};
  for (const auto& missing : specials) {
    TempDir dir;
    std::string vocab;
    for (const auto& s : specials)
      if (s != missing) vocab += s + "\n";
    vocab += "hello\n";
    const auto file = dir.write("vocab.txt", vocab);
    const auto message = error_of([&] { BertTokenizer tokenizer(file); });
    EXPECT_NE(message.find("FormatError"), std::string::npos) << message;
    EXPECT_NE(message.find("\"" + missing + "\""), std::string::npos) << message;
    EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  }
}

TEST(Tokenizer, TokenizerConfigWithAWrongTypeIsAnError) {
  TempDir dir;
  fs::copy_file(kGolden / "vocab.txt", dir.path / "vocab.txt");
  dir.write("tokenizer_config.json", R"({"do_lower_case": "yes"})");
  auto message = error_of([&] { BertTokenizer::from_pretrained(dir.path); });
  EXPECT_NE(message.find("\"do_lower_case\" must be true or false"), std::string::npos) << message;
  dir.write("tokenizer_config.json", R"({"unk_token": 3})");
  message = error_of([&] { BertTokenizer::from_pretrained(dir.path); });
  EXPECT_NE(message.find("\"unk_token\" must be a string"), std::string::npos) << message;
  dir.write("tokenizer_config.json", "{not json");
  message = error_of([&] { BertTokenizer::from_pretrained(dir.path); });
  EXPECT_NE(message.find("not valid JSON"), std::string::npos) << message;
}

TEST(Tokenizer, InvalidUtf8AndTooSmallMaxLengthAreUsageErrors) {
  auto message = error_of([] { minilm().encode(std::string("ok \xC3\x28 then", 10)); });
  EXPECT_NE(message.find("UsageError: tokenizer input is not valid UTF-8 at byte 3"), std::string::npos) << message;
  message = error_of([] { minilm().encode("\xED\xA0\x80"); });  // an encoded surrogate
  EXPECT_NE(message.find("not valid UTF-8 at byte 0"), std::string::npos) << message;
  message = error_of([] { minilm().encode_batch({"hello"}, 1); });
  EXPECT_NE(message.find("max_length must be at least 2"), std::string::npos) << message;
}

}  // namespace
