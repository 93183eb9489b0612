#!/usr/bin/env bash
# test.sh -- the README's test command: installs what is missing, builds Herald under
# AddressSanitizer and UndefinedBehaviorSanitizer, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
build=${HERALD_TEST_BUILD:-build-test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DHERALD_SANITIZE=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure -j"${HERALD_TEST_JOBS:-2}" "$@"

# The same code without sanitizers, under valgrind: no leaks, no invalid accesses.
if [ $# -eq 0 ] && [ "${HERALD_SKIP_VALGRIND:-0}" != 1 ]; then
    vbuild=${build}-valgrind
    cmake -S . -B "$vbuild" -DCMAKE_BUILD_TYPE=Debug -DHERALD_VALGRIND=ON >/dev/null
    cmake --build "$vbuild" -j"$(nproc)"
    ctest --test-dir "$vbuild" --output-on-failure -j2 -R '^valgrind_'
fi
