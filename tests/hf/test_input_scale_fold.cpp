// models::fold_input_scale on the golden checkpoints: with a random positive scale folded into every
// group (models::input_scale_groups) the dense model gives the same logits (fp32, relative 1e-5), while
// its readers' weights changed; folded into the wrong norm, the logits change.
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "model_test_util.h"
#include "oft/errors.h"
#include "oft/hf/input_scale_fold.h"
#include "oft/hf/input_scale_groups.h"

namespace oft::test {
namespace {

std::vector<std::string> module_paths(const models::Pretrained& model) {
  std::vector<std::string> paths;
  for (const auto& item : model.module->named_modules("", /*include_self=*/false)) paths.push_back(item.key());
  return paths;
}

at::Tensor weight_of(const models::Pretrained& model, const std::string& module) {
  return model.module->named_parameters()[module + ".weight"].detach().clone();
}

class InputScaleFold : public ::testing::TestWithParam<std::string> {};

TEST_P(InputScaleFold, KeepsTheLogits) {
  const auto model = models::load_pretrained(hf_dir(GetParam()));
  const auto golden = hf_expected(GetParam());
  const at::Tensor ids = golden.get("input_ids");
  const at::Tensor before = model.forward(ids, at::Tensor());
  const auto groups = models::input_scale_groups(model.info.model_type, module_paths(model));
  ASSERT_GE(groups.size(), 4u);  // two blocks of at least two groups
  at::manual_seed(11);
  const at::Tensor reader_before = weight_of(model, groups.front().readers.front());
  for (const auto& group : groups) {
    const int64_t channels =
        model.module->named_parameters()[group.readers.front() + ".weight"].size(GetParam() == "gpt2" ? 0 : 1);
    models::fold_input_scale(*model.module, group, at::exp(at::randn({channels}) * 0.7));
  }
  EXPECT_FALSE(at::allclose(weight_of(model, groups.front().readers.front()), reader_before, 1e-3, 0));
  EXPECT_TRUE(close(model.forward(ids, at::Tensor()), before, 1e-5, GetParam() + " logits after folding"));
}

TEST_P(InputScaleFold, FoldingIntoTheWrongNormChangesTheLogits) {
  const auto model = models::load_pretrained(hf_dir(GetParam()));
  const at::Tensor ids = hf_expected(GetParam()).get("input_ids");
  const at::Tensor before = model.forward(ids, at::Tensor());
  const auto groups = models::input_scale_groups(model.info.model_type, module_paths(model));
  auto wrong = groups.at(0);
  wrong.producer = groups.at(1).producer;           // the attention's readers, the MLP's norm
  const at::Tensor s = at::linspace(0.5, 2.0, 32);  // both tiny models have 32 hidden channels
  models::fold_input_scale(*model.module, wrong, s);
  EXPECT_GT(relative_error(model.forward(ids, at::Tensor()), before), 1e-3);
}

TEST_P(InputScaleFold, RefusesAScaleOfTheWrongSize) {
  const auto model = models::load_pretrained(hf_dir(GetParam()));
  const auto group = models::input_scale_groups(model.info.model_type, module_paths(model)).at(0);
  try {
    models::fold_input_scale(*model.module, group, at::ones({31}));
    ADD_FAILURE() << "no error for 31 channels";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(group.producer), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Models, InputScaleFold, ::testing::Values("llama_sharded", "gpt2"));

}  // namespace
}  // namespace oft::test
