// A backend's quantized checkpoint, corrupted one way per case, through `oft forward`: each must end with
// exit code 1 and a message naming the checkpoint, the module and the tensor or key, write no output, and
// not crash (4 GiB address-space ceiling). Generic: the backend's own tests/backends/<name>/CMakeLists.txt
// names the method and the cases (oft_add_corrupt_quantized_test, tests/reliability/corrupt_quantized.cmake).
//   test_corrupt_quantized --oft BIN --model DIR --method M [--options JSON] [--calibration] CASE...
// CASE is "Name|mutation|expected text|expected text...", the mutation one of
//   remove TENSOR                 drop the tensor
//   replace TENSOR DTYPE D0,D1    zero bytes of another dtype and shape
//   int32 TENSOR VALUE            overwrite the tensor's first int32 element
//   config /json/pointer JSON     set a value in config.json
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
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

struct Case {
  std::string name;
  std::string mutation;
  std::vector<std::string> expected;  // substrings of the error message
};

struct Arguments {
  std::string oft, model, method, options;
  bool calibration = false;
  std::vector<Case> cases;
};

Arguments& arguments() {
  static Arguments args;
  return args;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator)) parts.push_back(part);
  return parts;
}

Case parse_case(const std::string& spec) {
  auto parts = split(spec, '|');
  if (parts.size() < 3) throw std::invalid_argument("case '" + spec + "': expected Name|mutation|expected text...");
  return {parts[0], parts[1], {parts.begin() + 2, parts.end()}};
}

Arguments parse_arguments(int argc, char** argv) {
  Arguments args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--gtest_", 0) == 0) continue;  // googletest's own
    auto value = [&] {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "--oft")
      args.oft = value();
    else if (a == "--model")
      args.model = value();
    else if (a == "--method")
      args.method = value();
    else if (a == "--options")
      args.options = value();
    else if (a == "--calibration")
      args.calibration = true;
    else
      args.cases.push_back(parse_case(a));
  }
  if (args.oft.empty() || args.model.empty() || args.method.empty() || args.cases.empty())
    throw std::invalid_argument(
        "usage: test_corrupt_quantized --oft BIN --model DIR --method M [--options JSON] "
        "[--calibration] CASE...");
  return args;
}

// Applies a case's mutation to the quantized folder `dir`.
void corrupt(const fs::path& dir, const std::string& mutation) {
  const auto words = split(mutation, ' ');
  const std::string& kind = words.at(0);
  if (kind == "config" && words.size() >= 3) {
    json config = json::parse(read_bytes(dir / "config.json"));
    const size_t value_at = mutation.find(' ', kind.size() + 1 + words[1].size()) + 1;  // the rest, spaces and all
    config[json::json_pointer(words[1])] = json::parse(mutation.substr(value_at));
    write_bytes(dir / "config.json", config.dump(2));
    return;
  }
  auto st = RawSafetensors::read(dir / "model.safetensors");
  if (kind == "remove" && words.size() == 2) {
    st.remove(words[1]);
  } else if (kind == "replace" && words.size() == 4) {
    std::vector<int64_t> shape;
    for (const auto& d : split(words[3], ',')) shape.push_back(std::stoll(d));
    st.replace(words[1], words[2], shape);
  } else if (kind == "int32" && words.size() == 3) {
    const auto value = static_cast<uint32_t>(std::stol(words[2]));
    const auto begin = st.header.at(words[1]).at("data_offsets").at(0).get<size_t>();
    for (size_t i = 0; i < 4; ++i) st.data.at(begin + i) = static_cast<char>((value >> (8 * i)) & 0xff);
  } else {
    throw std::invalid_argument("unknown mutation '" + mutation + "'");
  }
  st.write(dir / "model.safetensors");
}

class CorruptQuantized : public ::testing::TestWithParam<Case> {
 protected:
  static inline fs::path root_;
  static inline std::string setup_error_;
  static inline std::map<std::string, ChildResult> results_;  // by case name

  static ChildResult oft(std::vector<std::string> args) {
    args.insert(args.begin(), {arguments().oft, "--log-level", "error"});
    return run_child(args);
  }

  static ChildResult forward(const fs::path& dir, const fs::path& out) {
    return oft({"forward", "--model", dir.string(), "--input", (root_ / "input.safetensors").string(), "--output",
                out.string()});
  }

  static void SetUpTestSuite() {
    const Arguments& args = arguments();
    char name[] = "/tmp/oft-corrupt-quantized-XXXXXX";
    root_ = ::mkdtemp(name);
    RawSafetensors input{{{"input_ids", {{"dtype", "I64"}, {"shape", {2, 5}}, {"data_offsets", {0, 80}}}}},
                         std::string(80, '\0')};
    input.data[8] = 7;  // token ids 0..63 of the tiny models
    input.write(root_ / "input.safetensors");
    std::vector<std::string> quantize{
        "quantize", "--model", args.model, "--method", args.method, "--out", (root_ / "quantized").string()};
    if (!args.options.empty()) quantize.insert(quantize.end(), {"--options", args.options});
    if (args.calibration) quantize.insert(quantize.end(), {"--calibration", (root_ / "input.safetensors").string()});
    if (auto r = oft(quantize); r.exit_code != 0) {
      setup_error_ = "oft quantize --method " + args.method + ": " + r.output;
      return;
    }
    for (const auto& c : args.cases) {
      fs::copy(root_ / "quantized", root_ / c.name, fs::copy_options::recursive);
      corrupt(root_ / c.name, c.mutation);
    }
    // Every case's run up front, two at a time (each `oft` start-up is mostly loading libraries).
    std::vector<ChildResult> results(args.cases.size());
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (size_t i; (i = next++) < results.size();) {
        const auto& c = args.cases[i];
        results[i] = forward(root_ / c.name, root_ / (c.name + "-out"));
      }
    };
    std::thread other(worker);
    worker();
    other.join();
    for (size_t i = 0; i < results.size(); ++i) results_[args.cases[i].name] = std::move(results[i]);
  }

  static void TearDownTestSuite() {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

TEST_P(CorruptQuantized, FailsWithAClearErrorAndWritesNothing) {
  ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  const Case& c = GetParam();
  const ChildResult& r = results_.at(c.name);
  EXPECT_EQ(r.signal, 0) << "crashed: " << r.output;
  EXPECT_EQ(r.exit_code, 1) << r.output;
  for (const auto& text : c.expected)
    EXPECT_NE(r.output.find(text), std::string::npos) << "'" << text << "' in: " << r.output;
  EXPECT_EQ(r.output.find("bad_alloc"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(root_ / (c.name + "-out")));
}

TEST_F(CorruptQuantized, TheUncorruptedFolderWorks) {  // so every failure above is the corruption's
  ASSERT_TRUE(setup_error_.empty()) << setup_error_;
  const auto r = forward(root_ / "quantized", root_ / "ok.safetensors");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

INSTANTIATE_TEST_SUITE_P(Cases, CorruptQuantized, ::testing::ValuesIn(arguments().cases),
                         [](const ::testing::TestParamInfo<Case>& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace oft::test

// The cases come from the command line, so they are read before googletest instantiates the suite.
int main(int argc, char** argv) {
  try {
    oft::test::arguments() = oft::test::parse_arguments(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
