"""test_webhook.py -- herald-sub --sink webhook against a real HTTP receiver on loopback
(webhook_receiver.py, Python's http.server) that verifies every request's Standard Webhooks
signature with its own implementation: CloudEvents content in seq order, a secret rotation,
500s, a 429 with Retry-After, a receiver that hangs, a 410 and its dead letter (webhook-dead
list|retry), a kill -9 of the subscriber (the resend carries the same webhook-id), and TLS
with a private CA made here by openssl; and a receiver down while more is announced than
the outbox may hold (it stays bounded, and everything arrives once it is back).

One store and one publisher serve every case; each case has its own subscriber, state file and
receiver. Run one case: test_webhook.py content; HERALD_KEEP=1 keeps the directory."""
import base64
import json
import os
import re
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, Helper, PubWorld, check, dead_letters, fail,  # noqa: E402
                     run_cases, store, wait_until)

SECRET = "whsec_" + base64.b64encode(b"herald-test-secret-0123456789ab").decode()
NEW_SECRET = "whsec_" + base64.b64encode(b"herald-rotated-secret-98765432").decode()


class Receiver(Helper):
    """webhook_receiver.py on a port of its own; its requests read back from its directory."""

    def __init__(self, workdir, name, secret=SECRET, port=None, tls=None):
        super().__init__(workdir, name, port)
        self.secret = secret
        self.tls = tls

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/hooks/herald"

    def start(self):
        extra = ["--cert", self.tls[0], "--key", self.tls[1]] if self.tls else []
        return self.launch("webhook_receiver.py", ["--secret", self.secret] + extra)

    def control(self, **kw):
        self.write_control(dict(kw, at=time.monotonic()))

    def requests(self):
        """The requests recorded so far. The receiver appends while this reads, and a read
        racing an append has once returned a line that does not parse (CI, clock_jumps): the
        file is read again; a line that still does not parse three reads later fails."""
        path = os.path.join(self.dir, "requests.jsonl")
        if not os.path.exists(path):
            return []
        for attempt in range(3):
            with open(path) as f:
                lines = [line for line in f if line.endswith("\n")]
            try:
                return [json.loads(line) for line in lines]
            except ValueError:
                if attempt == 2:
                    raise
                time.sleep(0.05)

    def delivered(self):
        """The requests answered with a 2xx, in the order received (a request the receiver
        hung on was never answered, whatever status its script step names)."""
        return [r for r in self.requests() if 200 <= r["status"] <= 299 and not r.get("hang")]


class World(PubWorld):
    """The shared store and publisher, and what every case starts."""

    def receiver(self, name, **kw):
        return self.helper(Receiver(self.w, name, **kw))

    def sub(self, name, state, url, *extra, secret=SECRET, wait=True):
        return self.start_sub(name, state, ["--sink", "webhook", "--webhook-url", url] +
                              list(extra), env={"HERALD_WEBHOOK_SECRET": secret}, wait=wait)

    def events(self, prefix, count):
        """count new events; returns their seqs."""
        first = self.head() + 1
        for i in range(count):
            self.event(f"{prefix}-{i}", f"{prefix} number {i}")
        return list(range(first, first + count))


def seq_of(req):
    return req["body"]["seq"]


def check_in_order(reqs, seqs, what):
    """Every seq of seqs delivered, in order; a duplicate only right after itself (a resend
    whose 2xx was lost) and with the same webhook-id."""
    got = [seq_of(r) for r in reqs]
    dedup = [s for i, s in enumerate(got) if i == 0 or got[i - 1] != s]
    check(dedup == seqs, f"{what}: delivered in seq order, each once: {got} != {seqs}")
    by_seq = {}
    for r in reqs:
        check(by_seq.setdefault(seq_of(r), r["id"]) == r["id"], f"{what}: same webhook-id")


def check_signed(reqs, what, signatures=1):
    for r in reqs:
        check(r["signature_ok"] and r["fresh"], f"{what}: the receiver verified {r['id']}")
        check(r["signatures"] == signatures, f"{what}: {signatures} signature(s): {r}")
        check(r["content_type"] == "application/cloudevents+json",
              f"{what}: Content-Type {r['content_type']}")


def case_usage(world):
    """Usage errors exit 2 and say what; the secret never on the command line nor printed."""
    sub = os.path.join(BIN, "herald-sub")
    st = os.path.join(world.w, "usage.state")
    base = [sub, "--connect", world.live, "--sink", "webhook"]
    sf = os.path.join(world.w, "secret")
    with open(sf, "w") as f:
        f.write(SECRET + "\n")
    ok = {"HERALD_WEBHOOK_SECRET": SECRET}
    for args, env, word in [
        (base + ["--state", st], ok, "--webhook-url"),
        (base + ["--webhook-url", "http://127.0.0.1:1/"], ok, "--state"),
        (base + ["--state", st, "--webhook-url", "ftp://x/"], ok, "--webhook-url"),
        (base + ["--state", st, "--webhook-url", "http://127.0.0.1:1/"], {},
         "HERALD_WEBHOOK_SECRET"),
        (base + ["--state", st, "--webhook-url", "http://x/", "--webhook-secret", SECRET], {},
         "HERALD_WEBHOOK_SECRET"),
        (base + ["--state", st, "--webhook-url", "http://x/"],
         {"HERALD_WEBHOOK_SECRET": "whsec_notbase64!"}, "HERALD_WEBHOOK_SECRET"),
        (base + ["--state", st, "--webhook-url", "http://x/", "--webhook-secret-file", sf], ok,
         "HERALD_WEBHOOK_SECRET"),
        (base + ["--state", st, "--webhook-url", "http://x/", "--webhook-timeout", "0"], ok,
         "--webhook-timeout"),
        (base + ["--state", st, "--webhook-url", "http://x/", "--webhook-ca-file", sf + ".no"],
         ok, "--webhook-ca-file"),
        ([sub, "webhook-dead", "list"], {}, "--state"),
    ]:
        full = dict(os.environ)
        full.pop("HERALD_WEBHOOK_SECRET", None)
        full.update(env)
        r = subprocess.run(args, capture_output=True, text=True, timeout=10, env=full)
        check(r.returncode == 2 and word in r.stderr, f"{args[3:]} {env}: {r.returncode} "
              f"{r.stderr!r}")
        check(SECRET[6:] not in r.stderr, "the secret is never printed")
    r = subprocess.run(base + ["--state", st, "--webhook-url", "http://x/", "--webhook-secret-file",
                               sf, "--print-config"], capture_output=True, text=True, timeout=10)
    check(r.returncode == 0, f"--print-config: {r.stderr}")
    config = json.loads(r.stdout)
    check(config["webhook_secret"] == "***" and SECRET[6:] not in r.stdout,
          f"--print-config hides the secret: {config}")


def case_content(world):
    """Every kind of change as a CloudEvents event, in seq order, signed; data in the export's
    form; an id alone for a gone record."""
    rx = world.receiver("rx-content")
    st = os.path.join(world.w, "content.state")
    sub = world.sub("sub-content", st, rx.url)
    first = world.head() + 1
    world.event("c-1", "Meeting with Jürgen Stock", "--summary", "Line one\nLine two",
                "--person", "Jürgen Stock|INTERPOL Secretary General")
    world.event("c-1", "Meeting with Jürgen Stock, moved", "--person",
                "Jürgen Stock|INTERPOL Secretary General")
    store(world.db, "cancel-event", "c-1", "--reason", "venue closed")
    store(world.db, "add-press-release", "--id", "pr-c1", "--title", "Press release über Lyon",
          "--published-on", "2026-12-02", "--event-id", "c-1", "--summary", "Said in Lyon")
    store(world.db, "add-press-release", "--id", "pr-c2", "--title", "No event",
          "--published-on", "2026-12-03")
    export = json.loads(store(world.db, "export").stdout)
    store(world.db, "delete-press-release", "pr-c2")
    store(world.db, "delete-press-release", "pr-c1")
    store(world.db, "delete-event", "c-1")
    last = world.head()
    seqs = list(range(first, last + 1))
    check(len(seqs) == 8, "8 changes committed")
    wait_until(lambda: len(rx.delivered()) >= 8, 15, "eight deliveries")
    reqs = rx.delivered()
    check_in_order(reqs, seqs, "content")
    check_signed(reqs, "content")
    stream = sub.logged("sub.following")[0]["stream_id"]
    changes = {c["seq"]: c for c in
               (json.loads(line) for line in store(world.db, "changes").stdout.splitlines())
               if c["seq"] >= first}
    types = ["event.created", "event.updated", "event.cancelled", "press_release.created",
             "press_release.created", "press_release.deleted", "press_release.deleted",
             "event.deleted"]
    for req, seq, t in zip(reqs, seqs, types):
        e = req["body"]
        check(e["specversion"] == "1.0" and e["id"] == req["id"] and
              e["id"] == f"herald_{stream}_{seq}", f"id: {e}")
        check(e["source"] == f"urn:herald:stream:{stream}", f"source: {e['source']}")
        check(e["type"] == f"org.herald.{t}", f"type {e['type']} != {t}")
        check(e["datacontenttype"] == "application/json", "datacontenttype")
        ms = changes[seq]["committed_at_ms"]
        want = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"
        check(e["time"] == want, f"time {e['time']} != {want}")
        check(e["subject"] == e["data"]["id"], "subject is the record id")
    ev = {e["id"]: e for e in export["events"]}
    pr = {p["id"]: p for p in export["press_releases"]}
    check(reqs[2]["body"]["data"] == ev["c-1"], f"cancelled: the export's form: "
          f"{reqs[2]['body']['data']} != {ev['c-1']}")
    check(reqs[2]["body"]["data"]["cancel_reason"] == "venue closed", "cancel reason")
    check(reqs[3]["body"]["data"] == pr["pr-c1"], f"press release: {reqs[3]['body']['data']}")
    check(reqs[4]["body"]["data"] == pr["pr-c2"] and reqs[4]["body"]["data"]["event_id"] is None,
          f"press release without event: {reqs[4]['body']['data']}")
    check(reqs[0]["body"]["data"]["people"] == [{"name": "Jürgen Stock",
                                                 "role": "INTERPOL Secretary General"}], "people")
    check(reqs[5]["body"]["data"] == {"id": "pr-c2"} and reqs[7]["body"]["data"] == {"id": "c-1"},
          "a gone record: its id alone")
    check(len(rx.requests()) == 8, "no request but these")
    check(sub.stop() == 0, "herald-sub exits 0")


def case_rotation(world):
    """Two secrets during a rotation: two signatures; a receiver knowing either accepts."""
    both = SECRET + " " + NEW_SECRET
    for name, known in [("rx-old", SECRET), ("rx-new", NEW_SECRET)]:
        rx = world.receiver(name, secret=known)
        st = os.path.join(world.w, name + ".state")
        sub = world.sub("sub-" + name, st, rx.url, secret=both)
        seqs = world.events(name, 2)
        wait_until(lambda: len(rx.delivered()) >= 2, 15, f"{name}: two deliveries")
        check_in_order(rx.delivered(), seqs, name)
        check_signed(rx.delivered(), name, signatures=2)
        check(sub.stop() == 0, "herald-sub exits 0")


def case_faults(world):
    """500s, a 429 with Retry-After, a hang and a 410: every announcement delivered in order
    but the refused one, which is a dead letter, listed, and delivered by webhook-dead retry."""
    rx = world.receiver("rx-faults")
    st = os.path.join(world.w, "faults.state")
    rx.control(script=[{"hang": 4}, {"status": 500}, {"status": 503},
                       {"status": 429, "retry_after": 2}],
               gone=["f-2"])
    sub = world.sub("sub-faults", st, rx.url, "--webhook-timeout", "1")
    seqs = world.events("f", 5)
    gone_seq = seqs[2]
    want = [s for s in seqs if s != gone_seq]
    wait_until(lambda: len(rx.delivered()) >= 4, 40, "the four accepted deliveries")
    reqs = rx.delivered()
    check_in_order(reqs, want, "faults")
    check_signed(rx.requests(), "faults")
    retries = sub.logged("sub.webhook_retry")
    check([r["code"] for r in retries] == [0, 500, 503, 429], f"retries: {retries}")
    check([r["attempt"] for r in retries] == [1, 2, 3, 4], "attempts counted")
    check("timed out" in retries[0]["error"].lower() or "timeout" in retries[0]["error"].lower(),
          f"the hang timed out: {retries[0]}")
    check(1000 <= retries[0]["next_in_ms"] <= 1250 and 2000 <= retries[1]["next_in_ms"] <= 2500
          and 4000 <= retries[2]["next_in_ms"] <= 5000,
          f"exponential backoff with jitter: {retries[:3]}")
    check(retries[3]["next_in_ms"] == 2000 and retries[3]["retry_after_s"] == 2,
          f"Retry-After honoured: {retries[3]}")
    first_attempts = [r for r in rx.requests() if seq_of(r) == seqs[0]]
    check(len(first_attempts) == 5 and len({r["id"] for r in first_attempts}) == 1,
          "the head retried, under one webhook-id")
    gap = first_attempts[4]["received_at"] - first_attempts[3]["received_at"]
    check(gap >= 1.9, f"the 429's Retry-After waited: {gap:.2f}s")
    dead = sub.logged("sub.webhook_dead")
    check(len(dead) == 1 and dead[0]["seq"] == gone_seq and dead[0]["code"] == 410,
          f"the 410 dead-lettered: {dead}")
    check(sub.stop() == 0, "herald-sub exits 0")
    listed = dead_list(st)
    gone_id = [r["id"] for r in rx.requests() if seq_of(r) == gone_seq][0]
    check(len(listed) == 1 and listed[0]["webhook_id"] == gone_id and listed[0]["code"] == 410
          and listed[0]["seq"] == gone_seq and listed[0]["type"] == "org.herald.event.created",
          f"webhook-dead list: {listed}")
    retry = [os.path.join(BIN, "herald-sub"), "webhook-dead", "retry", "--state", st,
             "--webhook-url", rx.url]
    env = dict(os.environ, HERALD_WEBHOOK_SECRET=SECRET)
    r = subprocess.run(retry, capture_output=True, text=True, timeout=60, env=env)
    check(r.returncode == 1 and "sub.webhook_dead" in r.stderr, f"still gone: {r.stderr}")
    check(len(dead_list(st)) == 1, "still listed")
    rx.control()
    r = subprocess.run(retry, capture_output=True, text=True, timeout=60, env=env)
    check(r.returncode == 0, f"webhook-dead retry exits 0: {r.stderr}")
    last = rx.delivered()[-1]
    check(last["id"] == gone_id and seq_of(last) == gone_seq and last["signature_ok"],
          f"the dead letter delivered under its webhook-id: {last}")
    check(dead_list(st) == [], "the list is empty")


def dead_list(st):
    return dead_letters("webhook-dead", st)


def outbox(st):
    with sqlite3.connect(f"file:{st}?mode=ro", uri=True) as db:
        return db.execute("SELECT seq FROM webhook_outbox ORDER BY id").fetchall()


def case_crash(world):
    """kill -9 while the receiver fails: after the restart the head is sent again with the same
    webhook-id, and everything, what was committed meanwhile too, arrives in order."""
    rx = world.receiver("rx-crash")
    rx.control(status=500)
    st = os.path.join(world.w, "crash.state")
    sub = world.sub("sub-crash", st, rx.url)
    seqs = world.events("k", 3)
    wait_until(lambda: sub.logged("sub.webhook_retry"), 10, "a failed attempt")
    wait_until(lambda: len(outbox(st)) == 3, 10, "three requests in the outbox")
    head_id = sub.logged("sub.webhook_retry")[0]["webhook_id"]
    sub.kill9()
    seqs += world.events("k-dead", 2)
    rx.control()
    sub2 = world.sub("sub-crash2", st, rx.url)
    wait_until(lambda: len(rx.delivered()) >= 5, 20, "five deliveries after the restart")
    time.sleep(0.5)
    reqs = rx.delivered()
    check_in_order(reqs, seqs, "crash")
    check(reqs[0]["id"] == head_id, f"the resend carries the same webhook-id {head_id}")
    tried = {r["id"] for r in rx.requests() if seq_of(r) == seqs[0]}
    check(tried == {head_id}, f"every attempt under one id: {tried}")
    check(outbox(st) == [], "the outbox is empty")
    check(sub2.stop() == 0, "herald-sub exits 0")


BACKLOG_MAX = 4000  # SINK_BACKLOG_MAX (sink.h): requests the outbox may hold
PAGE = 500  # REPLAY_PAGE_PACED (replay_client.h), the webhook's; two pages in flight at most


def ndjson(prefix, count):
    """count events in the shape herald-store import reads, one transaction when imported."""
    return "".join(json.dumps({"type": "event", "id": f"{prefix}-{i}", "kind": "conference",
                               "title": f"{prefix} number {i}", "start_date": "2026-12-01",
                               "end_date": "2026-12-03", "city": "Lyon", "country": "FR"}) + "\n"
                   for i in range(count))


def settled_outbox(st, what):
    """The outbox's size once it has reached BACKLOG_MAX and the receiver's refusals have
    stopped it growing: read until two reads a second apart agree."""
    def count():
        try:
            return len(outbox(st))
        except sqlite3.Error:
            return 0  # no state file yet, or not its tables

    wait_until(lambda: count() >= BACKLOG_MAX, 60, f"{what}: {BACKLOG_MAX} requests queued",
               interval=0.2)
    last = -1
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        n = count()
        if n == last:
            return n
        last = n
        time.sleep(1)
    fail(f"{what}: the outbox did not settle ({last} requests)")


def case_backlog(world):
    """A receiver down while far more is announced than the sink may hold: the outbox stops at
    about SINK_BACKLOG_MAX requests, whether the announcements come from the history (a catch-up
    that asks for no page while the sink is full) or from the live feed (left to the
    publisher's history: sub.sink_full); once the receiver is back, every one arrives in
    order, each once, and the outbox empties."""
    store(world.db, "import", "-", stdin=ndjson("bl-history", 9000))
    rx = world.receiver("rx-backlog")
    rx.control(status=503)
    st = os.path.join(world.w, "backlog.state")
    sub = world.sub("sub-backlog", st, rx.url, "--from", "start", wait=False)
    head = world.head()
    check(head > BACKLOG_MAX + 2 * PAGE, f"more history ({head}) than the outbox may hold")
    n = settled_outbox(st, "history")
    check(BACKLOG_MAX <= n <= BACKLOG_MAX + 2 * PAGE,
          f"the catch-up stopped asking once the outbox held {BACKLOG_MAX}: {n} of {head}")
    rx.control()
    wait_until(lambda: len(rx.delivered()) >= head and len(outbox(st)) == 0, 120,
               "the history delivered", interval=0.5)
    reqs = rx.delivered()
    check_in_order(reqs, list(range(1, head + 1)), "history")

    rx.control(status=503)
    store(world.db, "import", "-", stdin=ndjson("bl-live", 6000))
    live_head = world.head()
    wait_until(lambda: sub.logged("sub.sink_full"), 30, "sub.sink_full", interval=0.2)
    full = sub.logged("sub.sink_full")[0]
    check(full["sink"] == "webhook" and full["waiting"] == BACKLOG_MAX and
          full["max"] == BACKLOG_MAX and head < full["last"] < live_head,
          f"the live feed stopped at the sink's limit: {full}")
    n = settled_outbox(st, "live")
    check(BACKLOG_MAX <= n <= BACKLOG_MAX + 2 * PAGE,
          f"the live feed left the rest to the history: {n} of {live_head - head} in the outbox")
    rx.control()
    wait_until(lambda: len(outbox(st)) == 0 and len(rx.delivered()) >= live_head, 120,
               "the live burst delivered", interval=0.5)
    check_in_order(rx.delivered(), list(range(1, live_head + 1)), "history and live burst")
    check(sub.stop() == 0, "herald-sub exits 0")


def private_ca(workdir):
    """A private CA and a server certificate it signed for 127.0.0.1: (ca, cert, key)."""
    ca_key, ca = os.path.join(workdir, "ca.key"), os.path.join(workdir, "ca.crt")
    key, csr = os.path.join(workdir, "srv.key"), os.path.join(workdir, "srv.csr")
    cert, ext = os.path.join(workdir, "srv.crt"), os.path.join(workdir, "srv.ext")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for cmd in [
        ["openssl", "req", "-x509"] + ec + ["-keyout", ca_key, "-out", ca, "-days", "2",
                                           "-subj", "/CN=Herald test private CA"],
        ["openssl", "req"] + ec + ["-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ]:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, f"{' '.join(cmd[:3])}: {r.stderr}")
    return ca, cert, key


def case_tls(world):
    """https:// with a certificate of a private CA: refused (retried, kept) without
    --webhook-ca-file, delivered with it."""
    ca, cert, key = private_ca(world.w)
    rx = world.receiver("rx-tls", tls=(cert, key))
    st = os.path.join(world.w, "tls.state")
    sub = world.sub("sub-tls-noca", st, rx.url)
    seqs = world.events("t", 2)
    wait_until(lambda: sub.logged("sub.webhook_retry"), 15, "a refused certificate")
    r = sub.logged("sub.webhook_retry")[0]
    check(r["code"] == 0 and re.search(r"certificate|SSL", r["error"]), f"why: {r}")
    check(rx.requests() == [], "nothing sent to an unverified server")
    check(sub.stop() == 0, "herald-sub exits 0")
    sub = world.sub("sub-tls", st, rx.url, "--webhook-ca-file", ca)
    wait_until(lambda: len(rx.delivered()) >= 2, 15, "two deliveries over TLS")
    check_in_order(rx.delivered(), seqs, "tls")
    check_signed(rx.delivered(), "tls")
    check(sub.stop() == 0, "herald-sub exits 0")


CASES = [case_usage, case_content, case_rotation, case_faults, case_crash, case_tls,
         case_backlog]


def main():
    run_cases("herald-webhook-", World, CASES, (SECRET[6:].encode(), NEW_SECRET[6:].encode()))


if __name__ == "__main__":
    main()
