// Start-up cost of the plugin host: discovering and loading every plugin found, and what safe
// scanning adds, on three sets:
//   shipped  the backends built into build/lib/oft/plugins (bnb, gptq, ...)
//   good/    2 test fixture plugins with LibTorch code (both load)
//   broken/  12 fixture files: 1 loads, 11 are rejected at every stage (ELF check, dlopen, handshake, register)
// Cold: a fresh process, as at a real start (the host has already loaded LibTorch; the plugins
// have not been mapped yet), timed around load_plugins only. Warm: again in the same process.
// Safe scan: a first start (each plugin vetted in a child process) and later starts (cached verdicts).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "oft/log.h"
#include "oft/plugin/plugin_host.h"

namespace {

namespace fs = std::filesystem;
const fs::path kPlugins = OFT_BENCH_PLUGIN_DIR;

oft::PluginHostOptions options_for(const std::vector<fs::path>& folders) {
  oft::PluginHostOptions options;
  options.settings.paths = folders;
  options.use_environment = false;
  options.use_install_folder = false;
  options.scanner = OFT_BENCH_SCANNER;
  return options;
}

const fs::path kShipped = OFT_BENCH_SHIPPED_PLUGIN_DIR;

std::vector<fs::path> folders_for(int64_t set) {
  if (set == 0) return {kPlugins / "good"};
  if (set == 1) return {kPlugins / "good", kPlugins / "broken"};
  return {kShipped};
}

std::string set_label(int64_t set) {
  if (set == 0) return "good (2 files)";
  if (set == 1) return "good+broken (14 files)";
  size_t n = 0;
  for (const auto& entry : fs::directory_iterator(kShipped))
    n += entry.path().filename().string().rfind("liboft_backend_", 0) == 0;
  return "shipped backends (" + std::to_string(n) + " files)";
}

// The child of BM_Cold: loads once and prints the microseconds load_plugins took.
int cold_load_once(int argc, char** argv) {
  std::vector<fs::path> folders(argv + 2, argv + argc);
  const auto start = std::chrono::steady_clock::now();
  const auto result = oft::load_plugins(options_for(folders));
  const auto us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  std::printf("%.1f %zu\n", us, result.files.size());
  return 0;
}

void BM_Cold(benchmark::State& state) {
  std::string command = "'" + fs::read_symlink("/proc/self/exe").string() + "' --cold-load";
  for (const auto& folder : folders_for(state.range(0))) command += " '" + folder.string() + "'";
  for (auto _ : state) {
    FILE* child = popen(command.c_str(), "r");
    double us = 0;
    size_t files = 0;
    if (!child || std::fscanf(child, "%lf %zu", &us, &files) != 2) state.SkipWithError("the cold-load child failed");
    if (child) pclose(child);
    state.SetIterationTime(us / 1e6);
  }
  state.SetLabel(set_label(state.range(0)));
}
BENCHMARK(BM_Cold)->Arg(2)->Arg(0)->Arg(1)->UseManualTime()->Iterations(10)->Unit(benchmark::kMillisecond);

void BM_Warm(benchmark::State& state) {
  const auto options = options_for(folders_for(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(oft::load_plugins(options));
  state.SetLabel(set_label(state.range(0)));
}
BENCHMARK(BM_Warm)->Arg(2)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_SafeScanFirstStart(benchmark::State& state) {
  auto options = options_for(folders_for(state.range(0)));
  options.safe_scan = true;
  options.scan_cache = fs::temp_directory_path() / "oft-bench-scan-cache.json";
  for (auto _ : state) {
    fs::remove(options.scan_cache);
    benchmark::DoNotOptimize(oft::load_plugins(options));
  }
  fs::remove(options.scan_cache);
  state.SetLabel(set_label(state.range(0)));
}
BENCHMARK(BM_SafeScanFirstStart)->Arg(2)->Arg(0)->Arg(1)->Iterations(3)->Unit(benchmark::kMillisecond);

void BM_SafeScanCached(benchmark::State& state) {
  auto options = options_for(folders_for(state.range(0)));
  options.safe_scan = true;
  options.scan_cache = fs::temp_directory_path() / "oft-bench-scan-cache.json";
  fs::remove(options.scan_cache);
  oft::load_plugins(options);  // fills the cache
  for (auto _ : state) benchmark::DoNotOptimize(oft::load_plugins(options));
  fs::remove(options.scan_cache);
  state.SetLabel(set_label(state.range(0)));
}
BENCHMARK(BM_SafeScanCached)->Arg(2)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  oft::logger()->set_level(spdlog::level::off);
  if (argc >= 2 && std::strcmp(argv[1], "--cold-load") == 0) return cold_load_once(argc, argv);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
