// The safetensors reader (header length, JSON header, dtypes, shapes, offsets) on arbitrary bytes: it
// may only throw FormatError; any other exception, crash or sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "io/safetensors_bytes.h"
#include "oft/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    oft::safetensors::load_bytes(std::vector<char>(data, data + size), "fuzz.safetensors");
  } catch (const oft::FormatError&) {
  }
  return 0;
}
