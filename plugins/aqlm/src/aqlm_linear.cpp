#include "aqlm_linear.h"

#include <stdexcept>
#include <utility>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "aqlm_codes.h"
#include "aqlm_codeword_product.h"
#include "aqlm_cuda_ops.h"
#include "aqlm_dequant_operators.h"
#include "aqlm_dequant_rows.h"
#include "oft/sdk/recomputed_weight_linear.h"
#include "oft/sdk/tensor_checks.h"
#include "oft/sdk/tiled_dequantized_linear.h"
#include "oft/sdk/transient_weight_buffer.h"

namespace oft::aqlm {
namespace {

// Output groups per parallel task of the whole dequantization.
constexpr int64_t kGroupsPerTask = 16;

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
  for (auto [tensor, name] : {std::pair{&t.codes, "codes"}, {&t.scales, "scales"}, {&t.bias, "bias"}})
    if (tensor->defined() && tensor->device() != t.codebooks.device())
      throw std::invalid_argument(std::string("aqlm: tensor \"") + name + "\" is on " + tensor->device().str() +
                                  ", the codebooks on " + t.codebooks.device().str());
  const auto expected_codes = code_dtype(config.nbits_per_codebook);
  if (t.codes.scalar_type() != expected_codes)
    throw std::invalid_argument(std::string("aqlm: tensor \"codes\" has dtype ") +
                                c10::toString(t.codes.scalar_type()) + ", expected " + c10::toString(expected_codes) +
                                " for " + std::to_string(config.nbits_per_codebook) + "-bit codebooks");
  sdk::expect_shape("aqlm", t.codes, "codes", {n / og, k / ig, c});
  expect_float(t.codebooks, "codebooks");
  sdk::expect_shape("aqlm", t.codebooks, "codebooks", {c, config.codebook_size(), og, ig});
  expect_float(t.scales, "scales");
  if (t.scales.dim() == 1) t.scales = t.scales.reshape({-1, 1, 1, 1});
  sdk::expect_shape("aqlm", t.scales, "scales", {n / og, 1, 1, 1});
  if (shape.bias && !t.bias.defined())
    throw std::invalid_argument("aqlm: tensor \"bias\" is missing (the layer has a bias)");
  if (!shape.bias && t.bias.defined())
    throw std::invalid_argument("aqlm: tensor \"bias\" is present but the layer has no bias");
  if (t.bias.defined()) {
    expect_float(t.bias, "bias");
    sdk::expect_shape("aqlm", t.bias, "bias", {n});
  }

  codes_ = register_buffer("codes", t.codes);
  codebooks_ = register_buffer("codebooks", t.codebooks);
  scales_ = register_buffer("scales", t.scales);
  if (t.bias.defined()) bias_ = register_buffer("bias", t.bias);
}

at::Tensor AqlmLinear::unpacked_codes() const { return unpack_codes(codes_, config_.nbits_per_codebook); }

at::Tensor AqlmLinear::dequantize_float() const {
  const at::Tensor codes = codes_.contiguous(), books = codebooks_.to(at::kFloat).contiguous();
  const at::Tensor scales = scales_.to(at::kFloat).contiguous();
  const CodebookWeights w =
      codebook_weights(codes, config_.nbits_per_codebook, books, scales, codebooks_.scalar_type());
  at::Tensor out = sdk::weight_buffer({out_features_, in_features_}, at::kFloat);
  float* o = out.mutable_data_ptr<float>();
  const int64_t og = config_.out_group_size;
  // Workers touch only raw memory (no ATen calls), so they need none of the caller's thread-local state.
  at::parallel_for(0, out_features_ / og, kGroupsPerTask, [&](int64_t begin, int64_t end) {
    dequantize_groups_into(w, begin, end - begin, o + begin * og * in_features_);
  });
  return out;
}

at::Tensor AqlmLinear::dequantize() const {
  // CUDA: the companion's kernel reads the stored codes, codebooks and scales once and writes W in the codebooks'
  // dtype (the operators' values, in one launch instead of a lookup and an add per codebook, the roundings and their
  // temporaries).
  if (codebooks_.is_cuda() && cuda_ops_built())
    return cuda_ops().dequantize(codes_, config_.nbits_per_codebook, codebooks_, scales_);
  if (!codebooks_.device().is_cpu())
    return dequantize_by_operators(codes_, config_.nbits_per_codebook, codebooks_, scales_);
  return dequantize_float().to(codebooks_.scalar_type());
}

void AqlmLinear::set_cache_dequantized(bool enabled) { weight_cache_.set_enabled(enabled); }

at::Tensor AqlmLinear::compute_weight() {
  return weight_cache_.get({&codes_, &codebooks_, &scales_},
                           [&] { return codebooks_.device().is_cpu() ? dequantize_float() : dequantize(); });
}

at::Tensor AqlmLinear::tiled_forward(const at::Tensor& x) const {
  const at::Tensor codes = codes_.contiguous(), books = codebooks_.to(at::kFloat).contiguous();
  const at::Tensor scales = scales_.to(at::kFloat).contiguous();
  const CodebookWeights w =
      codebook_weights(codes, config_.nbits_per_codebook, books, scales, codebooks_.scalar_type());
  const int64_t og = config_.out_group_size;
  // Tiles of whole output groups: a code covers og outputs.
  return sdk::tiled_dequantized_linear(x, bias_, out_features_, at::kFloat, sdk::TileLayout::kOutByIn, og,
                                       [&](int64_t first, int64_t count, const at::Tensor& tile) {
                                         dequantize_groups_into(w, first / og, count / og,
                                                                tile.mutable_data_ptr<float>());
                                       });
}

at::Tensor AqlmLinear::codeword_forward(const at::Tensor& x) const {
  const at::Tensor x2d = x.reshape({-1, in_features_}).to(at::kFloat).contiguous();
  const at::Tensor y =
      codeword_product(x2d, codes_, config_.nbits_per_codebook, codebooks_, scales_.to(at::kFloat).reshape(-1));
  return sdk::few_token_result(y, x, bias_);
}

at::Tensor AqlmLinear::forward(const at::Tensor& x) {
  if (x.size(-1) != in_features_)
    throw std::invalid_argument("aqlm: input has " + std::to_string(x.size(-1)) + " features, the layer expects " +
                                std::to_string(in_features_));
  if (x.device() != device())
    throw std::invalid_argument("aqlm: input is on " + x.device().str() + ", the layer's tensors on " + device().str());
  const bool on_cpu = device().is_cpu();
  if (on_cpu && !weight_cache_.enabled() && sdk::tiled_linear_applies(x, bias_)) {
    const int64_t tokens = x.numel() / in_features_;
    return codeword_product_applies(tokens, config_.num_codebooks) ? codeword_forward(x) : tiled_forward(x);
  }
  // compute_weight()'s dtype: fp32 on the CPU, the codebooks' elsewhere.
  const at::ScalarType dtype = on_cpu ? at::kFloat : codebooks_.scalar_type();
  const at::Tensor b = bias_.defined() ? bias_.to(dtype) : at::Tensor();
  return sdk::linear_recomputing_weight(x.to(dtype), b, *this, [this] { return compute_weight(); }).to(x.scalar_type());
}

void AqlmLinear::set_dense_weight(const at::Tensor&) { throw std::logic_error(kMergeRefused); }

}  // namespace oft::aqlm
