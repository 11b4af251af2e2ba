#!/usr/bin/env bash
# Checks that every C++ file of the tree (tracked or new, not ignored) follows .clang-format, with
# clang-format 14 (Debian's clang-format package, installed by scripts/setup.sh): other versions
# format some constructs differently. scripts/test.sh (and so CI) runs it.
#   scripts/check_format.sh          list the files that differ; exit 1 if any
#   scripts/check_format.sh --fix    reformat them in place
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
fix=0
case "${1:-}" in
  "") ;;
  --fix) fix=1 ;;
  *) echo "check_format.sh: unknown option '$1' (expected --fix or nothing)" >&2; exit 2 ;;
esac

clang_format=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$clang_format" ]; then
  echo "check_format.sh: clang-format not found (Debian package clang-format; scripts/setup.sh installs it)" >&2
  exit 2
fi
version=$("$clang_format" --version | grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -n1)
if [ "${version%%.*}" != 14 ]; then
  echo "check_format.sh: expected clang-format 14, found $version ($clang_format)" >&2
  exit 2
fi

files=()
while IFS= read -r -d '' f; do
  [ -f "$f" ] && files+=("$f")  # --cached also lists files deleted in the work tree
done < <(git ls-files -z --cached --others --exclude-standard -- '*.h' '*.hpp' '*.cpp' '*.cc' '*.cu' '*.cuh')
((${#files[@]})) || { echo "check_format.sh: no C++ files found under $repo" >&2; exit 2; }

if ((fix)); then
  "$clang_format" -i "${files[@]}"
  echo "reformatted ${#files[@]} files with $clang_format ($version)"
  exit 0
fi
mapfile -t differ < <("$clang_format" --dry-run "${files[@]}" 2>&1 |
                      sed -nE 's/^(.+):[0-9]+:[0-9]+: (warning|error): code should be clang-formatted.*/\1/p' | sort -u)
if ((${#differ[@]})); then
  printf '%s\n' "${differ[@]}"
  echo "check_format.sh: ${#differ[@]} of ${#files[@]} C++ files do not follow .clang-format;" \
       "fix them with: bash scripts/check_format.sh --fix" >&2
  exit 1
fi
echo "format: ${#files[@]} C++ files follow .clang-format"
