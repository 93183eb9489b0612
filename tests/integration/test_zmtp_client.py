"""test_zmtp_client.py -- a CURVE subscriber written from the RFCs (23/ZMTP 3.0, 26/CURVEZMQ)
and docs/protocol.md, without libzmq, gets into herald-pub and receives every announcement:
the fan-out benchmark's light client (tests/bench/zmtp_curve.c, in bench_fanout run-zmtp).

- admitted: six such subscribers, each with its own key in --clients, get every commit
  once and in order, except two limited to conferences (one by its grant, one by its own
  subscription), which get the conference and nothing else; the publisher's ZMTP
  heartbeats (every 200 ms, 600 ms without an answer closing the connection) are answered,
  so the connections outlive them;
- refused: a key the publisher was not given is refused at the handshake, and the client
  says so (the publisher's ERROR) rather than hang.

Run one case: test_zmtp_client.py admitted; HERALD_KEEP=1 keeps the directory."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, run_each, store, tcp, wait_until  # noqa: E402

COMMITS = 5


def harness(w, endpoint, server_pub, clients, n):
    """bench_fanout run-zmtp with n sockets, their public keys written to clients; returns the
    process once it has written them."""
    h = subprocess.Popen([os.path.join(BIN, "bench_fanout"), "run-zmtp", endpoint, server_pub,
                          clients, str(n), "0", "60", "5"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=open(os.path.join(w, "harness.err"), "wb"), text=True,
                         env=dict(os.environ, BENCH_FANOUT_LIMIT_EVERY="3"))
    check(h.stdout.readline().strip() == "keys", "the harness wrote its keys")
    return h


def err_of(w):
    """What the harness wrote to stderr."""
    with open(os.path.join(w, "harness.err")) as f:
        return f.read()


def server_keys(w):
    """A key pair for the publisher: the secret one in w/server.key; returns the public one."""
    public, secret = subprocess.run([os.path.join(BIN, "bench_fanout"), "keypair"], check=True,
                                    capture_output=True, text=True).stdout.split()
    with open(os.path.join(w, "server.key"), "w") as f:
        f.write(secret + "\n")
    return public


def publisher(w, procs, clients, live):
    """herald-pub with CURVE, admitting the keys in clients (read at its start), ZMTP
    heartbeats every 200 ms; returns its store and the process."""
    db = os.path.join(w, "h.db")
    store(db, "init")
    pub = procs.start("pub", ["herald-pub", "--db", db, "--bind", live, "--replay-bind", tcp(),
                              "--heartbeat-ms", "100", "--zmtp-heartbeat-ms", "200",
                              "--curve-secret-file", os.path.join(w, "server.key"),
                              "--clients", clients], w)
    wait_until(lambda: pub.logged("pub.started"), 10, "pub.started")
    return db, pub


def case_admitted(w, procs):
    clients = os.path.join(w, "clients")
    os.mkdir(clients)
    live = tcp()
    h = harness(w, live, server_keys(w), clients, 6)  # sockets 2 (grant) and 5 limited
    with open(os.path.join(clients, "agency-2.pub")) as f:
        check("grant event.conference." in f.read(), "socket 2 is limited by its grant")
    db, pub = publisher(w, procs, clients, live)
    check(pub.logged("pub.curve")[0]["clients"] == 6, "six agencies admitted")
    h.stdin.write("connect\n")
    h.stdin.flush()
    check(h.stdout.readline().strip() == "connected", "every socket had a first message")
    time.sleep(1.5)  # the ZMTP heartbeats: a connection that does not answer is closed by now
    check(h.poll() is None, f"the connections outlive the ZMTP heartbeats: {err_of(w)}")
    for i in range(COMMITS - 1):
        store(db, "add-press-release", "--id", f"z-{i}", "--title", f"Z {i}",
              "--published-on", "2026-12-06")
    store(db, "add-event", "--id", "z-conf", "--kind", "conference", "--title", "Z",
          "--start-date", "2027-01-11", "--end-date", "2027-01-12", "--city", "Lyon",
          "--country", "FR")
    head = int(store(db, "head").stdout)
    h.stdin.write(f"end 1 {head}\n")
    h.stdin.flush()
    out = json.loads(h.stdout.readline())
    check(h.wait(timeout=30) == 0, f"the harness exited {h.returncode}")
    check(out["commits"] == head == COMMITS and out["complete_commits"] == COMMITS,
          f"every commit reached every socket: {out}")
    check(out["lost"] == 0 and out["dup"] == 0 and out["gaps"] == 0, f"none lost: {out}")
    check(out["limited"] == 2 and out["for_limited"] == 1 and out["leaked"] == 0,
          f"the limited sockets had the conference and nothing else: {out}")
    check(out["deliveries"] == 4 * COMMITS + 2, f"deliveries: {out}")
    check(out["undecodable"] == 0 and out["heartbeats"] >= 6 * 10, f"heartbeats: {out}")
    check(out["drain_s"] >= 0, f"the last commit arrived before the grace: {out}")
    check(not pub.logged("pub.handshake_failed"), "no handshake failed")
    check("Sanitizer" not in err_of(w), f"the client's way out is clean: {err_of(w)}")


def case_refused(w, procs):
    clients, elsewhere = os.path.join(w, "clients"), os.path.join(w, "elsewhere")
    os.mkdir(clients)
    os.mkdir(elsewhere)
    live = tcp()
    server_pub = server_keys(w)
    _, pub = publisher(w, procs, clients, live)
    h = harness(w, live, server_pub, elsewhere, 1)  # its key is not in --clients
    h.stdin.write("connect\n")
    h.stdin.flush()
    check(h.wait(timeout=30) == 1, f"the refused client exits 1, not {h.returncode}")
    err = err_of(w)
    check("refused the handshake" in err and "ERROR" in err, f"the client says why: {err}")
    check("Sanitizer" not in err, f"the client's way out is clean: {err}")
    wait_until(lambda: pub.logged("pub.auth_refused"), 10, "the publisher logs the refusal")
    check(pub.alive(), "the publisher runs on")


run_each("herald-zmtp-", {"admitted": case_admitted, "refused": case_refused})
