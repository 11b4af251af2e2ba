// Every quantize method of every built backend plugin on a CUDA device against the same method on the CPU
// (label gpu; every test skips without a CUDA device). The plugins are found in the build's plugin folder, not
// named: a new backend is checked with no change here, and every plugin file there must load. Each method quantizes
// a random weight in fp32, bf16 and fp16 on the CPU, with its default options and with each of its option variants
// (below); the saved tensors load into a second layer that moves to the GPU. There:
// - its dense weight is the CPU layer's, bit for bit (the same float32 steps and one rounding on both devices);
// - its forward agrees with the CPU layer's within 1.5e-2 of the output's scale (the GPU may multiply in the
//   format's 16-bit dtype where the CPU path multiplies in float32);
// - OFT over it trains there: the output and the rotation's gradient agree with OFT over the CPU layer;
// - a merge there does what the layer's merge policy says (refused: nothing changes; otherwise the merged
//   forward is the unmerged one within the format's rounding);
// - a weight on the GPU quantizes to a layer whose tensors are on the GPU, as close to the weight as on the CPU;
// - every CUDA companion in the plugin folder (liboft_<name>_cuda.so) was loaded on the way: a plugin built with
//   kernels that ran LibTorch operators instead would compute the same values.
// Option variants: a backend's test folder (tests/backends/<name>/) may hold gpu_option_variants.json, a list of
// {"method", "options", "why"} reaching device branches the defaults do not (other bit widths, layouts, scales);
// the options override the method's defaults key by key, as `oft quantize --options` does. A variant whose method
// no loaded plugin offers fails the tests: a typo must not drop its checks. BackendOptionVariants needs no GPU (and
// has no label gpu): every variant quantizes on the CPU and loads again, so CI checks what the GPU run reads.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "oft/adapter/config.h"
#include "oft/adapter/oft_linear.h"
#include "oft/device/device.h"
#include "oft/errors.h"
#include "oft/plugin/format_registry.h"
#include "oft/plugin/plugin_host.h"
#include "oft/sdk/linear_format.h"

namespace oft::test {
namespace {

constexpr int64_t kIn = 256, kOut = 128;  // whole blocks, groups and packed words for every shipped format
constexpr int64_t kOftBlock = 32;
// 1.5e-2: a format may round the activations on one device only (LLM.int8's CPU eval path makes them int8; on a
// GPU it dequantizes and runs one GEMM), measured at 0.6-0.7e-2 here and above 1e-2 for 3% of random draws.
constexpr double kForwardTolerance = 1.5e-2;
const at::Device kGpu(at::kCUDA, 0);

// "" when this process can compute on cuda:0, else why not (the reason the tests skip with).
std::string cuda_unavailable_reason() {
  static const std::string reason = []() -> std::string {
    // Cheap first: without the NVIDIA driver's device node, loading LibTorch's CUDA backend (seconds) is moot.
    if (!std::filesystem::exists("/dev/nvidiactl")) return "no NVIDIA driver (/dev/nvidiactl is missing)";
    try {
      prepare_device(kGpu);
    } catch (const UsageError& e) {
      return e.what();
    }
    return "";
  }();
  return reason;
}

double relative_error(const at::Tensor& actual, const at::Tensor& expected) {
  const at::Tensor a = actual.detach().cpu().to(at::kDouble), e = expected.detach().cpu().to(at::kDouble);
  return (a - e).abs().max().item<double>() / std::max(e.abs().max().item<double>(), 1e-12);
}

// One non-default setting of a quantize method, from a backend test folder's gpu_option_variants.json.
struct OptionVariant {
  std::string file, method;
  nlohmann::json options;  // over the method's default options, key by key
  std::string why;         // the device branch it reaches
};

// Every variant in the gpu_option_variants.json files of the backends' test folders, files in path order. Throws
// std::runtime_error naming the file for one that is not a list of {"method": name, "options": {...}, "why": text}.
std::vector<OptionVariant> shipped_option_variants() {
  std::vector<std::filesystem::path> files;
  for (const auto& folder : std::filesystem::directory_iterator(OFT_BACKEND_TEST_DIR))
    if (std::filesystem::exists(folder.path() / "gpu_option_variants.json"))
      files.push_back(folder.path() / "gpu_option_variants.json");
  std::sort(files.begin(), files.end());
  std::vector<OptionVariant> variants;
  for (const auto& file : files) {
    nlohmann::json list;
    try {
      list = nlohmann::json::parse(std::ifstream(file));
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(file.string() + ": " + e.what());
    }
    if (!list.is_array()) throw std::runtime_error(file.string() + ": expected a JSON list of option variants");
    for (const nlohmann::json& v : list) {
      // Exactly these keys: a misspelt one would otherwise be dropped without a word.
      if (!v.is_object() || v.size() != 3 || !v.contains("method") || !v["method"].is_string() ||
          !v.contains("options") || !v["options"].is_object() || !v.contains("why") || !v["why"].is_string() ||
          v["why"].get<std::string>().empty())
        throw std::runtime_error(file.string() +
                                 ": expected {\"method\": name, \"options\": {...}, \"why\": text}, got " + v.dump());
      variants.push_back({file.string(), v["method"].get<std::string>(), v["options"], v["why"].get<std::string>()});
    }
  }
  return variants;
}

// What `oft quantize --method <method> --options <v.options>` quantizes with.
std::string options_of(const MethodInfo& method, const OptionVariant& v) {
  nlohmann::json options = nlohmann::json::parse(method.method.default_options_json);
  options.update(v.options);
  return options.dump();
}

bool offers(const FormatRegistry& formats, const std::string& method) {
  const std::vector<MethodInfo> methods = formats.methods();
  return std::any_of(methods.begin(), methods.end(), [&](const MethodInfo& m) { return m.method.name == method; });
}

std::unique_ptr<PluginHostResult> load_shipped_plugins() {
  PluginHostOptions options;
  options.settings.paths = {OFT_SHIPPED_PLUGIN_DIR};
  options.use_environment = false;
  options.use_install_folder = false;
  return std::make_unique<PluginHostResult>(load_plugins(options));
}

// The CUDA companions beside the plugins (liboft_<name>_cuda.so, oft_add_plugin_cuda_companion's files) that this
// process has not mapped (/proc/self/maps names each mapped file by its real path).
std::vector<std::string> companions_not_loaded() {
  std::ifstream maps_file("/proc/self/maps");
  const std::string maps{std::istreambuf_iterator<char>(maps_file), std::istreambuf_iterator<char>()};
  std::vector<std::string> missing;
  for (const auto& entry : std::filesystem::directory_iterator(OFT_SHIPPED_PLUGIN_DIR)) {
    const std::string name = entry.path().filename().string();
    const std::string suffix = "_cuda.so";
    const bool companion = name.rfind("liboft_", 0) == 0 && name.size() > suffix.size() &&
                           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    if (companion && maps.find(std::filesystem::canonical(entry.path()).string()) == std::string::npos)
      missing.push_back(name);
  }
  return missing;
}

// One method's layer on the CPU and a copy of it (saved, loaded, moved) on the GPU, with what made them.
struct Pair {
  MethodInfo method;
  std::string options;
  at::Tensor weight, bias, calibration;
  std::shared_ptr<sdk::LinearModule> cpu, gpu;
};

// A pair whose CPU layer quantizes a random weight of `dtype` with `options` (no GPU layer yet).
Pair quantized_on_cpu(const FormatRegistry& formats, const MethodInfo& method, const std::string& options,
                      at::ScalarType dtype) {
  at::manual_seed(0);
  Pair p;
  p.method = method;
  p.options = options;
  p.weight = (at::randn({kOut, kIn}) * 0.2).to(dtype);
  p.bias = (at::randn({kOut}) * 0.1).to(dtype);
  if (method.method.needs_calibration) p.calibration = at::randn({256, kIn}).to(dtype);
  p.cpu = formats.quantize(method.format, "layer", p.weight, p.bias, p.options, p.calibration);
  return p;
}

// A new layer, on the CPU, from what the CPU layer of `p` saves and its method's quantization_config.
std::shared_ptr<sdk::LinearModule> reloaded(const FormatRegistry& formats, const Pair& p) {
  const std::string config = formats.get(p.method.format)->quantization_config(p.options);
  // load keeps the tensors it is given and Module::to moves them in place: without copies, moving the new layer
  // would move the CPU layer's tensors with it.
  sdk::TensorMap saved = formats.save("layer", *p.cpu);
  for (auto& item : saved) item.second = item.second.clone();
  return formats.load("layer", saved, {kIn, kOut, true}, config);
}

class BackendsOnGpu : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    if (!cuda_unavailable_reason().empty()) return;  // every test skips
    host_ = load_shipped_plugins();
  }
  static void TearDownTestSuite() { host_.reset(); }

  void SetUp() override {
    if (const std::string why = cuda_unavailable_reason(); !why.empty()) GTEST_SKIP() << "needs a CUDA device: " << why;
    // A plugin rejected here (say, its CUDA library does not load) would otherwise just drop out of the checks.
    for (const PluginFileReport& file : host_->files)
      ASSERT_EQ(file.status, PluginStatus::Loaded) << file.file << ": " << file.reason;
    ASSERT_FALSE(host_->formats->methods().empty()) << "no quantize method in " << OFT_SHIPPED_PLUGIN_DIR;
    try {
      variants_ = shipped_option_variants();
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
    for (const OptionVariant& v : variants_)
      ASSERT_TRUE(offers(*host_->formats, v.method)) << v.file << ": no loaded plugin offers method " << v.method;
  }

  // `check` of every method's pair for its default options and each of its variants, for every weight dtype (an
  // ASSERT in it ends that case, not the others).
  template <class Check>
  static void for_each_case(const Check& check) {
    for (const MethodInfo& method : host_->formats->methods()) {
      std::vector<std::string> settings = {method.method.default_options_json};
      for (const OptionVariant& v : variants_)
        if (v.method == method.method.name) settings.push_back(options_of(method, v));
      for (const std::string& options : settings)
        for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
          SCOPED_TRACE("method " + method.method.name + ", options " + options + ", " + c10::toString(dtype) +
                       " weight");
          check(BackendsOnGpu::quantized(method, options, dtype));
        }
    }
  }

  // The method of `p` applied to these tensors.
  static std::shared_ptr<sdk::LinearModule> quantize(const Pair& p, const at::Tensor& weight, const at::Tensor& bias,
                                                     const at::Tensor& calibration) {
    return host_->formats->quantize(p.method.format, "layer", weight, bias, p.options, calibration);
  }

  static Pair quantized(const MethodInfo& method, const std::string& options, at::ScalarType dtype) {
    Pair p = quantized_on_cpu(*host_->formats, method, options, dtype);
    p.gpu = reloaded(*host_->formats, p);
    if (p.gpu) p.gpu->module()->to(kGpu);
    return p;
  }

  static OFTLinear with_oft(const std::shared_ptr<sdk::LinearModule>& layer, const at::Tensor& rotation) {
    OFTConfig config;
    config.r = 0;
    config.oft_block_size = kOftBlock;
    config.init_weights = false;
    OFTLinear oft{std::shared_ptr<sdk::LinearBase>(layer)};
    oft->add_adapter("default", config);
    oft->to(layer->device());
    at::NoGradGuard no_grad;
    oft->rotation("default")->weight.copy_(rotation);
    return oft;
  }

  // OFT's skew-symmetric parameters for the layer's input blocks, `scale` times standard normal. The Cayley-Neumann
  // series gives a rotation while the blocks' norm (about 2 scale sqrt(32)) stays below 1.
  static at::Tensor random_rotation(double scale) {
    return at::randn({kIn / kOftBlock, kOftBlock * (kOftBlock - 1) / 2}) * scale;
  }

  static inline std::unique_ptr<PluginHostResult> host_;
  static inline std::vector<OptionVariant> variants_;
};

void expect_same_computation(const Pair& p) {
  ASSERT_TRUE(p.gpu) << "the format does not load what it saved";
  for (const auto& buffer : p.gpu->module()->buffers()) EXPECT_EQ(buffer.device(), kGpu);
  const at::Tensor cpu_weight = p.cpu->dense_weight(), gpu_weight = p.gpu->dense_weight();
  ASSERT_EQ(gpu_weight.device(), kGpu);
  EXPECT_EQ(gpu_weight.scalar_type(), cpu_weight.scalar_type());
  EXPECT_TRUE(at::equal(gpu_weight.cpu(), cpu_weight)) << relative_error(gpu_weight, cpu_weight);
  for (bool training : {true, false}) {
    p.cpu->train(training);
    p.gpu->train(training);
    for (int64_t tokens : {1, 40}) {
      SCOPED_TRACE(std::to_string(tokens) + (training ? " tokens, train" : " tokens, eval"));
      const at::Tensor x = at::randn({tokens, kIn}).to(p.cpu->compute_dtype());
      const at::Tensor y = p.gpu->forward(x.to(kGpu));
      ASSERT_EQ(y.device(), kGpu);
      EXPECT_EQ(y.scalar_type(), x.scalar_type());
      EXPECT_LT(relative_error(y, p.cpu->forward(x)), kForwardTolerance);
    }
  }
}

TEST_F(BackendsOnGpu, EveryMethodsLayerComputesOnTheGpuAsOnTheCpu) {
  for_each_case([](const Pair& p) {
    at::NoGradGuard no_grad;
    expect_same_computation(p);
  });
  // Every CUDA companion served some method above: a layer that took another path on the GPU (say, LibTorch
  // operators where its plugin's kernels were meant to run) would give the same values and pass unnoticed.
  EXPECT_EQ(companions_not_loaded(), std::vector<std::string>{});
}

void expect_oft_trains(const Pair& p) {
  ASSERT_TRUE(p.gpu);
  const at::Tensor rotation = BackendsOnGpu::random_rotation(0.03);
  OFTLinear on_cpu = BackendsOnGpu::with_oft(p.cpu, rotation);
  OFTLinear on_gpu = BackendsOnGpu::with_oft(p.gpu, rotation);
  const at::Tensor x = at::randn({16, kIn}).to(p.cpu->compute_dtype());
  const at::Tensor y_cpu = on_cpu->forward(x), y_gpu = on_gpu->forward(x.to(kGpu));
  EXPECT_LT(relative_error(y_gpu, y_cpu), kForwardTolerance);
  y_cpu.to(at::kFloat).pow(2).sum().backward();
  y_gpu.to(at::kFloat).pow(2).sum().backward();
  const at::Tensor g_cpu = on_cpu->rotation("default")->weight.grad();
  const at::Tensor g_gpu = on_gpu->rotation("default")->weight.grad();
  ASSERT_TRUE(g_gpu.defined());
  EXPECT_EQ(g_gpu.device(), kGpu);
  EXPECT_LT(relative_error(g_gpu, g_cpu), 3 * kForwardTolerance);
  // The quantized base is frozen: its tensors get no gradient.
  for (const auto& tensor : p.gpu->module()->buffers()) {
    EXPECT_FALSE(tensor.requires_grad());
    EXPECT_FALSE(tensor.grad().defined());
  }
}

TEST_F(BackendsOnGpu, OftOverEveryMethodsLayerTrainsOnTheGpu) { for_each_case(expect_oft_trains); }

void expect_merge_by_policy(const Pair& p) {
  ASSERT_TRUE(p.gpu);
  p.gpu->eval();
  const at::Tensor x = at::randn({8, kIn}).to(p.cpu->compute_dtype()).to(kGpu);
  OFTLinear oft = BackendsOnGpu::with_oft(p.gpu, BackendsOnGpu::random_rotation(0.05));  // within the series' reach
  oft->eval();
  at::NoGradGuard no_grad;
  const at::Tensor before = p.gpu->dense_weight().clone(), base = p.gpu->forward(x), unmerged = oft->forward(x);
  const sdk::MergePolicy policy = p.gpu->merge_policy();
  if (policy.mode == sdk::MergeMode::Refused) {
    EXPECT_THROW(oft->merge(), UsageError);
    EXPECT_TRUE(at::equal(p.gpu->dense_weight(), before)) << "a refused merge must not touch the weight";
    return;
  }
  oft->merge();
  ASSERT_TRUE(oft->merged());
  for (const auto& buffer : p.gpu->module()->buffers()) EXPECT_EQ(buffer.device(), kGpu);
  const at::Tensor merged = oft->forward(x);
  ASSERT_GT(relative_error(unmerged, base), 0.05) << "the rotation must change the output";
  // Exact: the GEMM's rounding; requantize: one more rounding of the format's (3x: the rotation widens the range).
  const double rounding =
      relative_error(base, at::linear(x.to(at::kFloat), p.weight.to(kGpu, at::kFloat), p.bias.to(kGpu, at::kFloat)));
  const double limit = policy.mode == sdk::MergeMode::Exact ? kForwardTolerance : 3 * rounding + kForwardTolerance;
  EXPECT_LE(relative_error(merged, unmerged), limit) << "the format's own rounding is " << rounding;
  EXPECT_GT(relative_error(merged, base), 0.05) << "the rotation is in the merged weight";
}

TEST_F(BackendsOnGpu, MergeOnTheGpuDoesWhatEachPolicySays) { for_each_case(expect_merge_by_policy); }

void expect_quantizes_on_the_gpu(const Pair& p) {
  const at::Tensor calibration = p.calibration.defined() ? p.calibration.to(kGpu) : at::Tensor();
  const auto layer = BackendsOnGpu::quantize(p, p.weight.to(kGpu), p.bias.to(kGpu), calibration);
  ASSERT_TRUE(layer);
  for (const auto& buffer : layer->module()->buffers()) EXPECT_EQ(buffer.device(), kGpu);
  const at::Tensor on_gpu = layer->dense_weight();
  EXPECT_EQ(on_gpu.device(), kGpu);
  // Within 1.5x the CPU quantizer's error: the same method, though a quantizer on the GPU may sum in another order.
  const double cpu_error = relative_error(p.cpu->dense_weight(), p.weight);
  EXPECT_LE(relative_error(on_gpu, p.weight), 1.5 * cpu_error + 1e-6);
}

TEST_F(BackendsOnGpu, EveryMethodQuantizesAWeightOnTheGpu) { for_each_case(expect_quantizes_on_the_gpu); }

// Without a GPU: every variant's method is offered, quantizes an fp32 weight on the CPU with the variant's options,
// and what it saves loads again to the same dense weight.
TEST(BackendOptionVariants, EveryVariantQuantizesOnTheCpuAndLoadsAgain) {
  const std::vector<OptionVariant> variants = shipped_option_variants();
  ASSERT_FALSE(variants.empty()) << "no gpu_option_variants.json under " << OFT_BACKEND_TEST_DIR;
  const std::unique_ptr<PluginHostResult> host = load_shipped_plugins();
  const FormatRegistry& formats = *host->formats;
  for (const OptionVariant& v : variants) {
    SCOPED_TRACE(v.file + ": method " + v.method + ", options " + v.options.dump());
    [&] {
      ASSERT_TRUE(offers(formats, v.method)) << "no loaded plugin offers it";
      const MethodInfo method = formats.method(v.method);
      try {  // a plugin's error ends this variant's check, not the others'
        const Pair p = quantized_on_cpu(formats, method, options_of(method, v), at::kFloat);
        ASSERT_TRUE(p.cpu);
        const std::shared_ptr<sdk::LinearModule> loaded = reloaded(formats, p);
        ASSERT_TRUE(loaded) << "the format does not load what it saved";
        EXPECT_TRUE(at::equal(loaded->dense_weight(), p.cpu->dense_weight()));
      } catch (const std::exception& e) {
        FAIL() << e.what();
      }
    }();
  }
}

}  // namespace
}  // namespace oft::test
