// --device / --dtype and the eval weight cache through the built `oft` binary, on the CPU: bf16 models
// forward within bf16 rounding of fp32; the host config's defaults and which source wins; clear errors for bad
// names and a missing GPU; `oft train` with a bf16 base and fp32 adapters learns and saves PEFT's fp32 adapter;
// `oft forward --no-eval-weight-cache` agrees with the cached forward; `oft merge --dtype bf16` writes bf16, and a
// dtype taken from the host config is said.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "oft/io/safetensors.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kWork = fs::temp_directory_path() / ("oft-device-dtype-" + std::to_string(getpid()));
const std::string kModel = std::string(OFT_GOLDEN_DIR) + "/models/hf/llama_sharded";

struct Outcome {
  int rc;
  std::string output;
};

// `oft <args>` with stdout and stderr together; `environment`: more VAR=value words.
Outcome oft(const std::string& args, const std::string& environment = "") {
  const std::string command = "OMP_NUM_THREADS=1 " + environment + " " + std::string(OFT_BINARY) + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

fs::path write_json(const std::string& name, const json& value) {
  const fs::path file = kWork / name;
  std::ofstream(file) << value.dump(2);
  return file;
}

at::Tensor logits(const fs::path& file) { return oft::safetensors::load(file).tensors.at("logits"); }

// max |a - b| / max |b|
double relative(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1e-12, b.abs().max().item<double>());
}

class DeviceDtypeCommands : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fs::create_directories(kWork);
    oft::safetensors::save(kWork / "ids.safetensors",
                           {{"input_ids", at::tensor({3, 17, 42, 5, 9, 33, 8, 21}, at::kLong).view({2, 4})}});
    std::ofstream train(kWork / "train.jsonl");
    for (int i = 0; i < 12; ++i) train << train_row(i) << "\n";
    std::ofstream(kWork / "eval.jsonl") << train_row(0) << "\n" << train_row(5) << "\n";
  }
  static void TearDownTestSuite() { fs::remove_all(kWork); }

  // Token ids 3..63 in a pattern a few OFT steps can fit.
  static std::string train_row(int i) {
    json ids = json::array();
    for (int j = 0; j < 8; ++j) ids.push_back(3 + (i * 7 + j * 11) % 61);
    return json{{"input_ids", ids}}.dump();
  }

  // forward on ids.safetensors with extra arguments, into <name>.safetensors.
  static Outcome forward(const std::string& name, const std::string& extra) {
    return oft("forward --model " + kModel + " --input " + (kWork / "ids.safetensors").string() + " --output " +
               (kWork / (name + ".safetensors")).string() + " " + extra);
  }

  // A causal_lm TRAIN.json on the tiny LLaMA with the given top-level extras, writing to <work>/<name>.
  static fs::path train_config(const std::string& name, int steps, const json& extra) {
    json c{{"model", kModel},
           {"task", "causal_lm"},
           {"data", {{"train", "train.jsonl"}, {"eval", "eval.jsonl"}}},
           {"oft", {{"target_modules", "all-linear"}, {"oft_block_size", 8}, {"r", 0}}},
           {"optimizer", {{"lr", 0.2}}},
           {"batch_size", 4},
           {"steps", steps},
           {"seed", 1},
           {"output_dir", name},
           {"resume", false}};
    c.update(extra);
    return write_json(name + ".json", c);
  }
};

TEST_F(DeviceDtypeCommands, Bf16ForwardIsWithinBf16RoundingOfFp32) {
  ASSERT_EQ(forward("fp32", "--device cpu --dtype fp32").rc, 0);
  const Outcome bf16 = forward("bf16", "--device cpu --dtype bf16");
  ASSERT_EQ(bf16.rc, 0) << bf16.output;
  EXPECT_NE(bf16.output.find("bfloat16"), std::string::npos) << bf16.output;  // the load line names the dtype
  const auto reference = logits(kWork / "fp32.safetensors"), low = logits(kWork / "bf16.safetensors");
  EXPECT_EQ(low.scalar_type(), at::kFloat);  // written as fp32 whatever the model's dtype
  // bf16 keeps 8 significant bits: a few layers of rounding stay within a few percent of the largest logit.
  const double error = relative(low, reference);
  EXPECT_LT(error, 0.05);
  EXPECT_GT(error, 0.0) << "the bf16 run computed in fp32";
}

TEST_F(DeviceDtypeCommands, HostConfigSetsDefaultsAndFlagsWin) {
  ASSERT_EQ(forward("flag_bf16", "--dtype bf16").rc, 0);
  const fs::path host = write_json("host_bf16.json", {{"device", "cpu"}, {"dtype", "bf16"}});
  const Outcome by_host =
      oft("--host-config " + host.string() + " forward --model " + kModel + " --input " +
          (kWork / "ids.safetensors").string() + " --output " + (kWork / "host_bf16.safetensors").string());
  ASSERT_EQ(by_host.rc, 0) << by_host.output;
  EXPECT_TRUE(at::equal(logits(kWork / "host_bf16.safetensors"), logits(kWork / "flag_bf16.safetensors")));

  const Outcome flag_wins = oft("--host-config " + host.string() + " forward --model " + kModel + " --input " +
                                (kWork / "ids.safetensors").string() + " --output " +
                                (kWork / "flag_fp32.safetensors").string() + " --dtype fp32");
  ASSERT_EQ(flag_wins.rc, 0) << flag_wins.output;
  ASSERT_EQ(forward("plain", "").rc, 0);
  EXPECT_TRUE(at::equal(logits(kWork / "flag_fp32.safetensors"), logits(kWork / "plain.safetensors")));
}

TEST_F(DeviceDtypeCommands, BadNamesAreClearErrors) {
  const Outcome device = forward("x", "--device gpu");
  EXPECT_EQ(device.rc, 1);
  EXPECT_NE(device.output.find("--device: expected cpu, cuda or cuda:N"), std::string::npos) << device.output;
  const Outcome dtype = forward("x", "--dtype fp64");
  EXPECT_EQ(dtype.rc, 1);
  EXPECT_NE(dtype.output.find("--dtype: expected fp32, bf16 or fp16"), std::string::npos) << dtype.output;
  const fs::path host = write_json("host_bad.json", {{"dtype", "int4"}});
  const Outcome config = oft("--host-config " + host.string() + " plugins");
  EXPECT_NE(config.rc, 0);
  EXPECT_NE(config.output.find("host config 'dtype'"), std::string::npos) << config.output;
  const fs::path cache = write_json("host_bad_cache.json", {{"eval_weight_cache", "no"}});
  const Outcome flag = oft("--host-config " + cache.string() + " plugins");
  EXPECT_NE(flag.rc, 0);
  EXPECT_NE(flag.output.find("'eval_weight_cache' must be true or false"), std::string::npos) << flag.output;
  const Outcome capability = oft("plugins", "OFT_CPU_CAPABILITY=avx3");
  EXPECT_EQ(capability.rc, 1);
  EXPECT_NE(capability.output.find("OFT_CPU_CAPABILITY is 'avx3'; expected default, avx2 or avx512"), std::string::npos)
      << capability.output;
}

TEST_F(DeviceDtypeCommands, ACudaDeviceWithoutOneIsAClearError) {
  const Outcome run = forward("cuda", "--device cuda:0");
  if (run.rc == 0) GTEST_SKIP() << "this machine has a usable CUDA device (the gpu-labelled tests cover it)";
  EXPECT_EQ(run.rc, 1);
  EXPECT_NE(run.output.find("cannot compute on cuda:0"), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find("loaded LlamaForCausalLM"), std::string::npos) << "the model loaded before the check";
}

TEST_F(DeviceDtypeCommands, TrainsABf16BaseWithFp32AdaptersAndTheFlagsWin) {
  // TRAIN.json asks for a GPU this machine lacks: the flag must win, or the run fails.
  const json extra{{"device", "cuda:0"}, {"dtype", "bf16"}};
  const fs::path one_step = train_config("bf16_1", 1, extra), many = train_config("bf16_30", 30, extra);
  const Outcome first = oft("train --config " + one_step.string() + " --device cpu");
  ASSERT_EQ(first.rc, 0) << first.output;
  const Outcome trained = oft("train --config " + many.string() + " --device cpu");
  ASSERT_EQ(trained.rc, 0) << trained.output;
  EXPECT_NE(trained.output.find("bfloat16"), std::string::npos) << trained.output;  // TRAIN.json's dtype applied

  std::ifstream one_in(kWork / "bf16_1" / "metrics.json"), many_in(kWork / "bf16_30" / "metrics.json");
  const double loss_1 = json::parse(one_in).at("eval_loss").get<double>();
  const double loss_30 = json::parse(many_in).at("eval_loss").get<double>();
  // A random tiny model predicts nearly uniformly (ln 64 = 4.16) and rotations cannot scale its logits, so the
  // gain is small: 4.194 after 1 step, 4.135 after 30 (seeded, deterministic on one thread).
  EXPECT_LT(loss_30, loss_1 - 0.02) << "30 steps must fit the data better than 1";

  // PEFT's layout: fp32 oft_R weights under base_model.model.<module>, no adapter name.
  const auto adapter = oft::safetensors::load(kWork / "bf16_30" / "adapter" / "adapter_model.safetensors").tensors;
  ASSERT_FALSE(adapter.empty());
  for (const auto& [key, t] : adapter) {
    EXPECT_EQ(t.scalar_type(), at::kFloat) << key;
    EXPECT_EQ(key.rfind("base_model.model.model.layers.", 0), 0u) << key;
    EXPECT_NE(key.find(".oft_R.weight"), std::string::npos) << key;
    EXPECT_GT(t.abs().max().item<double>(), 1e-4) << key << " did not train";
  }

  // The trained adapter in eval: the cached folded weight and the rotate-the-input path agree (fp32 model).
  const std::string adapter_arg = "--adapter " + (kWork / "bf16_30" / "adapter").string();
  ASSERT_EQ(forward("cached", adapter_arg).rc, 0);
  ASSERT_EQ(forward("uncached", adapter_arg + " --no-eval-weight-cache").rc, 0);
  ASSERT_EQ(forward("base", "").rc, 0);
  const auto cached = logits(kWork / "cached.safetensors"), uncached = logits(kWork / "uncached.safetensors");
  EXPECT_LT(relative(cached, uncached), 1e-5);
  EXPECT_GT(relative(cached, logits(kWork / "base.safetensors")), 1e-4) << "the adapter changed nothing";
}

TEST_F(DeviceDtypeCommands, MergeWritesTheChosenDtype) {
  const fs::path config = train_config("merge_src", 2, json::object());
  ASSERT_EQ(oft("train --config " + config.string()).rc, 0);
  const Outcome merged = oft("merge --model " + kModel + " --adapter " + (kWork / "merge_src" / "adapter").string() +
                             " --out " + (kWork / "merged_bf16").string() + " --dtype bf16 --device cpu");
  ASSERT_EQ(merged.rc, 0) << merged.output;
  std::ifstream in(kWork / "merged_bf16" / "config.json");
  EXPECT_EQ(json::parse(in).at("dtype"), "bfloat16");
  for (const auto& [key, t] : oft::safetensors::load(kWork / "merged_bf16" / "model.safetensors").tensors)
    EXPECT_EQ(t.scalar_type(), at::kBFloat16) << key;
}

// A host config made for bf16 serving also makes merge write bf16: consistent with the precedence rules, and
// said in a warning, which --dtype silences.
TEST_F(DeviceDtypeCommands, MergeSaysWhenTheHostConfigChoseTheDtype) {
  const fs::path config = train_config("merge_host_src", 2, json::object());
  ASSERT_EQ(oft("train --config " + config.string()).rc, 0);
  const fs::path host = write_json("host_merge_bf16.json", {{"dtype", "bf16"}});
  const std::string merge = "--host-config " + host.string() + " merge --model " + kModel + " --adapter " +
                            (kWork / "merge_host_src" / "adapter").string() + " --out ";
  const Outcome by_host = oft(merge + (kWork / "merged_host").string());
  ASSERT_EQ(by_host.rc, 0) << by_host.output;
  EXPECT_NE(by_host.output.find("the merged checkpoint is written in bf16, the host config's"), std::string::npos)
      << by_host.output;
  std::ifstream in(kWork / "merged_host" / "config.json");
  EXPECT_EQ(json::parse(in).at("dtype"), "bfloat16");
  const Outcome by_flag = oft(merge + (kWork / "merged_flag").string() + " --dtype fp32");
  ASSERT_EQ(by_flag.rc, 0) << by_flag.output;
  EXPECT_EQ(by_flag.output.find("is written in"), std::string::npos) << by_flag.output;
}

}  // namespace
