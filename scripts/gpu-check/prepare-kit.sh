#!/usr/bin/env bash
# Fills the device kit that scripts/gpu-check.sh builds with on the GPU machine (docs/gpu-check.md).
# Runs here, on the Debian 12 machine with apt, from anywhere in the checkout:
#   scripts/gpu-check/prepare-kit.sh [--kit-source DIR] [DEST]
#     DEST           default .cache/device-kit (git-ignored through /.cache/, so the run tool can carry it)
#     --kit-source   the device kit's scripts (default ../shared/device beside the checkout)
# 1. the kit's fetch-debs.sh --slim: Boost, ICU, spdlog/fmt, nlohmann-json, CLI11, GoogleTest, benchmark
#    and the kit's build-on-device.sh;
# 2. the packages scripts/setup.sh added after the kit was made, which fetch-debs.sh does not know:
#    libsentencepiece-dev + libsentencepiece0 (core's SentencePiece tokenizer: header and library), and
#    libgloo-dev for its headers only (c10d's ProcessGroupGloo.hpp includes them; Gloo's code runs inside
#    libtorch_cpu, so libgloo0 and the -dev package's dependencies hiredis and ibverbs are left out).
#    build-on-device.sh unpacks every .deb of the folder into its prefix, where CMake's find_path /
#    find_library (CMAKE_PREFIX_PATH) and the prefix's include folder find them;
# 3. checks that the kit plus the working tree the run tool sends stays under its 64 MiB.
set -euo pipefail
repo=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
log() { printf '[prepare-kit] %s\n' "$*"; }
die() { printf '[prepare-kit] error: %s\n' "$*" >&2; exit 1; }

kit_source=$repo/../shared/device
dest=""
while (($#)); do
  case "$1" in
    --kit-source) kit_source=$2; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) dest=$1 ;;
  esac
  shift
done
dest=${dest:-$repo/.cache/device-kit}
[ -f "$kit_source/fetch-debs.sh" ] || die "no fetch-debs.sh in $kit_source (the device kit; see --kit-source)"

cd "$repo"
bash "$kit_source/fetch-debs.sh" --slim "$dest"

extra=(libsentencepiece-dev libsentencepiece0 libgloo-dev)
opts=()
[ "$(id -u)" -eq 0 ] && opts=(-o APT::Sandbox::User=root)  # apt's sandbox user may not write DEST
log "extra packages: ${extra[*]}"
(cd "$dest" && apt-get download -qq "${opts[@]}" "${extra[@]}") || die "apt-get download ${extra[*]} failed"
for p in "${extra[@]}"; do
  f=$(ls "$dest/${p}"_*.deb)
  printf '%s  %9d  %s\n' "$(sha256sum "$f" | cut -c1-64)" "$(stat -c %s "$f")" "$(basename "$f")" >>"$dest/MANIFEST.txt"
done

git check-ignore -q "$dest" || die "$dest is not git-ignored: the run tool carries only ignored paths"
kit_bytes=$(du -cb "$dest" | tail -1 | cut -f1)
tree_bytes=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
total=$((kit_bytes + tree_bytes))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
log "kit $(mib "$kit_bytes") + working tree $(mib "$tree_bytes") = $(mib "$total") of the 64 MiB the run tool sends"
((total < 60 * 1048576)) || die "over 60 MiB: too close to the 64 MiB limit"
