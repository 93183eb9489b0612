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
    # optimised (-O2 -g): the warnings only the optimiser sees fail here, not in the image build
    cmake -S . -B "$vbuild" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERALD_VALGRIND=ON >/dev/null
    cmake --build "$vbuild" -j"$(nproc)"
    ctest --test-dir "$vbuild" --output-on-failure -j2 -R '^valgrind_'
fi

# libFuzzer (clang): each target on a copy of its seed corpus for a bounded time (about 20 s,
# the three in parallel); a crash, a sanitizer report or a leak fails the stage.
if [ $# -eq 0 ] && [ "${HERALD_SKIP_FUZZ:-0}" != 1 ]; then
    fbuild=${build}-fuzz
    cmake -S . -B "$fbuild" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DHERALD_FUZZ=ON \
        -DHERALD_TESTS=ON >/dev/null
    cmake --build "$fbuild" -j"$(nproc)" # the whole tree: clang's warnings, not only gcc's
    ctest --test-dir "$fbuild" --output-on-failure -j3 -R '^fuzz_'
fi

# The containers, for real: the image built from the Dockerfile and compose.yaml's topology
# brought up, checked end to end and taken down (scripts/container-test.sh; podman's Docker
# API and docker-compose, state cached in build-containers/). HERALD_SKIP_CONTAINERS=1 skips
# it for a quick local run; never in CI.
if [ $# -eq 0 ] && { [ "${CI:-}" = true ] || [ "${HERALD_SKIP_CONTAINERS:-0}" != 1 ]; }; then
    bash scripts/container-test.sh
fi
