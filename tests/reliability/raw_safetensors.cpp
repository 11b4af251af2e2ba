#include "raw_safetensors.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace oft::test {
namespace {

size_t element_size(const std::string& dtype) {
  static const std::map<std::string, size_t> sizes{{"F64", 8}, {"I64", 8},  {"F32", 4},    {"I32", 4},
                                                   {"F16", 2}, {"BF16", 2}, {"I16", 2},    {"U8", 1},
                                                   {"I8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}};
  return sizes.at(dtype);
}

}  // namespace

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

RawSafetensors RawSafetensors::read(const std::filesystem::path& path) {
  const std::string bytes = read_bytes(path);
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(bytes.at(static_cast<size_t>(i)));
  return {nlohmann::json::parse(bytes.substr(8, length)), bytes.substr(8 + length)};
}

void RawSafetensors::write(const std::filesystem::path& path) const {
  const std::string text = header.dump();
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[static_cast<size_t>(i)] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  write_bytes(path, bytes + text + data);
}

std::vector<std::string> RawSafetensors::names() const {
  std::vector<std::string> out;
  for (const auto& item : header.items())
    if (item.key() != "__metadata__") out.push_back(item.key());
  return out;
}

void RawSafetensors::remove(const std::string& name) {
  if (!header.contains(name)) throw std::runtime_error("no tensor " + name);
  replace(name, "", {});
}

void RawSafetensors::replace(const std::string& name, const std::string& dtype, const std::vector<int64_t>& shape) {
  if (!header.contains(name)) throw std::runtime_error("no tensor " + name);
  auto order = names();
  std::sort(order.begin(), order.end(), [&](const std::string& a, const std::string& b) {
    return header[a]["data_offsets"][0].get<uint64_t>() < header[b]["data_offsets"][0].get<uint64_t>();
  });
  std::string out;
  for (const auto& key : order) {
    auto& spec = header[key];
    std::string blob;
    if (key != name) {
      const auto begin = spec["data_offsets"][0].get<uint64_t>(), end = spec["data_offsets"][1].get<uint64_t>();
      blob = data.substr(begin, end - begin);
    } else if (dtype.empty()) {
      continue;
    } else {
      size_t bytes = element_size(dtype);
      for (auto n : shape) bytes *= static_cast<size_t>(n);
      blob.assign(bytes, '\0');
      spec["dtype"] = dtype;
      spec["shape"] = shape;
    }
    spec["data_offsets"] = {out.size(), out.size() + blob.size()};
    out += blob;
  }
  if (dtype.empty()) header.erase(name);
  data = std::move(out);
}

}  // namespace oft::test
