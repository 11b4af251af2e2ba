// The bnb plugin's readers of outside JSON: transformers' BitsAndBytesConfig (config.json's
// quantization_config, 8- and 4-bit), the --options of `oft quantize`, and a 4-bit quant_state tensor's JSON. They may
// only throw std::invalid_argument (what the format registry reports with the module and plugin); anything else
// escaping, a crash or a sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

#include "options.h"
#include "quant_state_json.h"

namespace {

void expect_clear_error(const std::function<void()>& read) {
  try {
    read();
  } catch (const std::invalid_argument&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  using oft::bnb::Source;
  if (oft::bnb::config_loads_in_8bit(text))
    expect_clear_error([&] { oft::bnb::int8_options(text, Source::ModelConfig); });
  if (oft::bnb::config_loads_in_4bit(text))
    expect_clear_error([&] { oft::bnb::four_bit_options(text, Source::ModelConfig); });
  expect_clear_error([&] { oft::bnb::int8_options(text, Source::Options); });
  expect_clear_error([&] { oft::bnb::four_bit_options(text, Source::Options); });
  // The JSON packed into a 4-bit checkpoint's quant_state tensor.
  expect_clear_error([&] { oft::bnb::decode_quant_state(text, "weight.quant_state.bitsandbytes__nf4"); });
  return 0;
}
