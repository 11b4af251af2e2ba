#!/usr/bin/env bash
# The SDK as a vendor sees it: install the SDK component to a fresh prefix, build the installed
# template plugin out of tree against it (find_package(oftSDK)), drop the .so into a plugin folder,
# check that `oft plugins --json` loads it and asks its dispatcher before "default", then run the
# template plugin's tests on it (tests/plugin/test_template_plugin.cpp: the backend conformance suite among them).
#   sdk_install_test.sh CMAKE BUILD_DIR TORCH_DIR OFT_BINARY WORK_DIR TEMPLATE_TEST_BINARY
set -euo pipefail
cmake=$1 build=$2 torch_dir=$3 oft=$4 work=$5 template_test=$6
rm -rf "$work" && mkdir -p "$work/plugins"

"$cmake" --install "$build" --component sdk --prefix "$work/prefix" >/dev/null
template="$work/prefix/share/oft/plugin-template"
test -f "$template/CMakeLists.txt" || { echo "the installed SDK has no template at $template" >&2; exit 1; }
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
"$cmake" -S "$template" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" -DTorch_DIR="$torch_dir" \
  "${launcher[@]}" >/dev/null
"$cmake" --build "$work/build"
cp "$work/build/liboft_backend_template.so" "$work/plugins/"

OFT_PLUGIN_PATH="$work/plugins" OFT_PLUGIN_CACHE="$work/scan-cache.json" \
  "$oft" --log-level warn plugins --json >"$work/plugins.json"
python3 - "$work/plugins.json" "$work/plugins/liboft_backend_template.so" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
plugin = next((p for p in report["plugins"] if p["file"] == sys.argv[2]), None)
assert plugin, f"oft plugins did not list {sys.argv[2]}: {report['plugins']}"
assert plugin["status"] == "loaded", f"template plugin not loaded: {plugin}"
assert plugin["name"] == "template" and plugin["version"] == "0.2.0", plugin
assert plugin["dispatchers"] == ["template"] and plugin["formats"] == ["template_int8"], plugin
order = [d["name"] for d in report["dispatchers"]]
assert order[-2:] == ["template", "default"], f"dispatcher order {order}"
print("template plugin loaded by the host; dispatchers asked in order:", order)
PY
OFT_TEMPLATE_PLUGIN_DIR="$work/plugins" "$template_test" --gtest_brief=1
