#!/usr/bin/env bash
# bench.sh -- builds Herald optimised (no sanitizers) and prints every figure of
# docs/performance.md, measured in one run. Takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DHERALD_SANITIZE=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" >/dev/null
HERALD_BIN=$PWD/build-bench/bin exec /usr/bin/python3 tests/bench/bench.py "$@"
