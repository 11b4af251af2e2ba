#!/usr/bin/env bash
# Fails when a backend's name appears in the host's code (core/, apps/), in the build files that
# add backends, or in the generic fuzzing and reliability code (fuzz/, tests/reliability/, scripts/fuzz.sh,
# seed corpora included), outside comments: what a backend is and does belongs in its plugin folder, so that
# a new backend touches nothing else. Names: bnb, gptq, awq, aqlm, eetq, hqq, inc and bitsandbytes,
# any case, not inside a longer word ("_" and digits separate words here, so "bnb_4bit" counts).
# Comments may name them (PEFT's documented priority order, PEFT's messages they mirror).
#   check_no_backend_names.sh SOURCE_ROOT
set -euo pipefail
root=$1
cd "$root"

files=$(find core apps -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.cmake' -o -name 'CMakeLists.txt' \);
        find . -maxdepth 1 -name CMakeLists.txt; find cmake -name '*.cmake';
        find plugins tests bench -maxdepth 1 -name CMakeLists.txt;
        find fuzz tests/reliability -type f; echo scripts/fuzz.sh)
hits=0
for file in $files; do
  # Blank the comments, keeping line numbers: /* ... */ and // in C++, # in CMake.
  case "$file" in
    *.cmake | */CMakeLists.txt | CMakeLists.txt) code=$(sed -E 's/#.*$//' "$file") ;;
    *.sh) code=$(sed -E 's/(^|[[:space:]])#.*$//' "$file") ;;  # not $# or ${#x}
    *.h | *.cpp) code=$(perl -0777 -pe 's{/\*.*?\*/}{$& =~ s/[^\n]//gr}gse; s{//[^\n]*}{}g' "$file") ;;
    *) code=$(tr -d '\0' <"$file") ;;  # data (seed corpora): no comments to spare
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
echo "no backend names in core/, apps/, the build files that add backends, fuzz/, tests/reliability/ or scripts/fuzz.sh"
