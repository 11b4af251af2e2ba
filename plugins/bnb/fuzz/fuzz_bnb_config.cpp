// The bnb plugin's readers of outside JSON: transformers' BitsAndBytesConfig (config.json's
// quantization_config, 8- and 4-bit), the --options of `oft quantize`, and a 4-bit quant_state tensor's JSON. They may
// only throw std::invalid_argument (what the format registry reports with the module and plugin); anything else
// escaping, a crash or a sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_expect.h"
#include "options.h"
#include "quant_state_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  using oft::bnb::Source;
  if (oft::bnb::config_loads_in_8bit(text))
    oft::fuzz::expect_invalid_argument_at_most([&] { oft::bnb::int8_options(text, Source::ModelConfig); });
  if (oft::bnb::config_loads_in_4bit(text))
    oft::fuzz::expect_invalid_argument_at_most([&] { oft::bnb::four_bit_options(text, Source::ModelConfig); });
  oft::fuzz::expect_invalid_argument_at_most([&] { oft::bnb::int8_options(text, Source::Options); });
  oft::fuzz::expect_invalid_argument_at_most([&] { oft::bnb::four_bit_options(text, Source::Options); });
  // The JSON packed into a 4-bit checkpoint's quant_state tensor.
  oft::fuzz::expect_invalid_argument_at_most(
      [&] { oft::bnb::decode_quant_state(text, "weight.quant_state.bitsandbytes__nf4"); });
  return 0;
}
