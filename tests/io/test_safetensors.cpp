// The safetensors reader/writer: round trips, files written by the Python library, and a clear
// FormatError for each way a header can be wrong.
#include <filesystem>
#include <fstream>

#include "oft/errors.h"
#include "oft/io/safetensors.h"
#include "test_support.h"

namespace oft::safetensors {
namespace {

namespace fs = std::filesystem;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("oft_st_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A file with the given header text and `data_bytes` zero bytes of data.
  fs::path raw_file(const std::string& header, size_t data_bytes, uint64_t claimed_len = 0) {
    const fs::path p = dir_ / "raw.safetensors";
    std::ofstream out(p, std::ios::binary);
    uint64_t len = claimed_len ? claimed_len : header.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((len >> (8 * i)) & 0xff));
    out << header << std::string(data_bytes, '\0');
    return p;
  }

  void expect_format_error(const fs::path& p, const std::string& fragment) {
    try {
      load(p);
      ADD_FAILURE() << "expected a FormatError containing '" << fragment << "'";
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << "message must name the file";
    }
  }

  fs::path dir_;
};

TEST_F(SafetensorsTest, RoundTripsEveryDtypeAndMetadata) {
  TensorMap tensors;
  tensors["f32"] = at::randn({3, 4});
  tensors["f16"] = at::randn({5}).to(at::kHalf);
  tensors["bf16"] = at::randn({2, 2}).to(at::kBFloat16);
  tensors["f64"] = at::randn({1}).to(at::kDouble);
  tensors["i64"] = at::arange(6).view({2, 3});
  tensors["i32"] = at::arange(4).to(at::kInt);
  tensors["u8"] = at::arange(7).to(at::kByte);
  tensors["i8"] = at::arange(-3, 3).to(at::kChar);
  tensors["bool"] = at::arange(4) > 1;
  tensors["empty"] = at::zeros({0, 3});
  tensors["strided"] = at::randn({4, 6}).t();  // written contiguous
  const fs::path p = dir_ / "rt.safetensors";
  save(p, tensors, {{"format", "pt"}, {"note", "x"}});
  const Contents back = load(p);
  ASSERT_EQ(back.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    ASSERT_EQ(back.tensors.count(name), 1u) << name;
    EXPECT_EQ(back.tensors.at(name).scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(at::equal(back.tensors.at(name), t.contiguous())) << name;
  }
  EXPECT_EQ(back.metadata.at("format"), "pt");
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << "temporary file left behind";
}

TEST_F(SafetensorsTest, ReadsFilesWrittenByThePythonLibrary) {
  const Contents c = load(std::string(OFT_GOLDEN_DIR) + "/oft_dropout.safetensors");
  EXPECT_EQ(c.tensors.at("p025/input").sizes(), (std::vector<int64_t>{8, 4, 4}));
  EXPECT_EQ(c.metadata.at("generator"), "tests/golden/gen_oft_layers.py");
}

TEST_F(SafetensorsTest, RejectsMalformedFiles) {
  {
    const fs::path p = dir_ / "short.safetensors";
    std::ofstream(p) << "abc";
    expect_format_error(p, "too short");
  }
  expect_format_error(raw_file("{}", 0, 1000), "header length 1000 exceeds");
  expect_format_error(raw_file("{not json", 0), "not valid JSON");
  expect_format_error(raw_file("[1, 2]", 0), "must be a JSON object");
  expect_format_error(raw_file(R"({"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}})", 16),
                      "unknown dtype 'F128'");
  expect_format_error(raw_file(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), "non-negative");
  expect_format_error(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4), "needs 8");
  expect_format_error(raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4),
                      "cover 8 bytes of a 4-byte");
  expect_format_error(
      raw_file(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
          8),
      "overlapping or gap");
  expect_format_error(raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), "overlapping or gap");
  expect_format_error(raw_file(R"({"a":{"dtype":"F32","shape":[1]}})", 4), "missing 'data_offsets'");
  expect_format_error(raw_file(R"({"__metadata__":{"k":1}})", 0), "must be a string");
  expect_format_error(dir_ / "absent.safetensors", "cannot open");
}

TEST_F(SafetensorsTest, FailedSaveLeavesNoFile) {
  TensorMap bad{{"ok", at::ones({2})}, {"undefined", at::Tensor()}};
  const fs::path p = dir_ / "bad.safetensors";
  EXPECT_THROW(save(p, bad), UsageError);
  EXPECT_FALSE(fs::exists(p));
  EXPECT_THROW(save(dir_ / "no_such_dir" / "x.safetensors", {{"a", at::ones({1})}}), FormatError);
}

}  // namespace
}  // namespace oft::safetensors
