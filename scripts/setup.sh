#!/usr/bin/env bash
# Installs whatever is missing (Debian packages, the pinned LibTorch wheel in .venv), then configures
# and builds. Idempotent: when everything is present it only runs an incremental build.
#   scripts/setup.sh [--peers] [--warnings-as-errors]
#     --peers               also installs PEFT & co. (golden data, benchmarks vs PEFT)
#     --warnings-as-errors  configures build/ with OFT_WARNINGS_AS_ERRORS=ON (scripts/test.sh, CI); without
#                           it an existing build/ keeps its setting
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
want_peers=0
werror=0
for arg in "$@"; do
  case "$arg" in
    --peers) want_peers=1 ;;
    --warnings-as-errors) werror=1 ;;
    *) echo "setup.sh: unknown option '$arg' (expected --peers or --warnings-as-errors)" >&2; exit 2 ;;
  esac
done

log() { printf '[setup] %s\n' "$*"; }

# --- Debian packages ------------------------------------------------------------------------------
debs=(cmake ninja-build ccache g++ python3-venv libboost-dev libboost-filesystem-dev nlohmann-json3-dev
      libspdlog-dev libcli11-dev libicu-dev libgtest-dev libgmock-dev libbenchmark-dev clang-format
      libsentencepiece-dev libgloo-dev clang-14 libclang-rt-14-dev)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- Python venv with the pinned torch wheel (LibTorch comes from it) ------------------------------
venv="$repo/.venv"
[ -x "$venv/bin/python" ] || { log "creating $venv"; python3 -m venv "$venv"; }
pip_quiet() { "$venv/bin/pip" install -q --disable-pip-version-check "$@"; }
torch_pin=$(grep -E '^torch==' requirements/torch.txt | cut -d= -f3)
have_torch=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null || true)
if [ "$have_torch" != "$torch_pin" ]; then
  log "installing torch==$torch_pin into .venv (LibTorch headers, libraries and CMake config)"
  pip_quiet -r requirements/torch.txt
fi
# True when every name==version pin of a requirements file is installed in .venv.
pins_installed() {
  "$venv/bin/python" - "$1" <<'PY'
import importlib.metadata as m, re, sys
for line in open(sys.argv[1]):
    pin = re.match(r"^([A-Za-z0-9_.-]+)==([^ ;#]+)", line.strip())
    if pin:
        try:
            if m.version(pin[1]) != pin[2]: sys.exit(1)
        except m.PackageNotFoundError:
            sys.exit(1)
PY
}
if ((want_peers)) && ! pins_installed requirements/peers.txt; then
  log "installing Python peers (requirements/peers.txt: peft, transformers, safetensors, ...)"
  pip_quiet -r requirements/peers.txt
fi

# --- Configure and build --------------------------------------------------------------------------
torch_cmake=$("$venv/bin/python" -c 'import os, torch; print(os.path.join(torch.utils.cmake_prefix_path, "Torch"))')
export CCACHE_DIR="${CCACHE_DIR:-$repo/.cache/ccache}"
options=()
((werror)) && options+=(-DOFT_WARNINGS_AS_ERRORS=ON)
if [ ! -f build/build.ninja ]; then
  log "configuring build/ ${options[*]}"
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTorch_DIR="$torch_cmake" "${options[@]}" >/dev/null
elif ((werror)) && ! grep -qx 'OFT_WARNINGS_AS_ERRORS:BOOL=ON' build/CMakeCache.txt; then
  # An existing build/ is reconfigured only when the setting changes: that recompiles everything.
  log "configuring build/ with warnings as errors"
  cmake -S . -B build "${options[@]}" >/dev/null
fi
log "building (ninja, ccache in $CCACHE_DIR)"
start=$(date +%s)
cmake --build build
log "build done in $(( $(date +%s) - start ))s"
