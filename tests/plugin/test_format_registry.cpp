// FormatRegistry's view of what formats say about themselves: the `oft quantize` methods they offer
// (listed, found by name, checked as a batch when added) and the model-level merge refusal.
#include <functional>
#include <stdexcept>

#include <gtest/gtest.h>

#include "oft/errors.h"
#include "oft/plugin/format_registry.h"

namespace oft {
namespace {

// A format that only describes itself: loading and quantizing are not what these tests are about.
class DescribedFormat final : public sdk::LinearFormat {
 public:
  DescribedFormat(std::string name, std::vector<sdk::QuantizeMethod> methods, std::string refusal = "")
      : name_(std::move(name)), methods_(std::move(methods)), refusal_(std::move(refusal)) {}
  std::string name() const override { return name_; }
  bool recognizes(const sdk::TensorMap&, const std::string&) const override { return false; }
  std::shared_ptr<sdk::LinearModule> load(const sdk::TensorMap&, const sdk::LinearShape&,
                                          const std::string&) const override {
    throw std::logic_error("not loaded in these tests");
  }
  std::shared_ptr<sdk::LinearModule> quantize(const at::Tensor&, const at::Tensor&, const std::string&,
                                              const at::Tensor&) const override {
    throw std::logic_error("not quantized in these tests");
  }
  std::string quantization_config(const std::string&) const override { return "{}"; }
  sdk::TensorMap save(const sdk::LinearModule&) const override { return {}; }
  std::vector<sdk::QuantizeMethod> quantize_methods() const override { return methods_; }
  std::string model_merge_refusal(const std::string& config) const override {
    if (refusal_ == "throw") throw std::runtime_error("cannot read " + config);
    return config.find(name_) != std::string::npos ? refusal_ : "";
  }

 private:
  std::string name_;
  std::vector<sdk::QuantizeMethod> methods_;
  std::string refusal_;
};

std::string usage_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "no UsageError";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(FormatRegistry, ListsEveryFormatsMethodsByNameWithTheirFormat) {
  FormatRegistry registry;
  registry.add({std::make_shared<DescribedFormat>(
                   "zeta", std::vector<sdk::QuantizeMethod>{{"zeta-a", "a", R"({"bits": 4})", true}, {"b-zeta", "b"}})},
               "plugin 'z'");
  registry.add({std::make_shared<DescribedFormat>("loader_only", std::vector<sdk::QuantizeMethod>{})}, "plugin 'l'");
  std::vector<std::string> listed;
  for (const auto& m : registry.methods()) listed.push_back(m.method.name + "/" + m.format + "/" + m.origin);
  EXPECT_EQ(listed, (std::vector<std::string>{"b-zeta/zeta/plugin 'z'", "zeta-a/zeta/plugin 'z'"}));

  const MethodInfo a = registry.method("zeta-a");
  EXPECT_EQ(a.method.default_options_json, R"({"bits": 4})");
  EXPECT_TRUE(a.method.needs_calibration);
  EXPECT_EQ(registry.describe().at(1).methods.size(), 2u);  // by format too ("loader_only" < "zeta")

  const std::string unknown = usage_error_of([&] { registry.method("zeta-c"); });
  EXPECT_TRUE(contains(unknown, "no quantize method named 'zeta-c'")) << unknown;
  EXPECT_TRUE(contains(unknown, "available: b-zeta, zeta-a")) << unknown;
  EXPECT_TRUE(
      contains(usage_error_of([] { FormatRegistry().method("x"); }), "are the backend plugins on the plugin path"));
}

TEST(FormatRegistry, RefusesMethodsThatClashOrAreMalformed) {
  FormatRegistry registry;
  registry.add({std::make_shared<DescribedFormat>("first", std::vector<sdk::QuantizeMethod>{{"shared", "one"}})},
               "plugin 'one'");
  const std::string clash = usage_error_of([&] {
    registry.add({std::make_shared<DescribedFormat>("second", std::vector<sdk::QuantizeMethod>{{"shared", "two"}})},
                 "plugin 'two'");
  });
  EXPECT_TRUE(contains(clash, "format 'second' of plugin 'two' offers quantize method 'shared'")) << clash;
  EXPECT_TRUE(contains(clash, "already offered by format 'first' of plugin 'one'")) << clash;
  EXPECT_EQ(registry.describe().size(), 1u);  // nothing of the refused format was kept

  const auto malformed = [&](std::vector<sdk::QuantizeMethod> methods) {
    return usage_error_of([&] { registry.add({std::make_shared<DescribedFormat>("bad", methods)}, "plugin 'b'"); });
  };
  EXPECT_TRUE(contains(malformed({{"", "unnamed"}}), "a quantize method has an empty name"));
  EXPECT_TRUE(contains(malformed({{"twice", "1"}, {"twice", "2"}}), "quantize method 'twice' is offered twice"));
  const std::string options = malformed({{"opts", "o", "[4]"}});
  EXPECT_TRUE(contains(options,
                       "format 'bad' of plugin 'b': quantize method 'opts' has default options that are not a "
                       "JSON object: '[4]'"))
      << options;
}

TEST(FormatRegistry, ABatchIsCheckedAsAWholeAndAddedWholeOrNotAtAll) {
  FormatRegistry registry;
  registry.add({std::make_shared<DescribedFormat>("first", std::vector<sdk::QuantizeMethod>{{"one", "1"}})},
               "plugin 'one'");
  const auto format = [](std::string name, std::string method) {
    return std::make_shared<DescribedFormat>(std::move(name),
                                             std::vector<sdk::QuantizeMethod>{{std::move(method), "m"}});
  };
  // Within the batch: a repeated format name, then a quantize method two of its formats offer.
  const std::string same_name = usage_error_of([&] {
    registry.check({format("x", "a"), format("x", "b")}, "plugin 'p'");
  });
  EXPECT_TRUE(contains(same_name, "a format named 'x' is already registered by plugin 'p'")) << same_name;
  const std::string same_method = usage_error_of([&] {
    registry.check({format("x", "a"), format("y", "a")}, "plugin 'p'");
  });
  EXPECT_TRUE(
      contains(same_method, "format 'y' of plugin 'p' offers quantize method 'a', already offered by format 'x'"))
      << same_method;
  // Against what is registered: check() refuses what add() would, and add() keeps none of the batch.
  const std::string taken = usage_error_of([&] { registry.check({format("first", "b")}, "plugin 'p'"); });
  EXPECT_TRUE(contains(taken, "a format named 'first' is already registered by plugin 'one'")) << taken;
  EXPECT_EQ(usage_error_of([&] { registry.add({format("fine", "b"), format("first", "c")}, "plugin 'p'"); }), taken);
  EXPECT_EQ(registry.describe().size(), 1u);
  EXPECT_EQ(usage_error_of([&] { registry.check({format("fine", "b")}, "plugin 'p'"); }), "no UsageError");
  EXPECT_EQ(registry.describe().size(), 1u) << "check() added the format";
  EXPECT_EQ(registry.add({format("fine", "b"), format("also", "c")}, "plugin 'p'"),
            (std::vector<std::string>{"fine", "also"}));
  EXPECT_EQ(registry.describe().size(), 3u);
}

TEST(FormatRegistry, ModelMergeRefusalComesFromTheFormatsOfTheQuantizationConfig) {
  FormatRegistry registry;
  registry.add({std::make_shared<DescribedFormat>("alpha", std::vector<sdk::QuantizeMethod>{}, "alpha refuses"),
                std::make_shared<DescribedFormat>("beta", std::vector<sdk::QuantizeMethod>{}, "")});
  EXPECT_EQ(registry.model_merge_refusal(R"({"quant_method": "alpha"})"), "alpha refuses");
  EXPECT_EQ(registry.model_merge_refusal(R"({"quant_method": "beta"})"), "");
  EXPECT_EQ(registry.model_merge_refusal(""), "");

  registry.add({std::make_shared<DescribedFormat>("gamma", std::vector<sdk::QuantizeMethod>{}, "throw")}, "plugin 'g'");
  try {
    registry.model_merge_refusal(R"({"quant_method": "beta"})");
    FAIL() << "a throwing format was not reported";
  } catch (const FormatError& e) {
    EXPECT_TRUE(contains(e.what(), "format 'gamma' of plugin 'g' failed while checking whether the model may merge"))
        << e.what();
  }
}

}  // namespace
}  // namespace oft
