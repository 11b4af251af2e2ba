#include "oft/hf/input_scale_fold.h"

#include <string>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "oft/errors.h"
#include "oft/nn/conv1d.h"

namespace oft::models {
namespace {

std::shared_ptr<torch::nn::Module> find_module(torch::nn::Module& root, const std::string& path) {
  const auto modules = root.named_modules(/*name_prefix=*/"", /*include_self=*/false);
  if (!modules.contains(path)) throw UsageError("fold_input_scale: the model has no module " + path);
  return modules[path];
}

at::Tensor parameter(const torch::nn::Module& module, const std::string& name) {
  const auto params = module.named_parameters(/*recurse=*/false);
  return params.contains(name) ? params[name] : at::Tensor();
}

// p = p * factor (broadcast), computed in fp32 and stored in p's dtype.
void scale_in_place(at::Tensor& p, const at::Tensor& factor) { p.copy_(p.to(at::kFloat) * factor.to(p.device())); }

std::string shape_text(const at::Tensor& t) {
  std::string text = "(";
  for (int64_t d = 0; d < t.dim(); ++d) text += (d ? ", " : "") + std::to_string(t.size(d));
  return text + ")";
}

// A dense linear's weight with its input channels along dim `in_dim` (1 for (out, in), 0 for Conv1D).
at::Tensor linear_weight(const std::shared_ptr<torch::nn::Module>& module, const std::string& path, int64_t& in_dim) {
  const bool conv1d = std::dynamic_pointer_cast<Conv1DImpl>(module) != nullptr;
  at::Tensor weight = parameter(*module, "weight");
  if (!weight.defined() || weight.dim() != 2 || !at::isFloatingType(weight.scalar_type()))
    throw UsageError("fold_input_scale: " + path + " (" + module->name() +
                     ") is not a dense linear layer with a floating weight");
  in_dim = conv1d ? 0 : 1;
  return weight;
}

}  // namespace

void fold_input_scale(torch::nn::Module& root, const InputScaleGroup& group, const at::Tensor& scale) {
  torch::NoGradGuard no_grad;
  const at::Tensor s = scale.detach().to(at::kFloat).reshape({-1});
  const int64_t n = s.numel();
  const std::string expected = " for an input scale of " + std::to_string(n) + " channels";
  const auto producer = find_module(root, group.producer);
  if (group.producer_kind == InputScaleGroup::Producer::Norm) {
    at::Tensor weight = parameter(*producer, "weight"), bias = parameter(*producer, "bias");
    if (!weight.defined() || weight.dim() != 1 || weight.size(0) != n)
      throw UsageError("fold_input_scale: norm " + group.producer + " has no weight of shape (" + std::to_string(n) +
                       ")" + expected);
    scale_in_place(weight, 1 / s);
    if (bias.defined()) scale_in_place(bias, 1 / s);
  } else {
    int64_t in_dim = 1;
    at::Tensor weight = linear_weight(producer, group.producer, in_dim);
    const int64_t out_dim = 1 - in_dim;
    if (weight.size(out_dim) != n)
      throw UsageError("fold_input_scale: " + group.producer + " weight " + shape_text(weight) + " has not " +
                       std::to_string(n) + " outputs" + expected);
    scale_in_place(weight, (1 / s).unsqueeze(in_dim));  // one factor per output
    at::Tensor bias = parameter(*producer, "bias");
    if (bias.defined()) scale_in_place(bias, 1 / s);
  }
  for (const auto& path : group.readers) {
    int64_t in_dim = 1;
    at::Tensor weight = linear_weight(find_module(root, path), path, in_dim);
    if (weight.size(in_dim) != n)
      throw UsageError("fold_input_scale: " + path + " weight " + shape_text(weight) + " has not " + std::to_string(n) +
                       " inputs" + expected);
    scale_in_place(weight, s.unsqueeze(1 - in_dim));  // one factor per input
  }
}

}  // namespace oft::models
