"""test_realtime.py -- --realtime N puts the threads that carry an announcement (the main
thread and ZeroMQ's I/O threads) of herald-pub and herald-sub under SCHED_FIFO at priority N,
and no other thread (the metrics server's stays ordinary); a subscriber whose sink runs in a
program of its own (handover) keeps it. Where the kernel refuses it (no CAP_SYS_NICE, no
RLIMIT_RTPRIO), each program exits 1 at start with a line that names what to grant.

Checked on running programs through /proc/PID/task/TID/stat (its policy and rt_priority).
Run one case: test_realtime.py fifo; HERALD_KEEP=1 keeps the directory."""
import os
import resource
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, check, free_port, read_lines, run_each, store, tcp,  # noqa: E402
                     wait_until)

SCHED_OTHER, SCHED_FIFO = 0, 1


def threads(pid):
    """{tid: (name, policy, rt_priority)} of pid's threads."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # a thread that ended meanwhile
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2:].split()  # from field 3 (state) on
        out[int(tid)] = (name, int(rest[41 - 3]), int(rest[40 - 3]))
    return out


def check_fifo(proc, priority):
    """proc's main thread and ZeroMQ's threads under SCHED_FIFO at priority, every other
    thread (there is one: --metrics) ordinary."""
    seen = threads(proc.pid)
    main = seen[proc.pid]
    check(main[1:] == (SCHED_FIFO, priority), f"{proc.name}'s main thread: {main}")
    zmq = [t for tid, t in seen.items() if t[0].startswith("ZMQbg/")]
    check(any(t[0].startswith("ZMQbg/IO") for t in zmq), f"{proc.name}'s threads: {seen}")
    for t in zmq:
        check(t[1:] == (SCHED_FIFO, priority), f"{proc.name}'s ZeroMQ thread {t}")
    others = [t for tid, t in seen.items() if tid != proc.pid and t not in zmq]
    check(others, f"{proc.name} has a thread besides its main and ZeroMQ's: {seen}")
    for t in others:
        check(t[1:] == (SCHED_OTHER, 0), f"{proc.name}'s thread {t} stays ordinary")


def fifo_allowed():
    return subprocess.run(["chrt", "-f", "1", "true"], capture_output=True).returncode == 0


def case_fifo(w, procs):
    """The publisher, a log subscriber (herald-sub itself) and an Atom subscriber (its own
    program, after the handover) under --realtime; announcements still flow."""
    if not fifo_allowed():
        print("skip fifo: SCHED_FIFO is not allowed here (chrt -f 1 true fails)")
        return
    db = os.path.join(w, "h.db")
    store(db, "init")
    live, replay = tcp(), tcp()
    pub = procs.start("pub", ["herald-pub", "--db", db, "--bind", live, "--replay-bind", replay,
                              "--heartbeat-ms", "200", "--realtime", "10", "--metrics",
                              str(free_port())], w)
    out = os.path.join(w, "log.jsonl")
    log = procs.start("sub-log", ["herald-sub", "--connect", live, "--replay", replay,
                                  "--state", os.path.join(w, "log.state"), "--sink", "log",
                                  "--out", out, "--from", "start", "--realtime", "12",
                                  "--metrics", str(free_port())], w)
    atom = procs.start("sub-atom", ["herald-sub", "--connect", live, "--replay", replay,
                                    "--state", os.path.join(w, "atom.state"), "--sink", "atom",
                                    "--feed-out", os.path.join(w, "a.xml"), "--realtime", "11",
                                    "--http", str(free_port())], w)
    for p in (log, atom):
        wait_until(lambda: p.logged("sub.following"), 15, f"{p.name} to follow")
    check(os.path.basename(os.readlink(f"/proc/{atom.pid}/exe")) == "herald-sub-atom",
          "the Atom sink runs in its own program")
    check_fifo(pub, 10)
    check_fifo(log, 12)
    check_fifo(atom, 11)
    store(db, "add-event", "--id", "rt-1", "--kind", "conference", "--title", "Realtime",
          "--start-date", "2026-12-01", "--end-date", "2026-12-02", "--city", "Lyon",
          "--country", "FR")
    wait_until(lambda: any(line.get("id") == "rt-1" for line in read_lines(out)), 15,
               "the change in the log")
    for p in (atom, log, pub):
        check(p.stop() == 0, f"{p.name} stops with 0")


def case_refused(w, procs):
    """Without CAP_SYS_NICE (dropped from the bounding set) and with RLIMIT_RTPRIO 0: exit 1
    at start, the log naming --realtime, the capability and the limit to grant."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or not setpriv or resource.getrlimit(resource.RLIMIT_RTPRIO)[0] != 0:
        print("skip refused: needs root, setpriv and RLIMIT_RTPRIO 0")
        return
    db = os.path.join(w, "h.db")
    store(db, "init")
    live = tcp()
    drop = [setpriv, "--bounding-set", "-sys_nice"]
    runs = {
        "pub.realtime_failed": [os.path.join(BIN, "herald-pub"), "--db", db, "--bind", live,
                                "--replay-bind", tcp(), "--realtime", "20"],
        "sub.start_failed": [os.path.join(BIN, "herald-sub"), "--connect", live, "--sink", "log",
                             "--realtime", "20"],
    }
    for event, argv in runs.items():
        r = subprocess.run(drop + argv, capture_output=True, text=True, timeout=30)
        check(r.returncode == 1, f"{argv[0]} without CAP_SYS_NICE: exit {r.returncode}")
        check(f'"event":"{event}"' in r.stderr, f"{event} in {r.stderr!r}")
        for words in ("--realtime 20", "CAP_SYS_NICE", "LimitRTPRIO=20", "cap_add: [SYS_NICE]",
                      "this process's is 0"):
            check(words in r.stderr, f"{words} in {r.stderr!r}")
    r = subprocess.run([os.path.join(BIN, "herald-pub"), "--db", db, "--realtime", "100"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 2 and "--realtime" in r.stderr and "0..99" in r.stderr,
          f"--realtime 100 is a usage error: {r.returncode} {r.stderr!r}")


def main():
    run_each("herald-it-realtime-", {"fifo": case_fifo, "refused": case_refused})


if __name__ == "__main__":
    main()
