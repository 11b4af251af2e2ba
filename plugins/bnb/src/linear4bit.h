#pragma once
// bitsandbytes' Linear4bit (NF4 / FP4, optional nested absmax) as an oft layer. It keeps the quant state as
// bitsandbytes serializes it and computes like bnb's CPU path: the weight dequantized to the compute dtype
// (bnb_4bit_compute_dtype, default float32), a dense matmul, the result cast back to the input's dtype.
// `to(cuda)` moves the packed tensors as they are; on CUDA, up to 16 tokens that need no input gradient take
// a fused dequantize-GEMV kernel (in the compute dtype, fp32 accumulation), more take dequantize + GEMM.
#include <memory>

#include "blockwise.h"
#include "oft/sdk/linear_format.h"

namespace oft::bnb {

inline constexpr const char* kFormat4bit = "bnb_4bit";

struct FourBitState {
  QuantType quant_type = QuantType::FP4;
  int64_t blocksize = 64;
  c10::ScalarType dtype = at::kFloat;         // the source weight's dtype (dense_weight() returns it)
  c10::ScalarType quant_storage = at::kByte;  // the dtype the packed bytes are saved as
  c10::ScalarType compute_dtype = at::kFloat;
  bool nested = false;
  float nested_offset = 0.0f;
};

class Linear4bit : public sdk::LinearModule {
 public:
  // packed: uint8 [ceil(out*in/2), 1]; absmax: float32 [nblocks] (uint8 codes when nested, with
  // nested_absmax and nested_quant_map). Sizes are checked; errors name the tensor.
  Linear4bit(int64_t out_features, int64_t in_features, const FourBitState& state, const at::Tensor& packed,
             const at::Tensor& absmax, const at::Tensor& nested_absmax, const at::Tensor& nested_quant_map,
             const at::Tensor& bias);
  // Quantizes a float weight (out, in) as Params4bit does; `state.dtype` is taken from the weight.
  static std::shared_ptr<Linear4bit> from_float(const at::Tensor& weight, const at::Tensor& bias, FourBitState state);

  std::string format() const override { return kFormat4bit; }
  std::string type_name() const override { return "Linear4bit"; }
  int64_t in_features() const override { return in_features_; }
  int64_t out_features() const override { return out_features_; }
  c10::ScalarType compute_dtype() const override { return state_.compute_dtype; }
  c10::Device device() const override { return weight_.device(); }

  at::Tensor forward(const at::Tensor& x) override;

  sdk::MergePolicy merge_policy() const override;
  at::Tensor dense_weight() override;                        // (out, in) in the source dtype, as PEFT dequantizes
  void set_dense_weight(const at::Tensor& weight) override;  // requantized with the same settings

  const FourBitState& state() const { return state_; }
  const at::Tensor& packed() const { return weight_; }  // uint8 [ceil(n/2), 1]
  const at::Tensor& absmax() const { return absmax_; }
  const at::Tensor& nested_absmax() const { return nested_absmax_; }
  const at::Tensor& nested_quant_map() const { return nested_quant_map_; }
  const at::Tensor& bias() const { return bias_; }
  at::Tensor absmax_float() const;  // per-block absmax, nested codes decoded

 private:
  void store(const Packed4bit& packed);

  int64_t out_features_, in_features_;
  FourBitState state_;
  at::Tensor weight_, absmax_, quant_map_, nested_absmax_, nested_quant_map_, bias_;
};

}  // namespace oft::bnb
