#pragma once
// HQQ's dequantization in LibTorch operators, computed on the tensors' device: the layer's path off the CPU, where
// the CPU kernels (hqq_dequant_cpu.h, the tiled and code row products) do not run. The steps are hqq's own tensor
// arithmetic (unpack to the compute dtype, (codes - zero) * scale, each step in LibTorch's promoted dtype), and each
// operator computes in fp32 and rounds once, as the CPU kernels' steps do: on CPU tensors the same bits as them.
#include <ATen/core/Tensor.h>

#include "hqq_state.h"

namespace oft::hqq {

// W (out, in) = (codes - zero) * scale in hqq's product dtype (step_dtypes(compute dtype, zero, scale).product), on
// packed's device. packed: W_q in the packing's integer dtype (not viewed as float); zero and scale as the layer
// holds them (per group along meta.settings.axis, or 0-d without channel_wise), on packed's device.
at::Tensor dequantize_by_operators(const at::Tensor& packed, const HqqMeta& meta, const at::Tensor& zero,
                                   const at::Tensor& scale);

}  // namespace oft::hqq
