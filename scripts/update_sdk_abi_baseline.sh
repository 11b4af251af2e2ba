#!/usr/bin/env bash
# Records the plugin SDK's C++ ABI of the version in sdk/include/oft/sdk/plugin_abi.h as
# sdk/abi/abi-<major>.<minor>.txt, after an intended ABI change and version bump (the rules are in
# plugin_abi.h). Refuses to change the baseline of an existing version unless --force is given, which is
# only right while that version is unreleased.
#   scripts/update_sdk_abi_baseline.sh [--force] [BUILD_DIR]      (BUILD_DIR: build/ by default)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build="$repo/build" force=()
for arg in "$@"; do
  case "$arg" in
    --force) force=(--force) ;;
    -*) echo "update_sdk_abi_baseline.sh: unknown option '$arg' (expected --force)" >&2; exit 2 ;;
    *) build=$arg ;;
  esac
done
cmake --build "$build" --target oft_sdk_abi_probe
object=$(find "$build" -path '*oft_sdk_abi_probe.dir*' -name '*.o' -print -quit)
[ -n "$object" ] || { echo "no object file of oft_sdk_abi_probe under $build" >&2; exit 1; }
python3 "$repo/scripts/sdk_abi.py" record "$object" "$repo/sdk/include/oft/sdk/plugin_abi.h" "$repo/sdk/abi" "${force[@]}"
