#!/usr/bin/env bash
# topology.sh -- compose.yaml's topology as local processes, for a laptop or a test: a store
# with the sample page, CURVE keys, a publisher, a log, a mirror and a mail subscriber, and a
# local mail catcher (aiosmtpd into a maildir). Every process has its metrics port; all
# state (store, keys, logs, PIDs) lives under run/topology/.
#
#   bash scripts/topology.sh start     # starts everything, waits until each one is ready
#   bash scripts/topology.sh status    # each process: running and ready? (exit 1 if not all)
#   bash scripts/topology.sh stop      # SIGTERM by recorded PID, waits, exit 0 when all clean
#
# Settings (environment): HERALD_BIN (default build/bin, built when missing),
# HERALD_TOPOLOGY_DIR (default run/topology), HERALD_TOPOLOGY_PORT (first of the ports,
# default 7800: live +0, replay +1, metrics +10..+13, SMTP +25), HERALD_TOPOLOGY_CURVE
# (auto: CURVE when herald-pub has --curve-secret-file; 1; 0).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=${HERALD_BIN:-$root/build/bin}
dir=${HERALD_TOPOLOGY_DIR:-$root/run/topology}
base=${HERALD_TOPOLOGY_PORT:-7800}
py=/usr/bin/python3

pub_ep=tcp://127.0.0.1:$base
rep_ep=tcp://127.0.0.1:$((base + 1))
smtp_port=$((base + 25))
declare -A metrics=([publisher]=$((base + 10)) [sub-log]=$((base + 11))
                    [sub-mirror]=$((base + 12)) [sub-mail]=$((base + 13)))
order=(mailcatcher publisher sub-log sub-mirror sub-mail)

say() { echo "topology: $*" >&2; }

# running NAME: true if NAME's recorded PID is alive and is still our process.
running() {
    local f=$dir/$1.pid pid
    [ -f "$f" ] || return 1
    pid=$(cat "$f")
    [ -d "/proc/$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir"
}

# launch NAME CMD...: starts CMD in the background, stderr to NAME.log, PID to NAME.pid.
launch() {
    local name=$1
    shift
    "$@" </dev/null >>"$dir/$name.out" 2>>"$dir/$name.log" &
    echo $! >"$dir/$name.pid"
}

# ready NAME: asks NAME's /readyz (the mail catcher: its port answers).
ready() {
    case $1 in
    mailcatcher) (exec 3<>"/dev/tcp/127.0.0.1/$smtp_port") 2>/dev/null ;;
    publisher) "$bin/herald-pub" health --metrics "${metrics[$1]}" >/dev/null 2>&1 ;;
    *) "$bin/herald-sub" health --metrics "${metrics[$1]}" >/dev/null 2>&1 ;;
    esac
}

wait_ready() {
    local name=$1 i
    for i in $(seq 1 150); do
        if ready "$name"; then
            return 0
        fi
        if ! running "$name"; then
            say "$name exited; see $dir/$name.log"
            tail -n 5 "$dir/$name.log" >&2 || true
            return 1
        fi
        sleep 0.1
    done
    say "$name is not ready after 15 s; see $dir/$name.log"
    return 1
}

curve_wanted() {
    case ${HERALD_TOPOLOGY_CURVE:-auto} in
    1) return 0 ;;
    0) return 1 ;;
    *) "$bin/herald-pub" --help 2>/dev/null | grep -q -- --curve-secret-file ;;
    esac
}

start() {
    if [ -z "${HERALD_BIN:-}" ] && [ ! -x "$bin/herald-pub" ]; then
        bash scripts/deps.sh
        cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
        cmake --build build -j"$(nproc)" >/dev/null
    fi
    for name in "${order[@]}"; do
        if running "$name"; then
            say "already running ($name); stop it first"
            exit 1
        fi
    done
    mkdir -p "$dir/maildir/tmp" "$dir/maildir/new" "$dir/maildir/cur"
    local db=$dir/herald.db pub_curve=() curve_on=''
    [ -s "$db" ] || "$bin/herald-store" --db "$db" init --sample >/dev/null
    if curve_wanted; then
        mkdir -p "$dir/keys/clients"
        [ -f "$dir/keys/server.key" ] || "$bin/herald-keygen" "$dir/keys/server" >/dev/null
        for a in log mirror mail; do
            [ -f "$dir/keys/clients/$a.key" ] ||
                "$bin/herald-keygen" "$dir/keys/clients/$a" >/dev/null
        done
        pub_curve=(--curve-secret-file "$dir/keys/server.key" --clients "$dir/keys/clients")
        curve_on=1
        say "CURVE on: keys in $dir/keys"
    fi
    local common=(--connect "$pub_ep" --replay "$rep_ep") keys=()
    # sub_keys NAME: the CURVE flags of subscriber NAME in keys (none without CURVE).
    sub_keys() {
        keys=()
        if [ -n "$curve_on" ]; then
            keys=(--server-key "$dir/keys/server.pub"
                  --curve-secret-file "$dir/keys/clients/$1.key")
        fi
    }

    launch mailcatcher "$py" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" \
        -c aiosmtpd.handlers.Mailbox "$dir/maildir"
    wait_ready mailcatcher
    launch publisher "$bin/herald-pub" --db "$db" --bind "$pub_ep" --replay-bind "$rep_ep" \
        --metrics "${metrics[publisher]}" "${pub_curve[@]}"
    wait_ready publisher
    sub_keys log
    launch sub-log "$bin/herald-sub" "${common[@]}" --sink log --from start \
        --out "$dir/announcements.jsonl" --state "$dir/log.state" \
        --metrics "${metrics[sub-log]}" "${keys[@]}"
    sub_keys mirror
    launch sub-mirror "$bin/herald-sub" "${common[@]}" --sink mirror \
        --mirror-db "$dir/mirror.db" --metrics "${metrics[sub-mirror]}" "${keys[@]}"
    sub_keys mail
    launch sub-mail "$bin/herald-sub" "${common[@]}" --sink mail --state "$dir/mail.state" \
        --smtp "smtp://127.0.0.1:$smtp_port" --smtp-starttls off \
        --mail-from herald@localhost --mail-to duty-desk@localhost --digest-every 0 \
        --metrics "${metrics[sub-mail]}" "${keys[@]}"
    for name in sub-log sub-mirror sub-mail; do
        wait_ready "$name"
    done
    say "up: live $pub_ep, replay $rep_ep, store $db"
    say "metrics: publisher ${metrics[publisher]}, sub-log ${metrics[sub-log]}," \
        "sub-mirror ${metrics[sub-mirror]}, sub-mail ${metrics[sub-mail]}"
    say "log sink $dir/announcements.jsonl, mirror $dir/mirror.db, mail $dir/maildir"
}

stop() {
    local rc=0 i pid
    for ((i = ${#order[@]} - 1; i >= 0; i--)); do
        local name=${order[$i]}
        if ! running "$name"; then
            rm -f "$dir/$name.pid"
            continue
        fi
        pid=$(cat "$dir/$name.pid")
        kill -TERM "$pid"
        for _ in $(seq 1 120); do
            [ -d "/proc/$pid" ] || break
            sleep 0.1
        done
        if [ -d "/proc/$pid" ]; then
            say "$name (pid $pid) did not stop within 12 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            rc=1
        fi
        say "$name (pid $pid) stopped"
        rm -f "$dir/$name.pid"
    done
    return $rc
}

status() {
    local rc=0
    for name in "${order[@]}"; do
        if ! running "$name"; then
            echo "$name: stopped"
            rc=1
        elif ready "$name"; then
            echo "$name: running (pid $(cat "$dir/$name.pid")), ready"
        else
            echo "$name: running (pid $(cat "$dir/$name.pid")), NOT ready"
            rc=1
        fi
    done
    return $rc
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
*)
    echo "usage: scripts/topology.sh start|stop|status" >&2
    exit 2
    ;;
esac
