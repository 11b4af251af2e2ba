// oft/sdk/json_reading.h and plugin_config.h: the plugins' strict reading of quantization_config, quantize options
// and their own section of the host config.
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "oft/sdk/json_reading.h"
#include "oft/sdk/plugin_config.h"

namespace {

using nlohmann::json;

// The message of the std::invalid_argument fn throws ("" when it throws nothing).
std::string invalid_argument_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(JsonReading, ParsesAnObjectAndReadsNoTextAsAnEmptyOne) {
  EXPECT_EQ(oft::sdk::parse_json_object(R"({"bits": 4})", "gptq", "options"), json({{"bits", 4}}));
  EXPECT_EQ(oft::sdk::parse_json_object("", "gptq", "options"), json::object());
}

TEST(JsonReading, NamesThePluginAndTheTextWhenItIsNoObject) {
  EXPECT_EQ(invalid_argument_of([] { oft::sdk::parse_json_object("[1]", "awq", "quantization_config"); }),
            "awq: quantization_config must be a JSON object");
  const std::string broken = invalid_argument_of([] { oft::sdk::parse_json_object("{", "awq", "options"); });
  EXPECT_EQ(broken.rfind("awq: options is not valid JSON: ", 0), 0u) << broken;
}

TEST(JsonReading, IntegersMustBeWholeAndWithinTheTypesRange) {
  using oft::sdk::json_holds;
  EXPECT_TRUE(json_holds<int>(json(4)));
  EXPECT_TRUE(json_holds<int>(json(-2147483648LL)));
  EXPECT_TRUE(json_holds<int>(json(2147483647LL)));
  EXPECT_FALSE(json_holds<int>(json(2147483648LL)));
  EXPECT_FALSE(json_holds<int>(json(-2147483649LL)));
  EXPECT_FALSE(json_holds<int>(json(4.5)));
  EXPECT_FALSE(json_holds<int>(json(4.0)));  // written as a float: not an integer in the JSON
  EXPECT_FALSE(json_holds<int>(json("4")));
  EXPECT_FALSE(json_holds<int>(json(true)));
  // Unsigned JSON numbers above int64's range, and negatives for an unsigned type.
  EXPECT_FALSE(json_holds<int64_t>(json::parse("9223372036854775808")));
  EXPECT_TRUE(json_holds<int64_t>(json::parse("-9223372036854775808")));
  EXPECT_TRUE(json_holds<uint64_t>(json::parse("18446744073709551615")));
  EXPECT_FALSE(json_holds<uint8_t>(json(-1)));
  EXPECT_TRUE(json_holds<uint8_t>(json(255)));
  EXPECT_FALSE(json_holds<uint8_t>(json(256)));
}

TEST(JsonReading, OtherTypesTakeOnlyTheirKindOfValue) {
  using oft::sdk::json_holds;
  EXPECT_TRUE(json_holds<double>(json(1)));
  EXPECT_TRUE(json_holds<double>(json(0.25)));
  EXPECT_FALSE(json_holds<double>(json("0.25")));
  EXPECT_TRUE(json_holds<bool>(json(false)));
  EXPECT_FALSE(json_holds<bool>(json(0)));
  EXPECT_TRUE(json_holds<std::string>(json("gemm")));
  EXPECT_FALSE(json_holds<std::string>(json(nullptr)));
}

TEST(JsonReading, AValueOfTheWrongKindIsRefusedWithKeyAndValue) {
  const json config = {{"bits", 4.5}, {"group_size", 128}};
  EXPECT_EQ(oft::sdk::json_value<int64_t>(config, "group_size", "gptq", "quantization_config", "an integer"), 128);
  EXPECT_EQ(invalid_argument_of(
                [&] { oft::sdk::json_value<int>(config, "bits", "gptq", "quantization_config", "an integer"); }),
            "gptq: quantization_config \"bits\" must be an integer, got 4.5");
}

TEST(JsonReading, AnUnknownKeyIsRefusedWithTheKeysExpected) {
  const json options = {{"bits", 4}, {"group_szie", 64}};
  EXPECT_EQ(invalid_argument_of([&] {
              oft::sdk::reject_unknown_keys(options, {"bits", "group_size"}, "awq", "option");
            }),
            "awq: unknown option \"group_szie\" (expected bits, group_size)");
  EXPECT_EQ(invalid_argument_of([&] { oft::sdk::reject_unknown_keys(options, {}, "bnb", "plugin config key"); }),
            "bnb: unknown plugin config key \"bits\" (expected none)");
  EXPECT_EQ(invalid_argument_of([&] {
              oft::sdk::reject_unknown_keys(options, {"group_szie", "bits"}, "awq", "option");
            }),
            "");
}

TEST(PluginConfig, ReadsCacheDequantizedAndRefusesAnythingElse) {
  using oft::sdk::read_cache_dequantized_config;
  EXPECT_FALSE(read_cache_dequantized_config("", "gptq"));
  EXPECT_FALSE(read_cache_dequantized_config("{}", "gptq"));
  EXPECT_TRUE(read_cache_dequantized_config(R"({"cache_dequantized": true})", "gptq"));
  EXPECT_FALSE(read_cache_dequantized_config(R"({"cache_dequantized": false})", "gptq"));
  EXPECT_EQ(invalid_argument_of([] { read_cache_dequantized_config(R"({"cache_dequantised": true})", "hqq"); }),
            "hqq: unknown plugin config key \"cache_dequantised\" (expected cache_dequantized)");
  EXPECT_EQ(invalid_argument_of([] { read_cache_dequantized_config(R"({"cache_dequantized": 1})", "hqq"); }),
            "hqq: plugin config \"cache_dequantized\" must be a boolean, got 1");
  EXPECT_EQ(invalid_argument_of([] { read_cache_dequantized_config("[]", "hqq"); }),
            "hqq: plugin config must be a JSON object");
}

}  // namespace
