#pragma once
// The conformance suite every backend plugin's tests instantiate (as ggml's test-backend-ops does for
// its backends): the built plugin file is loaded through the host, and one of its `oft quantize`
// methods is checked end to end through the host's registries: the plugin loads, its SDK types are the
// host's, its format recognizes what it saves (and no dense module), save and load round-trip, the
// layer's forward agrees with its own dense weight and a few tokens with many, training through it holds no dense
// weight for the backward, OFT over it trains only OFT's parameters, its dispatcher claims it, and merging does
// what its merge policy says.
//
// A backend describes each method under test with a case struct (defaults from ConformanceCase):
//
//   struct MyInt4 : oft::testing::ConformanceCase {
//     static std::filesystem::path plugin_file() { return MY_PLUGIN_FILE; }  // or its folder
//     static constexpr const char* plugin = "my";            // liboft_backend_my.so
//     static constexpr const char* method = "my-int4";       // one of its formats' quantize methods
//     static constexpr oft::sdk::MergeMode merge_mode = oft::sdk::MergeMode::Requantize;
//     static constexpr double weight_tolerance = 0.15;       // dense_weight() vs the float weight
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(My, BackendConformance, ::testing::Types<MyInt4>,
//                                  oft::testing::ConformanceCaseNames);
//
// Include this header in one source file of a test executable: it defines the tests.
#include <cxxabi.h>
#include <malloc.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <typeinfo>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>

#include "oft/adapter/config.h"
#include "oft/adapter/oft_linear.h"
#include "oft/errors.h"
#include "oft/plugin/dispatcher_registry.h"
#include "oft/plugin/format_registry.h"
#include "oft/plugin/plugin_host.h"
#include "oft/sdk/base_layer.h"
#include "oft/sdk/linear_format.h"
#include "oft/sdk/tiled_dequantized_linear.h"

// ASan and its kin allocate outside glibc's arenas, so glibc's count says nothing there.
#if defined(__SANITIZE_ADDRESS__)
#define OFT_SANITIZED_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OFT_SANITIZED_ALLOCATOR 1
#endif
#endif

namespace oft::testing {

// Defaults for a case; a case must add plugin_file(), plugin, method, merge_mode and weight_tolerance.
struct ConformanceCase {
  static constexpr int64_t in_features = 64;
  static constexpr int64_t out_features = 32;
  static constexpr bool bias = true;
  static constexpr int64_t oft_block_size = 16;  // must divide in_features
  // The quantize options as a JSON object; "" takes the method's default options.
  static std::string options_json() { return ""; }
  // Largest relative error of forward(x) against x . dense_weight()^T + bias, in train and eval mode
  // (formats that compute in low precision or quantize activations need more).
  static constexpr double forward_tolerance = 1e-5;
  // Whether the format's model_merge_refusal refuses a model quantized by this method as a whole.
  static constexpr bool model_merge_refused = false;
  // A second layer, large enough that a few-token forward through sdk::tiled_dequantized_linear runs several
  // tiles, the last one short (1088 x 256: 512 fp32 rows a tile; 1088 is a multiple of 64 for every format). 0
  // skips that test (a slow quantizer).
  static constexpr int64_t tiled_out_features = 1088;
  static constexpr int64_t tiled_in_features = 256;
};

// Test names "<method>_<index>" (method in [A-Za-z0-9_]).
struct ConformanceCaseNames {
  template <class Case>
  static std::string GetName(int index) {
    std::string name = Case::method;
    std::replace_if(
        name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
    return name + "_" + std::to_string(index);
  }
};

namespace detail {

inline double relative_error(const at::Tensor& actual, const at::Tensor& expected) {
  const at::Tensor a = actual.detach().to(at::kDouble), e = expected.detach().to(at::kDouble);
  return (a - e).abs().max().item<double>() / std::max(e.abs().max().item<double>(), 1e-12);
}

// The typeinfo object that `type` (a class's typeinfo) uses for its base class named as `base`, or
// nullptr when it has no such base. In a plugin's class this is the plugin's own copy unless the
// dynamic linker bound the plugin to the host's, which the SDK's visibility rule makes it do.
inline const std::type_info* base_typeinfo(const std::type_info& type, const std::type_info& base) {
  if (std::strcmp(type.name(), base.name()) == 0) return &type;
  if (const auto* single = dynamic_cast<const abi::__si_class_type_info*>(&type))
    return base_typeinfo(*single->__base_type, base);
  if (const auto* multiple = dynamic_cast<const abi::__vmi_class_type_info*>(&type))
    for (unsigned i = 0; i < multiple->__base_count; ++i)
      if (const auto* found = base_typeinfo(*multiple->__base_info[i].__base_type, base)) return found;
  return nullptr;
}

// Bit-for-bit equality of dtype, shape and contents; float8 tensors are compared as bytes, since
// LibTorch implements at::equal for no float8 dtype.
inline bool same_tensor(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  if (!c10::isFloat8Type(a.scalar_type())) return at::equal(a, b);
  return at::equal(a.contiguous().view(at::kByte), b.contiguous().view(at::kByte));
}

// Bytes the process has allocated through malloc (glibc's count over every arena, mmapped chunks included).
inline int64_t allocated_bytes() {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<int64_t>(info.uordblks + info.hblkhd);
}

// allocated_bytes once it has stopped changing (for up to a second): the OpenMP team of a thread that has ended
// exits a little after it and frees what its threads kept (MKL's buffers), which would otherwise land between two
// readings (seen: 0.64 MB, once in about 25 runs on the portable paths).
inline int64_t settled_allocated_bytes() {
  int64_t bytes = allocated_bytes();
  for (int i = 0; i < 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const int64_t now = allocated_bytes();
    if (now == bytes) break;
    bytes = now;
  }
  return bytes;
}

// Runs `work` on a new thread and waits for it (and for its thread-local objects to go); rethrows what it threw.
template <typename Work>
void on_own_thread(Work&& work) {
  std::exception_ptr failure;
  std::thread([&] {
    try {
      work();
    } catch (...) {
      failure = std::current_exception();
    }
  }).join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace detail

template <class Case>
class BackendConformance : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    PluginHostOptions options;
    options.settings.paths = {Case::plugin_file()};
    options.settings.require = {Case::plugin};
    options.use_environment = false;
    options.use_install_folder = false;
    host_ = std::make_unique<PluginHostResult>(load_plugins(options));
  }
  static void TearDownTestSuite() { host_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(host_) << "plugin '" << Case::plugin << "' did not load from " << Case::plugin_file();
    at::manual_seed(0);
    method_ = host_->formats->method(Case::method);
    format_ = host_->formats->get(method_.format);
    options_ = std::string(Case::options_json()).empty() ? method_.method.default_options_json : Case::options_json();
    weight_ = at::randn({Case::out_features, Case::in_features}) * 0.2;
    if (Case::bias) bias_ = at::randn({Case::out_features}) * 0.1;
    if (method_.method.needs_calibration) calibration_ = at::randn({256, Case::in_features});
    layer_ = host_->formats->quantize(method_.format, kPath, weight_, bias_, options_, calibration_);
    ASSERT_TRUE(layer_) << "format '" << method_.format << "' returned no layer";
    quantization_config_ = format_->quantization_config(options_);
  }

  const PluginFileReport& report() const {
    for (const auto& file : host_->files)
      if (file.name == Case::plugin) return file;
    throw UsageError(std::string("no report for plugin '") + Case::plugin + "'");
  }
  sdk::LinearShape shape() const { return {Case::in_features, Case::out_features, Case::bias}; }
  at::Tensor input(int64_t rows = 8) const { return at::randn({rows, Case::in_features}).to(layer_->compute_dtype()); }
  // What the layer computes in float from its own dense weight.
  at::Tensor dense_output(const at::Tensor& x) const {
    return at::linear(x.to(at::kFloat), layer_->dense_weight().to(at::kFloat), Case::bias ? bias_ : at::Tensor());
  }
  OFTLinear with_oft(float rotation_scale) const {
    OFTConfig config;
    config.r = 0;
    config.oft_block_size = Case::oft_block_size;
    config.init_weights = false;
    OFTLinear oft{std::shared_ptr<sdk::LinearBase>(layer_)};
    oft->add_adapter("default", config);
    at::NoGradGuard no_grad;
    auto& weight = oft->rotation("default")->weight;
    weight.copy_(at::randn(weight.sizes()) * rotation_scale);
    return oft;
  }

  static constexpr const char* kPath = "conformance.layer";
  static inline std::unique_ptr<PluginHostResult> host_;
  MethodInfo method_;
  std::shared_ptr<const sdk::LinearFormat> format_;
  std::string options_, quantization_config_;
  at::Tensor weight_, bias_, calibration_;
  std::shared_ptr<sdk::LinearModule> layer_;
};

TYPED_TEST_SUITE_P(BackendConformance);

TYPED_TEST_P(BackendConformance, LoadsThroughTheHostAndAsksItsDispatchersBeforeTheDefault) {
  const PluginFileReport& report = this->report();
  ASSERT_EQ(report.status, PluginStatus::Loaded) << report.reason;
  EXPECT_NE(std::find(report.formats.begin(), report.formats.end(), this->method_.format), report.formats.end());
  ASSERT_FALSE(report.dispatchers.empty());
  const std::vector<std::string> order = this->host_->registry->order();
  ASSERT_EQ(order.back(), "default");
  for (const auto& name : report.dispatchers)
    EXPECT_NE(std::find(order.begin(), order.end() - 1, name), order.end() - 1)
        << name << " is not asked before default";
}

TYPED_TEST_P(BackendConformance, ItsObjectsHaveTheHostsSdkTypes) {
  // The SDK types the host casts a plugin's layers to are one typeinfo object in the process, the host's,
  // not two with equal names (plugin_abi.h: OFT_SDK_VISIBLE).
  EXPECT_EQ(detail::base_typeinfo(typeid(*this->layer_), typeid(sdk::LinearModule)), &typeid(sdk::LinearModule));
  EXPECT_EQ(detail::base_typeinfo(typeid(*this->layer_), typeid(sdk::LinearBase)), &typeid(sdk::LinearBase));
}

TYPED_TEST_P(BackendConformance, RecognizesWhatItSavesAndNoDenseModule) {
  const sdk::TensorMap saved = this->host_->formats->save(this->kPath, *this->layer_);
  EXPECT_TRUE(this->format_->recognizes(saved, this->quantization_config_));
  sdk::TensorMap dense{{"weight", this->weight_}};
  if (TypeParam::bias) dense["bias"] = this->bias_;
  // A dense module, also in a model quantized with this format (e.g. an lm_head left in float).
  EXPECT_FALSE(this->format_->recognizes(dense, ""));
  EXPECT_FALSE(this->format_->recognizes(dense, this->quantization_config_));
  EXPECT_EQ(this->host_->formats->load(this->kPath, dense, this->shape(), ""), nullptr);
}

TYPED_TEST_P(BackendConformance, SaveAndLoadRoundTrip) {
  const sdk::TensorMap saved = this->host_->formats->save(this->kPath, *this->layer_);
  auto loaded = this->host_->formats->load(this->kPath, saved, this->shape(), this->quantization_config_);
  ASSERT_TRUE(loaded) << "no format recognized the tensors '" << this->method_.format << "' saved";
  EXPECT_EQ(loaded->format(), this->method_.format);
  EXPECT_EQ(loaded->in_features(), TypeParam::in_features);
  EXPECT_EQ(loaded->out_features(), TypeParam::out_features);
  EXPECT_TRUE(at::equal(loaded->dense_weight(), this->layer_->dense_weight()));
  const sdk::TensorMap again = this->host_->formats->save(this->kPath, *loaded);
  ASSERT_EQ(again.size(), saved.size());
  for (const auto& [name, tensor] : saved) {
    ASSERT_EQ(again.count(name), 1u) << name;
    EXPECT_EQ(again.at(name).scalar_type(), tensor.scalar_type()) << name;
    EXPECT_TRUE(detail::same_tensor(again.at(name), tensor)) << name;
  }
}

TYPED_TEST_P(BackendConformance, ForwardAgreesWithItsOwnDenseWeight) {
  const double weight_error = detail::relative_error(this->layer_->dense_weight(), this->weight_);
  EXPECT_LT(weight_error, TypeParam::weight_tolerance) << "the quantized weight is not the weight it was given";
  ::testing::Test::RecordProperty("weight_error", std::to_string(weight_error));
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "train" : "eval");
    this->layer_->train(training);
    at::NoGradGuard no_grad;
    const at::Tensor x = this->input();
    const at::Tensor y = this->layer_->forward(x);
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{x.size(0), TypeParam::out_features}));
    const double error = detail::relative_error(y, this->dense_output(x));
    EXPECT_LT(error, TypeParam::forward_tolerance);
    ::testing::Test::RecordProperty(training ? "train_forward_error" : "eval_forward_error", std::to_string(error));
  }
}

// A layer may take another path for a few tokens than for many (sdk::tiled_dequantized_linear, for decoding):
// the same rows give the same outputs within the forward tolerance, whatever the input's leading sizes, and an
// input that needs a gradient still gets one.
TYPED_TEST_P(BackendConformance, FewTokensAgreeWithManyTokens) {
  this->layer_->eval();
  const at::Tensor x = this->input(sdk::kTiledLinearMaxTokens + 8);
  {
    at::NoGradGuard no_grad;
    const at::Tensor all = this->layer_->forward(x);
    for (int64_t tokens : {int64_t{1}, int64_t{5}, sdk::kTiledLinearMaxTokens}) {
      SCOPED_TRACE(std::to_string(tokens) + " tokens");
      const at::Tensor few = this->layer_->forward(x.narrow(0, 0, tokens));
      EXPECT_LT(detail::relative_error(few, all.narrow(0, 0, tokens)), TypeParam::forward_tolerance);
    }
    const at::Tensor batched = this->layer_->forward(x.narrow(0, 0, 6).reshape({2, 3, TypeParam::in_features}));
    EXPECT_EQ(batched.sizes(), (std::vector<int64_t>{2, 3, TypeParam::out_features}));
    EXPECT_LT(detail::relative_error(batched.reshape({6, TypeParam::out_features}), all.narrow(0, 0, 6)),
              TypeParam::forward_tolerance);
  }
  const at::Tensor one = x.narrow(0, 0, 1).detach().requires_grad_();
  this->layer_->forward(one).to(at::kFloat).sum().backward();
  ASSERT_TRUE(one.grad().defined());
  EXPECT_GT(one.grad().abs().sum().item<double>(), 0.0);
}

// The same on a layer of several tiles, whose tiles start at other rows than 0.
TYPED_TEST_P(BackendConformance, FewTokensAgreeAcrossTiles) {
  if (TypeParam::tiled_out_features == 0) GTEST_SKIP() << "the case sets no multi-tile layer (tiled_out_features)";
  const int64_t out = TypeParam::tiled_out_features, in = TypeParam::tiled_in_features;
  const at::Tensor weight = at::randn({out, in}) * 0.2;
  const at::Tensor bias = TypeParam::bias ? at::randn({out}) * 0.1 : at::Tensor();
  const at::Tensor calibration = this->method_.method.needs_calibration ? at::randn({256, in}) : at::Tensor();
  auto layer =
      this->host_->formats->quantize(this->method_.format, this->kPath, weight, bias, this->options_, calibration);
  layer->eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({sdk::kTiledLinearMaxTokens + 8, in}).to(layer->compute_dtype());
  const at::Tensor all = layer->forward(x), few = layer->forward(x.narrow(0, 0, 5));
  EXPECT_LT(detail::relative_error(few, all.narrow(0, 0, 5)), TypeParam::forward_tolerance);
}

// Training through the layer: x's gradient is what the layer's dense weight gives, and the graph holds no dense copy
// of the weight until the backward (a model would hold every layer's at once; sdk::linear_recomputing_weight
// dequantizes again instead). Held bytes are what glibc's count of allocated bytes drops by (each count taken once it
// has settled) when y and its graph are released, after a forward on the multi-tile layer run on a thread of its
// own: when that thread ends, its reused
// weight buffer (sdk::weight_buffer) goes with it unless the graph still holds it, and memory that libraries keep
// per thread (MKL's buffers) stays on both sides of the difference. The limit is half of W in a 2-byte dtype
// (0.28 MB; y and the graph's own tensors are under 0.1 MB).
TYPED_TEST_P(BackendConformance, TrainingHoldsNoDenseWeightForTheBackward) {
  if (TypeParam::tiled_out_features == 0) GTEST_SKIP() << "the case sets no multi-tile layer (tiled_out_features)";
  const int64_t out = TypeParam::tiled_out_features, in = TypeParam::tiled_in_features;
  const at::Tensor bias = TypeParam::bias ? at::randn({out}) * 0.1 : at::Tensor();
  const at::Tensor calibration = this->method_.method.needs_calibration ? at::randn({256, in}) : at::Tensor();
  auto layer = this->host_->formats->quantize(this->method_.format, this->kPath, at::randn({out, in}) * 0.2, bias,
                                              this->options_, calibration);
  const at::Tensor x = at::randn({16, in}).to(layer->compute_dtype()).requires_grad_();
  const at::Tensor dense = layer->dense_weight().to(at::kFloat);
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "train" : "eval");
    layer->train(training);
    at::Tensor y;
    detail::on_own_thread([&] { y = layer->forward(x); });
#ifndef OFT_SANITIZED_ALLOCATOR
    const int64_t with_graph = detail::settled_allocated_bytes();
    y = at::Tensor();
    EXPECT_LT(with_graph - detail::settled_allocated_bytes(), out * in)
        << "bytes held from the forward to the backward";
#endif
    y = layer->forward(x);
    x.mutable_grad() = at::Tensor();
    const at::Tensor g = at::randn(y.sizes()).to(y.scalar_type());
    y.backward(g);
    ASSERT_TRUE(x.grad().defined());
    EXPECT_LT(detail::relative_error(x.grad(), at::matmul(g.to(at::kFloat), dense)), TypeParam::forward_tolerance);
  }
}

TYPED_TEST_P(BackendConformance, GradientsReachOnlyOftsParameters) {
  OFTLinear oft = this->with_oft(0.1f);
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "train" : "eval");
    oft->train(training);
    oft->zero_grad();
    oft->forward(this->input()).to(at::kFloat).pow(2).sum().backward();
    std::vector<std::string> trainable;
    for (const auto& p : oft->named_parameters())
      if (p.value().requires_grad()) trainable.push_back(p.key());
    EXPECT_EQ(trainable, std::vector<std::string>{"oft_R.default.weight"});
    const at::Tensor grad = oft->rotation("default")->weight.grad();
    ASSERT_TRUE(grad.defined());
    EXPECT_GT(grad.abs().sum().item<double>(), 0.0);
    for (const auto& p : this->layer_->named_parameters()) EXPECT_FALSE(p.value().grad().defined()) << p.key();
    for (const auto& b : this->layer_->named_buffers()) EXPECT_FALSE(b.value().requires_grad()) << b.key();
  }
}

TYPED_TEST_P(BackendConformance, ItsDispatcherClaimsTheLayersItsFormatMakes) {
  const DispatchResult result =
      this->host_->registry->dispatch({this->kPath, this->layer_}, {this->quantization_config_});
  const auto& dispatchers = this->report().dispatchers;
  EXPECT_NE(std::find(dispatchers.begin(), dispatchers.end(), result.dispatcher), dispatchers.end())
      << result.dispatcher;
  ASSERT_TRUE(result.claim.linear);
  EXPECT_EQ(result.claim.linear->module(), std::shared_ptr<torch::nn::Module>(this->layer_));
  torch::nn::Linear dense(TypeParam::in_features, TypeParam::out_features);
  EXPECT_EQ(
      this->host_->registry->dispatch({"conformance.dense", dense.ptr()}, {this->quantization_config_}).dispatcher,
      "default");
}

TYPED_TEST_P(BackendConformance, MergeDoesWhatItsPolicySays) {
  const sdk::MergePolicy policy = this->layer_->merge_policy();
  ASSERT_EQ(policy.mode, TypeParam::merge_mode) << policy.reason;
  if (policy.mode != sdk::MergeMode::Exact) {
    EXPECT_FALSE(policy.reason.empty()) << "users are shown the reason";
  }
  EXPECT_EQ(!this->format_->model_merge_refusal(this->quantization_config_).empty(), TypeParam::model_merge_refused);

  this->layer_->eval();
  const at::Tensor x = this->input();
  OFTLinear oft = this->with_oft(0.3f);  // a rotation far from the identity
  oft->eval();
  at::NoGradGuard no_grad;
  const at::Tensor before = this->layer_->dense_weight().clone();
  const at::Tensor base = this->layer_->forward(x), unmerged = oft->forward(x);
  ASSERT_GT(detail::relative_error(unmerged, base), 0.05) << "the rotation must change the output";
  if (policy.mode == sdk::MergeMode::Refused) {
    EXPECT_THROW(oft->merge(), UsageError);
    EXPECT_FALSE(oft->merged());
    EXPECT_TRUE(at::equal(this->layer_->dense_weight(), before)) << "a refused merge must not touch the weight";
    return;
  }
  oft->merge();
  ASSERT_TRUE(oft->merged());
  const at::Tensor merged = oft->forward(x);
  if (policy.mode == sdk::MergeMode::Exact) {
    EXPECT_LT(detail::relative_error(merged, unmerged), std::max(1e-4, TypeParam::forward_tolerance));
    oft->unmerge();
    EXPECT_LT(detail::relative_error(this->layer_->dense_weight(), before), 1e-4);
    return;
  }
  // Requantize: one more rounding of the format's size (3x: the rotation widens the weight's range)...
  const double rounding = detail::relative_error(base, at::linear(x.to(at::kFloat), this->weight_, this->bias_));
  const double merge_error = detail::relative_error(merged, unmerged), kept = detail::relative_error(merged, base);
  EXPECT_LE(merge_error, 3 * rounding) << "the format's own rounding is " << rounding;
  // ...and the rotation is in the new weight.
  EXPECT_GT(kept, 5 * rounding);
  ::testing::Test::RecordProperty(
      "rounding / merged vs unmerged / merged vs base",
      std::to_string(rounding) + " / " + std::to_string(merge_error) + " / " + std::to_string(kept));
}

REGISTER_TYPED_TEST_SUITE_P(BackendConformance, LoadsThroughTheHostAndAsksItsDispatchersBeforeTheDefault,
                            ItsObjectsHaveTheHostsSdkTypes, RecognizesWhatItSavesAndNoDenseModule, SaveAndLoadRoundTrip,
                            ForwardAgreesWithItsOwnDenseWeight, FewTokensAgreeWithManyTokens, FewTokensAgreeAcrossTiles,
                            TrainingHoldsNoDenseWeightForTheBackward, GradientsReachOnlyOftsParameters,
                            ItsDispatcherClaimsTheLayersItsFormatMakes, MergeDoesWhatItsPolicySays);

}  // namespace oft::testing
