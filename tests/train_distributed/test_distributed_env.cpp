// The worker's place from torchrun's variables, the backend choice, each rank's share of a batch and
// "distributed" section of TRAIN.json and the host config, and which of the two wins.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "distributed_env.h"
#include "distributed_settings.h"
#include "oft/errors.h"
#include "train_config.h"

namespace oft::app {
namespace {

EnvLookup env(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    const auto it = values.find(name);
    return it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

TEST(WorkerPlace, WithoutWorldSizeItIsOneProcess) {
  const WorkerPlace place = worker_place_from_environment(env({{"RANK", "3"}}));
  EXPECT_FALSE(place.distributed());
  EXPECT_EQ(place.rank, 0);
}

TEST(WorkerPlace, ReadsTorchrunsVariables) {
  const WorkerPlace place = worker_place_from_environment(env(
      {{"WORLD_SIZE", "4"}, {"RANK", "2"}, {"LOCAL_RANK", "0"}, {"MASTER_ADDR", "node0"}, {"MASTER_PORT", "29500"}}));
  EXPECT_TRUE(place.distributed());
  EXPECT_EQ(place.world_size, 4);
  EXPECT_EQ(place.rank, 2);
  EXPECT_EQ(place.local_rank, 0);
  EXPECT_EQ(place.master_addr, "node0");
  EXPECT_EQ(place.master_port, 29500);
}

TEST(WorkerPlace, LocalRankIsOptional) {
  // Slurm-style launchers may set only the global rank: the place says the local rank is unknown rather
  // than guessing 0, which would put every rank of a host on its first GPU.
  const WorkerPlace place = worker_place_from_environment(
      env({{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}}));
  EXPECT_TRUE(place.distributed());
  EXPECT_FALSE(place.local_rank.has_value());
}

TEST(WorkerPlace, NamesTheMissingOrBadVariable) {
  const std::map<std::string, std::string> good = {
      {"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}};
  for (const auto& [name, value] : std::map<std::string, std::string>{
           {"RANK", "2"}, {"RANK", "x"}, {"MASTER_PORT", "70000"}, {"MASTER_ADDR", ""}, {"WORLD_SIZE", "0"}}) {
    auto bad = good;
    bad[name] = value;
    try {
      worker_place_from_environment(env(bad));
      ADD_FAILURE() << name << "=" << value << " was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
  auto missing = good;
  missing.erase("MASTER_PORT");
  EXPECT_THROW(worker_place_from_environment(env(missing)), UsageError);
}

TEST(Backend, GlooForCpuNcclForCuda) {
  EXPECT_EQ(resolve_backend("auto", false), "gloo");
  EXPECT_EQ(resolve_backend("gloo", false), "gloo");
  EXPECT_EQ(resolve_backend("auto", true), "nccl");
  EXPECT_EQ(resolve_backend("nccl", true), "nccl");
  for (const auto& [requested, cuda] : std::vector<std::pair<std::string, bool>>{{"nccl", false}, {"gloo", true}}) {
    try {
      resolve_backend(requested, cuda);
      ADD_FAILURE() << requested << (cuda ? " on CUDA" : " on the CPU") << " was accepted";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(cuda ? "CPU tensors" : "CUDA tensors"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(resolve_backend("mpi", false), UsageError);
}

TEST(ContiguousShare, SplitsInOrderWithTheRemainderFirst) {
  for (int world = 1; world <= 5; ++world)
    for (int64_t count = 0; count <= 11; ++count) {
      int64_t next = 0;
      for (int rank = 0; rank < world; ++rank) {
        const ShareRange share = contiguous_share(count, rank, world);
        EXPECT_EQ(share.begin, next);
        const int64_t size = share.end - share.begin;
        EXPECT_TRUE(size == count / world || size == count / world + 1);
        next = share.end;
      }
      EXPECT_EQ(next, count);
    }
  EXPECT_EQ(contiguous_share(5, 0, 4).end, 2);
  EXPECT_EQ(contiguous_share(1, 3, 4).begin, contiguous_share(1, 3, 4).end);
}

TrainConfig config_with(const std::string& distributed) {
  const auto file = std::filesystem::temp_directory_path() / ("oft-train-" + std::to_string(getpid()) + ".json");
  std::ofstream(file) << R"({"model": "m", "data": {"train": "t.jsonl", "labels": ["a", "b"]}, "output_dir": "o")"
                      << (distributed.empty() ? "" : ", \"distributed\": " + distributed) << "}";
  struct Remove {
    std::filesystem::path file;
    ~Remove() { std::filesystem::remove(file); }
  } remove{file};
  return TrainConfig::load(file);
}

TEST(TrainConfigDistributed, DefaultsAndValues) {
  const DistributedOptions defaults = resolve_distributed_options({}, config_with("").distributed);
  EXPECT_EQ(defaults.timeout, std::chrono::seconds(300));
  EXPECT_EQ(defaults.backend, "auto");
  EXPECT_EQ(defaults.bucket_bytes, 25 << 20);
  const DistributedSettings set = config_with(R"({"timeout_s": 1.5, "backend": "gloo", "bucket_mb": 0.5})").distributed;
  EXPECT_EQ(set.timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(set.backend, "gloo");
  EXPECT_EQ(set.bucket_bytes, 1 << 19);
  const DistributedSettings partial = config_with(R"({"bucket_mb": 1})").distributed;
  EXPECT_FALSE(partial.timeout || partial.backend);  // unset keys stay unset, for the host config to fill
}

TEST(TrainConfigDistributed, NamesTheBadKey) {
  for (const auto& [section, key] :
       std::vector<std::pair<std::string, std::string>>{{R"({"timeout": 5})", "timeout"},
                                                        {R"({"timeout_s": 0})", "timeout_s"},
                                                        {R"({"backend": "mpi"})", "backend"},
                                                        {R"({"bucket_mb": -1})", "bucket_mb"}}) {
    try {
      config_with(section);
      ADD_FAILURE() << section << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

// The host config's section, read alone: each bad value names its key and the file.
TEST(HostConfigDistributed, NamesTheBadKeyAndTheFile) {
  const std::string where = "host config h.json: distributed";
  for (const auto& [section, key] :
       std::vector<std::pair<std::string, std::string>>{{R"({"timeout_s": "5"})", "distributed.timeout_s"},
                                                        {R"({"timeout_s": -2})", "distributed.timeout_s"},
                                                        // 0 ms would mean "no timeout" to c10d
                                                        {R"({"timeout_s": 0.0001})", "distributed.timeout_s"},
                                                        {R"({"timeout_s": 1e300})", "distributed.timeout_s"},
                                                        {R"({"bucket_mb": 1e300})", "distributed.bucket_mb"},
                                                        {R"({"backend": "mpi"})", "distributed.backend"},
                                                        {R"({"backend": 1})", "distributed.backend"},
                                                        {R"({"bucket_mb": 0})", "distributed.bucket_mb"},
                                                        {R"({"buckets": 4})", "'buckets'"},
                                                        {R"(["gloo"])", "distributed must be a JSON object"}}) {
    try {
      distributed_settings_from_json(nlohmann::json::parse(section), where);
      ADD_FAILURE() << section << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("h.json"), std::string::npos) << e.what();
    }
  }
  const DistributedSettings host =
      distributed_settings_from_json(nlohmann::json::parse(R"({"backend": "nccl", "timeout_s": 60})"), where);
  EXPECT_EQ(host.backend, "nccl");
  EXPECT_EQ(host.timeout, std::chrono::seconds(60));
  EXPECT_FALSE(host.bucket_bytes);
}

// Key by key: TRAIN.json, then the host config, then the defaults.
TEST(DistributedPrecedence, TrainConfigOverHostConfigOverDefaults) {
  DistributedSettings host, run;
  host.backend = "nccl";
  host.timeout = std::chrono::seconds(60);
  run.timeout = std::chrono::seconds(5);
  const DistributedOptions merged = resolve_distributed_options(host, run);
  EXPECT_EQ(merged.backend, "nccl");                                  // only the host config sets it
  EXPECT_EQ(merged.timeout, std::chrono::seconds(5));                 // both set it: TRAIN.json wins
  EXPECT_EQ(merged.bucket_bytes, DistributedOptions{}.bucket_bytes);  // neither: the default
  run.backend = "gloo";
  EXPECT_EQ(resolve_distributed_options(host, run).backend, "gloo");
  EXPECT_EQ(resolve_distributed_options(host, {}).timeout, std::chrono::seconds(60));
}

}  // namespace
}  // namespace oft::app
