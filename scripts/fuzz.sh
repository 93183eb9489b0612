#!/usr/bin/env bash
# fuzz.sh -- a long libFuzzer run of Herald's fuzz targets, outside the quick CI stage.
#
#   bash scripts/fuzz.sh TARGET|all SECONDS [JOBS]
#
# Builds the fuzz tree (clang, -DHERALD_FUZZ=ON, ASan+UBSan, as scripts/test.sh does) in
# build-fuzz/, runs each target for SECONDS with JOBS parallel workers (default: the number
# of CPUs) on a working copy of its corpus, then merges what they found back into
# tests/fuzz/corpus/<target>/ (-merge=1: only inputs that add coverage), so the corpus in
# the repository grows with every run; commit it. Crashes are left as
# build-fuzz/fuzz-runs/<target>/crash-* and fail the script. Prints, per target, the inputs
# run in total and per second (summed over the workers).
set -euo pipefail
cd "$(dirname "$0")/.."

targets_all="fuzz_announcement fuzz_replay_request fuzz_import"
if [ $# -lt 2 ] || ! [[ $2 =~ ^[0-9]+$ ]]; then
    echo "usage: bash scripts/fuzz.sh TARGET|all SECONDS [JOBS]   (targets: $targets_all)" >&2
    exit 2
fi
want=$1
seconds=$2
jobs=${3:-$(nproc)}
if [ "$want" = all ]; then
    targets=$targets_all
elif [[ " $targets_all " == *" $want "* ]]; then
    targets=$want
else
    echo "fuzz.sh: unknown target '$want' (targets: $targets_all)" >&2
    exit 2
fi

build=build-fuzz
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DHERALD_FUZZ=ON \
    -DHERALD_TESTS=ON >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc)" --target $targets >/dev/null

status=0
for t in $targets; do
    run=$build/fuzz-runs/$t
    rm -rf "$run"
    mkdir -p "$run/corpus"
    cp tests/fuzz/corpus/"$t"/* "$run/corpus/" 2>/dev/null || true
    before=$(ls tests/fuzz/corpus/"$t" | wc -l)
    echo "== $t: ${seconds}s, $jobs workers, corpus $before inputs"
    # -fork: one supervisor, JOBS children sharing the corpus; -ignore_crashes=0 stops at
    # the first crash. Each child's stats go to the log; the supervisor's to stderr.
    set +e
    (cd "$run" && ASAN_OPTIONS=detect_leaks=1 "../../bin/$t" -fork="$jobs" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
        corpus >log 2>&1)
    rc=$?
    set -e
    # The fork supervisor's last "#N: cov: ..." line counts the inputs of all workers.
    last=$(grep -E '^#[0-9]+' "$run/log" | tail -1 || true)
    total=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$last")
    total=${total:-0}
    rate=$((total / (seconds > 0 ? seconds : 1)))
    if [ "$rc" -ne 0 ] || ls "$run"/crash-* "$run"/leak-* "$run"/timeout-* >/dev/null 2>&1; then
        echo "!! $t failed (exit $rc); see $run/log and $run/crash-*"
        status=1
    fi
    "$build/bin/$t" -merge=1 tests/fuzz/corpus/"$t" "$run/corpus" >"$run/merge.log" 2>&1
    after=$(ls tests/fuzz/corpus/"$t" | wc -l)
    echo "$t: $total inputs in ${seconds}s, ${rate} inputs/s, corpus $before -> $after"
done
exit $status
