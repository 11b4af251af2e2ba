#!/usr/bin/env bash
# Every host-level key of the host config is checked: an unknown one fails the command with an error that
# names the key, its section and the keys expected, and so does a plugins.config section for a name no plugin
# file has. Every plugin found refuses a key of its own section it does not know, which fails the command with
# the plugin's reason.
#   host_config_keys_test.sh OFT WORK_DIR
set -euo pipefail
oft=$1 work=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work"
export OFT_PLUGIN_CACHE="$work/scan-cache.json"
expect_error() {  # host config JSON, then the text the error must hold
  echo "$1" >"$work/host.json"
  if out=$("$oft" --host-config "$work/host.json" plugins 2>&1); then fail "accepted $1"; fi
  [[ "$out" == *"$2"* ]] || fail "$1: expected an error with '$2', got: $out"
}
expect_error '{"plugin": {}}' "unknown key 'plugin' in host config $work/host.json (expected plugins, logging,"
expect_error '{"plugins": {"path": []}}' "unknown key plugins.path in the host config (expected paths, require,"
expect_error '{"logging": {"level": "info", "file": "x"}}' \
  "unknown key 'file' in host config $work/host.json: logging (expected level)"
expect_error '{"distributed": {"buckets": 4}}' \
  "unknown key 'buckets' in host config $work/host.json: distributed (expected backend, bucket_mb, timeout_s)"
expect_error '{"plugins": {"config": {"no_such_plugin": {}}}}' \
  "unknown key plugins.config.no_such_plugin in the host config: no plugin named 'no_such_plugin' was found"
plugins=$("$oft" plugins --json | python3 -c '
import json, sys
print(" ".join(p["name"] for p in json.load(sys.stdin)["plugins"] if p["status"] == "loaded"))')
[ -n "$plugins" ] || fail "no plugin loaded"
for plugin in $plugins; do
  expect_error "{\"plugins\": {\"config\": {\"$plugin\": {\"no_such_setting\": 1}}}}" \
    "plugins.config.$plugin in the host config reaches no plugin: '$plugin' was rejected"
  [[ "$out" == *"unknown plugin config key \"no_such_setting\""* ]] || fail "$plugin: the key is not named: $out"
done
echo '{"logging": {"level": "warn"}}' >"$work/host.json"
"$oft" --host-config "$work/host.json" plugins >/dev/null || fail "a good host config was refused"
echo "host config keys: ok"
