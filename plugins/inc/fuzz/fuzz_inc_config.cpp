// The inc plugin's quantization_config reader (config.json of a quantized checkpoint) and --options
// reader (`oft quantize --options`), as its format calls them: recognition first, then the full read. They may only
// throw std::invalid_argument (what the format registry reports with the module and plugin); anything else escaping, a
// crash or a sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_expect.h"
#include "inc_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (oft::inc::is_inc_quantization_config(text))
    oft::fuzz::expect_invalid_argument_at_most([&] { oft::inc::IncConfig::from_quantization_config(text); });
  oft::fuzz::expect_invalid_argument_at_most([&] { oft::inc::IncConfig::from_options(text); });
  return 0;
}
