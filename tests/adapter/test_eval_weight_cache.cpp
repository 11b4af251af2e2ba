// The eval weight cache (OFTLayer::set_eval_weight_cache): an eval forward with no gradient computes with
// W . R^T folded once. It must give what the rotate-the-input path gives, be used (a hit does not read the
// base weight again), and be rebuilt after every change it depends on.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "oft/adapter/oft_conv2d.h"
#include "oft/adapter/oft_linear.h"
#include "oft/errors.h"
#include "oft/tuner/oft_model.h"
#include "test_models.h"
#include "test_support.h"

namespace oft {
namespace {

OFTConfig random_config(int64_t block_size) {
  OFTConfig c;
  c.oft_block_size = block_size;
  c.init_weights = false;  // Normal(0, 0.1): a rotation far from the identity
  return c;
}

// A linear layer with two random adapters, both active, in eval.
OFTLinear two_adapter_linear(torch::nn::Linear lin) {
  OFTLinear layer(lin);
  layer->add_adapter("a", random_config(8));
  layer->add_adapter("b", random_config(4));
  layer->set_adapter({"a", "b"});
  layer->eval();
  return layer;
}

// The forward without the cache (the rotate-the-input path), leaving the cache setting as it was.
at::Tensor uncached(OFTLayer& layer, const std::function<at::Tensor()>& forward) {
  const bool was = layer.eval_weight_cache();
  layer.set_eval_weight_cache(false);
  at::Tensor y = forward();
  layer.set_eval_weight_cache(was);
  return y;
}

// Changes the first weight element behind autograd's back (no version bump): only a forward that reads
// the weight again sees it.
void poke(const at::Tensor& weight) {
  ASSERT_EQ(weight.scalar_type(), at::kFloat);
  weight.data_ptr<float>()[0] += 10.0f;
}

// x . R_a . R_b . W^T + bias from the weights' current values, through fresh rotation modules: no cache involved.
at::Tensor reference(OFTLinear& layer, torch::nn::Linear& lin, const at::Tensor& x) {
  torch::NoGradGuard no_grad;
  at::Tensor h = x;
  for (const char* name : {"a", "b"}) {
    OFTRotation fresh(layer->rotation(name)->spec());
    fresh->weight.copy_(layer->rotation(name)->weight);
    h = h.matmul(fresh->dense().to(x.scalar_type()));
  }
  return at::linear(h, lin->weight, lin->bias);
}

class EvalWeightCache : public ::testing::Test {
 protected:
  void SetUp() override { at::manual_seed(11); }
  torch::NoGradGuard no_grad;
};

TEST_F(EvalWeightCache, CachedForwardEqualsTheRotatedInputPathInFp32) {
  torch::nn::Linear lin(64, 24);
  auto layer = two_adapter_linear(lin);
  const auto x = at::randn({5, 7, 64});
  const auto expected = uncached(*layer, [&] { return layer->forward(x); });
  EXPECT_TRUE(test::close(layer->forward(x), expected, 1e-5, "cached vs uncached"));
  EXPECT_TRUE(test::close(layer->forward(x), expected, 1e-5, "second (cache hit) forward"));
}

TEST_F(EvalWeightCache, AHitDoesNotReadTheBaseWeightAgain) {
  torch::nn::Linear lin(32, 8);
  auto layer = two_adapter_linear(lin);
  const auto x = at::randn({3, 32});
  const auto before = layer->forward(x);
  poke(lin->weight);
  EXPECT_TRUE(at::equal(layer->forward(x), before)) << "the cached folded weight was not used";
  const auto fresh = uncached(*layer, [&] { return layer->forward(x); });
  EXPECT_FALSE(at::allclose(fresh, before)) << "the poke must be visible to the uncached path";
}

TEST_F(EvalWeightCache, Bf16BaseIsWithinBf16RoundingOfTheUncachedPath) {
  torch::nn::Linear lin(128, 64);
  lin->to(at::kBFloat16);
  auto layer = two_adapter_linear(lin);
  ASSERT_EQ(layer->rotation("a")->weight.scalar_type(), at::kFloat);  // fp32 adapters on a bf16 base
  const auto x = at::randn({16, 128}).to(at::kBFloat16);
  // The exact answer, in fp64, of the model both paths round: x . R_a . R_b . W^T + bias.
  const auto ra = layer->rotation("a")->dense().to(at::kDouble), rb = layer->rotation("b")->dense().to(at::kDouble);
  const auto exact =
      at::linear(x.to(at::kDouble).matmul(ra).matmul(rb), lin->weight.to(at::kDouble), lin->bias.to(at::kDouble));
  const auto cached = layer->forward(x);
  const auto plain = uncached(*layer, [&] { return layer->forward(x); });
  EXPECT_EQ(cached.scalar_type(), at::kBFloat16);
  const double cached_error = test::relative_error(cached.to(at::kDouble), exact);
  const double plain_error = test::relative_error(plain.to(at::kDouble), exact);
  // bf16 keeps 8 significant bits (2^-8 = 0.0039 relative per rounding); both paths round the inputs of a GEMM.
  EXPECT_LT(cached_error, 0.02);
  EXPECT_LT(plain_error, 0.02);
  EXPECT_TRUE(test::close(cached.to(at::kFloat), plain.to(at::kFloat), 0.02, "bf16 cached vs uncached"));
}

TEST_F(EvalWeightCache, AdapterWeightChangesRebuildIt) {
  torch::nn::Linear lin(32, 8);
  auto layer = two_adapter_linear(lin);
  const auto x = at::randn({3, 32});
  const auto before = layer->forward(x);
  layer->rotation("b")->weight.add_(0.05);  // as an optimizer step or load_adapter's copy does
  const auto after = layer->forward(x);
  EXPECT_FALSE(at::allclose(after, before));
  EXPECT_TRUE(test::close(after, uncached(*layer, [&] { return layer->forward(x); }), 1e-5, "after the step"));
}

TEST_F(EvalWeightCache, ActiveAdapterChangesRebuildIt) {
  torch::nn::Linear lin(32, 8);
  auto layer = two_adapter_linear(lin);
  const auto x = at::randn({3, 32});
  layer->forward(x);
  for (const auto& active : std::vector<std::vector<std::string>>{{"a"}, {"b", "a"}, {"b"}}) {
    layer->set_adapter(active);
    EXPECT_TRUE(test::close(layer->forward(x), uncached(*layer, [&] { return layer->forward(x); }), 1e-5,
                            "active " + active.front() + " first"));
  }
  layer->delete_adapter("a");
  EXPECT_TRUE(
      test::close(layer->forward(x), uncached(*layer, [&] { return layer->forward(x); }), 1e-5, "after deleting a"));
}

TEST_F(EvalWeightCache, DisableAndEnableRebuildIt) {
  torch::nn::Linear lin(32, 8);
  auto layer = two_adapter_linear(lin);
  const auto x = at::randn({3, 32});
  const auto adapted = layer->forward(x);
  layer->enable_adapters(false);
  EXPECT_TRUE(at::allclose(layer->forward(x), lin->forward(x), 0, 1e-6));
  poke(lin->weight);  // a cache kept across disable/enable would hide this
  layer->enable_adapters(true);
  const auto again = layer->forward(x);
  EXPECT_FALSE(at::allclose(again, adapted));
  EXPECT_TRUE(test::close(again, uncached(*layer, [&] { return layer->forward(x); }), 1e-5, "after enable"));
}

TEST_F(EvalWeightCache, MergeAndUnmergeRebuildIt) {
  torch::nn::Linear lin(32, 8);
  auto layer = two_adapter_linear(lin);
  const auto x = at::randn({3, 32});
  const auto adapted = layer->forward(x);
  layer->merge();
  EXPECT_TRUE(test::close(layer->forward(x), adapted, 1e-5, "merged"));  // the base alone, merged weight
  EXPECT_TRUE(test::close(lin->forward(x), adapted, 1e-5, "merged base"));
  layer->unmerge();
  EXPECT_TRUE(test::close(layer->forward(x), adapted, 1e-5, "unmerged"));
  // b stays pending on a base with a folded in (so b now applies before a, as in PEFT).
  layer->merge({.adapter_names = std::vector<std::string>{"a"}});
  EXPECT_TRUE(
      test::close(layer->forward(x), uncached(*layer, [&] { return layer->forward(x); }), 1e-5, "a merged, b pending"));
}

TEST_F(EvalWeightCache, TrainAndEvalRebuildIt) {
  torch::nn::Linear lin(32, 8);
  auto layer = two_adapter_linear(lin);
  const auto x = at::randn({3, 32});
  const auto before = layer->forward(x);
  poke(lin->weight);
  layer->train();
  layer->eval();
  EXPECT_FALSE(at::allclose(layer->forward(x), before)) << "eval() after train() must not reuse the old fold";
}

TEST_F(EvalWeightCache, BaseWeightChangesRebuildIt) {
  torch::nn::Linear lin(32, 8);
  auto layer = two_adapter_linear(lin);
  const auto x = at::randn({3, 32});
  layer->forward(x);
  lin->weight.mul_(0.5);  // in place: a version bump
  EXPECT_TRUE(test::close(layer->forward(x), uncached(*layer, [&] { return layer->forward(x); }), 1e-5, "mul_"));
  lin->weight.set_data(at::randn({8, 32}));  // new storage, as module.to(device) does
  EXPECT_TRUE(test::close(layer->forward(x), uncached(*layer, [&] { return layer->forward(x); }), 1e-5, "set_data"));
}

// Module::to swaps in new storages without a version bump (set_data). A fp32 -> bf16 -> fp32 round trip rounds the
// values and may get the freed fp32 storage's addresses back, which a key of raw pointers and version took for a hit.
TEST_F(EvalWeightCache, ToRoundTripsRebuildIt) {
  torch::nn::Linear lin(32, 8);
  auto layer = two_adapter_linear(lin);
  const auto x = at::randn({3, 32});
  const auto before = layer->forward(x);
  lin->to(at::kBFloat16);
  lin->to(at::kFloat);  // no forward between: the bf16 rounding is the only change
  const auto after = layer->forward(x);
  EXPECT_FALSE(at::allclose(after, before)) << "the round trip must change the base weight";
  EXPECT_TRUE(test::close(after, reference(layer, lin, x), 1e-5, "base weight after bf16 and back"));

  layer->rotation("b")->to(at::kBFloat16);  // the adapter weight: the layer's key and the rotation's blocks cache
  layer->rotation("b")->to(at::kFloat);
  EXPECT_TRUE(test::close(layer->forward(x), reference(layer, lin, x), 1e-5, "adapter weight after bf16 and back"));

  lin->to(at::kDouble);  // the same values in another dtype: a fold in that dtype
  const auto wide = layer->forward(x.to(at::kDouble));
  EXPECT_EQ(wide.scalar_type(), at::kDouble);
  EXPECT_TRUE(test::close(wide, reference(layer, lin, x.to(at::kDouble)), 1e-5, "fp64 base"));
}

// Tensors made under c10::InferenceMode have no version counter (_version() throws): both caches are skipped.
TEST_F(EvalWeightCache, LayersMadeUnderInferenceModeComputeWithoutIt) {
  c10::InferenceMode inference;
  torch::nn::Linear lin(32, 8);
  auto layer = two_adapter_linear(lin);
  ASSERT_TRUE(lin->weight.is_inference());
  ASSERT_TRUE(layer->rotation("a")->weight.is_inference());
  const auto x = at::randn({3, 32});
  at::Tensor y;
  ASSERT_NO_THROW(y = layer->forward(x));
  EXPECT_TRUE(test::close(y, uncached(*layer, [&] { return layer->forward(x); }), 1e-6, "inference tensors"));
  poke(lin->weight);  // not cached: the next forward reads the weight again
  EXPECT_FALSE(at::allclose(layer->forward(x), y));
}

// An InferenceMode forward caches its rotation blocks as inference tensors; a later forward whose input needs a
// gradient through frozen adapters saves the blocks for backward, which inference tensors do not allow.
TEST_F(EvalWeightCache, BlocksCachedUnderInferenceModeServeAGradientOutsideIt) {
  torch::nn::Linear lin(32, 8);
  auto layer = two_adapter_linear(lin);
  for (const char* name : {"a", "b"}) layer->rotation(name)->weight.set_requires_grad(false);
  const auto x = at::randn({3, 32});
  at::Tensor expected;
  {
    c10::InferenceMode inference;
    expected = layer->forward(x);
  }
  torch::AutoGradMode grad(true);
  const auto input = x.clone().requires_grad_(true);
  at::Tensor y;
  ASSERT_NO_THROW(y = layer->forward(input));
  EXPECT_TRUE(test::close(y.detach(), expected, 1e-5, "after the InferenceMode forward"));
  y.sum().backward();
  EXPECT_TRUE(input.grad().defined());
}

// weight_matrix() of a non-contiguous Conv2d weight is a reshaped copy with a version counter of its own: the cache
// is keyed on the weight itself.
TEST_F(EvalWeightCache, NonContiguousConv2dWeightChangesRebuildIt) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(4, 6, 3).padding(1));
  conv->weight.set_data(conv->weight.contiguous(at::MemoryFormat::ChannelsLast));
  ASSERT_FALSE(conv->weight.is_contiguous());
  OFTConv2d layer(conv);
  layer->add_adapter("a", random_config(9));
  layer->eval();
  const auto img = at::randn({2, 4, 7, 5});
  const auto before = layer->forward(img);
  poke(conv->weight);
  EXPECT_TRUE(at::equal(layer->forward(img), before)) << "a non-contiguous base weight must still use the cache";
  conv->weight.copy_(at::randn_like(conv->weight));  // in place: a version bump of the weight, not of a copy
  const auto after = layer->forward(img);
  EXPECT_FALSE(at::allclose(after, before));
  EXPECT_TRUE(test::close(after, uncached(*layer, [&] { return layer->forward(img); }), 1e-5, "after copy_"));
}

// Concurrent eval forwards on one layer, as a server runs them: the first ones race to build the cache.
TEST_F(EvalWeightCache, ConcurrentForwardsGiveTheSingleThreadResult) {
  torch::nn::Linear lin(64, 24);
  auto layer = two_adapter_linear(lin);
  const auto x = at::randn({5, 64});
  const auto expected = uncached(*layer, [&] { return layer->forward(x); });
  constexpr int kThreads = 4;
  constexpr int kForwards = 20;
  std::vector<int> mismatches(kThreads, 0);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      torch::NoGradGuard thread_no_grad;  // grad mode is per thread
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int i = 0; i < kForwards; ++i)
        if (test::relative_error(layer->forward(x), expected) > 1e-5) ++mismatches[t];
    });
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST_F(EvalWeightCache, OptOutReadsTheBaseWeightEveryTime) {
  torch::nn::Linear lin(32, 8);
  auto layer = two_adapter_linear(lin);
  layer->set_eval_weight_cache(false);
  const auto x = at::randn({3, 32});
  const auto before = layer->forward(x);
  poke(lin->weight);
  EXPECT_FALSE(at::allclose(layer->forward(x), before));
}

TEST_F(EvalWeightCache, TrainingAndGradientsKeepTheRotatedInputPath) {
  torch::nn::Linear lin(32, 8);
  auto layer = two_adapter_linear(lin);
  const auto x = at::randn({3, 32});
  torch::AutoGradMode grad(true);
  const auto y = layer->forward(x);  // eval, but the active adapters' weights require a gradient
  ASSERT_TRUE(y.requires_grad());
  y.sum().backward();
  EXPECT_TRUE(layer->rotation("a")->weight.grad().defined());
  EXPECT_TRUE(layer->rotation("b")->weight.grad().defined());
}

// A base that is not dense (as a backend's quantized layer): the cache does not apply.
class OpaqueBase final : public sdk::LinearBase {
 public:
  explicit OpaqueBase(torch::nn::Linear lin) : lin_(std::move(lin)) {}
  std::shared_ptr<torch::nn::Module> module() override { return lin_.ptr(); }
  std::string type_name() const override { return "Opaque"; }
  int64_t in_features() const override { return lin_->weight.size(1); }
  int64_t out_features() const override { return lin_->weight.size(0); }
  c10::ScalarType compute_dtype() const override { return lin_->weight.scalar_type(); }
  c10::Device device() const override { return lin_->weight.device(); }
  at::Tensor forward(const at::Tensor& x) override { return lin_->forward(x); }
  sdk::MergePolicy merge_policy() const override { return {}; }
  at::Tensor dense_weight() override { return lin_->weight; }
  void set_dense_weight(const at::Tensor& weight) override { lin_->weight.copy_(weight); }

 private:
  torch::nn::Linear lin_;
};

TEST_F(EvalWeightCache, NonDenseBasesKeepTheRotatedInputPath) {
  torch::nn::Linear lin(32, 8);
  OFTLinear layer(std::make_shared<OpaqueBase>(lin));
  layer->add_adapter("a", random_config(8));
  layer->eval();
  const auto x = at::randn({3, 32});
  const auto before = layer->forward(x);
  poke(lin->weight);
  EXPECT_FALSE(at::allclose(layer->forward(x), before));
}

TEST_F(EvalWeightCache, Conv1DAndConv2dBasesUseItToo) {
  Conv1D conv1d(32, 12);
  OFTLinear over_conv1d(conv1d);
  over_conv1d->add_adapter("a", random_config(8));
  over_conv1d->eval();
  const auto x = at::randn({2, 5, 32});
  const auto plain = uncached(*over_conv1d, [&] { return over_conv1d->forward(x); });
  EXPECT_TRUE(test::close(over_conv1d->forward(x), plain, 1e-5, "Conv1D"));
  poke(conv1d->weight);
  EXPECT_TRUE(test::close(over_conv1d->forward(x), plain, 1e-5, "Conv1D hit"));

  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(4, 6, 3).padding(1));
  OFTConv2d over_conv(conv);
  over_conv->add_adapter("a", random_config(9));  // 4 * 3 * 3 = 36 = 4 blocks of 9
  over_conv->eval();
  const auto img = at::randn({2, 4, 7, 5});
  const auto conv_plain = uncached(*over_conv, [&] { return over_conv->forward(img); });
  EXPECT_TRUE(test::close(over_conv->forward(img), conv_plain, 1e-5, "Conv2d"));
  poke(conv->weight);
  EXPECT_TRUE(test::close(over_conv->forward(img), conv_plain, 1e-5, "Conv2d hit"));
}

TEST_F(EvalWeightCache, OFTModelOptionTurnsItOffForEveryLayer) {
  auto model = std::make_shared<test::MlpModel>();
  OFTConfig config = random_config(4);
  config.target_modules = ModuleSelector::from_names({"lin0", "lin1"});
  OFTModel oft(model, config, {.eval_weight_cache = false});
  ASSERT_EQ(oft.oft_layers().size(), 2u);
  for (const auto& [path, layer] : oft.oft_layers()) EXPECT_FALSE(layer->eval_weight_cache()) << path;
  oft.set_eval_weight_cache(true);
  for (const auto& [path, layer] : oft.oft_layers()) EXPECT_TRUE(layer->eval_weight_cache()) << path;
}

}  // namespace
}  // namespace oft
