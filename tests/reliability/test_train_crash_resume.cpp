// `oft train` killed with SIGKILL at seeded random moments and started again with the same command until it
// finishes ends with the adapter and metrics of an uninterrupted run, bitwise (one thread; LibTorch's CPU kernels
// are deterministic for a fixed thread count). After every kill the output folder holds no partial adapter or
// checkpoint: each one present reads completely, the checkpoint's step never goes back, and the only other
// entries are the temporaries of the killed process, named so that no resume mistakes them (the next run
// removes them). The run: causal_lm on the tiny llama_sharded checkpoint, a checkpoint after every step, and
// module_dropout, so the random generator's state must survive a resume as well as the weights and AdamW's.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/serialize/input-archive.h>

#include "child_process.h"
#include "oft/io/safetensors.h"
#include "raw_safetensors.h"

namespace oft::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

constexpr int64_t kSteps = 60;
constexpr int kKills = 14;

// What a killed writer may leave: write_folder_atomically's ".<name>.oft-tmp.<pid>.<n>" and ".oft-old." folders
// and write_atomically's "<name>.tmp.<pid>.<n>" files; hidden or suffixed, so never read as outputs.
bool is_temporary(const std::string& name) {
  static const std::regex pattern(R"(\.(checkpoint|adapter)\.oft-(tmp|old)\.\d+\.\d+|metrics\.json\.tmp\.\d+\.\d+)");
  return std::regex_match(name, pattern);
}

// Every file of a checkpoint or adapter folder reads completely: safetensors through the validating reader,
// JSON parsed, LibTorch archives opened.
void expect_readable_folder(const fs::path& dir, const std::vector<std::string>& required, const std::string& when) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const fs::path& file = entry.path();
    names.insert(file.filename().string());
    try {
      if (file.extension() == ".safetensors") {
        safetensors::load(file);
      } else if (file.extension() == ".json") {
        if (!json::accept(read_bytes(file))) throw std::runtime_error("not JSON");
      } else if (file.extension() == ".pt") {
        torch::serialize::InputArchive archive;
        archive.load_from(file.string());
      } else {
        ADD_FAILURE() << when << ": unexpected file " << file;
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << when << ": " << file << " does not read completely: " << e.what();
    }
  }
  for (const auto& name : required) EXPECT_TRUE(names.count(name)) << when << ": " << dir << " has no " << name;
}

// The step of the checkpoint whose trainer_state.json is `file`; 0 while there is none (or it is being
// replaced: a run renames checkpoint folders as it writes them).
int64_t checkpoint_step_of(const fs::path& file) {
  try {
    const json state = json::parse(read_bytes(file), nullptr, /*allow_exceptions=*/false);
    return state.is_object() && state.contains("step") && state["step"].is_number_integer()
               ? state["step"].get<int64_t>()
               : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

struct OutputState {
  int64_t checkpoint_step = 0;  // 0: no checkpoint
  bool adapter = false;
  bool metrics = false;
  int temporaries = 0;
};

OutputState inspect(const fs::path& out, const std::string& when) {
  OutputState state;
  if (!fs::exists(out)) return state;
  for (const auto& entry : fs::directory_iterator(out)) {
    const std::string name = entry.path().filename().string();
    if (name == "checkpoint") {
      expect_readable_folder(entry.path(), {"trainer_state.json", "trainable.safetensors", "optimizer.pt"}, when);
      try {
        state.checkpoint_step = json::parse(read_bytes(entry.path() / "trainer_state.json")).at("step").get<int64_t>();
      } catch (const std::exception& e) {
        ADD_FAILURE() << when << ": the checkpoint has no step: " << e.what();
      }
    } else if (name == "adapter") {
      expect_readable_folder(entry.path(), {"adapter_config.json", "adapter_model.safetensors"}, when);
      state.adapter = true;
    } else if (name == "metrics.json") {
      EXPECT_TRUE(json::accept(read_bytes(entry.path()))) << when << ": metrics.json is not JSON";
      state.metrics = true;
    } else if (is_temporary(name)) {
      ++state.temporaries;
    } else {
      ADD_FAILURE() << when << ": unexpected " << entry.path();
    }
  }
  return state;
}

class TrainCrashResume : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/oft-train-crash-XXXXXX";
    root_ = ::mkdtemp(name);
    // Token rows of uneven length (the token-weighted loss and padding matter), 24 rows in batches of 4.
    std::string rows;
    for (int i = 0; i < 24; ++i) {
      json ids = json::array();
      for (int j = 0; j < 6 + (i * 5) % 9; ++j) ids.push_back(3 + (i * 7 + j * 11) % 61);
      rows += json{{"input_ids", ids}}.dump() + "\n";
    }
    write_bytes(root_ / "train.jsonl", rows);
    for (const char* out : {"reference", "out"})
      write_bytes(root_ / (std::string(out) + ".json"),
                  json{{"model", std::string(OFT_GOLDEN_DIR) + "/models/hf/llama_sharded"},
                       {"task", "causal_lm"},
                       {"data", {{"train", "train.jsonl"}}},
                       {"oft",
                        {{"target_modules", {"q_proj", "v_proj", "o_proj"}},
                         {"oft_block_size", 8},
                         {"r", 0},
                         {"module_dropout", 0.5}}},
                       {"optimizer", {{"lr", 1e-2}}},
                       {"batch_size", 4},
                       {"steps", kSteps},
                       {"seed", 5},
                       {"output_dir", out},
                       {"save_every", 1}}
                      .dump(2));
    // Plugins load in-process: no scan cache whose write a kill could interrupt, and a faster start.
    write_bytes(root_ / "host.json", R"({"plugins": {"safe_scan": false}})");
    ::setenv("OMP_NUM_THREADS", "1", 1);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  std::vector<std::string> command(const std::string& out) const {
    return {OFT_BINARY, "--host-config", (root_ / "host.json").string(),    "--log-level", "error",
            "train",    "--config",      (root_ / (out + ".json")).string()};
  }

  // The adapter and metrics of `out` equal the reference's (bitwise; the metrics but resumed_from).
  void expect_reference_outputs(const std::string& out, const std::string& when) const {
    const fs::path a = root_ / "reference", b = root_ / out;
    EXPECT_EQ(read_bytes(b / "adapter" / "adapter_config.json"), read_bytes(a / "adapter" / "adapter_config.json"))
        << when;
    const auto expected = safetensors::load(a / "adapter" / "adapter_model.safetensors").tensors;
    const auto actual = safetensors::load(b / "adapter" / "adapter_model.safetensors").tensors;
    ASSERT_EQ(actual.size(), expected.size()) << when;
    for (const auto& [key, t] : expected) {
      ASSERT_TRUE(actual.count(key)) << when << ": no " << key;
      EXPECT_TRUE(actual.at(key).equal(t))
          << when << ": " << key << " differs by up to " << (actual.at(key) - t).abs().max().item<double>();
    }
    json expected_metrics = json::parse(read_bytes(a / "metrics.json"));
    json actual_metrics = json::parse(read_bytes(b / "metrics.json"));
    for (const char* run_dependent : {"resumed_from", "train_seconds"}) {
      expected_metrics.erase(run_dependent);
      actual_metrics.erase(run_dependent);
    }
    EXPECT_EQ(actual_metrics, expected_metrics) << when;
  }

  fs::path root_;
};

TEST_F(TrainCrashResume, KilledRunsResumeToTheUninterruptedRunsAdapter) {
  // The uninterrupted run, then the same command on its finished folder (which only writes the outputs
  // again): their durations split a run into start-up and training, to spread the kills over both.
  auto start = Clock::now();
  const auto reference = run_child(command("reference"));
  const Seconds whole = Clock::now() - start;
  ASSERT_EQ(reference.exit_code, 0) << reference.output;
  // The adapter moved away from the identity (a zero adapter would make the comparisons vacuous).
  for (const auto& [key, t] : safetensors::load(root_ / "reference/adapter/adapter_model.safetensors").tensors)
    EXPECT_GT(t.abs().max().item<double>(), 1e-3) << key;
  const fs::path kept = root_ / "first-reference";
  fs::create_directories(kept);
  fs::copy(root_ / "reference", kept, fs::copy_options::recursive);
  start = Clock::now();
  const auto again = run_child(command("reference"));
  const Seconds startup = Clock::now() - start;
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(read_bytes(root_ / "reference/adapter/adapter_model.safetensors"),
            read_bytes(kept / "adapter/adapter_model.safetensors"));
  EXPECT_EQ(json::parse(read_bytes(root_ / "reference/metrics.json")).at("final_loss"),
            json::parse(read_bytes(kept / "metrics.json")).at("final_loss"))
      << "the finished run started again reports another final loss";
  const double training = std::max(0.0, (whole - startup).count());

  std::mt19937 random(16);
  std::uniform_real_distribution<double> uniform(0, 1);
  const double step_time = training / kSteps;
  OutputState last;
  int killed = 0, progressed = 0, temporaries_left = 0;
  for (int i = 0; i < kKills; ++i) {
    // Even kills are timed from the start: kill i falls in the i-th of kKills slices of 1.1 times what is
    // left of the run (start-up plus the steps after the last checkpoint), the first ones during start-up,
    // the last ones near or past the end. On a busy machine start-up takes longer than measured, so odd
    // kills come within 1.5 steps after the run's first new checkpoint: resuming is exercised whatever
    // the load.
    ChildOptions kill;
    std::string when = "kill " + std::to_string(i) + " after ";
    if (i % 2 == 0) {
      const double left = startup.count() + training * static_cast<double>(kSteps - last.checkpoint_step) / kSteps;
      const double fraction = 1.1 * (i + uniform(random)) / kKills;
      kill.kill_after = std::chrono::microseconds(static_cast<int64_t>(fraction * left * 1e6));
      when += std::to_string(kill.kill_after->count()) + " us";
    } else {
      kill.kill_after = std::chrono::microseconds(static_cast<int64_t>(1.5 * uniform(random) * step_time * 1e6));
      const int64_t from = last.checkpoint_step;
      const fs::path state = root_ / "out" / "checkpoint" / "trainer_state.json";
      kill.count_kill_from = [from, state] { return checkpoint_step_of(state) > from; };
      when += std::to_string(kill.kill_after->count()) + " us past a new checkpoint";
    }
    const auto r = run_child(command("out"), kill);
    if (r.signal != SIGKILL) {
      ASSERT_EQ(r.exit_code, 0) << when << ": " << r.output;
    }
    killed += r.signal == SIGKILL;
    const OutputState now = inspect(root_ / "out", when);
    EXPECT_GE(now.checkpoint_step, last.checkpoint_step) << when << ": the checkpoint went back";
    if (now.adapter) {
      EXPECT_EQ(now.checkpoint_step, kSteps) << when << ": an adapter before the last step";
    }
    if (now.metrics) {
      EXPECT_TRUE(now.adapter) << when << ": metrics without an adapter";
    }
    progressed += now.checkpoint_step > last.checkpoint_step;
    temporaries_left += now.temporaries > 0;
    last = now;
    // A run that finished (kills timed from a reference measured on a busier machine can come too late) is
    // checked now, and the next one trains from scratch: on a finished folder no kill would find work.
    if (r.signal != SIGKILL && i + 1 < kKills) {
      expect_reference_outputs("out", when + " (finished)");
      fs::remove_all(root_ / "out");
      last = OutputState{};
    }
  }
  std::cout << "[train crash] start-up " << startup.count() << " s, training " << training << " s; " << killed << " of "
            << kKills << " runs killed, " << progressed << " after a new checkpoint, " << temporaries_left
            << " leaving temporaries (killed mid-write); last checkpoint at step " << last.checkpoint_step << "\n";
  EXPECT_GT(killed, kKills / 2) << "most runs should be killed before they finish";
  EXPECT_GT(progressed, 1) << "kills should come after checkpoints, or resuming is not exercised";

  const auto finished = run_child(command("out"));
  ASSERT_EQ(finished.exit_code, 0) << finished.output;
  expect_reference_outputs("out", "after the kills");
  const OutputState end = inspect(root_ / "out", "after the kills");
  EXPECT_EQ(end.temporaries, 0) << "the finished run leaves the killed runs' temporaries behind";
  EXPECT_EQ(end.checkpoint_step, kSteps);
}

}  // namespace
}  // namespace oft::test
