#!/usr/bin/env bash
# peer.sh -- the conformance kit's scripted peer: herald-pub on a fixed catalogue, playing a
# conversation that a client written from docs/protocol.md must get through (docs/protocol.md,
# "Conformance kit"). Phases, each announced on stdout as "peer: PHASE ..." with the head:
#
#   ready     a store whose newest changes are deletions (a snapshot must still end); start
#             your client now (--snapshot or --from-seq 0)
#   live      five changes committed one by one: you receive them live
#   gap       the publisher stops, six changes are committed, it restarts and publishes them
#             before you have reconnected: heal the gap by replay
#   restored  the store restored from the backup taken at "ready" (same stream_id, a lower
#             head): a replay from your last seq is refused ("beyond the head"); resync
#   recreated a new store (a new stream_id, a smaller catalogue): drop everything, resync
#   done      the publisher stops
#
# usage: bash scripts/peer.sh [--step SECONDS|enter] [--dir DIR] [--pub EP] [--replay EP]
#   --step   how long each phase lasts (default 3), or "enter": wait for a line on stdin
#   --dir    where the stores and the publisher's log go (default: a temporary directory)
# The programs come from $HERALD_BIN (default build/bin). Exit 0 once "done" is printed.
set -euo pipefail
bin=${HERALD_BIN:-$(cd "$(dirname "$0")/.." && pwd)/build/bin}
step=3
dir=
pub_ep=tcp://127.0.0.1:7700
rep_ep=tcp://127.0.0.1:7701
while [ $# -gt 0 ]; do
    case $1 in
    --step) step=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --pub) pub_ep=$2; shift 2 ;;
    --replay) rep_ep=$2; shift 2 ;;
    *) echo "usage: peer.sh [--step SECONDS|enter] [--dir DIR] [--pub EP] [--replay EP]" >&2
       exit 2 ;;
    esac
done
if [ -z "$dir" ]; then
    dir=$(mktemp -d -t herald-peer-XXXXXX)
fi
mkdir -p "$dir"
db=$dir/peer.db
pub=

hs() { "$bin/herald-store" --db "$db" "$@" >/dev/null; }
event() { # ID KIND COUNTRY TITLE
    hs add-event --id "$1" --kind "$2" --country "$3" --title "$4" --start-date 2026-06-01 \
        --end-date 2026-06-03 --city "City of $1"
}
start_pub() {
    "$bin/herald-pub" --db "$db" --bind "$pub_ep" --replay-bind "$rep_ep" --heartbeat-ms 200 \
        2>>"$dir/publisher.log" &
    pub=$!
}
stop_pub() {
    if [ -n "$pub" ]; then
        kill "$pub" 2>/dev/null || true
        wait "$pub" 2>/dev/null || true
        pub=
    fi
}
trap stop_pub EXIT
phase() {
    echo "peer: $1 head=$("$bin/herald-store" --db "$db" head) stream=$2"
    if [ "$step" = enter ]; then
        read -r _ || true
    else
        sleep "$step"
    fi
}
stream() { "$bin/herald-store" --db "$db" export | sed -n 's/^  "stream_id": "\([^"]*\)".*/\1/p'; }

# ready: eight events and two press releases, then deletions as the newest changes
rm -f "$db" "$db"-wal "$db"-shm "$db.backup"
hs init
for i in 1 2 3 4 5 6 7 8; do
    event "ev-$i" "$([ $((i % 2)) = 0 ] && echo conference || echo course)" FR "Event $i"
done
hs add-press-release --id pr-1 --title "Release 1" --published-on 2026-06-04 --event-id ev-1
hs add-press-release --id pr-2 --title "Release 2" --published-on 2026-06-05
event ev-2 conference DE "Event 2, moved to Berlin"
hs cancel-event ev-3 --reason "postponed"
hs delete-press-release pr-2
hs delete-event ev-7
hs delete-event ev-8
cp "$db" "$db.backup"
sid=$(stream)
start_pub
phase ready "$sid"

# live
for i in 1 2 3 4 5; do
    event "live-$i" course TH "Live $i"
    sleep 0.1
done
phase live "$sid"

# gap: committed while the publisher is down, published as soon as it is back
stop_pub
for i in 1 2 3 4 5 6; do
    event "gap-$i" symposium SG "Gap $i"
done
start_pub
phase gap "$sid"

# restored: the backup of "ready" (same stream, lower head), then one change on top
stop_pub
rm -f "$db-wal" "$db-shm"
cp "$db.backup" "$db"
event restored-1 course FR "After the restore"
start_pub
phase restored "$sid"

# recreated: a new store, a new stream
stop_pub
rm -f "$db" "$db-wal" "$db-shm"
hs init
event new-1 convention BR "New 1"
event new-2 convention BR "New 2"
hs delete-event new-2
sid=$(stream)
start_pub
phase recreated "$sid"

stop_pub
echo "peer: done"
