"""test_faults.py -- a store replaced under a running herald-pub.

An operator moves another store onto the publisher's path (`mv other.db herald.db`) while the
publisher runs and a writer commits to the old store. SQLite finds a database's -wal and -shm
by name, so the old store's -wal and -shm are still "the" -wal and -shm of the path after the
rename; a connection opened on the new file reads it through the old store's log, and a
checkpoint copies the old store's pages into the new file. The test checks that the
replacement keeps its own records and change log (export, changes, integrity_check,
foreign_key_check), that the publisher then announces the new store's stream, and that it
holds no descriptor of the old store's files afterwards. Three ways: another process still
writing to the old store across the rename; the publisher the old store's last user; the old
-wal and -shm removed before the rename. Then backup and restore online (herald-store backup,
restore) under the running publisher.
"""
import json
import os
import sqlite3
import sys
import threading
import time

import zmq

sys.path.insert(0, os.path.dirname(__file__))
from harness import (Procs, check, fail, fields, first, store, tcp, wait_until,  # noqa: E402
                     workdir)


def announcement(body):
    """(stream_id, seq) of an Announcement or Heartbeat (fields 1 and 2)."""
    f = fields(body)
    return first(f, 1, b"").decode(), first(f, 2)


def stream_id(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT value FROM meta WHERE key = 'stream_id'").fetchone()[0]
    finally:
        con.close()


def ndjson(prefix, n):
    lines = []
    for i in range(n):
        lines.append(json.dumps({
            "type": "event", "id": f"{prefix}-{i}", "kind": "course", "title": f"{prefix} {i}",
            "start_date": "2026-03-01", "end_date": "2026-03-02", "city": "Lyon",
            "country": "FR", "people": [{"name": f"P {i}", "role": "chair"}]}))
        lines.append(json.dumps({
            "type": "press_release", "id": f"{prefix}-pr-{i}", "event_id": f"{prefix}-{i}",
            "title": f"{prefix} press {i}", "published_on": "2026-02-01"}))
    return "\n".join(lines) + "\n"


def state(db):
    """What must survive: the export, the change log, and both database checks."""
    export = json.loads(store(db, "export").stdout)
    changes = store(db, "changes", "--limit", "100000").stdout
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        integrity = con.execute("PRAGMA integrity_check").fetchall()
        fk = con.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        con.close()
    return export, changes, integrity, fk


def without(export, ids):
    return {k: [r for r in v if r.get("id") not in ids] if isinstance(v, list) else v
            for k, v in export.items()}


class Writer(threading.Thread):
    """Another application committing to the store through one connection it keeps open:
    after the rename it goes on writing to the old file (its descriptor), as a real one
    would."""

    def __init__(self, db):
        super().__init__(daemon=True)
        self.con = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        self.con.execute("PRAGMA busy_timeout = 5000")
        self.stop = threading.Event()
        self.count = 0
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                self.con.execute(
                    "INSERT INTO events (id, kind, title, start_date, end_date, city, country)"
                    " VALUES (?, 'course', 'Writer course', '2026-05-01', '2026-05-02',"
                    " 'Lyon', 'FR')", (f"writer-{self.count}",))
                self.count += 1
                time.sleep(0.003)
        except sqlite3.Error as e:
            self.error = e

    def finish(self):
        self.stop.set()
        self.join(10)
        self.con.close()


def fds_of(pid):
    """(st_dev, st_ino) of every file the process holds open."""
    out = set()
    d = f"/proc/{pid}/fd"
    for name in os.listdir(d):
        try:
            st = os.stat(os.path.join(d, name))
        except OSError:
            continue
        out.add((st.st_dev, st.st_ino))
    return out


def ident(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


def start_publisher(procs, w, path):
    """herald-pub on the store at path, once started (heartbeats every 100 ms), and a ZeroMQ
    context with a SUB socket on its feed, subscribed to everything (the caller closes both)."""
    pub_ep, rep_ep = tcp(), tcp()
    pub = procs.start("pub", ["herald-pub", "--db", path, "--bind", pub_ep,
                              "--replay-bind", rep_ep, "--heartbeat-ms", "100"], w)
    wait_until(lambda: pub.logged("pub.started"), 10, "pub.started")
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVTIMEO, 200)
    sub.connect(pub_ep)
    return pub, ctx, sub


def replace_under_publisher(how):
    print(f"-- replaced store: {how}")
    with workdir() as w, Procs() as procs:
        path = os.path.join(w, "herald.db")
        other = os.path.join(w, "other.db")
        store(path, "init", "--sample")
        store(other, "init")
        store(other, "import", "-", stdin=ndjson("other", 40))
        before = state(other)
        check(before[2] == [("ok",)] and before[3] == [], "the replacement starts clean")
        old_stream, new_stream = stream_id(path), stream_id(other)
        pub, ctx, sub = start_publisher(procs, w, path)
        writer = None
        if how == "writer":
            writer = Writer(path)
            writer.start()
            wait_until(lambda: writer.count >= 20, 10, "the writer's first commits")
        else:
            for i in range(5):
                store(path, "add-event", "--id", f"old-{i}", "--kind", "course", "--title",
                      "Old", "--start-date", "2026-04-01", "--end-date", "2026-04-01",
                      "--city", "Rome", "--country", "IT")
        # Held (O_PATH: no lock is touched) so that their inode numbers are not reused.
        pins = [os.open(p, os.O_PATH) for p in (path, path + "-wal", path + "-shm")]
        old_files = {ident(f"/proc/self/fd/{fd}") for fd in pins}
        check(ident(path + "-wal") is not None, "the old store's -wal is beside the path")
        if how == "no-wal":
            os.unlink(path + "-wal")
            os.unlink(path + "-shm")
        os.rename(other, path)
        if writer:
            time.sleep(0.5)  # the writer goes on committing to the old file
            check(writer.error is None, f"writer: {writer.error}")
            writer.finish()
        wait_until(lambda: [e for e in pub.logged("pub.stream_changed")
                            if e.get("stream_id") == new_stream], 15,
                   "the publisher opening the new store")
        check(not [e for e in pub.logged("pub.cursor_reset")
                   if e.get("cursor_stream_id") == old_stream],
              "the old store's cursor read in the new store")
        held = fds_of(pub.pid)
        check(not (held & old_files), "the publisher still holds a file of the old store")
        for fd in pins:
            os.close(fd)
        # The new stream is announced live.
        store(path, "add-event", "--id", "after-mv", "--kind", "course", "--title", "After",
              "--start-date", "2026-06-01", "--end-date", "2026-06-01", "--city", "Oslo",
              "--country", "NO")
        head = int(store(path, "head").stdout.strip())
        check(head == len(before[1].splitlines()) + 1, f"head {head} after one more change")
        wait_until(announced(sub, new_stream, head), 10,
                   "the new store's change announced with its stream id", 0)
        check(pub.stop() == 0, "herald-pub exits 0")
        sub.close(0)
        ctx.term()
        after = state(path)
        check(after[2] == [("ok",)], f"integrity_check: {after[2][:5]}")
        check(after[3] == [], f"foreign_key_check: {after[3][:5]}")
        check(without(after[0], {"after-mv"}) == before[0], "the replacement's records changed")
        check(after[1].splitlines()[:len(before[1].splitlines())] == before[1].splitlines(),
              "the replacement's change log changed")
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        cur = con.execute("SELECT seq, stream_id FROM cursors WHERE name = 'publisher'").fetchone()
        con.close()
        check(cur == (head, new_stream), f"the publisher's cursor in the new store: {cur}")


def announced(sub, stream, seq):
    """A wait_until condition: the announcement (stream, seq) arrived on sub."""
    def seen():
        try:
            topic = sub.recv()
            body = sub.recv()
        except zmq.Again:
            return False
        return topic != b"hb" and announcement(body) == (stream, seq)
    return seen


def add_event(db, id_):
    store(db, "add-event", "--id", id_, "--kind", "course", "--title", "T", "--start-date",
          "2026-06-01", "--end-date", "2026-06-01", "--city", "Oslo", "--country", "NO")


def backup_restore_online():
    global PUBLOG
    print("-- backup and restore under a running publisher")
    with workdir() as w, Procs() as procs:
        path = os.path.join(w, "herald.db")
        b1 = os.path.join(w, "b1.db")
        store(path, "init", "--sample")
        store(path, "import", "-", stdin=ndjson("one", 30))
        pub, ctx, sub = start_publisher(procs, w, path)
        old_stream = stream_id(path)
        # A backup taken while another connection commits is a consistent snapshot.
        writer = Writer(path)
        writer.start()
        wait_until(lambda: writer.count >= 10, 10, "the writer's first commits")
        store(path, "backup", b1)
        writer.finish()
        check(writer.error is None, f"writer: {writer.error}")
        snap = state(b1)
        check(snap[2] == [("ok",)] and snap[3] == [], f"the backup's checks: {snap[2:]}")
        check(stream_id(b1) == old_stream, "a backup keeps the stream id")
        r = store(path, "backup", b1, check_rc=False)
        check(r.returncode == 1 and "exists" in r.stderr, f"backup over a file: {r.stderr}")
        check(not os.path.exists(b1 + ".partial"), "no partial file left")
        # Refused: not a store; the live store is untouched.
        junk = os.path.join(w, "junk.db")
        with open(junk, "wb") as f:
            f.write(b"not a database" * 100)
        head_before = store(path, "head").stdout
        r = store(path, "restore", junk, check_rc=False)
        check(r.returncode == 1 and "junk.db" in r.stderr, f"restore of junk: {r.stderr}")
        check(store(path, "head").stdout == head_before, "a refused restore changed the store")
        r = store(path, "restore", os.path.join(w, "missing.db"), check_rc=False)
        check(r.returncode == 1, "restore of a missing file")
        # History goes back: the restore is a new stream, announced as one.
        add_event(path, "late-1")
        store(path, "restore", b1)
        new_stream = stream_id(path)
        check(new_stream != old_stream, "a restore gives a new stream id")
        wait_until(lambda: [e for e in pub.logged("pub.stream_changed")
                            if e.get("stream_id") == new_stream], 10,
                   "the publisher taking the restored store as a new stream")
        check(pub.logged("pub.store_restored"), "pub.store_restored logged")
        after = state(path)
        check(after[2] == [("ok",)] and after[3] == [], f"restored checks: {after[2:]}")
        check(after[0]["stream_id"] == new_stream, "the export shows the new stream id")
        check(dict(after[0], stream_id="") == dict(snap[0], stream_id=""),
              "the restored records are the backup's")
        check(after[1] == snap[1], "the restored change log is the backup's")
        add_event(path, "after-restore")
        head = int(store(path, "head").stdout)
        wait_until(announced(sub, new_stream, head), 10, "the restored stream announced", 0)
        check(pub.stop() == 0, "herald-pub exits 0")
        sub.close(0)
        ctx.term()
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        cur = con.execute("SELECT seq, stream_id FROM cursors WHERE name = 'publisher'").fetchone()
        con.close()
        check(cur == (head, new_stream), f"the publisher's cursor after the restore: {cur}")


def lock_message():
    print("-- a write lock that outlasts the wait")
    with workdir() as w:
        path = os.path.join(w, "herald.db")
        store(path, "init")
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        try:
            r = store(path, "add-event", "--id", "x", "--kind", "course", "--title", "T",
                      "--start-date", "2026-01-01", "--end-date", "2026-01-01", "--city", "A",
                      "--country", "FR", check_rc=False)
        finally:
            con.close()
        err = r.stderr
        check(r.returncode == 1, f"add-event under a held lock exits 1: {err}")
        check(path in err and "database is locked" in err, f"names the file: {err}")
        check("waited" in err and " ms " in err, f"says how long it waited: {err}")
        check(f"pid {os.getpid()}" in err, f"names the holder: {err}")


def main():
    lock_message()
    for how in ("writer", "last-user", "no-wal"):
        replace_under_publisher(how)
    backup_restore_online()
    print("ok")


if __name__ == "__main__":
    main()
