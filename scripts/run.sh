#!/usr/bin/env bash
# run.sh -- the README's main job: installs what is missing, builds Herald, makes the sample
# store (run/herald.db) if there is none, starts a publisher on it and a subscriber that
# prints every announcement as a line of text, from the start of the history, then live.
# In another terminal, `build/bin/herald-store --db run/herald.db add-event ...` shows up here.
# Ctrl-C stops both. HERALD_RUN_SECONDS=N stops them after N seconds (used by the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
bin=$PWD/build/bin
mkdir -p run
db=${HERALD_DB:-run/herald.db}
[ -f "$db" ] || "$bin/herald-store" --db "$db" init --sample
pub_ep=${HERALD_PUB_BIND:-tcp://127.0.0.1:7700}
rep_ep=${HERALD_REPLAY_BIND:-tcp://127.0.0.1:7701}

log_start=$(( $(stat -c %s run/publisher.log 2>/dev/null || echo 0) + 1 ))
"$bin/herald-pub" --db "$db" --bind "$pub_ep" --replay-bind "$rep_ep" --log-format text \
    2>>run/publisher.log &
pub=$!
trap 'kill "$pub" 2>/dev/null; wait "$pub" 2>/dev/null' EXIT
# Wait for the publisher to be up (pub.started); if it stops instead (a port taken, another
# publisher on the store), say so and stop, rather than leave a subscriber that hears nothing.
for _ in $(seq 100); do
    if tail -c +"$log_start" run/publisher.log | grep -q 'pub.started'; then
        break
    fi
    if ! kill -0 "$pub" 2>/dev/null; then
        status=0
        wait "$pub" || status=$?
        echo "herald: the publisher stopped at start (exit $status); its log says:" >&2
        tail -c +"$log_start" run/publisher.log | tail -n 5 >&2
        echo "herald: is $pub_ep or $rep_ep taken by another program (ss -ltnp)?" \
             "Set HERALD_PUB_BIND and HERALD_REPLAY_BIND to free ports." >&2
        exit 1
    fi
    sleep 0.1
done
echo "herald: publisher $pub on $pub_ep (replay $rep_ep), store $db; log in run/publisher.log" >&2
echo "herald: try, in another terminal:" >&2
echo "  $bin/herald-store --db $db add-event --id demo-1 --kind course --title 'Demo course' \\" >&2
echo "      --start-date 2026-12-01 --end-date 2026-12-03 --city Lyon --country FR" >&2
sub_args=(--connect "$pub_ep" --replay "$rep_ep" --from start --sink log --format text
          --log-format text --log-level warn)
if [ -n "${HERALD_RUN_SECONDS:-}" ]; then
    timeout --signal=TERM "$HERALD_RUN_SECONDS" "$bin/herald-sub" "${sub_args[@]}" || true
else
    "$bin/herald-sub" "${sub_args[@]}"
fi
