#!/usr/bin/env bash
# The installed host: `cmake --install --component runtime` to a fresh prefix, then the installed
# `oft plugins --json` must search <prefix>/lib/oft/plugins (next to liboft_core) and load every
# shipped plugin there, vetting each in the installed oft-plugin-scan child first; the installed `oft demo`
# finds the task installed with it (<prefix>/share/oft/review_sentiment).
#   install_test.sh CMAKE BUILD_DIR WORK_DIR
set -euo pipefail
cmake=$1 build=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
"$cmake" --install "$build" --component runtime --prefix "$work/prefix" >/dev/null
OFT_PLUGIN_CACHE="$work/scan-cache.json" "$work/prefix/bin/oft" --log-level warn plugins --json >"$work/plugins.json"
python3 - "$work/plugins.json" "$work/prefix" <<'PY'
import json, os, sys
report, prefix = json.load(open(sys.argv[1])), os.path.realpath(sys.argv[2])
folder = os.path.join(prefix, "lib/oft/plugins")
assert any(os.path.realpath(f["folder"]) == folder and f["origin"] == "install folder" for f in report["folders"]), report["folders"]
shipped = sorted(n for n in os.listdir(folder) if n.startswith("liboft_backend_"))
assert shipped, f"no plugins installed in {folder}"
for name in shipped:
    plugin = next((p for p in report["plugins"] if os.path.basename(p["file"]) == name), None)
    assert plugin and plugin["status"] == "loaded", f"{name}: {plugin}"
print("installed host loads", ", ".join(shipped), "from", folder)
PY
bash "$(dirname "$0")/app/demo_defaults_test.sh" "$work/prefix/bin/oft" "$work/demo-defaults"
