#!/usr/bin/env python3
"""bench_history.py -- what history images cost and save: two builds of Herald compared in one
run (docs/performance.md, "History images"), so that their figures compare on a noisy machine.

Usage: HERALD_BIN=build-bench/bin python3 tests/bench/bench_history.py \\
           --before /path/to/old/build-bench/bin [--changes N] [--repeat N]

For each build, alternately (--repeat times, best kept): the store of N events built by
`herald-store import` (the insert rate: the import's wall time, and its CPU time, which the
machine's load disturbs far less), SQLite's own inserts into each build's empty store by this
tree's bench_sqlite (wall and CPU), the store's size and the change log's share of it (dbstat),
the publisher's scan alone with and without encoding (bench_scan), and the replay of the N
changes to a new subscriber with a JSON log, as a ratio of the raw libzmq baseline measured in
the same run. Prints one JSON document on stdout, progress on stderr.
"""
import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import bench  # noqa: E402


def build_store(binp, work, name, n):
    """The benchmark's store of n events made with binp's herald-store; (path, the import's
    seconds, its CPU seconds)."""
    bench.BIN = binp
    sub = os.path.join(work, name)
    os.makedirs(sub, exist_ok=True)
    for f in os.listdir(sub):
        os.unlink(os.path.join(sub, f))
    db = bench.make_store(sub, n)
    return db, bench.LAST_IMPORT["seconds"], bench.LAST_IMPORT["cpu_seconds"]


def sizes(db):
    """The file's bytes and the bytes of each table and index (dbstat), after a checkpoint."""
    c = sqlite3.connect(db)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    per = dict(c.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
    c.close()
    return {"file": os.path.getsize(db), "changes": per.get("changes", 0),
            "events": per.get("events", 0), "tables": per}


def replay(binp, db, n, base):
    """Replay of the n changes to a new JSON-log subscriber against an idle publisher."""
    bench.BIN = binp
    pub_ep, rep_ep = f"tcp://127.0.0.1:{bench.free_port()}", f"tcp://127.0.0.1:{bench.free_port()}"
    pub = bench.publisher(db, pub_ep, rep_ep)
    try:
        deadline = time.monotonic() + 900
        while not bench.published(db, n) and time.monotonic() < deadline:
            time.sleep(0.1)
        state = db + ".state"
        if os.path.exists(state):
            os.unlink(state)
        t0 = time.monotonic()
        sub = bench.subscriber(pub_ep, rep_ep, state, ["--from", "start", "--sink", "log",
                                                       "--format", "json", "--out", "/dev/null"])
        r = bench.measured("replay (json log)", n, base, t0, bench.wait_seq(state, n, 900, sub),
                           pub, sub)
        bench.stop(sub)
        return r
    finally:
        bench.stop(pub)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True, help="bin directory of the build compared with")
    ap.add_argument("--changes", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    after = bench.BIN
    builds = {"before": os.path.abspath(args.before), "after": os.path.abspath(after)}
    n = args.changes
    res = {"changes": n}
    with tempfile.TemporaryDirectory(prefix="herald-bench-history-") as work:
        runs = [bench.baseline(max(n, 1_000_000)) for _ in range(args.repeat)]
        base = max(r["per_second"] for r in runs)
        res["baseline"] = {"per_second": base, "runs": [r["per_second"] for r in runs]}
        print(f"libzmq baseline: {base:,.0f} msg/s", file=sys.stderr)
        best = {k: {} for k in builds}
        dbs = {}

        def keep(name, key, rate):
            """Keeps a run's rate under key_runs and the best under key."""
            best[name].setdefault(key + "_runs", []).append(round(rate))
            best[name][key] = max(best[name][key + "_runs"])

        for k in range(args.repeat):
            for name, binp in builds.items():
                db, secs, cpu = build_store(binp, work, name, n)
                dbs[name] = db
                keep(name, "insert_per_second", n / secs)
                keep(name, "insert_per_cpu_second", n / cpu)
                print(f"{name}: store of {n} imported at {n / secs:,.0f}/s,"
                      f" {n / cpu:,.0f} per CPU second", file=sys.stderr)
        # SQLite's own insert rate into each schema (an SQL writer, triggers included): the
        # store made by each build's herald-store, filled by one program, this tree's
        # bench_sqlite.
        for k in range(args.repeat):
            for name, binp in builds.items():
                path = os.path.join(work, f"sqlite-{name}.db")
                for suffix in ("", "-wal", "-shm"):
                    if os.path.exists(path + suffix):
                        os.unlink(path + suffix)
                subprocess.run([f"{binp}/herald-store", "--db", path, "init"], check=True)
                out = json.loads(subprocess.run([f"{builds['after']}/bench_sqlite", path, str(n), "1000"],
                                                check=True, capture_output=True,
                                                text=True).stdout)
                keep(name, "sql_insert_per_second", out["per_second"])
                keep(name, "sql_insert_per_cpu_second", out["cpu_per_second"])
                print(f"{name}: SQL inserts at {out['per_second']:,.0f}/s,"
                      f" {out['cpu_per_second']:,.0f} per CPU second", file=sys.stderr)
        for name, binp in builds.items():
            best[name]["size"] = sizes(dbs[name])
            out = subprocess.run([f"{binp}/bench_scan", dbs[name]], check=True,
                                 capture_output=True, text=True).stdout
            best[name]["scan"] = json.loads(out)
        for k in range(args.repeat):
            for name, binp in builds.items():
                r = replay(binp, dbs[name], n, base)
                runs = best[name].setdefault("replay_runs", [])
                runs.append(r["per_second"])
                best[name]["replay_per_second"] = max(runs)
                best[name]["replay_ratio"] = round(max(runs) / base, 3)
        res.update(best)
        for key in ("insert_per_second", "insert_per_cpu_second", "sql_insert_per_second",
                    "sql_insert_per_cpu_second"):
            res[key.replace("per_", "ratio_per_")] = round(
                best["after"][key] / best["before"][key], 3)
        for name in builds:
            s = best[name]
            print(f"{name}: insert {s['insert_per_second']:,}/s, file {s['size']['file']:,} B,"
                  f" changes {s['size']['changes']:,} B, scan {s['scan']}, replay"
                  f" {s['replay_per_second']:,}/s = {s['replay_ratio']} x baseline",
                  file=sys.stderr)
        print(f"insert rate after/before: herald-store import"
              f" {res['insert_ratio_per_second']} (wall), {res['insert_ratio_per_cpu_second']}"
              f" (CPU); SQL {res['sql_insert_ratio_per_second']} (wall),"
              f" {res['sql_insert_ratio_per_cpu_second']} (CPU)", file=sys.stderr)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
