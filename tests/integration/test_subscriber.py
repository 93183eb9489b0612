#!/usr/bin/env python3
"""test_subscriber.py -- herald-sub against the real herald-pub and herald-store on loopback.

Each case makes its own store, publisher and subscribers on free ports, waits on conditions
with deadlines (never on fixed sleeps for correctness), and stops what it started by PID.
Environment: HERALD_BIN, the directory holding herald-pub, herald-sub and herald-store.
Run one case: test_subscriber.py from_start; HERALD_KEEP=1 keeps the directories.
"""
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import free_port, read_lines  # noqa: E402  (a partial last line is left out)

BIN = os.environ.get("HERALD_BIN") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "bin")
PUB = os.path.join(BIN, "herald-pub")
SUB = os.path.join(BIN, "herald-sub")
STORE = os.path.join(BIN, "herald-store")
DEADLINE = 30.0




def wait_for(what, cond, timeout=DEADLINE, every=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out waiting for " + what)


class Proc:
    """A program started with its stderr (and stdout) in files of the case's directory."""

    def __init__(self, name, args, workdir, env=None):
        self.name = name
        self.err_path = os.path.join(workdir, name + ".err")
        self.out_path = os.path.join(workdir, name + ".out")
        self.err = open(self.err_path, "ab")
        self.out = open(self.out_path, "ab")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.p = subprocess.Popen(args, stdout=self.out, stderr=self.err, env=full_env)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.p.poll() is None:
            os.kill(self.p.pid, sig)
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.p.pid, signal.SIGKILL)
            self.p.wait(timeout=timeout)
            raise AssertionError("%s did not stop within %.0fs" % (self.name, timeout))
        self.err.close()
        self.out.close()
        return rc

    def alive(self):
        return self.p.poll() is None

    def logs(self):
        """The JSON log lines on stderr so far."""
        lines = []
        with open(self.err_path, "rb") as f:
            for raw in f.read().decode("utf-8", "replace").splitlines():
                try:
                    lines.append(json.loads(raw))
                except ValueError:
                    pass
        return lines

    def events(self, name):
        return [line for line in self.logs() if line.get("event") == name]


class Case:
    """A directory, a store, a publisher, and what the case starts, all stopped at the end."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix="herald-sub-%s-" % name)
        self.db = os.path.join(self.dir, "origin.db")
        self.procs = []
        self.pub = None
        self.pub_port = free_port()
        self.replay_port = free_port()

    @property
    def live(self):
        return "tcp://127.0.0.1:%d" % self.pub_port

    @property
    def replay(self):
        return "tcp://127.0.0.1:%d" % self.replay_port

    def store(self, *args, db=None, data=None):
        r = subprocess.run([STORE, "--db", db or self.db] + list(args), input=data,
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("herald-store %s: %s" % (args, r.stderr.decode()))
        return r.stdout.decode()

    def head(self):
        return int(self.store("head").strip())

    def start_pub(self, *extra):
        self.pub = self.start("pub", [PUB, "--db", self.db, "--bind", self.live,
                                      "--replay-bind", self.replay, "--heartbeat-ms", "200",
                                      *extra])
        wait_for("pub.started", lambda: self.pub.events("pub.started"))
        return self.pub

    def start(self, name, args, env=None):
        proc = Proc(name, args, self.dir, env)
        self.procs.append(proc)
        return proc

    def sub(self, name, *extra, replay=True, connect=None):
        args = [SUB, "--log-level", "debug"]
        for endpoint in connect or [self.live]:
            args += ["--connect", endpoint]
        if replay:
            args += ["--replay", self.replay]
        return self.start(name, args + list(extra))

    def path(self, name):
        return os.path.join(self.dir, name)

    def close(self, ok):
        for proc in self.procs:
            if proc.alive():
                try:
                    proc.stop(signal.SIGKILL)
                except AssertionError:
                    pass
        if ok and not os.environ.get("HERALD_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("  kept " + self.dir, file=sys.stderr)


def ndjson_events(prefix, n, start=0):
    lines = []
    for i in range(start, start + n):
        lines.append(json.dumps({
            "type": "event", "id": "%s-%06d" % (prefix, i), "kind": "course",
            "title": "Course %d" % i, "start_date": "2026-03-01", "end_date": "2026-03-02",
            "city": "Lyon", "country": "FR"}))
    return ("\n".join(lines) + "\n").encode()


def put_event(case, event_id, title="A course", db=None):
    case.store("put-event", "--id", event_id, "--kind", "course", "--title", title,
               "--start-date", "2026-05-01", "--end-date", "2026-05-03", "--city", "Lyon",
               "--country", "FR", db=db)


def assert_in_order(lines, first, last):
    seqs = [line["seq"] for line in lines]
    assert seqs == list(range(first, last + 1)), "seqs %s... not %d..%d" % (
        seqs[:20], first, last)


def export_without_stream(case, db):
    doc = json.loads(case.store("export", db=db))
    doc.pop("stream_id", None)
    return doc


# ---------------------------------------------------------------------------------------------

def case_usage(case):
    """Wrong values exit 2 naming the flag or variable; --help exits 0."""
    r = subprocess.run([SUB, "--help"], capture_output=True, timeout=10)
    assert r.returncode == 0 and b"--connect" in r.stdout
    for args, env, word in [
        (["--sink", "log"], {}, b"--connect"),
        (["--connect", case.live, "--sink", "nope"], {}, b"--sink"),
        (["--connect", case.live, "--sink", "log", "--from", "yesterday"], {}, b"--from"),
        (["--connect", case.live, "--sink", "log"], {"HERALD_RCVHWM": "lots"},
         b"HERALD_RCVHWM"),
        (["--connect", "nowhere", "--sink", "log"], {}, b"--connect"),
        (["--connect", case.live, "--sink", "mirror"], {}, b"--mirror-db"),
        (["--bogus"], {}, b"--bogus"),
    ]:
        env_all = dict(os.environ)
        env_all.update(env)
        r = subprocess.run([SUB] + args, capture_output=True, timeout=10, env=env_all)
        assert r.returncode == 2, "%s: exit %d" % (args, r.returncode)
        assert word in r.stderr, "%s: %s" % (args, r.stderr)


def case_from_start(case):
    """--from start logs every change in order, without gap or duplicate, then live ones."""
    case.store("init", "--sample")
    case.start_pub()
    out = case.path("log.jsonl")
    sub = case.sub("sub", "--from", "start", "--sink", "log", "--out", out)
    wait_for("the history", lambda: len(read_lines(out)) >= 10)
    for i in range(5):
        put_event(case, "live-%d" % i)
    head = case.head()
    wait_for("the live changes", lambda: len(read_lines(out)) >= head)
    assert sub.stop() == 0
    lines = read_lines(out)
    assert_in_order(lines, 1, head)
    assert lines[-1]["id"] == "live-4" and lines[-1]["change"] == "created"
    assert lines[-1]["type"] == "event" and lines[-1]["country"] == "FR"
    assert sub.events("sub.stopped"), "no sub.stopped"


def case_text_format(case):
    """--format text prints the short lines: the seq, the id, the record, the change, and a
    cancellation's reason (a second cancel-event that only changes it, too)."""
    case.store("init", "--sample")
    case.start_pub()
    out = case.path("log.txt")
    sub = case.sub("sub", "--from", "start", "--sink", "log", "--format", "text", "--out", out)
    wait_for("ten lines", lambda: os.path.exists(out) and
             len(open(out).read().splitlines()) >= 10)
    ev = "2016-01-global-counter-nuclear-smuggling-conference"
    case.store("cancel-event", ev, "--reason", "Venue closed")
    case.store("cancel-event", ev, "--reason", "Venue flooded")
    wait_for("the cancellations", lambda: "Venue flooded" in open(out).read())
    assert sub.stop() == 0
    text = open(out).read()
    lines = text.splitlines()
    first = [ln for ln in lines if " " + ev + "  " in ln][0]
    assert re.match(r"^[0-9]+  " + ev + "  2016-01-27..29  Lyon, FR  conference  "
                    "Global Counter-Nuclear Smuggling Conference  \\[created\\]$", first), first
    assert "  press  Press release:" in text
    seqs = [int(ln.split("  ")[0]) for ln in lines]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    cancels = [ln for ln in lines if "reason: " in ln]
    assert len(cancels) == 2 and cancels[0].endswith("  reason: Venue closed") and \
        cancels[1].endswith("  reason: Venue flooded") and "[cancelled]" in cancels[0], cancels
    assert all(c.split("  ")[1] == ev for c in cancels), cancels


def case_from_snapshot(case):
    """--from snapshot gives every current record once, then live changes."""
    case.store("init", "--sample")
    case.store("delete-press-release", "2014-01-28-global-security-and-counter-terrorism-convention")
    case.store("cancel-event", "2016-01-global-counter-nuclear-smuggling-conference")
    case.start_pub()
    out = case.path("log.jsonl")
    sub = case.sub("sub", "--from", "snapshot", "--sink", "log", "--out", out)
    wait_for("the snapshot", lambda: len(read_lines(out)) >= 9)
    put_event(case, "after-snapshot")
    wait_for("a live change", lambda: len(read_lines(out)) >= 10)
    assert sub.stop() == 0
    lines = read_lines(out)
    ids = [line["id"] for line in lines]
    assert len(ids) == len(set(ids)) == 10, ids
    cancelled = [l for l in lines if l["id"] == "2016-01-global-counter-nuclear-smuggling-conference"]
    assert cancelled[0]["status"] == "cancelled"
    assert lines[-1]["id"] == "after-snapshot" and lines[-1]["seq"] == case.head()


def case_resume(case):
    """A restart with --state resumes after the last seq: no gap, no duplicate."""
    case.store("init", "--sample")
    case.start_pub()
    out = case.path("log.jsonl")
    state = case.path("state.db")
    args = ("--from", "start", "--sink", "log", "--out", out, "--state", state)
    sub = case.sub("sub1", *args)
    wait_for("the history", lambda: len(read_lines(out)) >= 10)
    assert sub.stop() == 0
    for i in range(7):
        put_event(case, "while-down-%d" % i)
    sub = case.sub("sub2", *args)
    head = case.head()
    wait_for("the changes made while down", lambda: len(read_lines(out)) >= head)
    put_event(case, "after-restart")
    wait_for("a live change", lambda: len(read_lines(out)) >= head + 1)
    assert sub.stop() == 0
    assert_in_order(read_lines(out), 1, head + 1)
    row = sqlite3.connect(state).execute("SELECT last_seq FROM state WHERE id = 1").fetchone()
    assert row[0] == head + 1, row


def case_mirror(case):
    """A mirror equals the origin after creates, updates, cancels and deletes, also after
    kill -9 in the middle of a stream of changes."""
    case.store("init", "--sample")
    # the snapshot then brings this event after its press releases (latest change order)
    case.store("cancel-event", "2016-01-global-counter-nuclear-smuggling-conference")
    case.start_pub()
    mirror = case.path("mirror.db")
    args = ("--sink", "mirror", "--mirror-db", mirror)
    sub = case.sub("mirror1", *args)
    put_event(case, "m-1")
    put_event(case, "m-1", title="Renamed")
    case.store("cancel-event", "m-1")
    case.store("delete-press-release", "2014-01-28-global-security-and-counter-terrorism-convention")
    case.store("delete-event", "2014-01-global-security-and-counter-terrorism-convention")

    def same():
        try:
            return export_without_stream(case, case.db) == export_without_stream(case, mirror)
        except AssertionError:
            return False
    wait_for("the mirror to catch up", same)
    # a big import, and kill -9 while the mirror applies it
    case.store("import", "-", data=ndjson_events("bulk", 3000))
    def bulk_in_mirror():
        try:
            with sqlite3.connect(mirror, timeout=5) as db:
                return db.execute("SELECT count(*) FROM events WHERE id LIKE 'bulk-%'")\
                    .fetchone()[0] > 0
        except sqlite3.Error:
            return False
    wait_for("the mirror to start on the import", bulk_in_mirror)
    sub.stop(signal.SIGKILL)
    case.store("delete-event", "bulk-000010")
    sub = case.sub("mirror2", *args)
    wait_for("the mirror to catch up after kill -9", same, timeout=60)
    assert sub.stop() == 0


def case_rogue_peer(case):
    """Garbage from a rogue PUB peer is counted and dropped; the real feed goes on."""
    case.store("init", "--sample")
    case.start_pub()
    ctx = zmq.Context()
    rogue = ctx.socket(zmq.PUB)
    rogue_port = rogue.bind_to_random_port("tcp://127.0.0.1")
    out = case.path("log.jsonl")
    sub = case.sub("sub", "--from", "start", "--sink", "log", "--out", out,
                   connect=[case.live, "tcp://127.0.0.1:%d" % rogue_port])
    wait_for("the history", lambda: len(read_lines(out)) >= 10)
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        rogue.send(b"one frame only")
        rogue.send_multipart([b"event.x.FR.", b"\x08\x96\x01garbage", b"third"])
        rogue.send_multipart([b"event.x.FR.", b"\xff\xff\xff\xff not protobuf"])
        rogue.send_multipart([b"hb", b""])
        rogue.send_multipart([b"e" * 1000, b"x"])
        time.sleep(0.01)
    put_event(case, "after-garbage")
    head = case.head()
    wait_for("the change after the garbage", lambda: len(read_lines(out)) >= head)
    assert sub.alive()
    assert sub.stop() == 0
    assert_in_order(read_lines(out), 1, head)
    assert sub.events("sub.bad_frame"), "no sub.bad_frame"
    assert sub.events("sub.decode_error"), "no sub.decode_error"
    bad = sub.events("sub.bad_frame")
    assert len(bad) <= 4, "sub.bad_frame is not rate-limited: %d lines" % len(bad)
    rogue.close(0)
    ctx.term()


def case_slow_subscriber(case):
    """--rcvhwm 10 behind a fast publisher ends complete, through gap healing."""
    case.store("init", "--sample")
    case.start_pub()
    out = case.path("log.jsonl")
    sub = case.sub("sub", "--from", "start", "--sink", "log", "--out", out, "--rcvhwm", "10")
    wait_for("the history", lambda: len(read_lines(out)) >= 10)
    os.kill(sub.p.pid, signal.SIGSTOP)  # a subscriber that cannot keep up for a while
    try:
        for part in range(4):
            case.store("import", "-", data=ndjson_events("fast%d" % part, 2500))
        time.sleep(0.5)
    finally:
        os.kill(sub.p.pid, signal.SIGCONT)
    head = case.head()
    wait_for("every change", lambda: len(read_lines(out)) >= head, timeout=90)
    assert sub.stop() == 0
    assert_in_order(read_lines(out), 1, head)
    stopped = sub.events("sub.stopped")[-1]
    print("  slow subscriber: gaps_detected=%s gaps_healed=%s" % (
        stopped.get("gaps_detected"), stopped.get("gaps_healed")), file=sys.stderr)
    assert stopped["gaps_detected"] == 0 or stopped["gaps_healed"] >= 1, stopped


class DroppingProxy:
    """Relays the publisher's live feed but drops every nth record message (never a
    heartbeat), so that the subscriber behind it sees gaps it must heal by replay."""

    def __init__(self, ctx, upstream, nth):
        self.sub = ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.connect(upstream)
        self.pub = ctx.socket(zmq.PUB)
        self.port = self.pub.bind_to_random_port("tcp://127.0.0.1")
        self.nth = nth
        self.dropped = 0
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        count = 0
        while self.running:
            if not self.sub.poll(100):
                continue
            frames = self.sub.recv_multipart()
            if frames[0] != b"hb":
                count += 1
                if count % self.nth == 0:
                    self.dropped += 1
                    continue
            self.pub.send_multipart(frames)

    def close(self):
        self.running = False
        self.thread.join(5)
        self.sub.close(0)
        self.pub.close(0)


def case_gap_healing(case):
    """Lost live messages are detected as gaps and healed by replay, in order."""
    case.store("init", "--sample")
    case.start_pub()
    ctx = zmq.Context()
    proxy = DroppingProxy(ctx, case.live, 7)
    try:
        out = case.path("log.jsonl")
        sub = case.sub("sub", "--from", "start", "--sink", "log", "--out", out,
                       connect=["tcp://127.0.0.1:%d" % proxy.port])
        wait_for("the history", lambda: len(read_lines(out)) >= 10)
        for i in range(30):
            put_event(case, "gappy-%d" % i)
        case.store("import", "-", data=ndjson_events("gappy-bulk", 500))
        head = case.head()
        wait_for("every change", lambda: len(read_lines(out)) >= head)
        assert sub.stop() == 0
        assert_in_order(read_lines(out), 1, head)
        assert proxy.dropped > 0
        stopped = sub.events("sub.stopped")[-1]
        assert stopped["gaps_detected"] > 0 and stopped["gaps_healed"] > 0, stopped
        assert sub.events("sub.gap") and sub.events("sub.gap_healed")
    finally:
        proxy.close()
        ctx.term()


def replay_page():
    """REPLAY_PAGE of the subscriber's source: the announcements it asks for per request."""
    src = os.environ.get("HERALD_SRC") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    with open(os.path.join(src, "services", "subscriber", "replay_client.h")) as f:
        for line in f:
            if line.startswith("#define REPLAY_PAGE "):
                return int(line.split()[2])
    raise AssertionError("REPLAY_PAGE not found")


def case_prefetch_head(case):
    """A replay of exactly 1.5 pages whose head is known: the second page is asked for (after
    one page) while the first is read, gets the last half page and ends the catch-up complete,
    without duplicates (with pages of 1,000: 1,500 changes, the second asks after 1000)."""
    page = replay_page()
    n = page + page // 2
    case.store("init")
    # the import goes out in one scan, so no heartbeat can come between its batches: the
    # first one after it carries the head, n
    case.start_pub("--batch", str(10 * n))
    ctx = zmq.Context()
    proxy = DroppingProxy(ctx, case.live, 1)  # heartbeats only: every record is a gap
    try:
        out = case.path("log.jsonl")
        sub = case.sub("sub", "--from", "latest", "--sink", "log", "--out", out,
                       connect=["tcp://127.0.0.1:%d" % proxy.port])
        wait_for("sub.following", lambda: sub.events("sub.following"))
        case.store("import", "-", data=ndjson_events("prefetch", n))  # one transaction
        assert case.head() == n
        wait_for("the catch-up", lambda: sub.events("sub.replay_done"))
        assert sub.stop() == 0
        assert_in_order(read_lines(out), 1, n)
        prefetched = sub.events("sub.replay_prefetch")
        assert [(p["after"], p["limit"]) for p in prefetched] == [(page, page)], prefetched
        done = sub.events("sub.replay_done")
        assert len(done) == 1 and done[0]["count"] == n and done[0]["to"] == n, done
        assert not sub.events("sub.replay_prefetch_dropped")
        stopped = sub.events("sub.stopped")[-1]
        assert stopped["duplicates"] == 0 and stopped["prefetched"] == 1, stopped
    finally:
        proxy.close()
        ctx.term()


def case_new_stream(case):
    """A recreated store (a new stream id) is followed: reset, snapshot, then live."""
    case.store("init", "--sample")
    pub = case.start_pub()
    out = case.path("log.jsonl")
    sub = case.sub("sub", "--from", "start", "--sink", "log", "--out", out)
    wait_for("the history", lambda: len(read_lines(out)) >= 10)
    old_stream = read_lines(out)[0]["stream_id"]
    assert pub.stop() == 0
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(case.db + suffix):
            os.unlink(case.db + suffix)
    case.store("init")
    put_event(case, "fresh-1")
    put_event(case, "fresh-2")
    case.start_pub()
    wait_for("the new stream", lambda: any(l["stream_id"] != old_stream for l in read_lines(out)))
    wait_for("both new records", lambda: len(read_lines(out)) >= 12)
    put_event(case, "fresh-3")
    wait_for("a live change on the new stream", lambda: len(read_lines(out)) >= 13)
    assert sub.stop() == 0
    new = [l for l in read_lines(out) if l["stream_id"] != old_stream]
    assert [l["id"] for l in new] == ["fresh-1", "fresh-2", "fresh-3"], new
    assert sub.events("sub.stream_changed")


def case_publisher_down(case):
    """The publisher goes away and comes back: silent is logged, then the tail is caught up."""
    case.store("init", "--sample")
    pub = case.start_pub()
    out = case.path("log.jsonl")
    sub = case.sub("sub", "--from", "start", "--sink", "log", "--out", out)
    wait_for("the history", lambda: len(read_lines(out)) >= 10)
    assert pub.stop() == 0
    wait_for("sub.publisher_silent", lambda: sub.events("sub.publisher_silent"), timeout=10)
    put_event(case, "while-pub-down")
    case.start_pub()
    head = case.head()
    wait_for("the change made while the publisher was down",
             lambda: len(read_lines(out)) >= head)
    assert sub.stop() == 0
    assert_in_order(read_lines(out), 1, head)
    assert sub.events("sub.publisher_back")


def case_database_kinds(case):
    """Each database knows its kind: a subscriber state file or a mirror pointed at an event
    store, a store command pointed at a state file, a foreign SQLite file: each refused (exit
    2 for herald-sub's configuration) with what the file is, and no file changed."""
    case.store("init", "--sample")
    mirror = case.path("kinds-mirror.db")
    state = case.path("kinds.state")
    foreign = case.path("foreign.db")
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (x)")
    sub = case.sub("kinds-state", "--sink", "log", "--state", state, "--out",
                   case.path("kinds.jsonl"))  # no publisher yet: it makes its state file
    wait_for("the state file", lambda: os.path.exists(state))
    assert sub.stop() == 0

    def snapshot(path):
        with open(path, "rb") as f:
            data = f.read()
        with sqlite3.connect("file:%s?mode=ro" % path, uri=True) as db:
            tables = sorted(r[0] for r in db.execute("SELECT name FROM sqlite_master"))
        return data, tables

    for args, path, words in [
        ([SUB, "mail-dead", "list", "--state", case.db], case.db,
         b"is an event store, not a subscriber state file"),
        ([SUB, "webhook-dead", "list", "--state", case.db], case.db,
         b"is an event store, not a subscriber state file"),
        ([SUB, "--connect", case.live, "--sink", "mirror", "--mirror-db", case.db], case.db,
         b"is an event store, not a mirror"),
        ([SUB, "--connect", case.live, "--sink", "log", "--state", case.db], case.db,
         b"is an event store, not a subscriber state file"),
        ([SUB, "--connect", case.live, "--sink", "mirror", "--mirror-db", foreign], foreign,
         b"not a Herald event store"),
        ([SUB, "mail-dead", "list", "--state", foreign], foreign,
         b"another program's SQLite database"),
        ([STORE, "--db", state, "export"], state, b"is a subscriber state file"),
        ([STORE, "--db", foreign, "import", "/dev/null"], foreign, b"not a Herald event store"),
    ]:
        before = snapshot(path)
        r = subprocess.run(args, capture_output=True, timeout=10)
        want = 2 if args[0] == SUB else r.returncode
        assert r.returncode == want and r.returncode != 0, "%s: exit %d" % (args, r.returncode)
        assert words in r.stderr, "%s: %s" % (args, r.stderr)
        assert path.encode() in r.stderr, "%s names the file: %s" % (args, r.stderr)
        assert snapshot(path) == before, "%s changed %s" % (args, path)
        assert not any(t.startswith("mail_") for t in snapshot(path)[1]), args

    # a mirror created by herald-sub is one, and herald-store reads it
    case.start_pub()
    sub = case.sub("kinds-mirror", "--sink", "mirror", "--mirror-db", mirror)
    def same():
        try:
            return export_without_stream(case, case.db) == export_without_stream(case, mirror)
        except AssertionError:
            return False
    wait_for("the mirror", same)
    assert sub.stop() == 0
    with sqlite3.connect(mirror) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x48524C4D
    with sqlite3.connect(case.db) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x48524C53
    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0x48524C54


CASES = [
    ("usage", case_usage),
    ("from_start", case_from_start),
    ("text_format", case_text_format),
    ("from_snapshot", case_from_snapshot),
    ("resume", case_resume),
    ("mirror", case_mirror),
    ("database_kinds", case_database_kinds),
    ("rogue_peer", case_rogue_peer),
    ("slow_subscriber", case_slow_subscriber),
    ("gap_healing", case_gap_healing),
    ("prefetch_head", case_prefetch_head),
    ("new_stream", case_new_stream),
    ("publisher_down", case_publisher_down),
]


def main():
    wanted = set(sys.argv[1:])
    failed = []
    for name, fn in CASES:
        if wanted and name not in wanted:
            continue
        case = Case(name)
        started = time.monotonic()
        ok = False
        try:
            fn(case)
            ok = True
        except Exception:
            traceback.print_exc()
            failed.append(name)
        finally:
            case.close(ok)
        print("%s %s (%.1fs)" % ("ok  " if ok else "FAIL", name, time.monotonic() - started),
              file=sys.stderr)
    if failed:
        print("failed: " + " ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
