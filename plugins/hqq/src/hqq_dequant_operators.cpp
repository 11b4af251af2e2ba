#include "hqq_dequant_operators.h"

#include <ATen/ATen.h>

#include "hqq_dequant_cpu.h"
#include "hqq_packing.h"

namespace oft::hqq {

at::Tensor dequantize_by_operators(const at::Tensor& packed, const HqqMeta& meta, const at::Tensor& zero,
                                   const at::Tensor& scale) {
  const StepDtypes dtypes = step_dtypes(meta.compute_dtype, zero, scale);
  // The codes (small integers, exact in every step dtype) straight in the difference's dtype; 3-bit padding dropped.
  at::Tensor w = unpack(packed, meta.packing, dtypes.difference).slice(0, 0, meta.rows);
  // Both dtypes are promotions of zero's and scale's, so their conversions below are exact; each in-place step
  // computes in fp32 and rounds once to its dtype, as hqq's W_q - zero and * scale do.
  w.sub_(zero.to(dtypes.difference));
  w = w.to(dtypes.product).mul_(scale.to(dtypes.product));
  return w.reshape({meta.out_features, meta.in_features});
}

}  // namespace oft::hqq
