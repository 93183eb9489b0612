#!/usr/bin/env python3
"""bench_relay.py -- the delay a relay hop adds: commit -> subscriber latency measured with
bench_latency straight from the origin's publisher and through a relay (a mirror subscriber
of the origin and a publisher of its own on the mirror's store), alternately, in one run.

Usage: HERALD_BIN=build-bench/bin python3 tests/bench/bench_relay.py [--rate 100]
           [--count 2000] [--repeat 2]

Both stores start empty, so the relay's store numbers the changes as the origin does (one
mirrored change for each change) and bench_latency matches arrivals by seq on either path.
Prints one JSON document on stdout (each run's p50/p99/p99.9, the best of each path, the
hop's cost as the difference of the medians of p50 and of p99) and progress on stderr, with the
machine's state over the run (machine.py)."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import machine  # noqa: E402


def endpoint():
    return f"tcp://127.0.0.1:{bench.free_port()}"


def wait_file(path, seconds):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_relay: {path} did not appear within {seconds} s")
        time.sleep(0.05)


def run(binp, work, name, through_relay, rate, count):
    """One bench_latency run on fresh stores; returns its figures."""
    sub = os.path.join(work, name)
    os.makedirs(sub)
    origin, mirror = os.path.join(sub, "origin.db"), os.path.join(sub, "relay.db")
    subprocess.run([f"{binp}/herald-store", "--db", origin, "init"], check=True)
    o_pub, o_rep = endpoint(), endpoint()
    procs = [bench.publisher(origin, o_pub, o_rep)]
    try:
        target = (o_pub, o_rep)
        if through_relay:
            r_pub, r_rep = endpoint(), endpoint()
            procs.append(subprocess.Popen([f"{binp}/herald-sub", "--connect", o_pub, "--replay",
                                           o_rep, "--sink", "mirror", "--mirror-db", mirror,
                                           "--log-level", "warn"]))
            wait_file(mirror, 30)
            procs.append(bench.publisher(mirror, r_pub, r_rep))
            target = (r_pub, r_rep)
        out = subprocess.run([f"{binp}/bench_latency", origin, str(rate), str(count), "--",
                              f"{binp}/herald-sub", "--connect", target[0], "--replay",
                              target[1], "--log-level", "warn", "--sink", "log", "--format",
                              "json"], check=True, capture_output=True, text=True,
                             timeout=120 + 2 * count // max(rate, 1)).stdout
        return json.loads(out)
    finally:
        for p in reversed(procs):
            bench.stop(p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=100, help="commits a second")
    ap.add_argument("--count", type=int, default=2000, help="commits measured per run")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    binp = os.path.abspath(bench.BIN)
    res = {"rate": args.rate, "count": args.count, "direct": [], "relay": []}
    with tempfile.TemporaryDirectory(prefix="herald-bench-relay-") as work:
        before = machine.snapshot(work)
        for k in range(args.repeat):
            for path in ("direct", "relay"):
                r = run(binp, work, f"{path}-{k}", path == "relay", args.rate, args.count)
                res[path].append(r)
                print(f"{path}: {r}", file=sys.stderr)
        res["machine"] = machine.verdict(before, machine.snapshot(work))
    for key in ("p50_ms", "p99_ms"):
        d = statistics.median(r[key] for r in res["direct"])
        r = statistics.median(r[key] for r in res["relay"])
        res[f"hop_{key}"] = round(r - d, 3)
    print(f"a relay hop adds {res['hop_p50_ms']} ms at p50, {res['hop_p99_ms']} ms at p99"
          f" (medians of {args.repeat} runs each)", file=sys.stderr)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
