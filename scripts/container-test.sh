#!/usr/bin/env bash
# container-test.sh -- builds the image from the Dockerfile and runs compose.yaml's topology
# in containers, as an operator would with `docker compose up`, and checks it end to end.
#
# No Docker engine is needed: podman's Docker-compatible API (`podman system service`) stands
# in for it, driven by docker-compose 1.29. The base images the Dockerfile names
# (debian:bookworm, debian:bookworm-slim) are made locally with debootstrap from the Debian
# mirror apt uses; no registry is ever contacted (every registry is blocked). All of podman's
# state (its settings, storage, base images, build cache) lives under build-containers/
# (HERALD_CONTAINER_DIR), so that a second run takes seconds; `rm -rf build-containers`
# starts afresh. Only the containers, volumes and networks of this run's own compose project
# are removed at the end, whatever the outcome.
#
#   bash scripts/container-test.sh          # the whole check; exit 0 when every step passes
#
# The checks: every long-running service becomes healthy (the `relay` and `mail` profiles
# on); the sample's five events reach the log subscriber (its `docker compose logs`) and the
# relay's internal subscriber; an event added with herald-store inside the publisher's
# container reaches the log, the mirror, the relay and a mail digest (an SMTP sink of the
# test's own, deploy/compose/test.yaml); each mirror's export equals the store's;
# `herald-pub health`/`herald-sub health` pass inside; `stop` ends every service with exit 0
# within the grace period, each logging SIGTERM; a restart keeps the state (no announcement
# twice, a new one once); `down -v` leaves no container, volume or network behind, and the
# run no mount (podman's storage is unmounted at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
state=${HERALD_CONTAINER_DIR:-$root/build-containers}
project=heraldct$$
# compose.yaml as it is, less its ulimits: podman without privileges (this sandbox) cannot set
# any rlimit ("error setting rlimit type 6/7: operation not permitted"), and an override file
# cannot remove a key. Everything else is the file operators run; tests/integration/test_ops.py
# checks the ulimits statically.
mkdir -p "$state"
/usr/bin/python3 - "$root/compose.yaml" "$state/compose.yaml" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines(True)
out, skip = [], None
for line in lines:
    indent = len(line) - len(line.lstrip())
    if skip is not None and (line.strip() == "" or line.lstrip().startswith("#") or indent > skip):
        continue
    skip = None
    if line.lstrip().startswith("ulimits:"):
        skip = indent
        continue
    out.append(line)
open(sys.argv[2], "w").write("".join(out))
PY
files=(--project-directory "$root" -f "$state/compose.yaml" -f deploy/compose/test.yaml)
profiles=(--profile relay --profile mail)
t0=$SECONDS
py=/usr/bin/python3
long_running=(publisher sub-log sub-mirror sub-mail relay-mirror relay-pub sub-internal)

say() { echo "container-test: [$((SECONDS - t0))s] $*" >&2; }
die() {
    say "FAIL: $*"
    exit 1
}

# --- packages ---------------------------------------------------------------------------
pkgs=(podman docker-compose debootstrap catatonit netavark aardvark-dns iptables runc
      debian-archive-keyring python3)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

# --- podman's settings, all of them ours -------------------------------------------------
mkdir -p "$state/conf" "$state/storage" "$state/run" "$state/networks"
export CONTAINERS_CONF=$state/conf/containers.conf
export CONTAINERS_REGISTRIES_CONF=$state/conf/registries.conf
export CONTAINERS_STORAGE_CONF=$state/conf/storage.conf
# default_ulimits: runc/crun cannot raise the open-files limit here ("error setting rlimit
# type 7"). runc: crun refuses this machine's hybrid cgroups. No systemd: cgroupfs, file
# events, k8s-file logs. init: true needs catatonit.
cat >"$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = []
init_path = "/usr/bin/catatonit"
log_driver = "k8s-file"
[network]
network_backend = "netavark"
network_config_dir = "$state/networks"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$state/run/libpod"
EOF
cat >"$CONTAINERS_REGISTRIES_CONF" <<'EOF'
unqualified-search-registries = []
short-name-mode = "disabled"
[[registry]]
location = "docker.io"
blocked = true
[[registry]]
location = "quay.io"
blocked = true
[[registry]]
location = "ghcr.io"
blocked = true
[[registry]]
location = "registry.fedoraproject.org"
blocked = true
EOF
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "overlay"
graphroot = "$state/storage"
runroot = "$state/run/storage"
EOF


# --- base images: debootstrap minbase from apt's own mirror -------------------------------
mirror() {
    local uri
    uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' |
        grep -v security | head -n 1 || true)
    [ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' |
        grep -v security | head -n 1 || true)
    echo "${uri:-http://deb.debian.org/debian}"
}
if ! podman image exists docker.io/library/debian:bookworm ||
    ! podman image exists docker.io/library/debian:bookworm-slim; then
    fs=$state/rootfs
    if [ ! -f "$fs.done" ]; then
        say "debootstrap bookworm from $(mirror) (a few minutes, once)"
        rm -rf "$fs"
        debootstrap --variant=minbase bookworm "$fs" "$(mirror)" >"$state/debootstrap.log" 2>&1 ||
            die "debootstrap; see $state/debootstrap.log"
        rm -f "$fs/etc/apt/sources.list"
        cp /etc/apt/sources.list.d/*.sources "$fs/etc/apt/sources.list.d/" 2>/dev/null ||
            cp /etc/apt/sources.list "$fs/etc/apt/sources.list"
        rm -rf "$fs"/var/cache/apt/archives/*.deb "$fs"/var/lib/apt/lists/* "$fs"/tmp/*
        touch "$fs.done"
    fi
    # as Debian's own images: apt keeps no package files or caches in a layer
    cat >"$fs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    tar -C "$fs" -c . | podman import -q - docker.io/library/debian:bookworm >/dev/null
    # slim: as Debian's own, no manual pages, documentation or translations, now or later
    slim=$state/rootfs-slim
    rm -rf "$slim"
    cp -a "$fs" "$slim"
    cat >"$slim/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
    find "$slim/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    rm -rf "$slim"/usr/share/man/* "$slim"/usr/share/info/* "$slim"/usr/share/locale/*
    tar -C "$slim" -c . | podman import -q - docker.io/library/debian:bookworm-slim >/dev/null
    rm -rf "$slim"
    say "base images made"
fi

# --- the images --------------------------------------------------------------------------
# docker format: podman's default OCI format silently drops the HEALTHCHECK.
build() {
    podman build -q --format docker --network host --pull=never "$@" >"$state/build.log" 2>&1 || {
        tail -n 30 "$state/build.log" >&2
        die "podman build $*"
    }
}
say "building herald:latest"
build -t docker.io/library/herald:latest -f Dockerfile .
build -t docker.io/library/herald-smtp-sink:test -f deploy/compose/smtp-sink.Dockerfile \
    deploy/compose
size=$(podman image inspect docker.io/library/herald:latest --format '{{.Size}}')
say "image herald:latest: $((size / 1000000)) MB"
cfg=$(podman image inspect docker.io/library/herald:latest \
    --format '{{.Config.User}} {{json .Config.Healthcheck}}')
case $cfg in
10001* | herald*) ;;
*) die "the image runs as '${cfg%% *}', not herald" ;;
esac
echo "$cfg" | grep -q 'herald-pub' || die "the image lost its HEALTHCHECK: $cfg"

# --- podman's Docker API, a health timer, and cleanup -------------------------------------
sock=$state/run/podman-$project.sock
api_pid=''
health_pid=''
cids=() # the project's containers (full ids), for the cleanup
# Without systemd podman cannot schedule healthchecks: this loop is the timer, paused while
# compose stops the containers (an exec racing a stop can leave its conmon behind).
health_start() {
    (
        while :; do
            for c in $(podman ps -q --filter "label=com.docker.compose.project=$project"); do
                podman healthcheck run "$c" >/dev/null 2>&1 || true
            done
            sleep 2
        done
    ) &
    health_pid=$!
}
health_stop() {
    if [ -n "$health_pid" ]; then
        kill "$health_pid" 2>/dev/null || true
        wait "$health_pid" 2>/dev/null || true
        health_pid=''
        sleep 1 # the check in flight, if any, ends
    fi
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$api_pid" ]; then
        if [ $rc -ne 0 ]; then
            for s in "${long_running[@]}" smtp-sink; do
                dc logs --no-color --tail 15 "$s" >&2 2>/dev/null || true
            done
        fi
        health_stop
        timeout 120 docker-compose -p "$project" "${files[@]}" "${profiles[@]}" \
            down -v --remove-orphans -t 5 >/dev/null 2>&1 || true
    fi
    health_stop
    local label=label=com.docker.compose.project=$project
    podman ps -aq --filter "$label" | xargs -r podman rm -f >/dev/null 2>&1 || true
    # conmon of an exec that met its container stopping can outlive it: ours, by container
    local p id
    for p in $(pgrep -x conmon || true); do
        for id in "${cids[@]}"; do
            if tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -q -- "-c $id "; then
                kill "$p" 2>/dev/null || true
            fi
        done
    done
    podman volume ls -q --filter "$label" | xargs -r podman volume rm -f >/dev/null 2>&1 || true
    podman network ls -q --filter "$label" | xargs -r podman network rm -f >/dev/null 2>&1 || true
    if [ -n "$api_pid" ]; then
        kill "$api_pid" 2>/dev/null || true
        wait "$api_pid" 2>/dev/null || true
    fi
    rm -f "$sock"
    # podman's overlay driver bind-mounts its directory on itself and unmounts it when a podman
    # process shuts down cleanly; one stopped in between (the API service, a health check)
    # leaves the mount, and the tree cannot be removed (EBUSY). The next run mounts it again.
    if mountpoint -q "$state/storage/overlay"; then
        umount "$state/storage/overlay" 2>/dev/null || say "cannot unmount $state/storage/overlay"
    fi
    [ $rc -eq 0 ] && say "ok ($((SECONDS - t0)) s)" || say "failed (exit $rc)"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

podman system service --time=0 "unix://$sock" >"$state/api.log" 2>&1 &
api_pid=$!
export DOCKER_HOST=unix://$sock
for _ in $(seq 1 100); do
    [ -S "$sock" ] && break
    sleep 0.1
done
[ -S "$sock" ] || die "podman system service did not start; see $state/api.log"

health_start

export HERALD_SMTP=smtp://smtp-sink:1025 HERALD_SMTP_STARTTLS=off HERALD_DIGEST_EVERY=2s
# host ports: loopback only (compose.yaml) and free ones, so that no other run is disturbed
free_port() {
    "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
HERALD_PUB_PORT=$(free_port)
HERALD_REPLAY_PORT=$(free_port)
export HERALD_PUB_PORT HERALD_REPLAY_PORT
dc() { timeout 300 docker-compose -p "$project" "${files[@]}" "${profiles[@]}" "$@"; }

# cid SERVICE: the container of SERVICE.
cid() { podman ps -aq --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=$1"; }
health() { podman inspect --format '{{.State.Health.Status}}' "$(cid "$1")" 2>/dev/null || true; }
# wait_for SECONDS WHAT CMD...: until CMD succeeds, or fail naming WHAT.
wait_for() {
    local limit=$1 what=$2
    local deadline=$((SECONDS + limit))
    shift 2
    until "$@"; do
        [ $SECONDS -lt $deadline ] || die "no $what within $limit s"
        sleep 1
    done
    [ $((SECONDS + limit - deadline)) -lt 10 ] || say "$what: $((SECONDS + limit - deadline)) s"
}
all_healthy() {
    local s
    for s in "${long_running[@]}"; do
        [ "$(health "$s")" = healthy ] || return 1
    done
}
# announced SERVICE [TYPE]: the ids of the announcements (of TYPE) in SERVICE's logs, one a
# line: stdout lines with an "id" and no "event" (the log lines on stderr all have one).
announced() {
    podman logs "$(cid "$1")" 2>/dev/null | "$py" -c '
import json, sys
for line in sys.stdin:
    try:
        o = json.loads(line)
    except ValueError:
        continue
    if isinstance(o, dict) and "id" in o and "event" not in o and \
            sys.argv[1] in ("", o.get("type")):
        print(o["id"])' "${2:-}"
}
count_in() { [ "$(announced "$1" | grep -cx "$2")" -ge 1 ]; }
events_in() { [ "$(announced "$1" event | sort -u | wc -l)" -ge "$2" ]; }
store_export() { dc exec -T publisher herald-store --db /data/herald.db export; }
# mirror_equal SERVICE DB: DB's export in SERVICE equals the store's (both kept in $state).
mirror_equal() {
    store_export >"$state/export.store" || return 1
    dc exec -T "$1" herald-store --db "$2" export >"$state/export.$1" 2>/dev/null || return 1
    "$py" - "$state/export.store" "$state/export.$1" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
for doc in (a, b):
    doc.pop("stream_id")  # each store's own identity; the catalogue is the rest
sys.exit(a != b)
PY
}
mailed() { dc exec -T smtp-sink sh -c "grep -l '$1' /mail/new/* 2>/dev/null" >/dev/null; }
add_event() {
    dc exec -T publisher herald-store --db /data/herald.db add-event --id "$1" --kind course \
        --title "$2" --start-date 2026-12-01 --end-date 2026-12-03 --city Lyon --country FR \
        >/dev/null || die "herald-store add-event $1 in the publisher's container"
}

# --- up ---------------------------------------------------------------------------------
say "up: project $project"
dc up -d --no-build >"$state/up.log" 2>&1 || {
    cat "$state/up.log" >&2
    die "docker-compose up"
}
wait_for 120 "healthy services ($(for s in "${long_running[@]}"; do
    echo -n "$s "
done))" all_healthy
say "every long-running service is healthy"
mapfile -t cids < <(podman ps -aq --no-trunc \
    --filter "label=com.docker.compose.project=$project")
for s in "${long_running[@]}"; do
    how=$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}}' "$(cid "$s")")
    [ "$how" = "true 10001:10001" ] || die "$s runs with: $how (want a read-only root, 10001)"
done
for s in store-init keygen; do
    code=$(podman inspect --format '{{.State.ExitCode}}' "$(cid "$s")")
    [ "$code" = 0 ] || die "$s exited $code"
done

wait_for 30 "five sample events in sub-log's logs" events_in sub-log 5
wait_for 30 "five sample events at the relay's sub-internal" events_in sub-internal 5
say "the sample's five events reached sub-log and sub-internal"

add_event ct-1 "Container test one"
wait_for 30 "ct-1 in sub-log's logs" count_in sub-log ct-1
wait_for 30 "ct-1 at sub-internal" count_in sub-internal ct-1
wait_for 30 "a mirror equal to the store" mirror_equal sub-mirror /state/mirror.db
wait_for 30 "a relay mirror equal to the store" mirror_equal relay-mirror /relay/relay.db
wait_for 60 "a digest with ct-1 at the SMTP sink" mailed "Container test one"
say "ct-1 reached the log, the mirror, the relay and a mail digest"

dc exec -T publisher herald-pub health >/dev/null || die "herald-pub health in publisher"
dc exec -T relay-pub herald-pub health >/dev/null || die "herald-pub health in relay-pub"
for s in sub-log sub-mirror sub-mail relay-mirror sub-internal; do
    dc exec -T "$s" herald-sub health >/dev/null || die "herald-sub health in $s"
done
say "herald-pub/herald-sub health pass inside"

# --- stop: every service exits 0 within the grace period, after SIGTERM -----------------
before=$(announced sub-log | sort)
log_cid=$(cid sub-log)
health_stop
start=$SECONDS
dc stop >/dev/null 2>&1 || die "docker-compose stop"
took=$((SECONDS - start))
for s in "${long_running[@]}"; do
    code=$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$(cid "$s")")
    [ "$code" = "exited 0" ] || die "$s after stop: $code"
    case $s in
    publisher | relay-pub) want='"pub.stopping"' ;;
    *) want='"sub.stopping"' ;;
    esac
    podman logs "$(cid "$s")" 2>&1 | grep "$want" | grep -q '"SIGTERM"' ||
        die "$s did not log its stop on SIGTERM"
done
# exit 0, not 137: each one stopped by itself within its grace period (15 s), never killed;
# compose stops them one dependency level after another (sub-internal, relay-pub, ...).
for s in "${long_running[@]}"; do
    podman inspect --format "$s {{.State.StartedAt}} {{.State.FinishedAt}}" "$(cid "$s")"
done >"$state/stop.times"
[ $took -lt 30 ] || die "stop took $took s"
say "stop: every service exited 0 after SIGTERM ($took s)"

# --- restart: the state is kept, nothing announced twice --------------------------------
health_start
dc up -d --no-build >"$state/up.log" 2>&1 || {
    cat "$state/up.log" >&2
    die "docker-compose up (restart)"
}
wait_for 120 "healthy services after the restart" all_healthy
[ "$(cid sub-log)" = "$log_cid" ] || die "sub-log's container was recreated on restart"
add_event ct-2 "Container test two"
wait_for 30 "ct-2 in sub-log's logs after the restart" count_in sub-log ct-2
wait_for 30 "ct-2 at sub-internal after the restart" count_in sub-internal ct-2
wait_for 30 "a mirror equal to the store after the restart" \
    mirror_equal sub-mirror /state/mirror.db
sleep 2
dups=$(announced sub-log | sort | uniq -d)
[ -z "$dups" ] || die "announced twice after the restart: $dups"
dups=$(announced sub-internal | sort | uniq -d)
[ -z "$dups" ] || die "sub-internal announced twice after the restart: $dups"
[ "$(announced sub-log | grep -vx ct-2 | sort)" = "$before" ] ||
    die "sub-log's announcements changed across the restart"
say "restart: state kept, ct-2 announced once, nothing twice"

# --- down -v: nothing left ----------------------------------------------------------------
health_stop
dc down -v >/dev/null 2>&1 || die "docker-compose down -v"
label=label=com.docker.compose.project=$project
left="$(podman ps -aq --filter "$label") $(podman volume ls -q --filter "$label")"
left="$left $(podman network ls -q --filter "$label")"
left="$left $(podman volume ls -q | grep "^${project}_" || true)"
[ -z "${left// /}" ] || die "left behind by down -v: $left"
say "down -v: no container, volume or network left"
