#pragma once
// bitsandbytes' Linear8bitLt (LLM.int8) as an oft layer: the int8 weight and its row statistics as
// bitsandbytes stores them, the CPU forward of bitsandbytes, and merging by requantization. `to(cuda)` keeps
// the int8 weight; on CUDA the forward is dequantize (kernel) + GEMM in the input's dtype.
#include <memory>

#include "oft/sdk/linear_format.h"

namespace oft::bnb {

inline constexpr const char* kFormat8bit = "bnb_8bit";

class Linear8bitLt : public sdk::LinearModule {
 public:
  // cb: int8 (out, in); scb: float32 (out); bias: (out) or undefined. Checked; errors name the tensor.
  Linear8bitLt(const at::Tensor& cb, const at::Tensor& scb, const at::Tensor& bias, double threshold);
  // Quantizes a float weight (out, in) as Int8Params does (through fp16).
  static std::shared_ptr<Linear8bitLt> from_float(const at::Tensor& weight, const at::Tensor& bias, double threshold);

  std::string format() const override { return kFormat8bit; }
  std::string type_name() const override { return "Linear8bitLt"; }
  int64_t in_features() const override { return weight_.size(1); }
  int64_t out_features() const override { return weight_.size(0); }
  // Activations are quantized from fp16; the output has the input's dtype.
  c10::ScalarType compute_dtype() const override { return at::kHalf; }
  c10::Device device() const override { return weight_.device(); }

  // Training mode: dequantized matmul (bnb's CPU training path). Eval: the int8 path; when x needs a
  // gradient, the gradient is the one bnb's backward gives (through the dequantized weight).
  at::Tensor forward(const at::Tensor& x) override;

  sdk::MergePolicy merge_policy() const override;
  at::Tensor dense_weight() override;                        // float32 (out, in)
  void set_dense_weight(const at::Tensor& weight) override;  // requantized, same threshold

  const at::Tensor& weight() const { return weight_; }  // CB
  const at::Tensor& scb() const { return scb_; }
  const at::Tensor& bias() const { return bias_; }
  double threshold() const { return threshold_; }

 private:
  at::Tensor weight_, scb_, bias_;
  double threshold_;
};

}  // namespace oft::bnb
