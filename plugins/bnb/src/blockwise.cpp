#include "blockwise.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <ATen/ops/abs.h>
#include <ATen/ops/add.h>
#include <ATen/ops/amax.h>
#include <ATen/ops/bucketize.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/clamp.h>
#include <ATen/ops/clamp_min.h>
#include <ATen/ops/div.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/mean.h>
#include <ATen/ops/mul.h>
#include <ATen/ops/pad.h>
#include <ATen/ops/reciprocal.h>
#include <ATen/ops/sub.h>
#include <ATen/ops/tensor.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "codes.h"
#include "cuda_ops.h"
#include "decode_4bit_8_lanes.h"
#include "dequant_math.h"
#include "oft/sdk/transient_weight_buffer.h"

namespace oft::bnb {
namespace {

struct Scaled {
  at::Tensor values;  // float32 [n], each in [-1, 1]
  at::Tensor absmax;  // float32 [nblocks]
};

// bitsandbytes' reference kernels (backends/default/ops.py): full blocks are multiplied by the reciprocal of
// their absmax, the trailing partial block is divided by its absmax; a zero absmax only guards the division
// (full blocks store 0, a partial block stores the guard 1e-38).
Scaled scale_blocks(const at::Tensor& flat, int64_t blocksize) {
  const int64_t n = flat.numel();
  const int64_t rem = n % blocksize;
  const int64_t full = n - rem;
  std::vector<at::Tensor> values, absmax;
  if (full > 0) {
    const at::Tensor blocks = flat.slice(0, 0, full).view({full / blocksize, blocksize});
    const at::Tensor am = at::amax(at::abs(blocks), {1});
    const at::Tensor inv = at::mul(at::reciprocal(at::clamp_min(am, 1e-38)), 1.0);
    values.push_back(at::clamp(at::mul(blocks, inv.view({-1, 1})), -1, 1).reshape({-1}));
    absmax.push_back(am);
  }
  if (rem > 0) {
    const at::Tensor tail = flat.slice(0, full);
    const at::Tensor am = at::clamp_min(at::amax(at::abs(tail)), 1e-38);
    values.push_back(at::clamp(at::div(tail, am), -1, 1));
    absmax.push_back(am.view({1}));
  }
  return {at::cat(values), at::cat(absmax)};
}

// The sorted table, its midpoints, and for each sorted position the code it stands for.
struct Nearest {
  at::Tensor bounds;
  std::vector<int64_t> code_of;
};

Nearest nearest_of(const std::vector<float>& table) {
  std::vector<int64_t> order(table.size());
  std::iota(order.begin(), order.end(), 0);
  // FP4 has zero twice (codes 0 and 8): equal values keep code order, as torch.argsort does on 16 values.
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return table[a] < table[b]; });
  std::vector<float> sorted(order.size());
  for (size_t i = 0; i < order.size(); ++i) sorted[i] = table[order[i]];
  const at::Tensor s = at::tensor(sorted, at::kFloat);
  return {at::div(at::add(s.slice(0, 0, -1), s.slice(0, 1)), 2), order};
}

// The loops here read memory directly; CUDA tensors go to the companion library's kernels (cuda_ops.h).
bool on_cuda(const at::Tensor& first, const at::Tensor& second, const char* what) {
  check_device_supported(first, what);
  if (first.device() != second.device())
    throw std::invalid_argument(std::string(what) + ": tensors on " + first.device().str() + " and " +
                                second.device().str() + ", expected one device");
  return first.is_cuda();
}

void check_blocksize(int64_t blocksize, const std::string& what) {
  if (!is_valid_blocksize(blocksize))
    throw std::invalid_argument(what + ": blocksize " + std::to_string(blocksize) +
                                ", expected one of 32, 64, 128, 256, 512, 1024, 2048, 4096");
}

// Elements [first, stop) of the flattened weight into out[0, stop - first): table[code] * absmax[block] in
// float32, one rounding to T. A range may start or end inside a byte (a tile of rows when in_features is odd).
template <typename T>
void decode_range(const uint8_t* packed, const float* absmax, const float* table, int64_t blocksize, int64_t first,
                  int64_t stop, T* out) {
  // Both table values of each byte, looked up at once; a local copy, so the compiler knows that stores to
  // `out` leave it unchanged.
  float pairs[256][2];
  for (uint32_t byte = 0; byte < 256; ++byte) {
    pairs[byte][0] = table[math::high_code(byte)];
    pairs[byte][1] = table[math::low_code(byte)];
  }
  const bool in_8_lanes = decode_4bit_in_8_lanes_available();
  for (int64_t block = first / blocksize; block * blocksize < stop; ++block) {
    const float scale = absmax[block];
    const int64_t block_stop = std::min(stop, (block + 1) * blocksize);
    int64_t e = std::max(first, block * blocksize);
    if ((e & 1) && e < block_stop) {
      out[e - first] = static_cast<T>(math::dequantize_4bit_value(table[math::code_at(packed, e)], scale));
      ++e;
    }
    if (const int64_t bytes = (block_stop - e) / 2 / 8 * 8; in_8_lanes && bytes > 0) {  // whole bytes, 8 at a time
      float weights[16];
      for (int code = 0; code < 16; ++code)
        weights[code] = static_cast<float>(static_cast<T>(math::dequantize_4bit_value(table[code], scale)));
      decode_4bit_in_8_lanes(packed + (e >> 1), bytes, weights, out + (e - first));
      e += 2 * bytes;
    }
    for (; e + 1 < block_stop; e += 2) {  // whole bytes
      const float* pair = pairs[packed[e >> 1]];
      out[e - first] = static_cast<T>(math::dequantize_4bit_value(pair[0], scale));
      out[e - first + 1] = static_cast<T>(math::dequantize_4bit_value(pair[1], scale));
    }
    if (e < block_stop)
      out[e - first] = static_cast<T>(math::dequantize_4bit_value(table[math::code_at(packed, e)], scale));
  }
}

// decode_range into `out` (float32, float16 or bfloat16), which holds elements [first, stop).
void decode_range_into(const uint8_t* packed, const float* absmax, const float* table, int64_t blocksize, int64_t first,
                       int64_t stop, const at::Tensor& out, int64_t out_offset) {
  switch (out.scalar_type()) {
    case at::kFloat:
      return decode_range(packed, absmax, table, blocksize, first, stop, out.data_ptr<float>() + out_offset);
    case at::kHalf:
      return decode_range(packed, absmax, table, blocksize, first, stop, out.data_ptr<c10::Half>() + out_offset);
    case at::kBFloat16:
      return decode_range(packed, absmax, table, blocksize, first, stop, out.data_ptr<c10::BFloat16>() + out_offset);
    default:
      throw std::invalid_argument("bitsandbytes 4-bit dequantization: dtype must be float32, float16 or bfloat16");
  }
}

}  // namespace

Packed4bit quantize_4bit(const at::Tensor& weight, QuantType type, int64_t blocksize) {
  check_blocksize(blocksize, "bitsandbytes 4-bit quantization");
  // On the CPU wherever the weight is: the packing loop below reads memory directly.
  const at::Tensor flat = weight.detach().to(at::kCPU).reshape({-1}).to(at::kFloat).contiguous();
  if (flat.numel() == 0) throw std::invalid_argument("bitsandbytes 4-bit quantization: the weight is empty");
  if (!at::isfinite(flat).all().item<bool>())
    throw std::invalid_argument("bitsandbytes 4-bit quantization: the weight contains NaN or Inf");
  Scaled s = scale_blocks(flat, blocksize);
  at::Tensor values = s.values;
  if (values.numel() % 2) values = at::pad(values, {0, 1});  // a zero fills the last byte's low nibble
  static const Nearest nf4 = nearest_of({code_table(QuantType::NF4).begin(), code_table(QuantType::NF4).end()});
  static const Nearest fp4 = nearest_of({code_table(QuantType::FP4).begin(), code_table(QuantType::FP4).end()});
  const Nearest& nearest = type == QuantType::NF4 ? nf4 : fp4;
  const at::Tensor position = at::bucketize(values, nearest.bounds, /*out_int32=*/true).contiguous();
  const int64_t bytes = values.numel() / 2;
  at::Tensor packed = at::empty({bytes, 1}, at::kByte);
  const int32_t* p = position.data_ptr<int32_t>();
  uint8_t* out = packed.data_ptr<uint8_t>();
  at::parallel_for(0, bytes, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      out[i] = static_cast<uint8_t>(nearest.code_of[p[2 * i]] << 4 | nearest.code_of[p[2 * i + 1]]);
  });
  return {packed, s.absmax};
}

at::Tensor dequantize_4bit(const at::Tensor& packed, const at::Tensor& absmax, QuantType type, int64_t blocksize,
                           int64_t out_features, int64_t in_features, c10::ScalarType dtype) {
  check_blocksize(blocksize, "bitsandbytes 4-bit dequantization");
  if (on_cuda(packed, absmax, "bitsandbytes 4-bit dequantization"))
    return cuda_ops().dequantize_4bit(packed, absmax, type == QuantType::NF4, blocksize, out_features, in_features,
                                      dtype);
  const int64_t n = out_features * in_features;
  const at::Tensor bytes = packed.contiguous();
  const at::Tensor scales = absmax.to(at::kFloat).contiguous();
  const float* table = code_table(type).data();
  at::Tensor out = sdk::weight_buffer({out_features, in_features}, dtype);
  const uint8_t* src = bytes.data_ptr<uint8_t>();
  const float* am = scales.data_ptr<float>();
  at::parallel_for(0, (n + blocksize - 1) / blocksize, 16, [&](int64_t begin, int64_t end) {
    decode_range_into(src, am, table, blocksize, begin * blocksize, std::min(n, end * blocksize), out,
                      begin * blocksize);
  });
  return out;
}

void dequantize_4bit_rows(const at::Tensor& packed, const at::Tensor& absmax, QuantType type, int64_t blocksize,
                          int64_t in_features, int64_t first_row, const at::Tensor& tile) {
  if (!packed.device().is_cpu() || !packed.is_contiguous() || absmax.scalar_type() != at::kFloat ||
      !absmax.device().is_cpu() || !absmax.is_contiguous() || !tile.is_contiguous() || tile.dim() != 2 ||
      tile.size(1) != in_features)
    throw std::invalid_argument(
        "bitsandbytes 4-bit row dequantization: expected contiguous CPU codes, float32 "
        "absmax and a contiguous (rows, in_features) tile");
  const int64_t first = first_row * in_features;
  decode_range_into(packed.data_ptr<uint8_t>(), absmax.data_ptr<float>(), code_table(type).data(), blocksize, first,
                    first + tile.numel(), tile, 0);
}

NestedAbsmax quantize_absmax(const at::Tensor& absmax) {
  NestedAbsmax nested;
  const at::Tensor mean = at::mean(absmax);
  nested.offset = mean.item<float>();
  nested.quant_map = dynamic_map();
  Scaled s = scale_blocks(at::sub(absmax, mean).contiguous(), kNestedBlocksize);
  const at::Tensor bounds = at::div(at::add(nested.quant_map.slice(0, 0, -1), nested.quant_map.slice(0, 1)), 2);
  nested.codes = at::bucketize(s.values, bounds, /*out_int32=*/true).to(at::kByte);
  nested.nested_absmax = s.absmax;
  return nested;
}

at::Tensor dequantize_absmax(const at::Tensor& codes, const at::Tensor& nested_absmax, const at::Tensor& quant_map,
                             float offset) {
  if (on_cuda(codes, nested_absmax, "bitsandbytes nested absmax"))
    return cuda_ops().dequantize_absmax(codes, nested_absmax, quant_map, offset);
  const int64_t n = codes.numel();
  const at::Tensor c = codes.contiguous();
  const at::Tensor map = quant_map.to(at::kFloat).contiguous();
  const at::Tensor scales = nested_absmax.to(at::kFloat).contiguous();
  at::Tensor out = at::empty({n}, at::kFloat);
  const uint8_t* src = c.data_ptr<uint8_t>();
  const float* m = map.data_ptr<float>();
  const float* am = scales.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) dst[i] = math::nested_absmax_value(m[src[i]], am[i / kNestedBlocksize], offset);
  return out;
}

}  // namespace oft::bnb
