// `oft quantize` and `oft merge` killed with SIGKILL at moments spread over a run: the output folder is
// then absent, the old folder as it was, or the complete new one (byte-equal to an uninterrupted run),
// never a partial folder; the temporary folders the killed runs leave are removed by the next run.
// `oft quantize` uses the test-only backend fixture-int4 (tests/plugin/fixtures/int4.cpp).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "child_process.h"
#include "raw_safetensors.h"

namespace oft::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const fs::path kModel = fs::path(OFT_GOLDEN_DIR) / "models" / "hf" / "llama3_rope";
constexpr int kKills = 8;

// An identity OFT adapter (zero skew blocks) on q_proj and v_proj of both layers: merge writes a full
// checkpoint without needing trained weights.
void write_adapter(const fs::path& dir) {
  fs::create_directories(dir);
  const nlohmann::json config{{"peft_type", "OFT"},  {"r", 0},
                              {"oft_block_size", 8}, {"target_modules", {"q_proj", "v_proj"}},
                              {"bias", "none"},      {"module_dropout", 0.0},
                              {"init_weights", true}};
  write_bytes(dir / "adapter_config.json", config.dump(2));
  RawSafetensors st{nlohmann::json::object(), ""};
  for (const char* layer : {"0", "1"})
    for (const char* proj : {"q_proj", "v_proj"}) {
      const std::string name =
          std::string("base_model.model.model.layers.") + layer + ".self_attn." + proj + ".oft_R.weight";
      st.header[name] = {
          {"dtype", "F32"}, {"shape", {4, 28}}, {"data_offsets", {st.data.size(), st.data.size() + 448}}};
      st.data += std::string(448, '\0');
    }
  st.write(dir / "adapter_model.safetensors");
}

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> leftovers(const fs::path& parent) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(parent))
    if (e.path().filename().string().find(".oft-") != std::string::npos) out.push_back(e.path().filename().string());
  return out;
}

class CrashSafeOutputs : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char name[] = "/tmp/oft-crash-safe-XXXXXX";
    root_ = ::mkdtemp(name);
    write_adapter(root_ / "adapter");
    // The children inherit these: the fixture backend's folder, and a plugin scan cache of this test's own
    // (in a folder of its own: a write of it that a kill interrupts is not the output's leftover).
    fs::create_directories(root_ / "cache");
    ::setenv("OFT_PLUGIN_PATH", OFT_FIXTURE_INT4_DIR, 1);
    ::setenv("OFT_PLUGIN_CACHE", (root_ / "cache" / "scan-cache.json").c_str(), 1);
    // The first run scans the plugins (slow); the timed runs below must not, or most kills come too late.
    ASSERT_EQ(run_child({OFT_BINARY, "--log-level", "error", "plugins"}).exit_code, 0);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  std::vector<std::string> command(const fs::path& out) const {
    std::vector<std::string> args{OFT_BINARY, "--log-level",   "error", GetParam(),
                                  "--model",  kModel.string(), "--out", out.string()};
    if (GetParam() == "quantize") args.insert(args.end(), {"--method", "fixture-int4"});
    if (GetParam() == "merge") args.insert(args.end(), {"--adapter", (root_ / "adapter").string()});
    return args;
  }

  // Absent, the old folder (with its marker) or byte-equal to the reference run.
  void expect_whole(const fs::path& out, const fs::path& reference, bool existed, const std::string& when) {
    if (!fs::exists(out)) {
      EXPECT_FALSE(existed) << when << ": the old folder vanished";
      return;
    }
    const bool old = fs::exists(out / "OLD");
    EXPECT_TRUE(!old || existed) << when;
    auto names = listing(out);
    if (old) names.erase(std::find(names.begin(), names.end(), "OLD"));
    ASSERT_EQ(names, listing(reference)) << when << (old ? " (old folder)" : " (new folder)");
    for (const auto& n : names)
      EXPECT_TRUE(read_bytes(out / n) == read_bytes(reference / n)) << when << ": " << n << " differs";
  }

  fs::path root_;
};

TEST_P(CrashSafeOutputs, AKilledRunLeavesTheOldFolderOrTheCompleteNewOne) {
  const fs::path reference = root_ / "reference";
  // The shorter of two complete runs: the first one may read LibTorch from a cold page cache, and kills
  // timed from a slow run would mostly come after the later, faster runs have finished.
  auto duration = Clock::duration::max();
  for (int run = 0; run < 2; ++run) {
    const auto start = Clock::now();
    const auto done = run_child(command(reference));
    duration = std::min(duration, Clock::now() - start);
    ASSERT_EQ(done.exit_code, 0) << done.output;
  }

  std::mt19937 random(16);
  std::uniform_real_distribution<double> uniform(0, 1);
  const fs::path out = root_ / "out";
  int killed = 0;
  // kKills moments spread over the whole run (and a little past it), half of them over an existing folder.
  // The run's length is an estimate: the other tests share the cores, so a later run can be faster than the
  // reference. A run that finishes before its kill shortens the estimate, and while most runs have not been
  // killed, more moments are drawn within the (shortened) run.
  auto estimate = duration;
  for (int i = 0; i < kKills || (killed <= kKills / 2 && i < 4 * kKills); ++i) {
    const double fraction = i < kKills ? 1.2 * (i + uniform(random)) / kKills : uniform(random);
    const auto at = std::chrono::duration_cast<std::chrono::microseconds>(estimate * fraction);
    const bool existed = i % 2 == 1;
    fs::remove_all(out);
    if (existed) {
      fs::copy(reference, out);
      write_bytes(out / "OLD", "");
    }
    const auto start = Clock::now();
    const auto r = run_child(command(out), {.kill_after = at});
    if (r.signal == SIGKILL)
      ++killed;
    else
      estimate = std::min(estimate, Clock::now() - start);
    expect_whole(out, reference, existed, "killed after " + std::to_string(at.count()) + " us");
  }
  EXPECT_GT(killed, kKills / 2) << "most runs should be killed before they finish";

  // A complete run replaces the folder and clears what the killed runs left behind.
  const auto r = run_child(command(out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_whole(out, reference, false, "after a complete run");
  EXPECT_FALSE(fs::exists(out / "OLD"));
  EXPECT_EQ(leftovers(root_), std::vector<std::string>{});
}

INSTANTIATE_TEST_SUITE_P(Commands, CrashSafeOutputs, ::testing::Values("quantize", "merge"));

}  // namespace
}  // namespace oft::test
