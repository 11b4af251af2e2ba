#pragma once
// LLM.int8 as bitsandbytes computes it on CPU (backends/default/ops.py, autograd/_functions.py): row-wise
// absmax int8 quantization of weights and activations, the int8 matmul with its dequantization, and the
// fp16 outlier decomposition when a threshold is set.
#include <ATen/core/Tensor.h>

namespace torch::nn {
class Module;
}

namespace oft::bnb {

// Int8Params' quantization, computed on the CPU (results on the CPU): weight cast to fp16; SCB[n] = max_k |W[n,k]|
// (float32); CB = round(W * (127 / SCB)) as int8.
struct Int8Weight {
  at::Tensor cb;   // int8 (out, in)
  at::Tensor scb;  // float32 (out)
};
Int8Weight quantize_int8(const at::Tensor& weight);

// int8_vectorwise_dequant: float32(CB) * SCB * (1/127), float32 (what PEFT merges through); on CB's device.
at::Tensor dequantize_int8(const at::Tensor& cb, const at::Tensor& scb);

// Eval forward (MatMul8bitLt): activations quantized row-wise in fp16; with threshold > 0, input columns
// holding any |a| >= threshold bypass int8 and multiply the dequantized weight columns in x's dtype.
// The int32 products are exact (bnb's CPU fallback sums in fp32, exact for in_features <= 1040).
at::Tensor int8_forward(const at::Tensor& x, const at::Tensor& cb, const at::Tensor& scb, const at::Tensor& bias,
                        double threshold);

// Training forward on CPU (MatMul8bitFp): x . (CB * SCB/127)^T + bias in x's dtype; differentiable in x, with
// the weight dequantized again for the backward (sdk::linear_recomputing_weight; owner: the layer).
at::Tensor dequantized_forward(const at::Tensor& x, const at::Tensor& cb, const at::Tensor& scb, const at::Tensor& bias,
                               const torch::nn::Module& owner);

}  // namespace oft::bnb
