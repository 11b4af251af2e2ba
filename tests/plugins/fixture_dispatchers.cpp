// The one LibTorch translation unit of the fixture plugins: a module type of their own
// (FixtureLinear), its LinearBase, and two dispatchers (one claims FixtureLinear, one throws).
#include "fixture_dispatchers.h"

#include <stdexcept>
#include <string>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "oft/sdk/dispatcher.h"

namespace oft::fixture {
namespace {

class FixtureLinear : public torch::nn::Module {
 public:
  FixtureLinear(int64_t in, int64_t out) { weight = register_buffer("weight", at::randn({out, in})); }
  at::Tensor weight;
};

class FixtureLinearBase final : public sdk::LinearBase {
 public:
  explicit FixtureLinearBase(std::shared_ptr<FixtureLinear> layer) : layer_(std::move(layer)) {}
  std::shared_ptr<torch::nn::Module> module() override { return layer_; }
  std::string type_name() const override { return "FixtureLinear"; }
  int64_t in_features() const override { return layer_->weight.size(1); }
  int64_t out_features() const override { return layer_->weight.size(0); }
  c10::ScalarType compute_dtype() const override { return at::kFloat; }
  c10::Device device() const override { return layer_->weight.device(); }
  at::Tensor forward(const at::Tensor& x) override { return at::matmul(x, layer_->weight.t()); }
  sdk::MergePolicy merge_policy() const override { return {}; }
  at::Tensor dense_weight() override { return layer_->weight; }
  void set_dense_weight(const at::Tensor& weight) override { layer_->weight.copy_(weight); }

 private:
  std::shared_ptr<FixtureLinear> layer_;
};

class ClaimingDispatcher final : public sdk::Dispatcher {
 public:
  ClaimingDispatcher(std::string name, int priority) : name_(std::move(name)), priority_(priority) {}
  std::string name() const override { return name_; }
  int priority() const override { return priority_; }
  std::optional<sdk::Claim> claim(const sdk::ModuleRef& module, const sdk::DispatchContext&) override {
    auto layer = std::dynamic_pointer_cast<FixtureLinear>(module.module);
    if (!layer) return std::nullopt;
    return sdk::Claim{sdk::Claim::Kind::Linear, std::make_shared<FixtureLinearBase>(std::move(layer))};
  }

 private:
  std::string name_;
  int priority_;
};

class ThrowingDispatcher final : public sdk::Dispatcher {
 public:
  ThrowingDispatcher(std::string name, int priority) : name_(std::move(name)), priority_(priority) {}
  std::string name() const override { return name_; }
  int priority() const override { return priority_; }
  std::optional<sdk::Claim> claim(const sdk::ModuleRef& module, const sdk::DispatchContext&) override {
    throw std::runtime_error("fixture dispatcher cannot inspect " + module.path);
  }

 private:
  std::string name_;
  int priority_;
};

}  // namespace

void add_claiming_dispatcher(sdk::Registrar& registrar, const char* name, int priority) {
  registrar.add(std::make_shared<ClaimingDispatcher>(name, priority));
}

void add_throwing_dispatcher(sdk::Registrar& registrar, const char* name, int priority) {
  registrar.add(std::make_shared<ThrowingDispatcher>(name, priority));
}

}  // namespace oft::fixture

// Test hook (fixture plugins only): a FixtureLinear made inside the plugin, owned by the caller.
extern "C" OFT_PLUGIN_EXPORT torch::nn::Module* oft_fixture_make_linear(int64_t in, int64_t out) {
  return new oft::fixture::FixtureLinear(in, out);
}
