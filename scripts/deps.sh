#!/usr/bin/env bash
# deps.sh -- install the Debian 12 packages Herald builds, tests and runs with (idempotent).
set -euo pipefail
pkgs=(build-essential cmake pkg-config clang prometheus
      libzmq3-dev libsodium-dev libprotobuf-c-dev protobuf-c-compiler libsqlite3-dev sqlite3
      libjansson-dev libcurl4-openssl-dev libssl-dev libcmocka-dev
      python3 python3-zmq python3-aiosmtpd valgrind
      libmicrohttpd-dev docker-compose python3-prometheus-client python3-protobuf
      protobuf-compiler openssl clang-format
      libical-dev libxml2-dev python3-icalendar python3-feedparser
      libnats-dev nats-server libfiu0 fiu-utils faketime help2man iproute2)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
