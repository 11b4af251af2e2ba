// Injecting OFT adapters into a LLaMA-7B-shaped module tree whose base weights live on the meta
// device (32 layers, hidden 4096, intermediate 11008; q/k/v/o/gate/up/down targeted, block 32),
// with low_cpu_mem_usage so the adapters are on the meta device too. Prints the injection time and
// the process's peak RSS (which includes LibTorch's own start-up).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>

#include "oft/tuner/oft_model.h"
#include "test_models.h"

namespace {

long peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

}  // namespace

int main() {
  const long rss_start = peak_rss_mb();
  const auto t0 = std::chrono::steady_clock::now();
  auto model = oft::test::make_llama_shaped(32, 4096, 11008, c10::Device(c10::kMeta));
  const auto t1 = std::chrono::steady_clock::now();
  oft::OFTConfig config;
  config.target_modules =
      oft::ModuleSelector::from_names({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"});
  config.oft_block_size = 32;
  oft::OFTModel oft_model(model, config, {.info = {"llama"}, .low_cpu_mem_usage = true});
  const auto t2 = std::chrono::steady_clock::now();
  std::printf("LLaMA-7B-shaped meta model: %zu adapted modules, %s\n", oft_model.targeted_module_names().size(),
              oft_model.count_parameters().summary().c_str());
  std::printf("build tree %.3f s, inject %.3f s; peak RSS %ld MB (%ld MB at start)\n",
              std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count(),
              peak_rss_mb(), rss_start);
  return 0;
}
