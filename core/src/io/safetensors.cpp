#include "oft/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "io/safetensors_bytes.h"
#include "oft/errors.h"
#include "oft/io/atomic_file.h"

namespace oft::safetensors {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the reference implementation's limit

struct DtypeName {
  const char* name;
  at::ScalarType type;
};
constexpr DtypeName kDtypes[] = {
    {"F64", at::kDouble},
    {"F32", at::kFloat},
    {"F16", at::kHalf},
    {"BF16", at::kBFloat16},
    {"I64", at::kLong},
    {"I32", at::kInt},
    {"I16", at::kShort},
    {"I8", at::kChar},
    {"U8", at::kByte},
    {"BOOL", at::kBool},
    {"U16", at::kUInt16},
    {"U32", at::kUInt32},
    {"U64", at::kUInt64},
    {"F8_E4M3", at::kFloat8_e4m3fn},
    {"F8_E5M2", at::kFloat8_e5m2},
};

at::ScalarType dtype_from_name(const std::string& name, const std::string& where) {
  for (const auto& d : kDtypes)
    if (name == d.name) return d.type;
  throw FormatError(where + ": unknown dtype '" + name + "'");
}

const char* dtype_name(at::ScalarType type, const std::string& tensor) {
  for (const auto& d : kDtypes)
    if (type == d.type) return d.name;
  throw UsageError("tensor '" + tensor + "' has dtype " + std::string(c10::toString(type)) +
                   ", which safetensors cannot store");
}

struct Entry {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

Entry parse_entry(const std::string& name, const nlohmann::json& spec, const std::string& file) {
  const std::string where = file + ": tensor '" + name + "'";
  if (!spec.is_object()) throw FormatError(where + ": expected an object with dtype, shape, data_offsets");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!spec.contains(key)) throw FormatError(where + ": missing '" + key + "'");
  if (!spec["dtype"].is_string()) throw FormatError(where + ": 'dtype' must be a string");
  Entry e{name, dtype_from_name(spec["dtype"].get<std::string>(), where), {}, 0, 0};
  if (!spec["shape"].is_array()) throw FormatError(where + ": 'shape' must be a list of non-negative integers");
  // Bytes of the whole tensor, kept below 2^62 so no product can overflow.
  uint64_t bytes = c10::elementSize(e.dtype);
  for (const auto& dim : spec["shape"]) {
    if (!dim.is_number_unsigned()) throw FormatError(where + ": 'shape' must be a list of non-negative integers");
    const uint64_t n = dim.get<uint64_t>();
    if (n > (uint64_t{1} << 62) || (n != 0 && bytes > (uint64_t{1} << 62) / n))
      throw FormatError(where + ": shape is too large");
    bytes *= n;
    e.shape.push_back(static_cast<int64_t>(n));
  }
  const auto& offsets = spec["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    throw FormatError(where + ": 'data_offsets' must be [begin, end] non-negative integers");
  e.begin = offsets[0].get<uint64_t>();
  e.end = offsets[1].get<uint64_t>();
  if (e.end < e.begin || e.end - e.begin != bytes)
    throw FormatError(where + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ") hold " +
                      std::to_string(e.end - e.begin) + " bytes but dtype x shape needs " + std::to_string(bytes));
  return e;
}

std::vector<char> read_file(const std::filesystem::path& path) {
  // A folder or device opens as a stream too, but has no size to read.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw FormatError(path.string() + ": cannot open for reading: " +
                      (std::filesystem::exists(path, ec) ? "not a regular file" : "it does not exist"));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path.string() + ": cannot open for reading");
  in.seekg(0, std::ios::end);
  const std::streamoff end = in.tellg();
  if (end < 0) throw FormatError(path.string() + ": cannot determine its size");
  const auto size = static_cast<size_t>(end);
  in.seekg(0);
  std::vector<char> bytes(size);
  if (size && !in.read(bytes.data(), static_cast<std::streamsize>(size)))
    throw FormatError(path.string() + ": read failed");
  return bytes;
}

}  // namespace

Contents load(const std::filesystem::path& path) { return load_bytes(read_file(path), path.string()); }

Contents load_bytes(const std::vector<char>& bytes, const std::string& file) {
  if (bytes.size() < 8)
    throw FormatError(file + ": too short for a safetensors file (" + std::to_string(bytes.size()) + " bytes)");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[i]);
  if (header_len > kMaxHeaderBytes || header_len > bytes.size() - 8)
    throw FormatError(file + ": header length " + std::to_string(header_len) + " exceeds the file (" +
                      std::to_string(bytes.size()) + " bytes) or the 100 MiB limit");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_len));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(file + ": header is not valid JSON: " + e.what());
  }
  if (!header.is_object()) throw FormatError(file + ": header must be a JSON object");

  Contents out;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) throw FormatError(file + ": __metadata__ must be an object of strings");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) throw FormatError(file + ": __metadata__['" + mk + "'] must be a string");
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(key, value, file));
  }

  // Offsets must tile the data buffer exactly: sorted, contiguous, no overlap, nothing left over.
  const uint64_t data_size = bytes.size() - 8 - header_len;
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  uint64_t expected = 0;
  for (const auto& e : entries) {
    if (e.begin != expected)
      throw FormatError(file + ": tensor '" + e.name + "' starts at " + std::to_string(e.begin) + ", expected " +
                        std::to_string(expected) + " (overlapping or gap between tensors)");
    expected = e.end;
  }
  if (expected != data_size)
    throw FormatError(file + ": tensors cover " + std::to_string(expected) + " bytes of a " +
                      std::to_string(data_size) + "-byte data section");

  const char* data = bytes.data() + 8 + header_len;
  for (const auto& e : entries) {
    at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(e.dtype));
    if (e.end > e.begin) std::memcpy(t.data_ptr(), data + e.begin, e.end - e.begin);
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

void save(const std::filesystem::path& path, const TensorMap& tensors, const Metadata& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> blobs;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined()) throw UsageError("tensor '" + name + "' is undefined");
    at::Tensor cpu = tensor.detach().to(at::kCPU).contiguous();
    const uint64_t bytes = cpu.numel() * cpu.element_size();
    header[name] = {{"dtype", dtype_name(cpu.scalar_type(), name)},
                    {"shape", cpu.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    blobs.push_back(std::move(cpu));
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');  // align the data section to 8 bytes

  write_atomically(path, [&](std::ostream& out) {
    const uint64_t len = header_text.size();
    char len_bytes[8];
    for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<char>((len >> (8 * i)) & 0xff);
    out.write(len_bytes, 8);
    out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
    for (const auto& blob : blobs)
      out.write(static_cast<const char*>(blob.data_ptr()),
                static_cast<std::streamsize>(blob.numel() * blob.element_size()));
  });
}

}  // namespace oft::safetensors
