"""test_security.py -- CURVE, ZAP and per-agency grants, and hostile input, with real
processes on loopback.

An admitted agency receives, live and by replay; an unknown key, a client without CURVE and
one with the wrong server key receive nothing and are logged (on the live and on the replay
socket, at most one line a second per socket, every failure counted); a key removed from the client
directory and a SIGHUP is refused on its next connection; an agency granted "press." that
subscribes to everything gets press releases and heartbeats only, live and by replay.
Garbage on every socket (raw TCP, ZMTP messages from an insecure setup, a rogue PUB facing a
subscriber) leaves the services running and the stores intact."""
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, Procs, check, read_lines, store, tcp, wait_until, workdir  # noqa: E402

QUIET_S = 3.0  # how long a refused client must stay without anything


def keygen(path):
    r = subprocess.run([os.path.join(BIN, "herald-keygen"), path], capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 0, f"herald-keygen {path}: {r.stderr}")
    with open(path + ".pub") as f:
        public = f.readline().strip()
    with open(path + ".key") as f:
        secret = f.readline().strip()
    return public, secret


def sub_args(pub_ep, rep_ep, out, keys=None, server=None, *extra):
    args = ["herald-sub", "--connect", pub_ep, "--replay", rep_ep, "--sink", "log", "--out", out,
            "--from", "start"]
    if keys:
        args += ["--curve-secret-file", keys + ".key", "--server-key", server]
    return args + list(extra)


def curve_socket(ctx, kind, public, secret, server):
    s = ctx.socket(kind)
    s.linger = 0
    s.curve_publickey = public.encode()
    s.curve_secretkey = secret.encode()
    s.curve_serverkey = server.encode()
    return s


def request(topics=()):
    """A ReplayRequest with topics (field 3) and every other field at its default."""
    out = b""
    for t in topics:
        t = t.encode()
        out += bytes([0x1a, len(t)]) + t
    return out


def replay_topics(dealer, req, timeout=5.0):
    """Sends one request; returns the topics of the answer, replay.end included."""
    dealer.send(req)
    topics = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dealer.poll(200):
            frames = dealer.recv_multipart()
            topics.append(frames[0].decode())
            if frames[0] == b"replay.end":
                return topics
    check(False, f"no replay.end within {timeout}s (got {topics})")


def export(db):
    return store(db, "export").stdout


def integrity(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def garbage_tcp(endpoint, rounds=20):
    """Raw TCP connections sending random and truncated bytes."""
    host, port = endpoint[len("tcp://"):].rsplit(":", 1)
    greeting = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"CURVE" + b"\x00" * 15
    samples = [os.urandom(64), os.urandom(3000), greeting[:5], greeting, greeting + os.urandom(200),
               b"\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f" + os.urandom(54), b""]
    for i in range(rounds):
        try:
            with socket.create_connection((host, int(port)), timeout=2) as s:
                s.sendall(samples[i % len(samples)])
                s.settimeout(0.05)
                try:
                    s.recv(4096)
                except OSError:
                    pass
        except OSError:
            pass


def null_greetings(endpoint, n):
    """n raw connections greeting as a ZMTP 3.0 client with the NULL mechanism (no CURVE),
    each read until the server hangs up."""
    host, port = endpoint[len("tcp://"):].rsplit(":", 1)
    greeting = (b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") +
                b"\x00" * 32)
    for _ in range(n):
        with socket.create_connection((host, int(port)), timeout=2) as s:
            s.sendall(greeting)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass


def main():
    with workdir() as w, Procs() as procs:
        keys = os.path.join(w, "keys")
        clients = os.path.join(w, "clients")
        os.mkdir(keys)
        os.mkdir(clients)
        server_pub, _ = keygen(os.path.join(keys, "server"))
        other_pub, _ = keygen(os.path.join(keys, "other-server"))
        full = keygen(os.path.join(keys, "full"))
        press = keygen(os.path.join(keys, "press"))
        gone = keygen(os.path.join(keys, "gone"))
        stranger = keygen(os.path.join(keys, "stranger"))
        # herald-keygen refuses to overwrite, and the secret is private
        r = subprocess.run([os.path.join(BIN, "herald-keygen"), os.path.join(keys, "full")],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 1 and "exists" in r.stderr, f"keygen overwrite: {r.stderr}")
        check(os.stat(os.path.join(keys, "full.key")).st_mode & 0o777 == 0o600, "key mode 0600")
        with open(os.path.join(clients, "full.pub"), "w") as f:
            f.write(full[0] + "\n")
        with open(os.path.join(clients, "press.pub"), "w") as f:
            f.write(press[0] + "\n# press office only\ngrant press.\n")
        with open(os.path.join(clients, "gone.pub"), "w") as f:
            f.write(gone[0] + "\n")
        with open(os.path.join(clients, "typo.pub"), "w") as f:
            f.write(stranger[0] + "\ngrnat press.\n")  # refused whole: never everything
        server = os.path.join(keys, "server.pub")

        db = os.path.join(w, "h.db")
        store(db, "init", "--sample")
        pub_ep, rep_ep = tcp(), tcp()
        pub = procs.start("pub", ["herald-pub", "--db", db, "--bind", pub_ep, "--replay-bind",
                                  rep_ep, "--heartbeat-ms", "200", "--log-level", "debug",
                                  "--curve-secret-file", os.path.join(keys, "server.key"),
                                  "--clients", clients], w)
        wait_until(lambda: pub.logged("pub.started"), 10, "pub.started")
        check(pub.logged("pub.curve")[0]["clients"] == 3, "three agencies admitted")
        check(pub.logged("pub.client_invalid"), "a file with a bad line is logged and skipped")
        head = int(store(db, "head").stdout)

        # Every client at once: admitted ones and refused ones.
        outs = {n: os.path.join(w, f"{n}.jsonl") for n in
                ("full", "press", "gone", "stranger", "plain", "wrongkey")}
        subs = {
            "full": sub_args(pub_ep, rep_ep, outs["full"], os.path.join(keys, "full"), server),
            "press": sub_args(pub_ep, rep_ep, outs["press"], os.path.join(keys, "press"), server),
            "gone": sub_args(pub_ep, rep_ep, outs["gone"], os.path.join(keys, "gone"), server),
            "stranger": sub_args(pub_ep, rep_ep, outs["stranger"],
                                 os.path.join(keys, "stranger"), server),
            "plain": sub_args(pub_ep, rep_ep, outs["plain"]),
            "wrongkey": sub_args(pub_ep, rep_ep, outs["wrongkey"], os.path.join(keys, "full"),
                                 os.path.join(keys, "other-server.pub")),
        }
        procs_by = {n: procs.start(f"sub-{n}", a, w) for n, a in subs.items()}
        wait_until(lambda: len(read_lines(outs["full"])) >= head, 20, "the full agency's replay")
        wait_until(lambda: len(read_lines(outs["gone"])) >= head, 20, "the gone agency's replay")
        press_seqs = [l["seq"] for l in read_lines(outs["full"]) if l["type"] == "press_release"]
        wait_until(lambda: [l["seq"] for l in read_lines(outs["press"])] == press_seqs, 20,
                   "the press agency's replay: press releases only")

        # Live: an event and a press release.
        store(db, "add-event", "--id", "sec-1", "--kind", "conference", "--title", "Secure",
              "--start-date", "2026-12-01", "--end-date", "2026-12-02", "--city", "Lyon",
              "--country", "FR")
        store(db, "add-press-release", "--id", "sec-pr", "--title", "Secure press",
              "--published-on", "2026-12-02")
        head = int(store(db, "head").stdout)
        wait_until(lambda: any(l["id"] == "sec-pr" for l in read_lines(outs["full"])), 10,
                   "the live changes at the full agency")
        wait_until(lambda: any(l["id"] == "sec-pr" for l in read_lines(outs["press"])), 10,
                   "the live press release at the press agency")
        check(all(l["type"] == "press_release" for l in read_lines(outs["press"])),
              "the press agency never gets an event")
        check([l["seq"] for l in read_lines(outs["full"])] == list(range(1, head + 1)),
              "the full agency has everything, in order")
        time.sleep(QUIET_S)
        for n in ("stranger", "plain", "wrongkey"):
            check(read_lines(outs[n]) == [], f"refused client {n} received nothing")
            check(procs_by[n].alive(), f"refused client {n} keeps trying")
        check(any(e.get("key") == stranger[0] for e in pub.logged("pub.auth_refused")),
              "the unknown key is logged with its key")
        check(all(e.get("peer") for e in pub.logged("pub.auth_refused")), "with the peer address")
        # The refused subscribers on both sockets: at most one line a second per socket, the
        # failures it stands for counted by reason (a no-CURVE client tries once, a wrong key
        # retries: the one must not hide behind the other).
        fails = lambda: pub.logged("pub.handshake_failed")  # noqa: E731

        def saw(lines, word, key):
            return any(word in e["reason"] or e["suppressed_reasons"].get(key) for e in lines)
        # Which reason the publisher gives the no-CURVE client depends on who reads first: a
        # client that got the publisher's whole greeting in one read (a loaded machine) hangs
        # up before it sends the rest of its own, and the publisher sees the connection closed
        # (libzmq's zmtp_engine); no other client here fails that way.
        wait_until(lambda: saw(fails(), "mechanism", "mechanism_mismatch")
                   or saw(fails(), "closed", "closed"), 10, "the no-CURVE client logged")
        wait_until(lambda: saw(fails(), "cryptographic", "cryptographic"), 10,
                   "the wrong server key logged")
        admitted = {e["agency"] for e in pub.logged("pub.auth_admitted")}
        check(admitted == {"full", "press", "gone"}, f"admissions at debug: {admitted}")
        # The refused subscribers say so in their own logs, with the server key they used, on
        # the live and on the replay socket; the admitted ones never do.
        for n, key in (("wrongkey", other_pub), ("stranger", server_pub)):
            def refused(n=n, key=key):
                lines = procs_by[n].logged("sub.handshake_failed")
                return {e["socket"] for e in lines if e.get("server_key") == key}
            wait_until(lambda: refused() == {"live", "replay"}, 10,
                       f"{n}: sub.handshake_failed on both sockets with its server key")
            lines = procs_by[n].logged("sub.handshake_failed")
            check(all(e["level"] == "warn" and e["reason"] and e["endpoint"] in (pub_ep, rep_ep)
                      for e in lines), f"{n}: warn, with the reason and the endpoint: {lines}")
            check(not procs_by[n].logged("sub.handshake_ok"), f"{n}: never a handshake_ok")
        check(any("refused our key" in e["reason"]
                  for e in procs_by["stranger"].logged("sub.handshake_failed")),
              "the unknown key: the publisher refused it")
        for n in ("full", "press", "gone"):
            check(not procs_by[n].logged("sub.handshake_failed"), f"admitted {n}: no failure")
        for n in ("plain", "wrongkey"):
            check(procs_by[n].stop() == 0, f"refused client {n} exits 0 on SIGTERM")

        # Failed handshakes on the LIVE socket, whose one monitor also counts subscribers,
        # client by client: logged with socket "live", the peer when known and the reason, at
        # most one line a second, every failure counted once.
        ctx = zmq.Context()
        live_fails = lambda: [e for e in fails() if e["socket"] == "live"]  # noqa: E731
        time.sleep(1.5)  # a line held back for the herald-sub clients above is written

        def no_curve():
            # A libzmq client without CURVE tries once (whichever side hangs up first names
            # the reason), then raw ZMTP 3.0 NULL greetings that the publisher itself refuses.
            s = ctx.socket(zmq.SUB)
            s.linger = 0
            s.connect(pub_ep)
            wait_until(lambda: len(live_fails()) > len(before), 10, "a libzmq no-CURVE client")
            s.close()
            null_greetings(pub_ep, 30)

        def wrong_key():
            s = curve_socket(ctx, zmq.SUB, full[0], full[1], other_pub)
            s.reconnect_ivl = 10  # retries: a wrong key is not a protocol error to libzmq
            s.subscribe(b"")
            s.connect(pub_ep)
            time.sleep(2.5)
            s.close()

        for client, word, key in ((no_curve, "mechanism", "mechanism_mismatch"),
                                  (wrong_key, "cryptographic", "cryptographic")):
            before = live_fails()
            base = before[-1]["count"] if before else 0
            start = time.monotonic()
            client()
            elapsed = time.monotonic() - start
            time.sleep(1.5)  # the held-back line
            new = live_fails()[len(before):]
            check(saw(new, word, key), f"{client.__name__} on the live socket: {new}")
            check(all(e["endpoint"] == pub_ep and
                      (e["peer"] == "unknown" or e["peer"].startswith("127.0.0.1:"))
                      for e in new), f"{client.__name__}: endpoint and peer: {new}")
            check(any(e["peer"] != "unknown" for e in new), f"a peer address: {new}")
            check(len(new) <= elapsed + 2, f"{len(new)} lines in {elapsed:.1f}s: rate-limited")
            failed = new[-1]["count"] - base
            check(failed > len(new) >= 2, f"{failed} failures, more than the {len(new)} lines")
            check(sum(1 + e["suppressed"] for e in new) == failed and
                  all(e["suppressed"] == sum(e["suppressed_reasons"].values()) for e in new),
                  f"each failure counted once: {new}")

        # Raw ZeroMQ clients of the press agency: subscribing to everything and replaying
        # everything gives press releases and heartbeats only.
        sub = curve_socket(ctx, zmq.SUB, press[0], press[1], server_pub)
        sub.subscribe(b"")
        sub.connect(pub_ep)
        dealer = curve_socket(ctx, zmq.DEALER, press[0], press[1], server_pub)
        dealer.connect(rep_ep)
        topics = replay_topics(dealer, request())
        check(topics[-1] == "replay.end" and set(topics[:-1]) == {"press."},
              f"replay of everything for press.: {topics}")
        topics = replay_topics(dealer, request(["event."]))
        check(topics == ["replay.end"], f"replay of event. for press.: {topics}")
        time.sleep(0.5)  # the subscription is applied
        store(db, "add-event", "--id", "sec-2", "--kind", "course", "--title", "Hidden",
              "--start-date", "2026-12-01", "--end-date", "2026-12-02", "--city", "Lyon",
              "--country", "FR")
        store(db, "add-press-release", "--id", "sec-pr2", "--title", "Visible",
              "--published-on", "2026-12-02")
        seen = set()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not {"press.", "hb"} <= seen:
            if sub.poll(100):
                seen.add(sub.recv_multipart()[0].decode())
        time.sleep(0.5)
        while sub.poll(50):
            seen.add(sub.recv_multipart()[0].decode())
        check(seen == {"press.", "hb"}, f"live topics for press.: {seen}")
        sub.close()
        dealer.close()

        # A key removed from the directory, then SIGHUP: refused on its next connection.
        procs_by["gone"].stop()
        os.unlink(os.path.join(clients, "gone.pub"))
        os.kill(pub.pid, signal.SIGHUP)
        wait_until(lambda: any(e.get("clients") == 2 for e in pub.logged("pub.reload")), 10,
                   "pub.reload with two agencies")
        gone_out = os.path.join(w, "gone2.jsonl")
        gone2 = procs.start("sub-gone2", sub_args(pub_ep, rep_ep, gone_out,
                                                  os.path.join(keys, "gone"), server), w)
        wait_until(lambda: any(e.get("key") == gone[0] for e in pub.logged("pub.auth_refused")),
                   10, "the removed key refused")
        time.sleep(1)
        check(read_lines(gone_out) == [], "the removed agency receives nothing")
        gone2.stop()

        # Hostile input on the CURVE sockets: raw TCP garbage.
        before = export(db)
        garbage_tcp(pub_ep)
        garbage_tcp(rep_ep)

        # An insecure publisher (no CURVE) on a second store: ZMTP-level garbage.
        db2 = os.path.join(w, "plain.db")
        store(db2, "init", "--sample")
        before2 = export(db2)
        pub2_ep, rep2_ep = tcp(), tcp()
        pub2 = procs.start("pub-plain", ["herald-pub", "--db", db2, "--bind", pub2_ep,
                                         "--replay-bind", rep2_ep, "--heartbeat-ms", "200"], w)
        wait_until(lambda: pub2.logged("pub.started"), 10, "the insecure publisher")
        garbage_tcp(pub2_ep)
        garbage_tcp(rep2_ep)
        d = ctx.socket(zmq.DEALER)
        d.linger = 0
        d.connect(rep2_ep)
        for frames in ([os.urandom(50)], [b"\x0a\xff\xff\xff\xff"], [b"", b"x"], [b"a", b"b"],
                       [b"\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"], [os.urandom(1000)]):
            d.send_multipart(frames)
        big = ctx.socket(zmq.DEALER)
        big.linger = 0
        big.connect(rep2_ep)
        big.send(b"\x1a" + os.urandom(300 * 1024))  # beyond ZMQ_MAXMSGSIZE: disconnected
        xsub = ctx.socket(zmq.XSUB)
        xsub.linger = 0
        xsub.connect(pub2_ep)
        for frames in ([b"\x02not a subscription"], [b""], [b"\x01" + b"x" * 4000],
                       [b"\x01a", b"\x01b"], [os.urandom(100)]):
            xsub.send_multipart(frames)
        wait_until(lambda: pub2.logged("pub.replay_bad_request"), 10, "bad requests logged")
        fresh = ctx.socket(zmq.DEALER)
        fresh.linger = 0
        fresh.connect(rep2_ep)
        topics = replay_topics(fresh, request(), timeout=5)
        fresh.close()
        check(topics[-1] == "replay.end" and len(topics) > 1,
              f"the insecure publisher still answers: {topics}")

        # The subscriber facing a rogue PUB next to the insecure publisher.
        rogue = ctx.socket(zmq.PUB)
        rogue.linger = 0
        rogue_ep = tcp()
        rogue.bind(rogue_ep)
        rogue_out = os.path.join(w, "rogue.jsonl")
        sub_rogue = procs.start("sub-rogue", ["herald-sub", "--connect", pub2_ep, "--connect",
                                              rogue_ep, "--replay", rep2_ep, "--sink", "log",
                                              "--out", rogue_out, "--from", "start"], w)
        head2 = int(store(db2, "head").stdout)
        wait_until(lambda: len(read_lines(rogue_out)) >= head2, 20, "the rogue-side subscriber")
        garbage = [[b"event.x.", os.urandom(300)], [b"only one frame"], [b"a", b"b", b"c"],
                   [b"hb", b"\x0a\xff\xff\xff"], [b"press.", b""], [b"x" * 300, b"y"],
                   [b"press.", os.urandom(2000)]]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
                sub_rogue.logged("sub.bad_frame") and sub_rogue.logged("sub.decode_error")):
            for g in garbage:
                rogue.send_multipart(g)
            time.sleep(0.05)
        check(sub_rogue.logged("sub.bad_frame") and sub_rogue.logged("sub.decode_error"),
              "the rogue's garbage is logged")
        check(export(db2) == before2, "the insecure publisher's store is unchanged")
        check(export(db) == before, "the CURVE publisher's store is unchanged")
        store(db2, "add-press-release", "--id", "after-rogue", "--title", "After the rogue",
              "--published-on", "2026-12-06")
        wait_until(lambda: any(l["id"] == "after-rogue" for l in read_lines(rogue_out)), 10,
                   "a real announcement after the garbage")
        for s in (d, big, xsub, rogue):
            s.close()
        ctx.term()

        # Everything still runs; the admitted subscriber still receives; stores intact.
        store(db, "add-press-release", "--id", "sec-last", "--title", "Last",
              "--published-on", "2026-12-03")
        wait_until(lambda: any(l["id"] == "sec-last" for l in read_lines(outs["full"])), 10,
                   "a live change after the garbage")
        for p in (pub, pub2, sub_rogue, procs_by["full"], procs_by["press"]):
            check(p.alive(), f"{p.name} survived")
        check(integrity(db) == "ok" and integrity(db2) == "ok",
              "stores pass PRAGMA integrity_check")
        for p in (pub, pub2):
            check(p.stop() == 0, f"{p.name} exits 0 on SIGTERM")
        for p in procs.procs:
            if p.alive():
                check(p.stop() == 0, f"{p.name} exits 0 on SIGTERM")
    print("ok")


if __name__ == "__main__":
    main()
