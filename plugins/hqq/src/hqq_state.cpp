#include "hqq_state.h"

#include <cmath>
#include <stdexcept>

#include <ATen/ATen.h>

#include "hqq_packing.h"
#include "oft/sdk/tensor_checks.h"

namespace oft::hqq {
namespace {

[[noreturn]] void bad(const std::string& tensor, const std::string& what) {
  throw std::invalid_argument("hqq: tensor \"" + tensor + "\" " + what);
}

const at::Tensor& required(const sdk::TensorMap& tensors, const std::string& name) {
  auto it = tensors.find(name);
  if (it == tensors.end() || !it->second.defined()) bad(name, "is missing");
  return it->second;
}

const at::Tensor* optional(const sdk::TensorMap& tensors, const std::string& name) {
  auto it = tensors.find(name);
  if (it == tensors.end() || !it->second.defined()) return nullptr;
  return &it->second;
}

at::Tensor scalar(const at::Tensor& t, const std::string& name) {
  if (t.numel() != 1) bad(name, "has shape " + sdk::shape_text(t.sizes()) + ", expected one value");
  return t.reshape({});
}

int64_t read_int(const at::Tensor& t, const std::string& name) {
  if (at::isFloatingType(t.scalar_type()) || t.scalar_type() == at::kBool)
    bad(name, "has dtype " + std::string(c10::toString(t.scalar_type())) + ", expected an integer (int32)");
  return scalar(t, name).item<int64_t>();
}

bool read_bool(const sdk::TensorMap& tensors, const std::string& name, bool fallback) {
  const at::Tensor* t = optional(tensors, name);
  if (t == nullptr) return fallback;
  const int64_t v = read_int(*t, name);
  if (v != 0 && v != 1) bad(name, "holds " + std::to_string(v) + ", expected 0 or 1");
  return v == 1;
}

std::string read_string(const at::Tensor& t, const std::string& name) {
  if (t.scalar_type() != at::kByte || t.dim() != 1)
    bad(name, "has dtype " + std::string(c10::toString(t.scalar_type())) + " and shape " + sdk::shape_text(t.sizes()) +
                  ", expected uint8 character codes (1-D)");
  at::Tensor c = t.to(at::kCPU).contiguous();  // a few characters, read once
  return std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), static_cast<size_t>(c.numel()));
}

at::Tensor encode_string(const std::string& text) {
  at::Tensor t = at::empty({static_cast<int64_t>(text.size())}, at::kByte);
  for (size_t i = 0; i < text.size(); ++i) t[static_cast<int64_t>(i)] = static_cast<uint8_t>(text[i]);
  return t;
}

at::Tensor encode_int(int64_t v) { return at::scalar_tensor(v, at::kInt); }
at::Tensor encode_bool(bool v) { return at::scalar_tensor(v ? 1 : 0, at::kByte); }

at::Tensor float_tensor(const at::Tensor& t, const std::string& name, at::ScalarType dtype,
                        const std::vector<int64_t>& expected) {
  if (!at::isFloatingType(t.scalar_type()))
    bad(name, "has dtype " + std::string(c10::toString(t.scalar_type())) + ", expected a floating dtype");
  if (t.sizes() != at::IntArrayRef(expected))
    bad(name, "has shape " + sdk::shape_text(t.sizes()) + ", expected " + sdk::shape_text(expected));
  // hqq moves floating meta data to the compute dtype. A copy: merging rewrites the layer's tensors in
  // place, which must not reach the caller's.
  return t.to(dtype).contiguous().clone();
}

}  // namespace

std::string torch_dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kHalf: return "torch.float16";
    case at::kBFloat16: return "torch.bfloat16";
    case at::kFloat: return "torch.float32";
    case at::kByte: return "torch.uint8";
    case at::kInt: return "torch.int32";
    default: throw std::invalid_argument("hqq: no hqq name for dtype " + std::string(c10::toString(dtype)));
  }
}

at::ScalarType dtype_from_torch_name(const std::string& name, const std::string& tensor) {
  for (at::ScalarType t : {at::kHalf, at::kBFloat16, at::kFloat, at::kByte, at::kInt})
    if (torch_dtype_name(t) == name) return t;
  bad(tensor, "names dtype \"" + name +
                  "\", expected torch.float16, torch.bfloat16, torch.float32, torch.uint8 or "
                  "torch.int32");
}

std::vector<int64_t> HqqMeta::group_stat_shape() const {
  if (!settings.channel_wise) return {};
  return settings.axis == 1 ? std::vector<int64_t>{rows, 1} : std::vector<int64_t>{1, cols};
}

HqqMeta make_meta(const HqqSettings& settings, int64_t out_features, int64_t in_features,
                  at::ScalarType compute_dtype) {
  settings.validate();
  if (compute_dtype != at::kHalf && compute_dtype != at::kBFloat16 && compute_dtype != at::kFloat)
    throw std::invalid_argument("hqq: compute dtype " + std::string(c10::toString(compute_dtype)) +
                                ", expected float16, bfloat16 or float32");
  HqqMeta meta;
  meta.settings = settings;
  meta.packing = packing_for_nbits(settings.nbits);
  meta.out_features = out_features;
  meta.in_features = in_features;
  meta.compute_dtype = compute_dtype;
  const int64_t numel = out_features * in_features, gs = settings.group_size;
  if (!settings.channel_wise) {
    meta.rows = out_features;
  } else {
    if (numel % gs != 0)
      throw std::invalid_argument("hqq: group_size " + std::to_string(gs) + " does not divide the " +
                                  std::to_string(out_features) + " x " + std::to_string(in_features) + " weight");
    meta.rows = settings.axis == 1 ? numel / gs : gs;
  }
  meta.cols = numel / meta.rows;
  packed_rows(meta.packing, meta.rows);  // throws when the rows do not split into the packing's planes
  const int64_t row_bytes = meta.cols * static_cast<int64_t>(c10::elementSize(packed_dtype(meta.packing)));
  if (settings.view_as_float && row_bytes % static_cast<int64_t>(c10::elementSize(compute_dtype)) != 0)
    throw std::invalid_argument("hqq: view_as_float needs packed rows of whole " +
                                std::string(c10::toString(compute_dtype)) + " values; a row has " +
                                std::to_string(row_bytes) + " bytes");
  return meta;
}

HqqState decode_state(const sdk::TensorMap& tensors, const sdk::LinearShape& shape) {
  for (const char* unsupported : {"zero_scale", "zero_q", "scale_q", "meta_zero", "meta_scale"})
    if (tensors.count(unsupported)) bad(unsupported, "is present: quantized or offloaded meta data is not supported");
  if (read_bool(tensors, "quant_scale", false) || read_bool(tensors, "quant_zero", false))
    bad("quant_scale", "or \"quant_zero\" is set: quantized scale/zero (deprecated in hqq) are not supported");
  if (read_bool(tensors, "offload_meta", false))
    bad("offload_meta", "is set: offloaded meta data (deprecated in hqq) is not supported");

  HqqSettings s;
  const at::Tensor& nbits = required(tensors, "nbits");
  s.nbits = at::isFloatingType(nbits.scalar_type()) ? scalar(nbits, "nbits").item<double>()
                                                    : static_cast<double>(read_int(nbits, "nbits"));
  if (!is_supported_nbits(s.nbits))
    bad("nbits", "holds " + std::to_string(s.nbits) + ", expected one of 8, 6, 5, 4, 3, 2, 1.58, 1");
  if (std::abs(s.nbits - 1.58) < 1e-6) s.nbits = 1.58;  // float32 1.58 is 1.5800000429...
  s.group_size = read_int(required(tensors, "group_size"), "group_size");
  s.axis = static_cast<int>(read_int(required(tensors, "axis"), "axis"));
  s.view_as_float = read_bool(tensors, "view_as_float", false);
  s.channel_wise = read_bool(tensors, "channel_wise", true);
  s.optimize = read_bool(tensors, "optimize", true);
  s.round_zero = read_bool(tensors, "round_zero", s.nbits == 4);
  if (s.group_size <= 0 || s.group_size % 8 != 0)
    bad("group_size", "holds " + std::to_string(s.group_size) + ", expected a positive multiple of 8");
  if (s.axis != 0 && s.axis != 1) bad("axis", "holds " + std::to_string(s.axis) + ", expected 0 or 1");

  const at::Tensor& dims = required(tensors, "shape");
  if (dims.dim() != 1 || dims.numel() != 2 || at::isFloatingType(dims.scalar_type()))
    bad("shape", "has shape " + sdk::shape_text(dims.sizes()) + ", expected two integers (out, in)");
  const int64_t out = dims[0].item<int64_t>(), in = dims[1].item<int64_t>();
  if (out != shape.out_features || in != shape.in_features)
    bad("shape", "is (" + std::to_string(out) + ", " + std::to_string(in) + "), but the layer is (" +
                     std::to_string(shape.out_features) + ", " + std::to_string(shape.in_features) + ")");

  const at::Tensor& scale = required(tensors, "scale");
  const at::Tensor* dtype_name = optional(tensors, "compute_dtype");
  const at::ScalarType compute_dtype =
      dtype_name ? dtype_from_torch_name(read_string(*dtype_name, "compute_dtype"), "compute_dtype")
                 : scale.scalar_type();
  HqqState state;
  try {
    state.meta = make_meta(s, out, in, compute_dtype);
  } catch (const std::invalid_argument& e) {
    bad("group_size", std::string("does not fit the layer: ") + e.what());
  }
  const HqqMeta& m = state.meta;

  const std::string packing = read_string(required(tensors, "packing"), "packing");
  if (!is_known_packing(packing))
    bad("packing", "is \"" + packing + "\", expected 8bit_u8, 4bit_u8, 3bit_32, 2bit_u8 or 1bit_u8");
  if (packing != m.packing)
    bad("packing",
        "is \"" + packing + "\", but nbits " + std::to_string(s.nbits) + " is packed as \"" + m.packing + "\"");
  const at::ScalarType view_dtype = packed_dtype(packing);
  if (const at::Tensor* t = optional(tensors, "unpack_view_dtype")) {
    const std::string name = read_string(*t, "unpack_view_dtype");
    if (dtype_from_torch_name(name, "unpack_view_dtype") != view_dtype)
      bad("unpack_view_dtype",
          "is \"" + name + "\", expected \"" + torch_dtype_name(view_dtype) + "\" for packing \"" + packing + "\"");
  }

  at::Tensor w_q = required(tensors, "W_q");
  at::Tensor codes_view = w_q;
  if (s.view_as_float) {
    if (!at::isFloatingType(w_q.scalar_type()))
      bad("W_q", "has dtype " + std::string(c10::toString(w_q.scalar_type())) +
                     ", expected a floating view of the packed codes (view_as_float)");
    if (w_q.dim() != 2) bad("W_q", "has shape " + sdk::shape_text(w_q.sizes()) + ", expected 2 dimensions");
    codes_view = w_q.contiguous().view(view_dtype);
  } else if (w_q.scalar_type() != view_dtype) {
    bad("W_q", "has dtype " + std::string(c10::toString(w_q.scalar_type())) + ", expected " +
                   c10::toString(view_dtype) + " for packing \"" + packing + "\"");
  }
  const std::vector<int64_t> packed_shape{packed_rows(packing, m.rows), m.cols};
  if (codes_view.sizes() != at::IntArrayRef(packed_shape))
    bad("W_q", "holds packed codes of shape " + sdk::shape_text(codes_view.sizes()) + ", expected " +
                   sdk::shape_text(packed_shape));
  // The layer computes where W_q is.
  for (const char* name : {"scale", "zero", "bias"})
    if (const at::Tensor* t = optional(tensors, name); t != nullptr && t->device() != w_q.device())
      bad(name, "is on " + t->device().str() + ", but \"W_q\" on " + w_q.device().str());
  state.W_q = w_q.contiguous().clone();
  state.scale = float_tensor(scale, "scale", compute_dtype, m.group_stat_shape());
  state.zero = float_tensor(required(tensors, "zero"), "zero", compute_dtype, m.group_stat_shape());

  const at::Tensor* bias = optional(tensors, "bias");
  if (shape.bias && bias == nullptr) bad("bias", "is missing (the layer has a bias)");
  if (!shape.bias && bias != nullptr) bad("bias", "is present but the layer has no bias");
  if (bias != nullptr) state.bias = float_tensor(*bias, "bias", compute_dtype, {out});
  return state;
}

sdk::TensorMap encode_state(const HqqState& state) {
  const HqqMeta& m = state.meta;
  const HqqSettings& s = m.settings;
  sdk::TensorMap t;
  t["W_q"] = state.W_q;
  t["scale"] = state.scale;
  t["zero"] = state.zero;
  if (state.bias.defined()) t["bias"] = state.bias;
  // hqq encodes a Python float nbits (1.58) as float32, an int as int32.
  t["nbits"] = s.nbits == std::floor(s.nbits) ? encode_int(static_cast<int64_t>(s.nbits))
                                              : at::scalar_tensor(s.nbits, at::kFloat);
  t["group_size"] = encode_int(s.group_size);
  t["shape"] = at::tensor(std::vector<int64_t>{m.out_features, m.in_features}, at::kLong);
  t["axis"] = encode_int(s.axis);
  t["packing"] = encode_string(m.packing);
  t["unpack_view_dtype"] = encode_string(torch_dtype_name(packed_dtype(m.packing)));
  t["view_as_float"] = encode_bool(s.view_as_float);
  t["quant_scale"] = encode_bool(false);
  t["quant_zero"] = encode_bool(false);
  t["compute_dtype"] = encode_string(torch_dtype_name(m.compute_dtype));
  t["offload_meta"] = encode_bool(false);
  t["encoded_state_dict"] = encode_bool(true);
  t["stores_quant_config"] = encode_bool(true);
  t["channel_wise"] = encode_bool(s.channel_wise);
  t["optimize"] = encode_bool(s.optimize);
  t["round_zero"] = encode_bool(s.round_zero);
  return t;
}

}  // namespace oft::hqq
