#!/usr/bin/env bash
# README command 1: set up what is missing, build, and run the main job on its built-in default.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bash "$repo/scripts/setup.sh"
exec "$repo/build/bin/oft" demo "$@"
