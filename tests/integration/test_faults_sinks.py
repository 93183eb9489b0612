#!/usr/bin/env python3
"""test_faults_sinks.py -- fault injection at the subscriber's sinks: kill -9 at random moments,
a full disk, a misbehaving SMTP server. Each case checks the end state against the source and
counts what was lost, duplicated or torn; every count must be zero.

Cases (run one: test_faults_sinks.py NAME; HERALD_KEEP=1 keeps the directories):
  log_kill9     a log subscriber with --state and --out, killed -9 at random moments during the
                catch-up of a bulk import and under a continuous writer: every seq once, in
                order, no torn line.
  mirror_kill9  a mirror, killed the same way: exports equal, integrity and foreign keys clean.
  mail_kill9    a mail subscriber (one mail per change), killed the same way: every change
                mailed, no change in two different mails (a resend of the same Message-ID,
                possible when the kill falls between the server's 250 and the commit, is
                counted and reported: receivers deduplicate on Message-ID).
  smtp_faults   the test's own SMTP server refuses connections, answers 4xx, 5xx, hangs, and
                drops the connection mid-DATA: every change mailed once or dead-lettered once,
                and a retry after a timed-out attempt waits its backoff from the attempt's end.
  follow_durable  a new subscriber logs sub.following only once its starting position is in
                its --state (held locked by the test at that moment); killed -9 after that
                line, it resumes and logs what was committed while it was down.
  disk_full     state, --out and mirror on a small tmpfs (skipped if mount fails) filled up:
                the subscriber stops with a clear error; with space back, a restart ends exact;
                the mirror's -wal stays bounded under a steady writer.
"""
import json
import os
import random
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import email.parser
import email.policy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, SLOW, check, fail, run_each, store, tcp, wait_until  # noqa: E402



def write_import(path, n, prefix):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({
                "type": "event", "id": f"{prefix}-{i:06d}", "kind": "conference",
                "title": f"Fault symposium number {i}", "start_date": "2026-03-02",
                "end_date": "2026-03-05", "city": "Lyon", "country": "FR",
                "summary": "x" * (i % 300)}) + "\n")


class Writer:
    """A continuous writer: herald-store add-event in a loop until stopped."""

    def __init__(self, db, prefix):
        self.db, self.prefix, self.n = db, prefix, 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop_flag.is_set():
            store(self.db, "add-event", "--id", f"{self.prefix}-{self.n}", "--kind", "course",
                  "--title", f"Written under faults {self.n}", "--start-date", "2026-05-01",
                  "--end-date", "2026-05-02", "--city", "Lyon", "--country", "FR")
            self.n += 1
            time.sleep(0.01)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join(60)


class World:
    def __init__(self, w, procs, imported=0):
        self.w, self.procs = w, procs
        self.db = os.path.join(w, "origin.db")
        store(self.db, "init")
        if imported:
            src = os.path.join(w, "import.ndjson")
            write_import(src, imported, "imp")
            store(self.db, "import", src)
        self.live, self.replay = tcp(), tcp()
        procs.start("pub", ["herald-pub", "--db", self.db, "--bind", self.live, "--replay-bind",
                            self.replay, "--heartbeat-ms", "200"], w)

    def head(self):
        return int(store(self.db, "head").stdout)

    def sub(self, name, *args, env=None):
        return self.procs.start(name, ["herald-sub", "--connect", self.live, "--replay",
                                       self.replay, *args], self.w, env=env)


def state_seq(path):
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            row = con.execute("SELECT last_seq FROM state WHERE id = 1").fetchone()
        finally:
            con.close()
        return row[0] if row else -1
    except sqlite3.Error:
        return -1


def kill_loop(start, kills, lo_ms=40, hi_ms=400):
    """Starts a process with start(), kills it -9 at a random moment, kills times."""
    for _ in range(kills):
        p = start()
        time.sleep(random.uniform(lo_ms, hi_ms) / 1000)
        if p.alive():
            p.kill9()
        else:
            fail(f"{p.name} exited by itself (rc {p.popen.returncode}); see {p.log_path}")


def count_log(path, head):
    """(lost, duplicated, torn, out_of_order) of a log file against seqs 1..head."""
    with open(path, "rb") as f:
        data = f.read()
    torn = 0 if not data or data.endswith(b"\n") else 1
    seqs = []
    for line in data.split(b"\n"):
        if not line:
            continue
        try:
            seqs.append(json.loads(line)["seq"])
        except (ValueError, KeyError):
            torn += 1
    seen = set(seqs)
    lost = sum(1 for s in range(1, head + 1) if s not in seen)
    dup = len(seqs) - len(seen)
    disorder = sum(1 for a, b in zip(seqs, seqs[1:]) if b <= a)
    return lost, dup, torn, disorder


def check_db(path):
    con = sqlite3.connect(path, timeout=10)
    try:
        ok = con.execute("PRAGMA integrity_check").fetchall()
        fk = con.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        con.close()
    check(ok == [("ok",)], f"integrity_check of {path}: {ok}")
    check(fk == [], f"foreign_key_check of {path}: {fk}")


def export(db):
    doc = json.loads(store(db, "export").stdout)
    doc.pop("stream_id", None)
    return doc


# ---------------------------------------------------------------------------------------------

def case_log_kill9(w, procs):
    world = World(w, procs, imported=20000)
    st, out = os.path.join(w, "log.state"), os.path.join(w, "log.jsonl")
    args = ["--state", st, "--from", "start", "--sink", "log", "--out", out]
    with Writer(world.db, "wlog"):
        kill_loop(lambda: world.sub("log", *args), 8)
        time.sleep(0.3)
    sub = world.sub("log", *args)
    head = world.head()
    wait_until(lambda: state_seq(st) >= head, 60, f"the log to reach {head}")
    sub.stop()
    lost, dup, torn, disorder = count_log(out, head)
    cut = sum(1 for p in procs.procs for e in p.log_events() if e.get("event") == "sub.log_cut_back")
    print(f"log_kill9: head {head}, lost {lost}, duplicated {dup}, torn {torn}, "
          f"out of order {disorder}, cut back {cut} times")
    check((lost, dup, torn, disorder) == (0, 0, 0, 0), "the log file is exact")
    check_db(st)


def case_mirror_kill9(w, procs):
    world = World(w, procs, imported=5000)
    st, mirror = os.path.join(w, "mirror.state"), os.path.join(w, "mirror.db")
    args = ["--state", st, "--sink", "mirror", "--mirror-db", mirror]
    with Writer(world.db, "wmir"):
        kill_loop(lambda: world.sub("mirror", *args), 6, hi_ms=600)
        time.sleep(0.3)
    sub = world.sub("mirror", *args)
    head = world.head()
    want = export(world.db)
    wait_until(lambda: export(mirror) == want, 60, "the mirror to equal the origin")
    sub.stop()
    check_db(mirror)
    print(f"mirror_kill9: head {head}, exports equal")


class SmtpServer:
    """A minimal SMTP server of the test's own: mode decides how it answers; every accepted
    message and every connection time is recorded."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(16)
        self.mode = "ok"
        self.accepted = []      # (message-id, raw bytes)
        self.connections = []   # (monotonic time, mode)
        self.closed = []        # monotonic times the server ended a hung connection
        self.lock = threading.Lock()
        threading.Thread(target=self.serve, daemon=True).start()

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        mode = self.mode
        with self.lock:
            self.connections.append((time.monotonic(), mode))
        f = conn.makefile("rb")
        try:
            if mode == "refuse":
                conn.close()
                return
            if mode == "hang":
                conn.settimeout(30)
                try:
                    conn.recv(1)  # until the client gives up
                except OSError:
                    pass
                with self.lock:
                    self.closed.append(time.monotonic())
                return
            conn.sendall(b"220 faults ESMTP\r\n")
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line[:4].upper()
                mode = self.mode if self.mode not in ("refuse", "hang") else mode
                if cmd in (b"EHLO", b"HELO"):
                    conn.sendall(b"250 faults\r\n")
                elif cmd == b"MAIL":
                    conn.sendall(b"250 OK\r\n")
                elif cmd == b"RCPT":
                    conn.sendall({"tempfail": b"451 4.3.0 later\r\n",
                                  "reject": b"550 5.1.1 no such user\r\n"}.get(mode, b"250 OK\r\n"))
                elif cmd == b"DATA":
                    conn.sendall(b"354 go on\r\n")
                    raw = b""
                    while True:
                        part = f.readline()
                        if not part:
                            return
                        if mode == "drop" and len(raw) > 200:
                            conn.shutdown(socket.SHUT_RDWR)
                            return
                        if part == b".\r\n":
                            break
                        raw += part
                    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
                    with self.lock:
                        self.accepted.append((msg["Message-ID"], msg))
                    conn.sendall(b"250 accepted\r\n")
                    return  # one message a connection: the next one meets the next mode
                elif cmd == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 OK\r\n")
        except OSError:
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def seqs(self):
        """{seq: set of Message-IDs that carried it} and the count of resent Message-IDs."""
        out, ids, resent = {}, set(), 0
        with self.lock:
            accepted = list(self.accepted)
        for mid, msg in accepted:
            if mid in ids:
                resent += 1
                continue
            ids.add(mid)
            body = msg.get_body(preferencelist=("plain",)).get_content()
            for s in re.findall(r"seq (\d+)\)", body):
                out.setdefault(int(s), set()).add(mid)
        return out, resent


def mail_counts(server, first, head, dead=()):
    got, resent = server.seqs()
    want = [s for s in range(first, head + 1) if s not in dead]
    lost = sum(1 for s in want if s not in got)
    dup = sum(len(m) - 1 for m in got.values()) + sum(1 for s in dead if s in got)
    return lost, dup, resent


def mail_missing(server, first, head):
    """The seqs first..head that no mail the server accepted carried."""
    got, _ = server.seqs()
    return [s for s in range(first, head + 1) if s not in got]


def case_mail_kill9(w, procs):
    world = World(w, procs)
    server = SmtpServer()
    st = os.path.join(w, "mail.state")
    args = ["--state", st, "--sink", "mail", "--smtp", server.url, "--mail-from",
            "herald@example.org", "--mail-to", "ops@example.org", "--digest-every", "0"]
    first = world.head() + 1
    sub = world.sub("mail", *args)
    wait_until(lambda: sub.logged("sub.following"), 15, "the mail subscriber to follow")
    sub.kill9()
    with Writer(world.db, "wmail") as writer:
        kill_loop(lambda: world.sub("mail", *args), 8, hi_ms=700)
        wait_until(lambda: writer.n >= 20, 30, "20 changes written")
    sub = world.sub("mail", *args)
    head = world.head()
    deadline = time.monotonic() + 60 * SLOW
    while mail_missing(server, first, head) and time.monotonic() < deadline:
        time.sleep(0.05)
    missing = mail_missing(server, first, head)
    check(not missing, f"mails up to {head}: seqs {missing} never reached the SMTP server")
    time.sleep(0.3)
    sub.stop()
    lost, dup, resent = mail_counts(server, first, head)
    print(f"mail_kill9: seqs {first}..{head}, lost {lost}, duplicated {dup}, "
          f"resent Message-IDs {resent}")
    check((lost, dup) == (0, 0), "every change mailed once")
    check_db(st)


def case_follow_durable(w, procs):
    """A new subscriber (--from latest) logs sub.following only once its position is in its
    --state: killed -9 at any moment after that line, it resumes from there and misses
    nothing committed meanwhile. Made certain by holding the state's write lock when the
    first heartbeat (every 2 s here) starts the follow: the line must wait for the lock."""
    db = os.path.join(w, "origin.db")
    store(db, "init")
    live, replay = tcp(), tcp()
    procs.start("pub", ["herald-pub", "--db", db, "--bind", live, "--replay-bind", replay,
                        "--heartbeat-ms", "2000"], w)
    for attempt in range(5):
        st = os.path.join(w, f"follow{attempt}.state")
        out = os.path.join(w, f"follow{attempt}.jsonl")
        args = ["herald-sub", "--connect", live, "--replay", replay, "--state", st, "--sink",
                "log", "--out", out]
        sub = procs.start(f"sub{attempt}", args, w)
        wait_until(lambda: sub.logged("sub.started"), 15, "the subscriber to start")
        con = sqlite3.connect(st, timeout=5, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        if not sub.logged("sub.following"):
            break  # locked before the first heartbeat: the case can be judged
        con.execute("ROLLBACK")  # a heartbeat came first (a few % of tries): again
        con.close()
        check(sub.stop() == 0, "the subscriber exits 0")
    else:
        fail("the first heartbeat always came before the lock")
    wait_until(lambda: sub.logged("sub.connected"), 10, "the first heartbeat")
    time.sleep(0.5)
    check(not sub.logged("sub.following"),
          "sub.following waits for its position to be written (the state is locked)")
    con.execute("ROLLBACK")
    con.close()
    follow = wait_until(lambda: sub.logged("sub.following"), 10, "sub.following")[0]
    check(state_seq(st) >= follow["last"],
          f"the state holds the followed position: {state_seq(st)} < {follow['last']}")
    sub.kill9()
    src = os.path.join(w, "one.ndjson")
    write_import(src, 1, "meanwhile")
    store(db, "import", src)
    head = int(store(db, "head").stdout)
    procs.start("sub-again", args, w)
    wait_until(lambda: state_seq(st) >= head, 15, "the restarted subscriber to reach the head")
    with open(out) as f:
        seqs = [json.loads(line)["seq"] for line in f]
    check(head in seqs, f"the change committed while it was down was logged: {seqs}")
    print(f"follow_durable: sub.following once the state's lock was released; after kill -9, "
          f"resumed and logged seq {head}")


def case_smtp_faults(w, procs):
    world = World(w, procs)
    server = SmtpServer()
    st = os.path.join(w, "faults.state")
    first = world.head() + 1
    sub = world.sub("mail", "--state", st, "--sink", "mail", "--smtp", server.url,
                    "--mail-from", "herald@example.org", "--mail-to", "ops@example.org",
                    "--digest-every", "0")
    wait_until(lambda: sub.logged("sub.following"), 15, "the mail subscriber to follow")
    dead = set()

    def add(n, name):
        for i in range(n):
            store(world.db, "add-event", "--id", f"{name}-{i}", "--kind", "course", "--title",
                  f"SMTP fault {name} {i}", "--start-date", "2026-05-01", "--end-date",
                  "2026-05-02", "--city", "Lyon", "--country", "FR")

    def retries():
        return len(sub.logged("sub.mail_retry"))

    for mode in ("refuse", "tempfail", "drop"):
        server.mode = mode
        before = retries()
        add(2, mode)
        wait_until(lambda: retries() > before, 20, f"a retry after '{mode}'")
        server.mode = "ok"
        wait_until(lambda: mail_counts(server, first, world.head())[0] == 0, 30,
                   f"the mails held by '{mode}' sent")
    # a permanent refusal: dead letters, never lost and never sent
    server.mode = "reject"
    h0 = world.head()
    add(2, "reject")
    wait_until(lambda: len(sub.logged("sub.mail_dead")) >= 2, 20, "two dead letters")
    dead = set(range(h0 + 1, world.head() + 1))
    server.mode = "ok"
    # a hang: the attempt times out; the retry waits its backoff from the timeout's end
    server.mode = "hang"
    before = retries()
    add(1, "hang")
    wait_until(lambda: retries() > before, 30, "a retry after the hang")
    server.mode = "ok"
    wait_until(lambda: mail_counts(server, first, world.head(), dead)[0] == 0, 30,
               "the hung mail sent")
    hung_end = server.closed[-1] if server.closed else None
    after = [t for t, m in server.connections if hung_end and t > hung_end - 0.5 and m == "ok"]
    retry = [e for e in sub.logged("sub.mail_retry") if "imed out" in e.get("error", "")]
    check(hung_end is not None and after, "the server saw the retry after the hang")
    gap = after[0] - hung_end
    print(f"smtp_faults: retry {gap * 1000:.0f} ms after the timed-out attempt "
          f"(next_in_ms {retry[-1]['next_in_ms'] if retry else '?'})")
    check(gap >= 0.9, f"the retry came {gap * 1000:.0f} ms after a timeout, not after 1 s")
    sub.stop()
    lost, dup, resent = mail_counts(server, first, world.head(), dead)
    r = subprocess.run([os.path.join(BIN, "herald-sub"), "mail-dead", "list", "--state", st],
                       capture_output=True, text=True, timeout=30)
    print(f"smtp_faults: lost {lost}, duplicated {dup}, resent {resent}, dead {len(dead)}")
    check((lost, dup) == (0, 0), "every change mailed once or dead-lettered")
    check(r.stdout.count("SMTP fault reject") >= 2 or len(r.stdout.splitlines()) >= 2,
          f"the dead letters listed: {r.stdout!r}")
    check_db(st)


def case_disk_full(w, procs):
    mnt = os.path.join(w, "small")
    os.makedirs(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"disk_full: SKIPPED: cannot mount a tmpfs ({r.stderr.strip() or r.returncode})")
        return
    try:
        world = World(w, procs, imported=3000)
        st, out = os.path.join(mnt, "log.state"), os.path.join(mnt, "log.jsonl")
        mst, mirror = os.path.join(mnt, "m.state"), os.path.join(mnt, "mirror.db")
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:  # leave 512 KiB: less than either sink needs alone
            st_ = os.statvfs(mnt)
            f.write(b"\0" * max(0, st_.f_bavail * st_.f_frsize - 512 * 1024))
        largs = ["--state", st, "--from", "start", "--sink", "log", "--out", out]
        margs = ["--state", mst, "--sink", "mirror", "--mirror-db", mirror]
        log = world.sub("log", *largs)
        mir = world.sub("mirror", *margs)
        for p in (log, mir):
            wait_until(lambda: not p.alive(), 60, f"{p.name} to stop on the full disk")
            errs = [e.get("error", "") for e in p.log_events() if e.get("level") == "error"]
            print(f"disk_full: {p.name} stopped: {errs[:1]}")
            check(any("full" in e or "No space" in e for e in errs), "a clear full-disk error")
        os.unlink(filler)
        head = world.head()
        log = world.sub("log", *largs)
        mir = world.sub("mirror", *margs)
        want = export(world.db)
        wait_until(lambda: state_seq(st) >= head, 60, "the log to catch up")
        wait_until(lambda: export(mirror) == want, 60, "the mirror to catch up")
        # a steady writer: the mirror's -wal stays bounded
        peak = 0
        with Writer(world.db, "wfull"):
            end = time.monotonic() + 3
            while time.monotonic() < end:
                for path in (mirror + "-wal", mst + "-wal", st + "-wal"):
                    if os.path.exists(path):
                        peak = max(peak, os.path.getsize(path))
                time.sleep(0.05)
        head = world.head()
        want = export(world.db)
        wait_until(lambda: state_seq(st) >= head, 60, "the log to catch up again")
        wait_until(lambda: export(mirror) == want, 60, "the mirror to catch up again")
        log.stop()
        mir.stop()
        lost, dup, torn, disorder = count_log(out, head)
        print(f"disk_full: log lost {lost}, duplicated {dup}, torn {torn}; -wal peak {peak}")
        check((lost, dup, torn, disorder) == (0, 0, 0, 0), "the log file is exact")
        check(peak <= 4 * 1024 * 1024, f"a -wal grew to {peak} bytes")
        check_db(mirror)
        check_db(st)
    finally:
        for p in procs.procs:
            if p.popen.poll() is None:
                p.popen.kill()
                p.popen.wait()
        subprocess.run(["umount", "-l", mnt], capture_output=True)


CASES = {"log_kill9": case_log_kill9, "mirror_kill9": case_mirror_kill9,
         "mail_kill9": case_mail_kill9, "smtp_faults": case_smtp_faults,
         "disk_full": case_disk_full, "follow_durable": case_follow_durable}


def main():
    run_each("herald-faults-", CASES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
