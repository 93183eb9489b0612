"""bench_fanout.py -- one herald-pub with CURVE, N subscribers' sockets, 100 commits a second:
commit -> last subscriber p50/p99, the connect storm, lost and duplicated deliveries and the
publisher's peak memory (VmHWM).

The publisher is pinned to one core and the harness, bench_fanout (a C program: one process
with N subscribers, each with its own CURVE key, listed in the publisher's --clients
directory), to another (taskset), so that the harness does not steal the publisher's core.
Its subscribers are its own light ZMTP 3.0 + CURVE client (--client zmtp, the default:
tests/bench/zmtp_curve.c, a read and a decryption a delivery), or libzmq SUB sockets (--client
libzmq, which cost the harness as much CPU a delivery as the publisher). With --spin the
harness never sleeps, so that the publisher does not pay for waking it (a cost that
subscribers on machines of their own do not put on it).
Commits are written by this process straight into the store (SQLite; the store's triggers log
the changes); the delay is measured by the harness from each announcement's committed_at_ms
to its arrival at the last subscriber (wall clock; committed_at_ms has ms resolution).

usage: /usr/bin/python3 tests/bench/bench_fanout.py [--bin build/bin] [--n 100 1000] [--seconds 10]
                                          [--rate 100] [--pub-cpu 0] [--harness-cpu 1]
                                          [--io-threads N] [--sndhwm N] [--heartbeat-ms MS]
                                          [--realtime N]
                                          [--zmtp-heartbeat-ms MS]
                                          [--repeat N] [--grace S]
                                          [--harness-procs K] [--storm-timeout S]
                                          [--client libzmq|zmtp] [--spin]
                                          [--limit-every 10] [--event-every 10]
       --io-threads, --sndhwm, --zmtp-heartbeat-ms and --realtime are passed to herald-pub
       when given.

Each run prints one JSON line, with the machine's state over it (machine.py: load, steal,
busy, fsync; the verdict "too noisy to judge" when a threshold is crossed), the publisher's
memory before the subscribers connect and its peak at the end, and the difference per
connection (per_conn_kib: (VmHWM at the end - VmRSS before the storm) / N). The CPU time of
the publisher and of the harness from the storm to the end is reported as a share of that
wall time (pub_cpu_pct, harness_cpu_pct: near 100 % the one at it, not the other, sets the
delays; "saturated" names each side at 90 % or more of its core: a run whose harness is
saturated says more about the harness than about the publisher), and the publisher's per message delivered (pub_us_per_delivery, heartbeats included;
the storm's handshakes are in its CPU too, so it is an upper bound). A commit that has not reached every socket GRACE seconds after the last commit counts
as lost for the sockets it has not reached, and makes the delay percentiles it falls in null.

The open-files limit is raised here before the programs start (the soft one to the hard one,
the hard one too where allowed): the harness holds two descriptors a socket (its TCP connection
and its mailbox's eventfd), the publisher one a connection. Where the hard limit is too low
for N sockets in one process (20,000 in a container without CAP_SYS_RESOURCE), the sockets
are shared among as many harness processes as needed, all pinned to the harness's core, and
their results merged per commit (bench_fanout's "per_commit")."""
import argparse
import json
import os
import resource
import select
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import machine  # noqa: E402


SATURATED = 90.0  # % of a core: the side at it or over sets the delays


def proc_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        return next(int(x.split()[1]) for x in f if x.startswith(key + ":"))


def s_cpu_s(pid):
    """User + system CPU seconds of pid so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def s_raise_nofile(n):
    """Raises this process's soft open-files limit (inherited by the publisher and the
    harness) to the hard one, and the hard one to what N connections need where allowed (root
    with CAP_SYS_RESOURCE). Returns the soft limit it runs with."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(hard, 2 * n + 1024) if hard != resource.RLIM_INFINITY else hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pct(per_seq, p, missing=0):
    """The p-th percentile of the commits' delays to their last subscriber; a commit that did
    not reach every socket meant to receive it (but missing) is infinitely late (None when the
    percentile falls on one)."""
    delays = sorted(d if c >= want - missing else float("inf") for c, d, want in per_seq)
    if not delays:
        return None
    v = delays[min(len(delays) - 1, int(len(delays) * p / 100))]
    return None if v == float("inf") else round(v, 1)


def s_harnesses(args, harness_bin, endpoint, server_pub, clients, n, nofile):
    """Starts the harness processes pinned to --harness-cpu, each with its share of the n
    sockets (as many processes as the open-files limit needs: two descriptors a socket), and
    waits until each has written its keys."""
    per_proc = max(1, (nofile - 256) // 2)
    procs = max(args.harness_procs, -(-n // per_proc))
    hs, start = [], 0
    for k in range(procs):
        share = n // procs + (k < n % procs)
        hs.append(subprocess.Popen(
            ["taskset", "-c", str(args.harness_cpu), harness_bin,
             "run-zmtp" if args.client == "zmtp" else "run", endpoint, server_pub,
             clients, str(share), str(start), str(args.seconds + args.grace + 60 + n / 100),
             str(args.grace)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=dict(os.environ, BENCH_FANOUT_SPIN="1" if args.spin else "0",
                     BENCH_FANOUT_LIMIT_EVERY=str(args.limit_every))))
        start += share
    for h in hs:
        if h.stdout.readline().strip() != "keys":
            raise SystemExit("bench_fanout: no keys")
    return hs


def s_wait_connected(hs, timeout):
    """True when every harness has printed "connected" (all its sockets had a first message)
    within timeout seconds; False when the storm took longer (the run then goes on with the
    sockets that are in, and the harness says how many)."""
    deadline = time.monotonic() + timeout
    waiting = list(hs)
    while waiting:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([h.stdout for h in waiting], [], [], max(0, left))
        if not ready:
            return False
        for h in [h for h in waiting if h.stdout in ready]:
            line = h.stdout.readline().strip()
            if line != "connected":
                raise SystemExit(f"bench_fanout: {line!r} instead of connected")
            waiting.remove(h)
    return True


def s_result_line(h):
    """The harness's JSON line, after a late "connected" if the storm outlasted the wait."""
    line = h.stdout.readline().strip()
    return h.stdout.readline().strip() if line == "connected" else line


def s_tell(hs, order):
    for h in hs:
        h.stdin.write(order + "\n")
        h.stdin.flush()


def run(args, n):
    nofile = s_raise_nofile(n)
    w = tempfile.mkdtemp(prefix="herald-fanout-")
    try:
        db = os.path.join(w, "h.db")
        subprocess.run([os.path.join(args.bin, "herald-store"), "--db", db, "init"], check=True,
                       capture_output=True)
        harness_bin = os.path.join(args.bin, "bench_fanout")
        server_pub, server_sec = subprocess.run([harness_bin, "keypair"], check=True,
                                                capture_output=True, text=True).stdout.split()
        with open(os.path.join(w, "server.key"), "w") as f:
            f.write(server_sec + "\n")
        clients = os.path.join(w, "clients")
        os.mkdir(clients)
        port = 27000 + os.getpid() % 3000
        endpoint = f"tcp://127.0.0.1:{port}"
        # the harnesses write the N client public keys into clients/ before the publisher starts
        hs = s_harnesses(args, harness_bin, endpoint, server_pub, clients, n, nofile)
        pub_args = ["taskset", "-c", str(args.pub_cpu), os.path.join(args.bin, "herald-pub"),
                    "--db", db, "--bind", endpoint, "--replay-bind",
                    f"tcp://127.0.0.1:{port + 1}", "--heartbeat-ms", str(args.heartbeat_ms),
                    "--curve-secret-file", os.path.join(w, "server.key"), "--clients", clients]
        if args.sndhwm:
            pub_args += ["--sndhwm", str(args.sndhwm)]
        if args.io_threads:
            pub_args += ["--io-threads", str(args.io_threads)]
        if args.realtime:
            pub_args += ["--realtime", str(args.realtime)]
        if args.zmtp_heartbeat_ms is not None:
            pub_args += ["--zmtp-heartbeat-ms", str(args.zmtp_heartbeat_ms)]
        before = machine.snapshot(w)
        publisher = subprocess.Popen(pub_args, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(w, "pub.log"), "wb"))
        time.sleep(0.5)
        rss0 = proc_kib(publisher.pid, "VmRSS")
        pub_cpu0 = s_cpu_s(publisher.pid)
        wall0 = time.monotonic()
        s_tell(hs, "connect")
        storm_done = s_wait_connected(hs, args.storm_timeout)
        commits = 0
        con = sqlite3.connect(db)
        con.execute("PRAGMA busy_timeout=5000")
        # commit k is due at start + k / rate: a schedule, not a pause after each commit,
        # so that the commits' own time does not lower the rate (a late one is not skipped)
        # Every --event-every-th commit, and the last, is a conference in France, which the
        # limited sockets receive too; the others are press releases.
        t_start = time.monotonic()
        t_end = t_start + args.seconds
        events = 0
        while True:
            final = time.monotonic() >= t_end
            event = final or (args.event_every > 0 and commits % args.event_every
                              == args.event_every - 1)
            with con:
                if event:
                    con.execute("INSERT INTO events (id, kind, title, start_date, end_date, "
                                "city, country) VALUES (?, 'conference', ?, '2027-01-11', "
                                "'2027-01-12', 'Lyon', 'FR')",
                                (f"ev-{commits}", f"Conference {commits}"))
                else:
                    con.execute("INSERT INTO press_releases (id, title, published_on) VALUES "
                                "(?, ?, '2026-11-30')", (f"pr-{commits}", f"Release {commits}"))
            commits += 1
            events += event
            if final:
                break
            time.sleep(max(0.0, t_start + commits / args.rate - time.monotonic()))
        commit_rate = commits / (time.monotonic() - t_start)
        first, last = con.execute("SELECT min(seq), max(seq) FROM changes").fetchone()
        con.close()
        s_tell(hs, f"end {first} {last}")
        outs = [json.loads(s_result_line(h)) for h in hs]
        for h in hs:
            h.wait()
        wall = time.monotonic() - wall0
        hwm = proc_kib(publisher.pid, "VmHWM")
        pub_cpu = s_cpu_s(publisher.pid) - pub_cpu0
        publisher.terminate()
        try:
            publisher.wait(timeout=30)
            stop_hung = False
        except subprocess.TimeoutExpired:  # seen at N = 10,000: stuck in libzmq at its exit
            publisher.kill()
            publisher.wait()
            stop_hung = True
        state = machine.verdict(before, machine.snapshot(w))
        # per commit: the sockets it reached in all the harnesses, and its latest arrival
        per_seq = [(sum(c for c, _, _ in seq), max((d for c, d, _ in seq if c), default=None),
                    sum(want for _, _, want in seq))
                   for seq in zip(*(o["per_commit"] for o in outs))]
        storms = [o["storm_s"] for o in outs]
        drains = [o["drain_s"] for o in outs]
        connected = sum(o["connected"] for o in outs)
        delivered = sum(o["deliveries"] + o["heartbeats"] for o in outs)
        pub_pct = round(100 * pub_cpu / wall, 1)
        harness_pct = round(100 * sum(o["cpu_s"] for o in outs) / wall, 1)
        # A side at SATURATED of its core queues the deliveries: the delays are its, so the
        # run measures the publisher only when the harness is not the one saturated.
        saturated = [name for name, pct_ in (("publisher", pub_pct), ("harness", harness_pct))
                     if pct_ >= SATURATED]
        return {"n": n, "commits": commits, "commit_rate": round(commit_rate, 1),
                "p50_ms": pct(per_seq, 50),
                "p99_ms": pct(per_seq, 99), "max_ms": pct(per_seq, 100),
                "storm_s": None if None in storms else max(storms),
                "connected": connected, "storm_before_commits": storm_done,
                # with sockets missing: the delays to the last of those that were in
                "p50_ms_connected": pct(per_seq, 50, n - connected) if connected < n else None,
                "p99_ms_connected": pct(per_seq, 99, n - connected) if connected < n else None,
                "lost": sum(o["lost"] for o in outs), "dup": sum(o["dup"] for o in outs),
                # limited to event.conference. (a grant, or their own subscription), and what
                # they received outside it (must be 0)
                "limited": sum(o["limited"] for o in outs),
                "leaked": sum(o["leaked"] for o in outs), "events": events,
                "sockets_with_loss": sum(o["sockets_with_loss"] for o in outs),
                "drain_s": None if min(drains) < 0 else max(drains),
                "pub_vmhwm_mib": round(hwm / 1024, 1), "pub_rss_idle_mib": round(rss0 / 1024, 1),
                "per_conn_kib": round((hwm - rss0) / n, 1),
                "wall_s": round(wall, 1), "pub_cpu_s": round(pub_cpu, 2),
                "pub_cpu_pct": pub_pct,
                # the publisher's CPU per message delivered (announcements and heartbeats; the
                # storm's handshakes are in the CPU too, so an upper bound)
                "pub_us_per_delivery": round(1e6 * pub_cpu / max(1, delivered), 1),
                "harness_cpu_pct": harness_pct, "saturated": saturated,
                "harness_procs": len(hs), "client": args.client, "spin": args.spin,
                "pub_stop_hung": stop_hung,
                "harness_maxrss_mib": round(sum(o["maxrss_kib"] for o in outs) / 1024, 1),
                "io_threads": args.io_threads or 1, "realtime": args.realtime, "sndhwm": args.sndhwm or 10000,
                "heartbeat_ms": args.heartbeat_ms, "zmtp_heartbeat_ms": args.zmtp_heartbeat_ms,
                "machine": {k: state[k] for k in ("before", "after", "steal_pct", "busy_pct",
                                                  "verdict", "crossed")}}
    finally:
        shutil.rmtree(w, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--n", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--pub-cpu", type=int, default=0)
    ap.add_argument("--harness-cpu", type=int, default=1)
    ap.add_argument("--sndhwm", type=int, default=0)
    ap.add_argument("--io-threads", type=int, default=0)
    ap.add_argument("--realtime", type=int, default=0, help="herald-pub's --realtime N")
    ap.add_argument("--zmtp-heartbeat-ms", type=int, default=None,
                    help="herald-pub's --zmtp-heartbeat-ms (its default: 2000; 0: none)")
    ap.add_argument("--heartbeat-ms", type=int, default=100,
                    help="the publisher's --heartbeat-ms: the storm ends at a socket's first "
                         "message, so it is measured to this much (herald-pub's default is "
                         "1000, a tenth of the deliveries at 100 commits a second)")
    ap.add_argument("--grace", type=float, default=10,
                    help="seconds after the last commit for every socket to receive it")
    ap.add_argument("--storm-timeout", type=float, default=60,
                    help="seconds to wait for every socket's first message before committing")
    ap.add_argument("--harness-procs", type=int, default=1,
                    help="at least this many harness processes (more if the open-files "
                         "limit needs them)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each N, every one printed")
    ap.add_argument("--client", choices=("libzmq", "zmtp"), default="zmtp",
                    help="the harness's subscribers: libzmq SUB sockets, or its light ZMTP 3.0 "
                         "+ CURVE client (tests/bench/zmtp_curve.c), a read and a decryption a "
                         "delivery")
    ap.add_argument("--limit-every", type=int, default=10,
                    help="every K-th subscriber (0: none) receives conferences only, by its "
                         "grant or its own subscription in turn (issue 19's setting: a tenth)")
    ap.add_argument("--event-every", type=int, default=10,
                    help="every K-th commit (and the last) is a conference, the rest press "
                         "releases")
    ap.add_argument("--spin", action="store_true",
                    help="the harness never sleeps (epoll_wait without a timeout): on one "
                         "machine, waking a sleeping subscriber is the sender's cost, which "
                         "a subscriber on a machine of its own does not put on the publisher")
    args = ap.parse_args()
    print(f"load {os.getloadavg()[0]:.2f}, cpus {os.cpu_count()}")
    for n in args.n:
        for _ in range(max(1, args.repeat)):
            r = run(args, n)
            print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
