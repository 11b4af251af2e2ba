#!/usr/bin/env bash
# A backend added in tests/ alone (tests/plugin/fixtures/int4.cpp) reaches the `oft` command: its quantize
# method "fixture-int4" is listed by `oft plugins` (text and --json) and `oft quantize --help`, an
# unknown --method names it among the available ones, `oft quantize` writes a checkpoint with it,
# and `oft plan` loads that checkpoint through the plugin's format, its dispatcher claims the layers,
# and the plugin's model-level merge refusal marks every layer refused.
#   plugin_method_test.sh OFT_BINARY PLUGIN_FOLDER DENSE_MODEL_DIR WORK_DIR
set -euo pipefail
oft=$1 plugins=$2 model=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
export OFT_PLUGIN_PATH="$plugins" OFT_PLUGIN_CACHE="$work/scan-cache.json"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$oft" --log-level warn plugins >"$work/plugins.txt"
grep -Eq -- "--method fixture-int4 +test fixture: symmetric 4-bit rows" "$work/plugins.txt" ||
  fail "oft plugins does not list the method fixture-int4: $(cat "$work/plugins.txt")"

"$oft" --log-level warn plugins --json >"$work/plugins.json"
python3 - "$work/plugins.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
format = next((f for f in report["formats"] if f["name"] == "fixture_int4"), None)
assert format, f"oft plugins --json has no format fixture_int4: {report['formats']}"
assert "fixture_int4" in format["origin"], format
assert format["methods"] == [{"name": "fixture-int4", "description": "test fixture: symmetric 4-bit rows, one fp32 scale each",
                              "default_options": {}, "needs_calibration": False}], format["methods"]
PY

"$oft" quantize --help >"$work/help.txt"
grep -Eq "^ +fixture-int4 +test fixture: .*\[format fixture_int4\]" "$work/help.txt" ||
  fail "oft quantize --help does not list fixture-int4: $(cat "$work/help.txt")"

if "$oft" --log-level warn quantize --model "$model" --method no-such-method --out "$work/none" 2>"$work/unknown.txt"; then
  fail "oft quantize accepted an unknown --method"
fi
grep -q "no quantize method named 'no-such-method'.*available: .*fixture-int4" "$work/unknown.txt" ||
  fail "the unknown-method error does not list fixture-int4: $(cat "$work/unknown.txt")"

"$oft" --log-level warn quantize --model "$model" --method fixture-int4 --out "$work/quantized"
python3 - "$work/quantized/config.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
assert config["quantization_config"] == {"quant_method": "fixture_int4"}, config.get("quantization_config")
PY

echo '{"target_modules": ["q_proj", "v_proj"], "r": 0, "oft_block_size": 4}' >"$work/oft.json"
"$oft" --log-level warn plan --model "$work/quantized" --config "$work/oft.json" --json >"$work/plan.json"
python3 - "$work/plan.json" <<'PY'
import json, sys
modules = json.load(open(sys.argv[1]))["modules"]
assert len(modules) == 4, modules  # q_proj and v_proj of 2 layers
for m in modules:
    assert m["dispatcher"] == "fixture_int4", m
    assert m["merge"] == "refused" and m["merge_note"].startswith("fixture_int4 models are never merged"), m
PY
echo "fixture-int4: listed by oft plugins and oft quantize --help, quantized a model, planned on it (merge refused)"
