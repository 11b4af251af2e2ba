#include "aqlm_linear.h"

#include <stdexcept>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "aqlm_codes.h"

namespace oft::aqlm {
namespace {

std::string shape_text(at::IntArrayRef sizes) {
  std::string text = "(";
  for (size_t i = 0; i < sizes.size(); ++i) text += (i ? ", " : "") + std::to_string(sizes[i]);
  return text + ")";
}

void expect_shape(const at::Tensor& t, const char* name, std::vector<int64_t> expected) {
  if (t.sizes() != at::IntArrayRef(expected))
    throw std::invalid_argument(std::string("aqlm: tensor \"") + name + "\" has shape " + shape_text(t.sizes()) +
                                ", expected " + shape_text(expected));
}

void expect_float(const at::Tensor& t, const char* name) {
  const auto dtype = t.scalar_type();
  if (dtype != at::kHalf && dtype != at::kBFloat16 && dtype != at::kFloat)
    throw std::invalid_argument(std::string("aqlm: tensor \"") + name + "\" has dtype " + c10::toString(dtype) +
                                ", expected float16, bfloat16 or float32 (the model dtype)");
}

}  // namespace

AqlmLinear::AqlmLinear(AqlmTensors t, const sdk::LinearShape& shape, const AqlmConfig& config)
    : config_(config), in_features_(shape.in_features), out_features_(shape.out_features) {
  const int64_t k = in_features_, n = out_features_, ig = config.in_group_size, og = config.out_group_size;
  const int64_t c = config.num_codebooks;
  if (k <= 0 || k % ig != 0)
    throw std::invalid_argument("aqlm: in_features " + std::to_string(k) +
                                " is not a positive multiple of in_group_size " + std::to_string(ig));
  if (n <= 0 || n % og != 0)
    throw std::invalid_argument("aqlm: out_features " + std::to_string(n) +
                                " is not a positive multiple of out_group_size " + std::to_string(og));
  for (auto [tensor, name] : {std::pair{&t.codes, "codes"}, {&t.codebooks, "codebooks"}, {&t.scales, "scales"}})
    if (!tensor->defined()) throw std::invalid_argument(std::string("aqlm: tensor \"") + name + "\" is missing");
  for (auto [tensor, name] :
       {std::pair{&t.codes, "codes"}, {&t.codebooks, "codebooks"}, {&t.scales, "scales"}, {&t.bias, "bias"}})
    if (tensor->defined()) check_on_cpu(*tensor, name);
  const auto expected_codes = code_dtype(config.nbits_per_codebook);
  if (t.codes.scalar_type() != expected_codes)
    throw std::invalid_argument(std::string("aqlm: tensor \"codes\" has dtype ") +
                                c10::toString(t.codes.scalar_type()) + ", expected " + c10::toString(expected_codes) +
                                " for " + std::to_string(config.nbits_per_codebook) + "-bit codebooks");
  expect_shape(t.codes, "codes", {n / og, k / ig, c});
  expect_float(t.codebooks, "codebooks");
  expect_shape(t.codebooks, "codebooks", {c, config.codebook_size(), og, ig});
  expect_float(t.scales, "scales");
  if (t.scales.dim() == 1) t.scales = t.scales.reshape({-1, 1, 1, 1});
  expect_shape(t.scales, "scales", {n / og, 1, 1, 1});
  if (shape.bias && !t.bias.defined())
    throw std::invalid_argument("aqlm: tensor \"bias\" is missing (the layer has a bias)");
  if (!shape.bias && t.bias.defined())
    throw std::invalid_argument("aqlm: tensor \"bias\" is present but the layer has no bias");
  if (t.bias.defined()) {
    expect_float(t.bias, "bias");
    expect_shape(t.bias, "bias", {n});
  }

  codes_ = register_buffer("codes", t.codes);
  codebooks_ = register_buffer("codebooks", t.codebooks);
  scales_ = register_buffer("scales", t.scales);
  if (t.bias.defined()) bias_ = register_buffer("bias", t.bias);
}

void AqlmLinear::check_on_cpu(const at::Tensor& t, const char* name) const {
  if (!t.device().is_cpu())
    throw std::invalid_argument(std::string("aqlm: tensor \"") + name + "\" is on " + t.device().str() +
                                "; the aqlm plugin computes on CPU only (no CUDA kernels are built)");
}

at::Tensor AqlmLinear::unpacked_codes() const { return unpack_codes(codes_, config_.nbits_per_codebook); }

at::Tensor AqlmLinear::dequantize_float() const {
  for (auto [tensor, name] : {std::pair{&codes_, "codes"}, {&codebooks_, "codebooks"}, {&scales_, "scales"}})
    check_on_cpu(*tensor, name);
  return aqlm::dequantize_float(unpacked_codes(), codebooks_, scales_);
}

at::Tensor AqlmLinear::dequantize() const { return dequantize_float().to(codebooks_.scalar_type()); }

void AqlmLinear::set_cache_dequantized(bool enabled) {
  cache_enabled_ = enabled;
  cached_weight_ = at::Tensor();
  cached_versions_.clear();
}

std::vector<std::pair<const void*, uint32_t>> AqlmLinear::tensor_versions() const {
  std::vector<std::pair<const void*, uint32_t>> versions;
  for (const at::Tensor* t : {&codes_, &codebooks_, &scales_})
    versions.emplace_back(t->data_ptr(), static_cast<uint32_t>(t->_version()));
  return versions;
}

at::Tensor AqlmLinear::compute_weight() {
  if (cache_enabled_ && cached_weight_.defined() && cached_versions_ == tensor_versions()) return cached_weight_;
  at::Tensor w = dequantize_float();
  if (cache_enabled_) {
    cached_weight_ = w;
    cached_versions_ = tensor_versions();
  }
  return w;
}

at::Tensor AqlmLinear::forward(const at::Tensor& x) {
  if (x.size(-1) != in_features_)
    throw std::invalid_argument("aqlm: input has " + std::to_string(x.size(-1)) + " features, the layer expects " +
                                std::to_string(in_features_));
  check_on_cpu(x, "input");
  const at::Tensor w = compute_weight();
  const at::Tensor b = bias_.defined() ? bias_.to(at::kFloat) : at::Tensor();
  return at::linear(x.to(at::kFloat), w, b).to(x.scalar_type());
}

void AqlmLinear::set_dense_weight(const at::Tensor&) { throw std::logic_error(kMergeRefused); }

}  // namespace oft::aqlm
