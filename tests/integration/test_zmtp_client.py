"""test_zmtp_client.py -- a CURVE subscriber written from the RFCs (23/ZMTP 3.0, 26/CURVEZMQ)
and docs/protocol.md, without libzmq, gets into herald-pub and receives every announcement:
the fan-out benchmark's light client (tests/bench/zmtp_curve.c, in bench_fanout run-zmtp).

- admitted: six such subscribers, each with its own key in --clients, get every commit
  once and in order, except two limited to conferences (one by its grant, one by its own
  subscription), which get the conference and nothing else; the publisher's ZMTP
  heartbeats (every 200 ms, 600 ms without an answer closing the connection) are answered,
  so the connections outlive them;
- refused: a key the publisher was not given is refused at the handshake, and the client
  says so (the publisher's ERROR) rather than hang;
- wrong_server_key: a client that has another server's key (its HELLO cannot be opened) is
  dropped by the publisher, and says so rather than hang.

Run one case: test_zmtp_client.py admitted; HERALD_KEEP=1 keeps the directory."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, run_each, store, tcp, wait_until  # noqa: E402

COMMITS = 5


def harness(w, procs, endpoint, server_pub, clients, n):
    """bench_fanout run-zmtp with n sockets (every third limited to conferences), their public
    keys written to clients; returns the process (a Proc: stopped by PID whatever happens,
    its stderr checked for sanitizer reports) once it has written them."""
    h = procs.start("harness", ["bench_fanout", "run-zmtp", endpoint, server_pub, clients,
                                str(n), "0", "60", "5"], w,
                    env={"BENCH_FANOUT_LIMIT_EVERY": "3"}, stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE)
    check(readline(h) == "keys", "the harness wrote its keys")
    return h


def tell(h, line):
    """An order on the harness's stdin."""
    h.popen.stdin.write(line.encode() + b"\n")
    h.popen.stdin.flush()


def readline(h):
    """The harness's next line on stdout."""
    return h.popen.stdout.readline().decode().strip()


def err_of(h):
    """What the harness wrote to stderr so far."""
    with open(h.log_path) as f:
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
    h = harness(w, procs, live, server_keys(w), clients, 6)  # 2 (grant) and 5 limited
    with open(os.path.join(clients, "agency-2.pub")) as f:
        check("grant event.conference." in f.read(), "socket 2 is limited by its grant")
    db, pub = publisher(w, procs, clients, live)
    check(pub.logged("pub.curve")[0]["clients"] == 6, "six agencies admitted")
    tell(h, "connect")
    check(readline(h) == "connected", "every socket had a first message")
    time.sleep(1.5)  # the ZMTP heartbeats: a connection that does not answer is closed by now
    check(h.alive(), f"the connections outlive the ZMTP heartbeats: {err_of(h)}")
    for i in range(COMMITS - 1):
        store(db, "add-press-release", "--id", f"z-{i}", "--title", f"Z {i}",
              "--published-on", "2026-12-06")
    store(db, "add-event", "--id", "z-conf", "--kind", "conference", "--title", "Z",
          "--start-date", "2027-01-11", "--end-date", "2027-01-12", "--city", "Lyon",
          "--country", "FR")
    head = int(store(db, "head").stdout)
    tell(h, f"end 1 {head}")
    out = json.loads(readline(h))
    wait_until(lambda: not h.alive(), 30, "the harness to exit once it has reported")
    check(h.stop() == 0, "the harness exits 0")
    check(out["commits"] == head == COMMITS and out["complete_commits"] == COMMITS,
          f"every commit reached every socket: {out}")
    check(out["lost"] == 0 and out["dup"] == 0 and out["gaps"] == 0, f"none lost: {out}")
    check(out["limited"] == 2 and out["for_limited"] == 1 and out["leaked"] == 0,
          f"the limited sockets had the conference and nothing else: {out}")
    check(out["deliveries"] == 4 * COMMITS + 2, f"deliveries: {out}")
    check(out["undecodable"] == 0 and out["heartbeats"] >= 6 * 10, f"heartbeats: {out}")
    check(out["drain_s"] >= 0, f"the last commit arrived before the grace: {out}")
    check(not pub.logged("pub.handshake_failed"), "no handshake failed")


def case_refused(w, procs):
    clients, elsewhere = os.path.join(w, "clients"), os.path.join(w, "elsewhere")
    os.mkdir(clients)
    os.mkdir(elsewhere)
    live = tcp()
    server_pub = server_keys(w)
    _, pub = publisher(w, procs, clients, live)
    h = harness(w, procs, live, server_pub, elsewhere, 1)  # its key is not in --clients
    tell(h, "connect")
    wait_until(lambda: not h.alive(), 30, "the refused client to exit")
    check(h.stop() == 1, "the refused client exits 1")
    err = err_of(h)
    check("refused the handshake" in err and "ERROR" in err, f"the client says why: {err}")
    wait_until(lambda: pub.logged("pub.auth_refused"), 10, "the publisher logs the refusal")
    check(pub.alive(), "the publisher runs on")


def case_wrong_server_key(w, procs):
    clients = os.path.join(w, "clients")
    os.mkdir(clients)
    live = tcp()
    wrong = subprocess.run([os.path.join(BIN, "bench_fanout"), "keypair"], check=True,
                           capture_output=True, text=True).stdout.split()[0]
    server_keys(w)
    h = harness(w, procs, live, wrong, clients, 1)  # admitted, but to another server's key
    _, pub = publisher(w, procs, clients, live)
    tell(h, "connect")
    wait_until(lambda: not h.alive(), 30, "the client of the wrong server key to exit")
    check(h.stop() == 1, "it exits 1")
    err = err_of(h)
    check("socket 0" in err and "publisher" in err, f"the client says what failed: {err}")
    check(pub.alive(), "the publisher runs on")


run_each("herald-zmtp-", {"admitted": case_admitted, "refused": case_refused,
                          "wrong_server_key": case_wrong_server_key})
