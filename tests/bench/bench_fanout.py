"""bench_fanout.py -- one herald-pub with CURVE, N subscribers' sockets, 100 commits a second:
commit -> last subscriber p50/p99, the connect storm, lost and duplicated deliveries and the
publisher's peak memory (VmHWM).

The publisher is pinned to one core and the harness (one process with N ZeroMQ SUB sockets,
each with its own CURVE key, listed in the publisher's --clients directory) to another
(taskset), so that the harness does not steal the publisher's core. Commits are written by
this process straight into the store (SQLite; the store's triggers log the changes); the
delay is measured from each announcement's committed_at_ms to its arrival at the last
subscriber (wall clock, ms resolution).

usage: /usr/bin/python3 tests/bench/bench_fanout.py [--bin build/bin] [--n 100 1000] [--seconds 10]
                                          [--rate 100] [--pub-cpu 0] [--harness-cpu 1]
                                          [--io-threads N] [--sndhwm N] [--repeat N]
       --io-threads and --sndhwm are passed to herald-pub when given.

Each run prints one JSON line, with the machine's state over it (machine.py: load, steal,
busy, fsync; the verdict "too noisy to judge" when a threshold is crossed), the publisher's
peak memory before the subscribers connect and at the end, and the difference per connection
(per_conn_kib: (VmHWM at the end - VmRSS before the storm) / N). The harness's own CPU time
is reported too (harness_cpu_pct of the run): near 100 % the harness, not the publisher, sets
the delays."""
import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import machine  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import read_varint  # noqa: E402


def proc_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        return next(int(x.split()[1]) for x in f if x.startswith(key + ":"))


def harness(args):
    """The subscribers' side (run as a child process): prints one JSON line of results."""
    import zmq
    ctx = zmq.Context(io_threads=1)
    ctx.setsockopt(zmq.MAX_SOCKETS, args.n + 64)
    socks = []
    t0 = time.monotonic()
    for i in range(args.n):
        s = ctx.socket(zmq.SUB)
        s.curve_secretkey = args.secrets[i].encode()
        s.curve_publickey = args.publics[i].encode()
        s.curve_serverkey = args.server.encode()
        s.setsockopt(zmq.RCVHWM, 100000)
        s.setsockopt(zmq.SUBSCRIBE, b"")
        s.connect(args.endpoint)
        socks.append(s)
    poller = zmq.Poller()
    for s in socks:
        poller.register(s, zmq.POLLIN)
    index = {s: i for i, s in enumerate(socks)}
    seen = [False] * args.n
    connected = 0
    storm = None
    got = {}     # seq -> [count, last arrival ms, committed ms]
    dup = 0
    firsts = [None] * args.n
    deadline = time.monotonic() + args.duration
    print("ready", flush=True)
    while time.monotonic() < deadline:
        for s, _ in poller.poll(100):
            while True:
                try:
                    topic, body = s.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                i = index[s]
                if not seen[i]:
                    seen[i] = True
                    connected += 1
                    if connected == args.n:
                        storm = time.monotonic() - t0
                        print("connected", flush=True)
                if topic == b"hb":
                    continue
                now = time.time() * 1000
                seq, committed = parse(body)
                if firsts[i] is None:
                    firsts[i] = seq
                elif seq <= firsts[i]:
                    dup += 1
                    continue
                firsts[i] = max(firsts[i], seq)
                e = got.setdefault(seq, [0, 0.0, committed])
                e[0] += 1
                e[1] = max(e[1], now)
    cpu = time.process_time()
    print(json.dumps({"storm_s": storm, "connected": connected, "dup": dup, "cpu_s": cpu,
                      "wall_s": time.monotonic() - t0,
                      "got": {str(k): v for k, v in got.items()}}), flush=True)


def parse(body):
    """(seq, committed_at_ms) of an Announcement."""
    i, seq, committed = 0, 0, 0
    while i < len(body):
        key, i = read_varint(body, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = read_varint(body, i)
            if num == 2:
                seq = v
            elif num == 3:
                committed = v
        elif wire == 2:
            n, i = read_varint(body, i)
            i += n
        else:
            break
    return seq, committed


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else float("nan")


def s_cpu_s(pid):
    """User + system CPU seconds of pid so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(args, n):
    import zmq
    w = tempfile.mkdtemp(prefix="herald-fanout-")
    try:
        db = os.path.join(w, "h.db")
        subprocess.run([os.path.join(args.bin, "herald-store"), "--db", db, "init"], check=True,
                       capture_output=True)
        server_pub, server_sec = zmq.curve_keypair()
        with open(os.path.join(w, "server.key"), "wb") as f:
            f.write(server_sec + b"\n")
        clients = os.path.join(w, "clients")
        os.mkdir(clients)
        publics, secrets = [], []
        for i in range(n):
            pub, sec = zmq.curve_keypair()
            publics.append(pub.decode())
            secrets.append(sec.decode())
            with open(os.path.join(clients, f"agency-{i}.pub"), "wb") as f:
                f.write(pub + b"\n")
        port = 27000 + os.getpid() % 3000
        endpoint = f"tcp://127.0.0.1:{port}"
        pub_args = ["taskset", "-c", str(args.pub_cpu), os.path.join(args.bin, "herald-pub"),
                    "--db", db, "--bind", endpoint, "--replay-bind",
                    f"tcp://127.0.0.1:{port + 1}", "--heartbeat-ms", "100",
                    "--curve-secret-file", os.path.join(w, "server.key"), "--clients", clients]
        if args.sndhwm:
            pub_args += ["--sndhwm", str(args.sndhwm)]
        if args.io_threads:
            pub_args += ["--io-threads", str(args.io_threads)]
        before = machine.snapshot(w)
        publisher = subprocess.Popen(pub_args, stderr=open(os.path.join(w, "pub.log"), "wb"))
        time.sleep(0.5)
        rss0 = proc_kib(publisher.pid, "VmRSS")
        pub_cpu0 = s_cpu_s(publisher.pid)
        hargs = {"n": n, "endpoint": endpoint, "server": server_pub.decode(),
                 "publics": publics, "secrets": secrets, "duration": args.seconds + 15}
        spec = os.path.join(w, "harness.json")
        with open(spec, "w") as f:
            json.dump(hargs, f)
        h = subprocess.Popen(["taskset", "-c", str(args.harness_cpu), sys.executable,
                              os.path.abspath(__file__), "--harness", spec],
                             stdout=subprocess.PIPE, text=True)
        assert h.stdout.readline().strip() == "ready"
        line = h.stdout.readline().strip()
        if line != "connected":
            raise SystemExit(f"harness: {line}")
        con = sqlite3.connect(db)
        con.execute("PRAGMA busy_timeout=5000")
        first = None
        t_end = time.monotonic() + args.seconds
        i = 0
        while time.monotonic() < t_end:
            with con:
                con.execute("INSERT INTO press_releases (id, title, published_on) VALUES "
                            "(?, ?, '2026-11-30')", (f"pr-{i}", f"Release {i}"))
            i += 1
            time.sleep(max(0.0, 1.0 / args.rate - 0.0002))
        commits = i
        out = json.loads(h.stdout.readline())
        h.wait()
        hwm = proc_kib(publisher.pid, "VmHWM")
        pub_cpu = s_cpu_s(publisher.pid) - pub_cpu0
        publisher.terminate()
        publisher.wait()
        state = machine.verdict(before, machine.snapshot(w))
        got = out["got"]
        delays = [v[1] - v[2] for v in got.values()]
        lost = commits * n - sum(v[0] for v in got.values())
        return {"n": n, "commits": commits, "p50_ms": pct(delays, 50), "p99_ms": pct(delays, 99),
                "max_ms": max(delays) if delays else None, "storm_s": out["storm_s"],
                "lost": lost, "dup": out["dup"], "pub_vmhwm_mib": round(hwm / 1024, 1),
                "pub_rss_idle_mib": round(rss0 / 1024, 1),
                "per_conn_kib": round((hwm - rss0) / n, 1),
                "pub_cpu_pct": round(100 * pub_cpu / out["wall_s"], 1),
                "harness_cpu_pct": round(100 * out["cpu_s"] / out["wall_s"], 1),
                "io_threads": args.io_threads or 1, "sndhwm": args.sndhwm or 10000,
                "machine": {k: state[k] for k in ("before", "after", "steal_pct", "busy_pct",
                                                  "verdict", "crossed")}}
    finally:
        shutil.rmtree(w, ignore_errors=True)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--harness":
        with open(sys.argv[2]) as f:
            harness(argparse.Namespace(**json.load(f)))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--n", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--pub-cpu", type=int, default=0)
    ap.add_argument("--harness-cpu", type=int, default=1)
    ap.add_argument("--sndhwm", type=int, default=0)
    ap.add_argument("--io-threads", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each N, every one printed")
    args = ap.parse_args()
    print(f"load {os.getloadavg()[0]:.2f}, cpus {os.cpu_count()}")
    for n in args.n:
        for _ in range(max(1, args.repeat)):
            r = run(args, n)
            print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
