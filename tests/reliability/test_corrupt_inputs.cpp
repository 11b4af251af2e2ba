// Corrupted and hostile dense model folders through the `oft` command: each must end with exit code 1 and
// a message naming the file and the tensor or key, create no output, and not crash or allocate what a
// header claims (the child runs with a 4 GiB address-space ceiling). docs/reliability.md lists them. Each
// backend's quantized checkpoints: test_corrupt_quantized.cpp, with the cases in the backend's test folder.
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "child_process.h"
#include "raw_safetensors.h"

namespace oft::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kModels = fs::path(OFT_GOLDEN_DIR) / "models" / "hf";
const std::string kQProj = "model.layers.0.self_attn.q_proj.";

// The folder a case starts from: a single-file checkpoint or a sharded one.
enum class Source { Dense, Sharded };

struct Case {
  std::string name;
  Source source;
  std::function<void(const fs::path&)> corrupt;
  std::vector<std::string> expected;  // substrings of the error message
};

void edit_json(const fs::path& path, const std::function<void(json&)>& edit) {
  json j = json::parse(read_bytes(path));
  edit(j);
  write_bytes(path, j.dump(2));
}

void edit_checkpoint(const fs::path& path, const std::function<void(RawSafetensors&)>& edit) {
  auto st = RawSafetensors::read(path);
  edit(st);
  st.write(path);
}

std::function<void(const fs::path&)> checkpoint(const std::function<void(RawSafetensors&)>& edit,
                                                const std::string& file = "model.safetensors") {
  return [=](const fs::path& dir) { edit_checkpoint(dir / file, edit); };
}

std::function<void(const fs::path&)> config(const std::function<void(json&)>& edit) {
  return [=](const fs::path& dir) { edit_json(dir / "config.json", edit); };
}

std::function<void(const fs::path&)> raw_bytes(const std::function<void(std::string&)>& edit) {
  return [=](const fs::path& dir) {
    std::string bytes = read_bytes(dir / "model.safetensors");
    edit(bytes);
    write_bytes(dir / "model.safetensors", bytes);
  };
}

void set_header_length(std::string& bytes, uint64_t length) {
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xff);
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> cases() {
  const std::string q = kQProj + "weight";
  return {
      // safetensors structure
      {"TruncatedFile",
       Source::Dense,
       raw_bytes([](std::string& b) { b.resize(b.size() / 2); }),
       {"model.safetensors", "tensors cover"}},
      {"EmptyFile", Source::Dense, raw_bytes([](std::string& b) { b.clear(); }), {"model.safetensors", "too short"}},
      {"HeaderLengthPastEnd",
       Source::Dense,
       raw_bytes([](std::string& b) { set_header_length(b, b.size()); }),
       {"model.safetensors", "header length"}},
      {"HeaderClaimsTerabytes",
       Source::Dense,
       raw_bytes([](std::string& b) { set_header_length(b, uint64_t{1} << 42); }),
       {"model.safetensors", "header length 4398046511104"}},
      {"HeaderNotJson",
       Source::Dense,
       raw_bytes([](std::string& b) { b.replace(8, 4, "!!!!"); }),
       {"model.safetensors", "header is not valid JSON"}},
      {"OffsetsPastEnd",
       Source::Dense,
       checkpoint([](RawSafetensors& st) { st.header["model.norm.weight"]["data_offsets"][1] = 1ull << 40; }),
       {"model.safetensors", "model.norm.weight", "data_offsets"}},
      {"OffsetsOverlap",
       Source::Dense,
       checkpoint([](RawSafetensors& st) {
         st.header["model.norm.weight"]["data_offsets"] = {0, 128};  // 32 float32, on top of the first tensor
       }),
       {"model.safetensors", "overlapping"}},
      {"OffsetsLeaveDataUncovered",
       Source::Dense,
       checkpoint([](RawSafetensors& st) { st.data += std::string(64, 'x'); }),
       {"model.safetensors", "tensors cover"}},
      {"ShapeClaimsTerabytes",
       Source::Dense,
       checkpoint([q](RawSafetensors& st) {
         st.header[q]["shape"] = {1ull << 40, 1ull << 10};
       }),
       {"model.safetensors", q, "dtype x shape needs"}},
      {"UnknownDtype",
       Source::Dense,
       checkpoint([q](RawSafetensors& st) { st.header[q]["dtype"] = "F128"; }),
       {"model.safetensors", q, "unknown dtype"}},
      {"CheckpointIsAFolder",
       Source::Dense,
       [](const fs::path& dir) {
         fs::remove(dir / "model.safetensors");
         fs::create_directory(dir / "model.safetensors");
       },
       {"model.safetensors", "not a regular file"}},
      // tensors that do not fit the model
      {"IntegerTensorForFloatParameter",
       Source::Dense,
       checkpoint([q](RawSafetensors& st) { st.header[q]["dtype"] = "I32"; }),
       {q, "expected a float dtype"}},
      {"WrongShape",
       Source::Dense,
       checkpoint([q](RawSafetensors& st) {
         st.header[q]["shape"] = {64, 16};
       }),
       {q, "expects [32, 32]"}},
      {"MissingTensor", Source::Dense, checkpoint([q](RawSafetensors& st) { st.remove(q); }), {"missing tensors", q}},
      // config.json
      {"ConfigNotJson",
       Source::Dense,
       [](const fs::path& d) { write_bytes(d / "config.json", "{\"model_type\": "); },
       {"config.json", "not valid JSON"}},
      {"ConfigWithoutModelType",
       Source::Dense,
       config([](json& c) { c.erase("model_type"); }),
       {"config.json", "model_type"}},
      {"ConfigHeadsDoNotDivideHidden",
       Source::Dense,
       config([](json& c) {
         c["num_attention_heads"] = 6;
         c["num_key_value_heads"] = 2;
         c.erase("head_dim");
       }),
       {"config.json", "hidden_size", "num_attention_heads"}},
      {"ConfigNegativeSize",
       Source::Dense,
       config([](json& c) { c["hidden_size"] = -32; }),
       {"config.json", "hidden_size", "-32"}},
      {"ConfigZeroSize",
       Source::Dense,
       config([](json& c) { c["intermediate_size"] = 0; }),
       {"config.json", "intermediate_size"}},
      {"ConfigHugeLayerCount",
       Source::Dense,
       config([](json& c) { c["num_hidden_layers"] = 1000000000000; }),
       {"config.json", "num_hidden_layers"}},
      {"ConfigSizeNotAnInteger",
       Source::Dense,
       config([](json& c) { c["vocab_size"] = "64"; }),
       {"config.json", "vocab_size"}},
      // sharded checkpoints
      {"IndexNamesMissingShard",
       Source::Sharded,
       [](const fs::path& d) { fs::remove(d / "model-00002-of-00003.safetensors"); },
       {"model.safetensors.index.json", "model-00002-of-00003.safetensors"}},
      {"IndexNamesTensorTwice",
       Source::Sharded,
       [](const fs::path& d) {
         // The first tensor of shard 1 also appears in shard 2.
         auto one = RawSafetensors::read(d / "model-00001-of-00003.safetensors");
         auto two = RawSafetensors::read(d / "model-00002-of-00003.safetensors");
         const std::string name = one.names().front();
         const auto begin = one.header[name]["data_offsets"][0].get<size_t>();
         const auto end = one.header[name]["data_offsets"][1].get<size_t>();
         two.header[name] = one.header[name];
         two.header[name]["data_offsets"] = {two.data.size(), two.data.size() + end - begin};
         two.data += one.data.substr(begin, end - begin);
         two.write(d / "model-00002-of-00003.safetensors");
       },
       {"model.safetensors.index.json", "two shards"}},
      {"IndexMapsTensorToWrongShard",
       Source::Sharded,
       [](const fs::path& d) {
         edit_json(d / "model.safetensors.index.json",
                   [](json& j) { j["weight_map"]["model.extra.weight"] = "model-00001-of-00003.safetensors"; });
       },
       {"model.safetensors.index.json", "model.extra.weight", "does not contain it"}},
      {"IndexNamesShardOutsideFolder",
       Source::Sharded,
       [](const fs::path& d) {
         edit_json(d / "model.safetensors.index.json",
                   [](json& j) { j["weight_map"]["model.norm.weight"] = "../model.safetensors"; });
       },
       {"model.safetensors.index.json", "outside the folder"}},
      {"IndexNotJson",
       Source::Sharded,
       [](const fs::path& d) { write_bytes(d / "model.safetensors.index.json", "["); },
       {"model.safetensors.index.json", "not valid JSON"}},
  };
}

class CorruptInputs : public ::testing::TestWithParam<Case> {
 protected:
  static inline fs::path root_;
  static inline std::map<std::string, ChildResult> results_;  // by case name

  static ChildResult oft(std::vector<std::string> args) {
    args.insert(args.begin(), {OFT_BINARY, "--log-level", "error"});
    return run_child(args);
  }

  static void SetUpTestSuite() {
    char name[] = "/tmp/oft-corrupt-inputs-XXXXXX";
    root_ = ::mkdtemp(name);
    RawSafetensors input{{{"input_ids", {{"dtype", "I64"}, {"shape", {2, 5}}, {"data_offsets", {0, 80}}}}},
                         std::string(80, '\0')};
    input.data[8] = 7;  // token ids 0..63 of the tiny models
    input.write(root_ / "input.safetensors");
    // Every case's run up front, two at a time (each `oft` start-up is mostly loading libraries).
    const auto all = cases();
    for (const auto& c : all) {
      fs::copy(source_folder(c.source), root_ / c.name, fs::copy_options::recursive);
      c.corrupt(root_ / c.name);
    }
    std::vector<ChildResult> results(all.size());
    in_parallel(all.size(), [&](size_t i) { results[i] = run_case(all[i]); });
    for (size_t i = 0; i < all.size(); ++i) results_[all[i].name] = std::move(results[i]);
  }

  // Through `oft forward`, which loads the whole checkpoint (as every command does) and needs no plugin.
  static ChildResult forward(const fs::path& dir, const fs::path& out) {
    return oft({"forward", "--model", dir.string(), "--input", (root_ / "input.safetensors").string(), "--output",
                out.string()});
  }
  static ChildResult run_case(const Case& c) { return forward(root_ / c.name, root_ / (c.name + "-out")); }

  static void in_parallel(size_t n, const std::function<void(size_t)>& job) {
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (size_t i; (i = next++) < n;) job(i);
    };
    std::thread other(worker);
    worker();
    other.join();
  }

  static void TearDownTestSuite() {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  static fs::path source_folder(Source s) {
    switch (s) {
      case Source::Dense: return kModels / "llama3_rope";
      case Source::Sharded: return kModels / "llama_sharded";
    }
    return {};
  }
};

TEST_P(CorruptInputs, FailsWithAClearErrorAndWritesNothing) {
  const Case& c = GetParam();
  const ChildResult& r = results_.at(c.name);
  EXPECT_EQ(r.signal, 0) << "crashed: " << r.output;
  EXPECT_EQ(r.exit_code, 1) << r.output;
  for (const auto& text : c.expected)
    EXPECT_NE(r.output.find(text), std::string::npos) << "'" << text << "' in: " << r.output;
  EXPECT_EQ(r.output.find("bad_alloc"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(root_ / (c.name + "-out")));
}

TEST_F(CorruptInputs, TheUncorruptedFoldersWork) {  // so every failure above is the corruption's
  for (Source s : {Source::Dense, Source::Sharded}) {
    const fs::path out = root_ / "ok.safetensors";
    const auto r = forward(source_folder(s), out);
    EXPECT_EQ(r.exit_code, 0) << source_folder(s) << ": " << r.output;
    fs::remove(out);
  }
}

INSTANTIATE_TEST_SUITE_P(Folders, CorruptInputs, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace oft::test
