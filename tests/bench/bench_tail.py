#!/usr/bin/env python3
"""bench_tail.py -- where the slowest commits of the latency figure (figure 3) spent their time.

Runs figure 3's measurement (bench_latency: commits at --rate a second, a JSON-log subscriber
on a pipe) under `perf sched record` on CLOCK_MONOTONIC, the clock bench_latency stamps its
samples with (BENCH_LATENCY_SAMPLES), and lays the --top slowest samples beside the
scheduler's trace (`perf sched timehist`): for each, from the commit's return to the line's
arrival, what ran on each CPU for the longest, ours or not, and for how long. A task that is not
Herald's (a kernel thread, another program) running for a millisecond inside the window is
what the commit waited behind; one of ours "running" for milliseconds, when its work is tens of
microseconds, is a CPU the hypervisor took away (steal).

    HERALD_BIN=build-bench/bin python3 tests/bench/bench_tail.py [--rate 1000] [--count 10000]
                                                                 [--top 12] [--keep DIR]
                                                                 [--realtime N] [--hogs K]

--realtime N runs the publisher and the subscriber with --realtime N and bench_latency's
threads under SCHED_FIFO at N + 10; --hogs K adds K CPU-bound processes (figure 10's load).
--syscalls MS also runs `perf trace --duration MS` on the publisher and lists its system
calls that took MS or more, waits for input (poll, epoll_wait, nanosleep...) left out: a
call that blocks the loop shows there (a read of /proc/locks once did, 6 ms). The trace
slows every call of the publisher's (p50 0.1 ms becomes 0.8 ms): it finds, it does not
measure.

Needs perf (linux-perf) and root or kernel.perf_event_paranoid <= 1. Prints a table and, last,
a JSON summary: the percentiles, and for each slow sample its delay and the longest runners.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import machine  # noqa: E402

OURS = ("herald-pub", "herald-sub", "ZMQbg", "bench_latency", "<idle>", "perf", "sleep",
        "python3")  # python3: the --hogs


def timehist(data):
    """Every switch-out as (end, cpu, task, run ms), in time order."""
    out = subprocess.run(["perf", "sched", "timehist", "-i", data], capture_output=True,
                         text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 6 or not parts[1].startswith("[") or "awakened:" in line:
            continue
        try:
            end, run = float(parts[0]), float(parts[-1])
        except ValueError:
            continue
        rows.append((end, parts[1].strip("[]"), parts[2], run))
    return rows


def runners(rows, start, end):
    """The tasks that ran inside [start, end], longest overlap first: (task, cpu, ms)."""
    found = []
    for t_end, cpu, task, run in rows:
        t_start = t_end - run / 1e3
        if t_end < start or t_start > end:
            continue
        overlap = (min(t_end, end) - max(t_start, start)) * 1e3
        if overlap >= 0.05 and not task.startswith("<idle>"):
            found.append((task, cpu, round(overlap, 3), round(run, 3)))
    return sorted(found, key=lambda f: -f[2])


WAITS = ("poll(", "ppoll(", "epoll_wait(", "epoll_pwait(", "nanosleep(", "clock_nanosleep(",
         "select(", "pselect6(", "futex(")


def long_syscalls(path):
    """The lines of a perf trace output that are not waits for input, longest first."""
    try:
        with open(path) as f:
            lines = [line.strip() for line in f if "): " in line]
    except OSError:
        return []

    def ms(line):
        try:
            return float(line.split("(", 1)[1].split("ms)", 1)[0])
        except (IndexError, ValueError):
            return 0.0
    found = [line for line in lines if not any(w in line.split("): ", 1)[1] for w in WAITS)]
    return sorted(found, key=ms, reverse=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--keep", help="keep the trace and the samples in this directory")
    ap.add_argument("--realtime", type=int, default=0, help="herald's --realtime N")
    ap.add_argument("--hogs", type=int, default=0, help="CPU-bound processes beside")
    ap.add_argument("--syscalls", type=float, default=0,
                    help="list the publisher's system calls of at least this many ms")
    args = ap.parse_args()
    if not shutil.which("perf"):
        raise SystemExit("bench_tail: perf not found (apt-get install linux-perf)")
    b = bench.BIN
    work = args.keep or tempfile.mkdtemp(prefix="herald-tail-")
    os.makedirs(work, exist_ok=True)
    db = os.path.join(work, "latency.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    subprocess.run([f"{b}/herald-store", "--db", db, "init"], check=True)
    before = machine.snapshot(work)
    pub_ep = f"tcp://127.0.0.1:{bench.free_port()}"
    extra = bench.realtime_args(args.realtime)
    pub = bench.publisher(db, pub_ep, f"tcp://127.0.0.1:{bench.free_port()}", extra)
    data = os.path.join(work, "sched.data")
    seconds = args.count / args.rate + 6
    samples = os.path.join(work, "samples.txt")
    env = bench.instrument_env(args.realtime + 10 if args.realtime else 0,
                               dict(os.environ, BENCH_LATENCY_SAMPLES=samples))
    with bench.Hogs(args.hogs):
        perf = subprocess.Popen(["perf", "sched", "record", "-k", "mono", "-o", data, "--",
                                 "sleep", str(int(seconds) + 2)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        trace = None
        if args.syscalls:
            trace = subprocess.Popen(["perf", "trace", "--duration", str(args.syscalls), "-p",
                                      str(pub.pid), "-o", os.path.join(work, "syscalls.txt")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        out = subprocess.run([f"{b}/bench_latency", db, str(args.rate), str(args.count), "--",
                              f"{b}/herald-sub", "--connect", pub_ep, "--log-level", "warn",
                              "--sink", "log", "--format", "json"] + extra, check=True,
                             capture_output=True, text=True, timeout=seconds + 120,
                             env=env).stdout
    perf.wait(timeout=seconds + 60)
    if trace:
        trace.send_signal(signal.SIGINT)
        trace.wait(timeout=60)
    bench.stop(pub)
    after = machine.snapshot(work)
    figures = json.loads(out)
    slow = []
    with open(samples) as f:
        for line in f:
            seq, committed, arrived = line.split()
            if float(arrived) > 0 and float(committed) > 0:
                slow.append((float(arrived) - float(committed), int(seq), float(committed),
                             float(arrived)))
    slow.sort(reverse=True)
    rows = timehist(data)
    res = {"latency": figures, "slow": []}
    print(f"latency: {figures}", file=sys.stderr)
    print(f"{'seq':>7} {'delay ms':>9}  longest runners in the window (task, cpu, ms in it, "
          f"its run ms)", file=sys.stderr)
    for delay, seq, committed, arrived in slow[:args.top]:
        found = runners(rows, committed, arrived)
        foreign = [f for f in found if not f[0].startswith(OURS)]
        stalled = [f for f in found if f[0].startswith(OURS) and f[3] >= 1.0]
        res["slow"].append({"seq": seq, "delay_ms": round(delay * 1e3, 3), "runners": found[:4],
                            "not_ours": foreign[:3], "ours_over_1ms": stalled[:3]})
        shown = ", ".join(f"{t} cpu{c} {o} ({r})" for t, c, o, r in found[:3])
        print(f"{seq:>7} {delay * 1e3:>9.3f}  {shown}", file=sys.stderr)
    if trace:
        res["syscalls"] = long_syscalls(os.path.join(work, "syscalls.txt"))
        print(f"the publisher's system calls of {args.syscalls} ms or more, waits left out: "
              f"{len(res['syscalls'])}", file=sys.stderr)
        for line in res["syscalls"][:args.top]:
            print(f"  {line}", file=sys.stderr)
    res["machine"] = machine.verdict(before, after)
    machine.show_verdict(res["machine"])
    print(json.dumps(res, indent=2))
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
