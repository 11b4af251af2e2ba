#!/usr/bin/env bash
# Fails when a backend's name appears in the host's code (core/, apps/) or in the build files that
# add backends, outside comments: what a backend is and does belongs in its plugin folder, so that
# a new backend touches nothing else. Names: bnb, gptq, awq, aqlm, eetq, hqq, inc and bitsandbytes,
# any case, not inside a longer word ("_" and digits separate words here, so "bnb_4bit" counts).
# Comments may name them (PEFT's documented priority order, PEFT's messages they mirror).
#   check_no_backend_names.sh SOURCE_ROOT
set -euo pipefail
root=$1
cd "$root"

files=$(find core apps -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.cmake' -o -name 'CMakeLists.txt' \);
        find . -maxdepth 1 -name CMakeLists.txt; find cmake -name '*.cmake';
        find plugins tests bench -maxdepth 1 -name CMakeLists.txt)
hits=0
for file in $files; do
  # Blank the comments, keeping line numbers: /* ... */ and // in C++, # in CMake.
  case "$file" in
    *.cmake | */CMakeLists.txt | CMakeLists.txt) code=$(sed -E 's/#.*$//' "$file") ;;
    *) code=$(perl -0777 -pe 's{/\*.*?\*/}{$& =~ s/[^\n]//gr}gse; s{//[^\n]*}{}g' "$file") ;;
  esac
  if found=$(grep -niE '(^|[^a-z])(bnb|gptq|awq|aqlm|eetq|hqq|inc|bitsandbytes)([^a-z]|$)' <<<"$code"); then
    while IFS= read -r line; do echo "$file:$line"; done <<<"$found"
    hits=$((hits + 1))
  fi
done
if [ "$hits" -gt 0 ]; then
  echo "backend names outside the plugins in $hits file(s) (above); move that knowledge into the backend's plugin" >&2
  exit 1
fi
echo "no backend names in core/, apps/ or the build files that add backends"
