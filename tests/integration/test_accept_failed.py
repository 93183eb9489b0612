"""test_accept_failed.py -- herald-pub out of file descriptors: connections the kernel queued
but the publisher could not accept (EMFILE) are logged as pub.accept_failed, with the error's
text and the open-files limit, at most a line a second, and counted in
herald_pub_accepts_failed_total; the publisher serves again once descriptors are free.

herald-pub runs with RLIMIT_NOFILE 64:64 (soft and hard, so its own raise to the hard limit
changes nothing) and 120 SUB sockets connect to its live endpoint: more than fit."""
import errno
import json
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request

import zmq

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, SLOW, Shown, check, fail, free_port, store, tcp, wait_until, workdir  # noqa

NOFILE = 64
SUBS = 120


def limited():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


def events(path, name):
    out = []
    with open(path, "rb") as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("event") == name:
                out.append(e)
    return out


def scrape(port):
    """{sample name: value} of the publisher's /metrics (plain text exposition)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def main():
    with workdir() as w:
        db = os.path.join(w, "h.db")
        store(db, "init")
        pub_ep, rep_ep, mport = tcp(), tcp(), free_port()
        log_path = os.path.join(w, "pub.log")
        log = open(log_path, "wb")
        pub = subprocess.Popen([os.path.join(BIN, "herald-pub"), "--db", db, "--bind", pub_ep,
                                "--replay-bind", rep_ep, "--heartbeat-ms", "100", "--metrics",
                                str(mport)], stderr=log, preexec_fn=limited)
        Shown("herald-pub", pub, log_path)
        ctx = zmq.Context()
        socks = []
        try:
            wait_until(lambda: events(log_path, "pub.started") or (
                pub.poll() is not None and fail(f"herald-pub exited {pub.returncode}")),
                20, "herald-pub to start")
            nofile = events(log_path, "pub.nofile")
            check(nofile and nofile[0]["soft"] == NOFILE, f"the limit it runs with: {nofile}")

            for _ in range(SUBS):
                s = ctx.socket(zmq.SUB)
                s.setsockopt(zmq.LINGER, 0)
                s.setsockopt(zmq.SUBSCRIBE, b"")
                s.connect(pub_ep)
                socks.append(s)
            lines = wait_until(lambda: events(log_path, "pub.accept_failed"), 20,
                               "a pub.accept_failed line")
            first = lines[0]
            print(f"pub.accept_failed: {first}")
            check(first["errno"] == errno.EMFILE, f"the errno is EMFILE: {first}")
            check(first["error"] == os.strerror(errno.EMFILE), f"the error's text: {first}")
            check(first["nofile_soft"] == NOFILE, f"the open-files limit: {first}")
            check(first["socket"] == "live" and first["endpoint"] == pub_ep,
                  f"the socket and its endpoint: {first}")
            check(first["count"] >= 1 and first["total"] >= first["count"], f"counts: {first}")
            check("LimitNOFILE" in first["hint"], f"the hint names the fix: {first}")
            # libzmq retries the accept while the peers wait: the lines stay one a second.
            time.sleep(2.5 * SLOW)
            lines = events(log_path, "pub.accept_failed")
            stamps = [e.get("ts") for e in lines]
            check(2 <= len(lines) <= 4 + int(2.5 * SLOW),
                  f"at most about a line a second over 2.5 s: {len(lines)} {stamps}")
            check(not events(log_path, "pub.handshake_failed"),
                  "a refused accept is not a failed handshake")
            check(pub.poll() is None, "herald-pub still runs")

            # Descriptors freed: the publisher serves again, and its metrics tell the story.
            for s in socks:
                s.close()
            socks = []
            sub = ctx.socket(zmq.SUB)
            sub.setsockopt(zmq.LINGER, 0)
            sub.setsockopt(zmq.SUBSCRIBE, b"hb")
            sub.connect(pub_ep)
            socks.append(sub)
            check(sub.poll(int(10000 * SLOW)), "a heartbeat once descriptors are free again")
            m = wait_until(lambda: scrape(mport), 10, "/metrics")
            total = lines[-1]["total"]
            check(m.get("herald_pub_accepts_failed_total", 0) >= total,
                  f"herald_pub_accepts_failed_total counts them: {m} (logged total {total})")
            check("herald_pub_connections_closed_early_total" in m and
                  "herald_pub_handshakes_failed_total" in m, f"the other monitor counters: {m}")
            print(f"herald_pub_accepts_failed_total {m['herald_pub_accepts_failed_total']:.0f}")
            pub.send_signal(signal.SIGTERM)
            check(pub.wait(10 * SLOW) == 0, "herald-pub exits 0")
        finally:
            for s in socks:
                s.close()
            ctx.term()
            if pub.poll() is None:
                pub.kill()
                pub.wait()
            log.close()
    print("ok")


if __name__ == "__main__":
    main()
