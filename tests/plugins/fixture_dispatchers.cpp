// The one LibTorch translation unit of the fixture plugins: a layer type of their own (FixtureLinear)
// and two dispatchers (one claims FixtureLinear, one throws).
#include "fixture_dispatchers.h"

#include <stdexcept>
#include <string>

#include <ATen/ATen.h>

#include "oft/sdk/linear_format.h"
#include "oft/sdk/typed_dispatcher.h"

namespace oft::fixture {
namespace {

class FixtureLinear final : public sdk::LinearModule {
 public:
  FixtureLinear(int64_t in, int64_t out) { weight = register_buffer("weight", at::randn({out, in})); }
  std::string format() const override { return "fixture"; }
  std::string type_name() const override { return "FixtureLinear"; }
  int64_t in_features() const override { return weight.size(1); }
  int64_t out_features() const override { return weight.size(0); }
  c10::ScalarType compute_dtype() const override { return at::kFloat; }
  c10::Device device() const override { return weight.device(); }
  at::Tensor forward(const at::Tensor& x) override { return at::matmul(x, weight.t()); }
  sdk::MergePolicy merge_policy() const override { return {}; }
  at::Tensor dense_weight() override { return weight; }
  void set_dense_weight(const at::Tensor& w) override { weight.copy_(w); }

  at::Tensor weight;
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
  registrar.add(std::make_shared<sdk::TypedDispatcher<FixtureLinear>>(name, priority));
}

void add_throwing_dispatcher(sdk::Registrar& registrar, const char* name, int priority) {
  registrar.add(std::make_shared<ThrowingDispatcher>(name, priority));
}

}  // namespace oft::fixture

// Test hook (fixture plugins only): a FixtureLinear made inside the plugin, owned by the caller.
extern "C" OFT_PLUGIN_EXPORT torch::nn::Module* oft_fixture_make_linear(int64_t in, int64_t out);
torch::nn::Module* oft_fixture_make_linear(int64_t in, int64_t out) {
  return new oft::fixture::FixtureLinear(in, out);
}
