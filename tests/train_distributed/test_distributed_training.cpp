// `oft train` data parallel on CPU (Gloo), through the built binary: 1, 2 and 4 ranks end with the
// one-process adapter and metrics; only rank 0 writes; a 2-rank checkpoint resumes with 1 rank; a
// killed or hung (SIGSTOPped) worker stops the run with an error naming it and leaves only a whole
// checkpoint; the host config's "distributed" section fills what TRAIN.json leaves out. The task: causal_lm on the tiny
// llama_sharded checkpoint with sequences of uneven length (so the token-weighted loss matters), a
// global batch of 5 over 11 examples (so the 4-rank shares are uneven and some are empty).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "oft/io/safetensors.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

const fs::path kWork = fs::temp_directory_path() / ("oft-train-distributed-" + std::to_string(getpid()));

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class DistributedTraining : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fs::create_directories(kWork);
    std::ofstream train(kWork / "train.jsonl"), eval(kWork / "eval.jsonl");
    for (int i = 0; i < 11; ++i) {
      json ids = json::array();
      for (int j = 0; j < 3 + (i * 5) % 7; ++j) ids.push_back(3 + (i * 7 + j * 11) % 61);
      train << json{{"input_ids", ids}}.dump() << "\n";
    }
    for (int i = 0; i < 5; ++i) {
      json ids = json::array();
      for (int j = 0; j < 4 + i; ++j) ids.push_back(3 + (i * 13 + j * 5) % 61);
      eval << json{{"input_ids", ids}}.dump() << "\n";
    }
  }
  static void TearDownTestSuite() { fs::remove_all(kWork); }

  // A TRAIN.json writing to <work>/<name>.
  static fs::path config(const std::string& name, int steps, double timeout_s = 60) {
    const fs::path file = kWork / (name + ".json");
    std::ofstream(file)
        << json{{"model", std::string(OFT_GOLDEN_DIR) + "/models/hf/llama_sharded"},
                {"task", "causal_lm"},
                {"data", {{"train", "train.jsonl"}, {"eval", "eval.jsonl"}}},
                {"oft",
                 {{"target_modules", {"q_proj", "v_proj"}}, {"oft_block_size", 8}, {"r", 0}, {"init_weights", false}}},
                {"optimizer", {{"lr", 1e-2}}},
                {"batch_size", 5},
                {"steps", steps},
                {"seed", 3},
                {"output_dir", name},
                {"save_every", 2},
                // Buckets of 512 bytes: one per adapter tensor (448 bytes), so the ordered overlap is exercised.
                {"distributed", {{"timeout_s", timeout_s}, {"bucket_mb", 512.0 / (1 << 20)}}}}
               .dump();
    return file;
  }

  // Runs `oft train` (with --nproc-per-node when nproc > 0); returns its exit status, output in <name>.log.
  static int train(const std::string& name, int steps, int nproc) {
    std::string command =
        std::string("OMP_NUM_THREADS=1 ") + OFT_BINARY + " train --config " + config(name, steps).string();
    if (nproc > 0) command += " --nproc-per-node " + std::to_string(nproc);
    return std::system((command + " > " + (kWork / (name + ".log")).string() + " 2>&1").c_str());
  }

  static oft::safetensors::TensorMap adapter(const std::string& name) {
    return oft::safetensors::load(kWork / name / "adapter" / "adapter_model.safetensors").tensors;
  }

  // Equal within 1e-5 relative to each tensor's largest magnitude.
  static void expect_same_adapter(const std::string& a, const std::string& b) {
    const auto x = adapter(a), y = adapter(b);
    ASSERT_EQ(x.size(), y.size());
    for (const auto& [key, t] : x) {
      ASSERT_TRUE(y.count(key)) << key;
      const double scale = std::max(1e-12, t.abs().max().item<double>());
      EXPECT_LE((t - y.at(key)).abs().max().item<double>(), 1e-5 * scale) << a << " vs " << b << ": " << key;
    }
  }

  static json metrics(const std::string& name) { return json::parse(read_text(kWork / name / "metrics.json")); }
};

TEST_F(DistributedTraining, OneTwoAndFourRanksTrainTheOneProcessAdapter) {
  ASSERT_EQ(train("alone", 4, 0), 0) << read_text(kWork / "alone.log");
  const json reference = metrics("alone");
  // The run changed the adapter (a zero adapter would make the comparisons below vacuous).
  for (const auto& [key, t] : adapter("alone")) EXPECT_GT(t.abs().max().item<double>(), 1e-4) << key;
  for (int nproc : {1, 2, 4}) {
    const std::string name = "ranks" + std::to_string(nproc);
    ASSERT_EQ(train(name, 4, nproc), 0) << read_text(kWork / (name + ".log"));
    expect_same_adapter("alone", name);
    for (const char* key : {"final_loss", "eval_loss"})
      EXPECT_NEAR(metrics(name).at(key).get<double>(), reference.at(key).get<double>(),
                  1e-5 * reference.at(key).get<double>())
          << name << " " << key;
  }
  // Rank 0 alone wrote (the supervisor tags each worker's lines with its rank).
  const std::string log = read_text(kWork / "ranks4.log");
  EXPECT_NE(log.find("[rank 0] [info] adapter written"), std::string::npos) << log;
  for (const char* other : {"[rank 1] [info] adapter written", "[rank 2] [info] adapter written",
                            "[rank 3] [info] adapter written", "[rank 1] [info] saved adapter"})
    EXPECT_EQ(log.find(other), std::string::npos) << log;
  std::set<std::string> written;
  for (const auto& entry : fs::directory_iterator(kWork / "ranks4")) written.insert(entry.path().filename());
  EXPECT_EQ(written, (std::set<std::string>{"adapter", "checkpoint", "metrics.json"}));
}

TEST_F(DistributedTraining, ATwoRankCheckpointResumesWithOneRank) {
  ASSERT_EQ(train("straight", 4, 0), 0) << read_text(kWork / "straight.log");
  ASSERT_EQ(train("resumed", 2, 2), 0) << read_text(kWork / "resumed.log");
  ASSERT_EQ(train("resumed", 4, 0), 0) << read_text(kWork / "resumed.log");
  EXPECT_EQ(metrics("resumed").at("resumed_from"), 2);
  expect_same_adapter("straight", "resumed");
}

// Starts `argv` with extra environment variables; output to `log`.
pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env, const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<std::string> all_env = env;
  for (char** e = environ; *e; ++e) all_env.emplace_back(*e);
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  for (const auto& e : all_env) envp.push_back(const_cast<char*>(e.c_str()));
  args.push_back(nullptr);
  envp.push_back(nullptr);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), envp.data()), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// The child of `parent` started with RANK=<rank>, once there is one.
pid_t child_with_rank(pid_t parent, int rank) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::ifstream stat(entry.path() / "stat");
    std::string pid, comm, state;
    pid_t ppid = 0;
    if (!(stat >> pid >> comm >> state >> ppid) || ppid != parent) continue;
    std::istringstream env(read_text(entry.path() / "environ"));
    for (std::string variable; std::getline(env, variable, '\0');)
      if (variable == "RANK=" + std::to_string(rank)) return std::stoi(pid);
  }
  return -1;
}

// Waits for `pid` to exit; its status, or -1 after `limit`.
int wait_for(pid_t pid, std::chrono::seconds limit) {
  for (const auto end = Clock::now() + limit; Clock::now() < end;
       std::this_thread::sleep_for(std::chrono::milliseconds(50))) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

// Training is under way once rank 0 has written its first checkpoint (save_every 2).
void wait_for_a_checkpoint(const std::string& name) {
  const auto end = Clock::now() + std::chrono::seconds(60);
  while (!fs::exists(kWork / name / "checkpoint" / "trainer_state.json") && Clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

TEST_F(DistributedTraining, AKilledWorkerStopsTheSupervisorNamingItsRank) {
  const fs::path log = kWork / "killed.log";
  const pid_t supervisor =
      spawn({OFT_BINARY, "train", "--config", config("killed", 100000, 30).string(), "--nproc-per-node", "2"},
            {"OMP_NUM_THREADS=1"}, log);
  wait_for_a_checkpoint("killed");
  const pid_t victim = child_with_rank(supervisor, 1);
  ASSERT_GT(victim, 0) << read_text(log);
  const auto killed_at = Clock::now();
  kill(victim, SIGKILL);
  const int status = wait_for(supervisor, std::chrono::seconds(30));
  EXPECT_LT(Clock::now() - killed_at, std::chrono::seconds(15));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << status << "\n" << read_text(log);
  EXPECT_NE(read_text(log).find("rank 1 (pid " + std::to_string(victim) + ") was killed by signal 9"),
            std::string::npos)
      << read_text(log);
  EXPECT_FALSE(fs::exists(kWork / "killed" / "adapter"));
  EXPECT_TRUE(fs::exists(kWork / "killed" / "checkpoint" / "trainer_state.json"));  // whole, from rank 0
}

TEST_F(DistributedTraining, AWorkerWhosePeerDiesNamesTheLostRank) {
  // Two workers started as a launcher would (no supervisor); rank 1 dies mid-run. Rank 0 mostly reads the closed
  // socket at once; where its collective does not see it (about one run in 40 on a busy machine), the collective's
  // timeout (8 s) ends it, well inside the 30 s this test waits.
  const std::string port = std::to_string(20000 + getpid() % 20000);
  const std::vector<std::string> argv = {OFT_BINARY, "train", "--config", config("orphan", 100000, 8).string()};
  std::vector<pid_t> ranks;
  for (int r = 0; r < 2; ++r)
    ranks.push_back(spawn(argv,
                          {"OMP_NUM_THREADS=1", "WORLD_SIZE=2", "RANK=" + std::to_string(r), "MASTER_ADDR=127.0.0.1",
                           "MASTER_PORT=" + port},
                          kWork / ("orphan" + std::to_string(r) + ".log")));
  const fs::path log0 = kWork / "orphan0.log";
  wait_for_a_checkpoint("orphan");
  kill(ranks[1], SIGKILL);
  waitpid(ranks[1], nullptr, 0);
  const int status = wait_for(ranks[0], std::chrono::seconds(30));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << status << "\n" << read_text(log0);
  EXPECT_NE(read_text(log0).find("lost rank 1"), std::string::npos) << read_text(log0);
}

TEST_F(DistributedTraining, AHungWorkerIsNamedAfterTheTimeoutAndLeavesAWholeCheckpoint) {
  // timeout_s 4: rank 0's next collective gives up 4 s after rank 1 stops answering, then it waits
  // 2 s for heartbeats and names rank 1; the supervisor ends the stopped rank at once (SIGTERM with
  // SIGCONT, not SIGKILL 5 s later) and exits non-zero. So about 6 s, plus slack for a busy machine.
  const fs::path log = kWork / "hung.log";
  const pid_t supervisor =
      spawn({OFT_BINARY, "train", "--config", config("hung", 100000, 4).string(), "--nproc-per-node", "2"},
            {"OMP_NUM_THREADS=1"}, log);
  wait_for_a_checkpoint("hung");
  const pid_t victim = child_with_rank(supervisor, 1);
  ASSERT_GT(victim, 0) << read_text(log);
  const auto stopped_at = Clock::now();
  kill(victim, SIGSTOP);
  const int status = wait_for(supervisor, std::chrono::seconds(40));
  EXPECT_LT(Clock::now() - stopped_at, std::chrono::seconds(10));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << status << "\n" << read_text(log);
  const std::string text = read_text(log);
  EXPECT_NE(text.find("[rank 0] "), std::string::npos) << text;
  EXPECT_NE(text.find("lost rank 1 (silent for"), std::string::npos) << text;
  EXPECT_NE(text.find("the other ranks were stopped"), std::string::npos) << text;
  EXPECT_TRUE(kill(victim, 0) != 0 && errno == ESRCH) << "the stopped rank " << victim << " was left behind";

  // Nothing half-written: only the last whole checkpoint, and one rank resumes from it.
  std::set<std::string> written;
  for (const auto& entry : fs::directory_iterator(kWork / "hung")) written.insert(entry.path().filename());
  EXPECT_EQ(written, std::set<std::string>{"checkpoint"});
  const int64_t saved = json::parse(read_text(kWork / "hung" / "checkpoint" / "trainer_state.json")).at("step");
  ASSERT_EQ(train("hung", static_cast<int>(saved) + 1, 0), 0) << read_text(kWork / "hung.log");
  EXPECT_EQ(metrics("hung").at("resumed_from"), saved);
}

// Rank 0 of a 2-rank run whose rank 1 never comes, with `host_config` and TRAIN.json's "distributed"
// set to `train_distributed`; returns its exit status and how long it ran, output in <name>.log.
std::pair<int, Clock::duration> lone_rank(const std::string& name, const json& host_config,
                                          const json& train_distributed) {
  const fs::path host = kWork / (name + "-host.json"), train = kWork / (name + ".json");
  std::ofstream(host) << host_config.dump();
  std::ofstream(train) << json{
      {"model", std::string(OFT_GOLDEN_DIR) + "/models/hf/llama_sharded"},
      {"task", "causal_lm"},
      {"data", {{"train", "train.jsonl"}}},
      {"output_dir", name},
      {"distributed",
       train_distributed}}.dump();
  const std::string port = std::to_string(20000 + (getpid() + 1) % 20000);
  const auto start = Clock::now();
  const int status = std::system(("WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " " + OFT_BINARY +
                                  " --host-config " + host.string() + " train --config " + train.string() + " > " +
                                  (kWork / (name + ".log")).string() + " 2>&1")
                                     .c_str());
  return {status, Clock::now() - start};
}

TEST_F(DistributedTraining, TheHostConfigFillsWhatTrainJsonLeavesOut) {
  const json host = {{"distributed", {{"backend", "nccl"}, {"timeout_s", 1}}}};
  // The host config's backend: nccl, refused by this CPU-only build before any rendezvous.
  const auto [nccl_status, nccl_time] = lone_rank("host-nccl", host, json::object());
  EXPECT_NE(nccl_status, 0);
  EXPECT_NE(read_text(kWork / "host-nccl.log").find("the nccl backend"), std::string::npos)
      << read_text(kWork / "host-nccl.log");
  // TRAIN.json's backend wins; the host config's timeout of 1 s (not the default 300 s) ends the wait
  // for the missing rank.
  const auto [gloo_status, gloo_time] = lone_rank("host-timeout", host, {{"backend", "gloo"}});
  const std::string log = read_text(kWork / "host-timeout.log");
  EXPECT_NE(gloo_status, 0) << log;
  EXPECT_NE(log.find("(gloo, timeout 1 s)"), std::string::npos) << log;
  EXPECT_NE(log.find("could not join the run"), std::string::npos) << log;
  EXPECT_LT(gloo_time, std::chrono::seconds(60)) << log;
}

TEST_F(DistributedTraining, ABadHostConfigValueNamesItsKey) {
  const auto [status, time] = lone_rank("host-bad", {{"distributed", {{"timeout_s", 0}}}}, json::object());
  const std::string log = read_text(kWork / "host-bad.log");
  EXPECT_NE(status, 0) << log;
  EXPECT_NE(log.find("distributed.timeout_s must be a number of seconds from 0.001"), std::string::npos) << log;
}

}  // namespace
