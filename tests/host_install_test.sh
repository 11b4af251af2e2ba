#!/usr/bin/env bash
# liboft_core as a host application's developer sees it: install the runtime, sdk and dev components
# to a fresh prefix, check the library's SONAME and that it exports the API but not the template
# instances of nlohmann/json it uses (hidden visibility), build tests/host_app out of tree against the
# installed package (find_package(oft), oft::core), and run it with a JSON host config that requires
# every installed plugin: it adapts a small checkpoint with OFT and checks the forward.
#   host_install_test.sh CMAKE BUILD_DIR TORCH_DIR APP_SOURCE_DIR MODEL_DIR WORK_DIR
set -euo pipefail
cmake=$1 build=$2 torch_dir=$3 app=$4 model=$5 work=$6
rm -rf "$work" && mkdir -p "$work"
prefix="$work/prefix"
for component in runtime sdk dev; do
  "$cmake" --install "$build" --component "$component" --prefix "$prefix" >/dev/null
done

library=$(readlink -f "$prefix/lib/liboft_core.so")
soname=$(objdump -p "$library" | awk '$1 == "SONAME" {print $2}')
[ -e "$prefix/lib/$soname" ] || { echo "SONAME $soname of $library is not installed in $prefix/lib" >&2; exit 1; }
exported=$(nm -DC --defined-only "$library" | sed -E 's/^[0-9a-f]+ [A-Za-z] //')
grep -q '^oft::load_plugins(' <<<"$exported" || { echo "$library does not export oft::load_plugins" >&2; exit 1; }
# nlohmann/json marks nothing visible: with default visibility its template instances would be exported.
if leaked=$(grep -E '^((typeinfo|vtable) for )?nlohmann::' <<<"$exported"); then
  echo "$library exports template instances of its dependencies (hidden visibility lost):" >&2
  head -n 5 <<<"$leaked" >&2
  exit 1
fi
echo "$soname exports $(wc -l <<<"$exported") symbols"

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
"$cmake" -S "$app" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DTorch_DIR="$torch_dir" "${launcher[@]}" >/dev/null
"$cmake" --build "$work/build"

plugins=()
for file in "$prefix"/lib/oft/plugins/liboft_backend_*.so; do
  [ -e "$file" ] || continue
  name=${file##*/liboft_backend_}
  plugins+=("${name%.so}")
done
((${#plugins[@]})) || { echo "no plugins installed in $prefix/lib/oft/plugins" >&2; exit 1; }
python3 -c 'import json, sys; print(json.dumps({"plugins": {"require": sys.argv[1:], "safe_scan": True}}))' \
  "${plugins[@]}" >"$work/host.json"
env -u OFT_PLUGIN_PATH OFT_PLUGIN_CACHE="$work/scan-cache.json" "$work/build/oft_host_app" "$work/host.json" "$model"
