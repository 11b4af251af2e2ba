#pragma once
// One HQQLinear as its state_dict() stores it (hqq 0.2.8, encoded for safetensors): W_q (packed codes,
// or their bytes viewed as the compute dtype when view_as_float), scale and zero (compute dtype), bias,
// and the meta data as small tensors: ints as int32 0-d (nbits 1.58 as float32), bools as uint8 0-d,
// the shape as int64 (2), strings and dtypes ("torch.float16") as uint8 character codes.
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "hqq_config.h"
#include "oft/sdk/linear_format.h"

namespace oft::hqq {

struct HqqMeta {
  HqqSettings settings;
  std::string packing;
  int64_t out_features = 0, in_features = 0;
  // The code matrix hqq quantizes: (M / group_size, group_size) for axis 1, (group_size, M / group_size)
  // for axis 0, the weight itself without channel_wise.
  int64_t rows = 0, cols = 0;
  at::ScalarType compute_dtype = at::kHalf;

  // The scale/zero shape: one per group along the code matrix's `axis`.
  std::vector<int64_t> group_stat_shape() const;
};

// The code matrix's shape for a weight of out x in with these settings; throws when the group size does
// not divide the weight.
HqqMeta make_meta(const HqqSettings& settings, int64_t out_features, int64_t in_features, at::ScalarType compute_dtype);

struct HqqState {
  HqqMeta meta;
  at::Tensor W_q;    // as stored (a float view when view_as_float)
  at::Tensor scale;  // compute dtype
  at::Tensor zero;   // compute dtype
  at::Tensor bias;   // compute dtype; undefined when none
};

// Reads and checks a checkpoint's tensors for a layer of `shape` into copies the state owns
// (std::invalid_argument naming the tensor and what was expected). W_q, scale, zero and bias may be on any device,
// all on the same one, where the copies stay; the meta data tensors are read wherever they are.
HqqState decode_state(const sdk::TensorMap& tensors, const sdk::LinearShape& shape);
// The tensors HQQLinear.state_dict() writes for `state`.
sdk::TensorMap encode_state(const HqqState& state);

// The name torch gives a dtype ("torch.float16"), and back (std::invalid_argument for others).
std::string torch_dtype_name(at::ScalarType dtype);
at::ScalarType dtype_from_torch_name(const std::string& name, const std::string& tensor);

}  // namespace oft::hqq
