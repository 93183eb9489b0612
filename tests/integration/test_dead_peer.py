"""test_dead_peer.py -- herald-pub closes a connection whose subscriber stopped answering when
ZMTP heartbeats are on (--zmtp-heartbeat-ms N: a PING every N ms, closed after 3 N without an
answer), and keeps it with --zmtp-heartbeat-ms 0 (the kernel's TCP_USER_TIMEOUT is then the
only judge, and a stopped process's kernel still acknowledges). Either way the subscriber,
woken again, gets every change: the closed one reconnects and heals by replay.

The subscriber is stopped with SIGSTOP (every thread, libzmq's I/O thread too) and resumed
with SIGCONT; the publisher's herald_pub_live_connections gauge tells what it holds."""
import os
import signal
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from harness import SLOW, check, free_port, read_lines, run_each, store, tcp, wait_until  # noqa


def connections(port):
    """The publisher's herald_pub_live_connections, or None while /metrics does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("herald_pub_live_connections "):
            return int(float(line.split()[1]))
    return None


def stopped_subscriber(w, procs, zmtp_ms):
    """A publisher with --zmtp-heartbeat-ms zmtp_ms and one subscriber, which is stopped and
    later resumed; returns (connections while it was stopped, the seqs it logged)."""
    db = os.path.join(w, "h.db")
    store(db, "init", "--sample")
    head = int(store(db, "head").stdout)
    pub_ep, rep_ep, mport = tcp(), tcp(), free_port()
    pub = procs.start("pub", ["herald-pub", "--db", db, "--bind", pub_ep, "--replay-bind",
                              rep_ep, "--heartbeat-ms", "100", "--zmtp-heartbeat-ms",
                              str(zmtp_ms), "--metrics", f"127.0.0.1:{mport}"], w)
    wait_until(lambda: pub.logged("pub.started"), 10, "pub.started")
    out = os.path.join(w, "sub.jsonl")
    sub = procs.start("sub", ["herald-sub", "--connect", pub_ep, "--replay", rep_ep,
                              "--from", "start", "--sink", "log", "--out", out], w)
    wait_until(lambda: len(read_lines(out)) >= head, 10, "the subscriber's replay")
    wait_until(lambda: connections(mport) == 1, 10, "one live connection")
    os.kill(sub.pid, signal.SIGSTOP)
    try:
        # three intervals without an answer and room for a loaded machine; without ZMTP
        # heartbeats, longer than the default would take (a PING within 2 s, then 6 s)
        deadline = time.monotonic() + (3 * zmtp_ms / 1000 + 3 if zmtp_ms else 9) * SLOW
        held = []
        while time.monotonic() < deadline:
            c = connections(mport)  # None: /metrics did not answer in time (a loaded machine)
            if c is not None:
                held.append(c)
            if zmtp_ms and c == 0:
                break
            time.sleep(0.1)
        store(db, "add-event", "--id", "dead-1", "--kind", "course", "--title", "Asleep",
              "--start-date", "2026-12-01", "--end-date", "2026-12-02", "--city", "Lyon",
              "--country", "FR")
    finally:
        os.kill(sub.pid, signal.SIGCONT)
    wait_until(lambda: any(l["id"] == "dead-1" for l in read_lines(out)), 15,
               "the change committed while the subscriber slept")
    seqs = [l["seq"] for l in read_lines(out)]
    check(sub.stop() == 0 and pub.stop() == 0, "both exit 0")
    return held, seqs


def closes(w, procs):
    held, seqs = stopped_subscriber(w, procs, 300)
    check(held and held[-1] == 0,
          f"--zmtp-heartbeat-ms 300: the silent connection is closed: {held}")
    check(seqs == list(range(1, seqs[-1] + 1)), f"every change once, in order: {seqs}")


def keeps(w, procs):
    held, seqs = stopped_subscriber(w, procs, 0)
    check(held and all(c == 1 for c in held),
          f"--zmtp-heartbeat-ms 0: the connection of a stopped process stays: {held}")
    check(seqs == list(range(1, seqs[-1] + 1)), f"every change once, in order: {seqs}")


if __name__ == "__main__":
    run_each("herald-dead-peer-", {"closes": closes, "keeps": keeps})
