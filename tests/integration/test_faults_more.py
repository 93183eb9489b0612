#!/usr/bin/env python3
"""test_faults_more.py -- the rest of the fault suite: kill -9 loops of the publisher and of a
webhook subscriber, a store deleted, truncated or made read-only under a running publisher,
long write locks, I/O errors injected into SQLite with libfiu, and a clock that jumps
(libfaketime). Each case checks the end state against the source and prints what it counted;
every count of lost, duplicated or torn must be zero.

Cases (run one: test_faults_more.py NAME; HERALD_KEEP=1 keeps the directories):
  pub_kill9       herald-pub killed -9 ten times under a continuous writer, with a log
                  subscriber (--state, --out) and a mirror following it: every seq once, in
                  order, the mirror's export equal to the origin's.
  webhook_kill9   a webhook subscriber killed -9 eight times under a writer: every seq
                  delivered, first deliveries in order, a resend only under the same webhook-id.
  store_deleted   the store removed under the publisher: /readyz not ready, the publisher
                  runs on; a backup moved onto the path is announced.
  store_truncated the store truncated to 0 bytes in place: pub.store_damaged, /readyz not
                  ready; `herald-store restore` refuses the damaged file; a backup moved onto
                  the path is picked up, checks clean.
  store_readonly  a read-only store (0444, the publisher as an unprivileged user) moved onto
                  the path: it still announces and logs pub.cursor_failed; once writable the
                  cursor is written again and new changes announced.
  long_locks      BEGIN IMMEDIATE held past the 5 s busy timeout against the publisher (its
                  cursor), a mirror (its database) and herald-store import: clear messages,
                  nothing half-applied, nothing lost.
  fiu_io          random write/fsync failures (libfiu) in herald-sub's mirror and log sinks
                  and in herald-store import: a clear error, integrity_check clean, nothing
                  half-applied; a restart without faults catches up exactly.
  clock_jumps     herald-pub, a log and a mail subscriber under libfaketime while they run:
                  the wall clock jumped +2 h then -1 h; then wall and monotonic clocks +2 h then
                  +5 h: heartbeats, digests and SMTP retries go on; nothing lost.
"""
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, check, free_port, run_each, store, tcp, wait_until  # noqa: E402
from test_faults import Writer as SqlWriter, announced, ndjson, state, stream_id  # noqa: E402
from test_faults_sinks import (SmtpServer, World, Writer, check_db, count_log,  # noqa: E402
                               export, kill_loop, mail_counts, state_seq, write_import)
from test_webhook import SECRET, Receiver  # noqa: E402

NOBODY = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
FIU_LIBS = ["/usr/lib/fiu/fiu_run_preload.so", "/usr/lib/fiu/fiu_posix_preload.so"]
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def asan_lib():
    """The AddressSanitizer runtime the programs link, or None: a preloaded library must come
    after it (ASan insists on being first)."""
    r = subprocess.run(["ldd", os.path.join(BIN, "herald-sub")], capture_output=True, text=True)
    m = re.search(r"(\S*libasan\.so\S*) => (\S+)", r.stdout)
    return m.group(2) if m else None


def preload_env(w, libs, **extra):
    """The environment that preloads libs into a Herald program; libfiu's own preload leaks a
    string by design, which LeakSanitizer is told to ignore."""
    supp = os.path.join(w, "lsan.supp")
    with open(supp, "w") as f:
        f.write("leak:fiu_run_preload.so\nleak:libfaketime\n")
    asan = asan_lib()
    env = {"LD_PRELOAD": " ".join(([asan] if asan else []) + libs),
           "LSAN_OPTIONS": f"suppressions={supp}"}
    if asan and FAKETIME_LIB in libs:
        # AddressSanitizer reads the monotonic clock while it holds its allocator's lock (to
        # hand freed memory back to the kernel, at a thread's exit say); libfaketime answers
        # by reading its control file, which allocates: the thread waits on itself for ever
        # (a herald-pub whose ZeroMQ I/O thread never ended). Not releasing avoids that read.
        opts = os.environ.get("ASAN_OPTIONS", "")
        env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + \
            "allocator_release_to_os_interval_ms=-1"
    env.update(extra)
    return env


def fiu_env(w, probability, names):
    spec = "\n".join(f"enable_random name={n},probability={probability}" for n in names)
    return preload_env(w, FIU_LIBS, FIU_ENABLE=spec, FIU_CTRL_FIFO="")


def readyz(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def start_pub(procs, w, db, live, replay, *extra, wrap=(), env=None, name="pub"):
    args = list(wrap) + [os.path.join(BIN, "herald-pub"), "--db", db, "--bind", live,
                         "--replay-bind", replay, "--heartbeat-ms", "100", *extra]
    return procs.start(name, args, w, env=env)


def sub_args(live, replay, *args):
    return ["herald-sub", "--connect", live, "--replay", replay, *args]


# ---------------------------------------------------------------------------------------------

def case_pub_kill9(w, procs):
    db = os.path.join(w, "origin.db")
    store(db, "init")
    src = os.path.join(w, "import.ndjson")
    write_import(src, 3000, "imp")
    store(db, "import", src)
    live, replay = tcp(), tcp()
    pub = start_pub(procs, w, db, live, replay)
    wait_until(lambda: pub.logged("pub.started"), 15, "pub.started")
    st, out = os.path.join(w, "log.state"), os.path.join(w, "log.jsonl")
    mst, mirror = os.path.join(w, "mirror.state"), os.path.join(w, "mirror.db")
    log = procs.start("log", sub_args(live, replay, "--state", st, "--from", "start", "--sink",
                                      "log", "--out", out), w)
    mir = procs.start("mirror", sub_args(live, replay, "--state", mst, "--sink", "mirror",
                                         "--mirror-db", mirror), w)
    kills = 10
    with Writer(db, "wpub") as writer:
        time.sleep(0.2)
        pub.kill9()
        kill_loop(lambda: start_pub(procs, w, db, live, replay), kills - 1, 100, 600)
        time.sleep(0.2)
    pub = start_pub(procs, w, db, live, replay)
    head = store_head(db)
    want = export(db)
    wait_until(lambda: state_seq(st) >= head, 90, f"the log to reach {head}")
    wait_until(lambda: export(mirror) == want, 90, "the mirror to equal the origin")
    check(log.alive() and mir.alive(), "the subscribers ran through every publisher kill")
    check(log.stop() == 0 and mir.stop() == 0, "the subscribers exit 0")
    check(pub.stop() == 0, "herald-pub exits 0")
    lost, dup, torn, disorder = count_log(out, head)
    gaps = sum(len(p.logged("sub.gap")) for p in (log, mir))
    print(f"pub_kill9: {kills} publisher kills, {writer.n} writes, head {head}; log lost {lost}, "
          f"duplicated {dup}, torn {torn}, out of order {disorder}; mirror export equal; "
          f"{gaps} gaps healed")
    check((lost, dup, torn, disorder) == (0, 0, 0, 0), "the log file is exact")
    for path in (st, mst, mirror, db):
        check_db(path)


def store_head(db):
    return int(store(db, "head").stdout)


def case_webhook_kill9(w, procs):
    world = World(w, procs)
    rx = Receiver(w, "rx").start()
    try:
        st = os.path.join(w, "webhook.state")
        args = ["--state", st, "--sink", "webhook", "--webhook-url", rx.url]
        env = {"HERALD_WEBHOOK_SECRET": SECRET}
        sub = world.sub("webhook", *args, env=env)
        wait_until(lambda: sub.logged("sub.following"), 15, "the webhook subscriber to follow")
        first = world.head() + 1
        sub.kill9()
        kills = 8
        with Writer(world.db, "wwh") as writer:
            kill_loop(lambda: world.sub("webhook", *args, env=env), kills, 60, 700)
            wait_until(lambda: writer.n >= 30, 30, "30 changes written")
        sub = world.sub("webhook", *args, env=env)
        head = world.head()
        want = list(range(first, head + 1))
        wait_until(lambda: set(want) <= {r["body"]["seq"] for r in rx.delivered()}, 60,
                   f"deliveries up to {head}")
        time.sleep(0.3)
        check(sub.stop() == 0, "herald-sub exits 0")
        reqs = rx.delivered()
        ids, firsts = {}, []
        for r in reqs:
            s = r["body"]["seq"]
            if s not in ids:
                firsts.append(s)
            ids.setdefault(s, set()).add(r["id"])
        lost = sum(1 for s in want if s not in ids)
        resent = len(reqs) - len(ids)
        other_id = sum(len(v) - 1 for v in ids.values())
        disorder = sum(1 for a, b in zip(firsts, firsts[1:]) if b <= a)
        unsigned = sum(1 for r in rx.requests() if not r["signature_ok"])
        print(f"webhook_kill9: {kills} kills, seqs {first}..{head}; lost {lost}, resent under "
              f"the same webhook-id {resent}, under another id {other_id}, first deliveries "
              f"out of order {disorder}, bad signatures {unsigned}")
        check((lost, other_id, disorder, unsigned) == (0, 0, 0, 0),
              "every seq delivered, in order, a resend only under its webhook-id")
        check(firsts == want, "first deliveries are exactly the seqs, in order")
        check_db(st)
    finally:
        rx.stop()


def pub_with_metrics(procs, w, db, wrap=()):
    live, replay, port = tcp(), tcp(), free_port()
    pub = start_pub(procs, w, db, live, replay, "--metrics", f"127.0.0.1:{port}", wrap=wrap)
    wait_until(lambda: pub.logged("pub.started"), 15, "pub.started")
    wait_until(lambda: readyz(port) == 200, 10, "/readyz ready")
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVTIMEO, 200)
    sub.connect(live)
    return pub, port, ctx, sub


def events_of(p, *names):
    return [e["event"] for e in p.log_events() if e.get("event") in names]


def moved_back(w, procs, path, backup, pub, port, sub, what):
    """Moves the backup onto the path; the publisher must pick it up, announce a new change,
    and the store must be its backup plus that change."""
    before = state(backup)
    stream = stream_id(backup)
    os.rename(backup, path)
    wait_until(lambda: readyz(port) == 200, 15, f"{what}: /readyz ready again")
    store(path, "add-event", "--id", f"after-{what}", "--kind", "course", "--title", "After",
          "--start-date", "2026-06-01", "--end-date", "2026-06-01", "--city", "Oslo",
          "--country", "NO")
    head = store_head(path)
    wait_until(announced(sub, stream, head), 15, f"{what}: the restored store's change", 0)
    after = state(path)
    check(after[2] == [("ok",)] and after[3] == [], f"{what}: checks {after[2:]}")
    extra = [e for e in after[0]["events"] if e["id"] == f"after-{what}"]
    rest = dict(after[0], events=[e for e in after[0]["events"] if e["id"] != f"after-{what}"])
    check(len(extra) == 1 and rest == before[0], f"{what}: the store is its backup plus one")
    check(after[1].splitlines()[:-1] == before[1].splitlines(), f"{what}: the change log kept")
    return head


def case_store_deleted(w, procs):
    path, backup = os.path.join(w, "herald.db"), os.path.join(w, "backup.db")
    store(path, "init", "--sample")
    store(path, "import", "-", stdin=ndjson("del", 20))
    store(path, "backup", backup)
    pub, port, ctx, sub = pub_with_metrics(procs, w, path)
    writer = SqlWriter(path)
    writer.start()
    wait_until(lambda: writer.count >= 10, 10, "the writer's first commits")
    os.unlink(path)
    time.sleep(0.3)
    writer.finish()
    wait_until(lambda: pub.logged("pub.store_replaced"), 10, "pub.store_replaced")
    wait_until(lambda: readyz(port) == 503, 10, "/readyz not ready without a store")
    time.sleep(0.5)
    check(pub.alive(), "herald-pub runs on without its store")
    head = moved_back(w, procs, path, backup, pub, port, sub, "deleted")
    check(pub.stop() == 0, "herald-pub exits 0")
    sub.close(0)
    ctx.term()
    seen = events_of(pub, "pub.store_replaced", "pub.store_missing", "pub.store_reopened",
                     "pub.stream_changed")
    print(f"store_deleted: {seen}; /readyz 503 then 200; head {head}, checks clean")


def case_store_truncated(w, procs):
    path, backup = os.path.join(w, "herald.db"), os.path.join(w, "backup.db")
    store(path, "init", "--sample")
    store(path, "import", "-", stdin=ndjson("tr", 20))
    store(path, "backup", backup)
    pub, port, ctx, sub = pub_with_metrics(procs, w, path)
    writer = SqlWriter(path)
    writer.start()
    wait_until(lambda: writer.count >= 10, 10, "the writer's first commits")
    os.truncate(path, 0)
    time.sleep(0.3)
    writer.stop.set()
    writer.join(10)
    wait_until(lambda: pub.logged("pub.store_damaged"), 10, "pub.store_damaged")
    wait_until(lambda: readyz(port) == 503, 10, "/readyz not ready with a damaged store")
    writer.con.close()
    time.sleep(0.5)
    check(pub.alive(), "herald-pub runs on with a damaged store")
    r = store(path, "restore", backup, check_rc=False)
    check(r.returncode == 1 and path in r.stderr, f"restore onto a damaged file: {r.stderr}")
    head = moved_back(w, procs, path, backup, pub, port, sub, "truncated")
    check(pub.stop() == 0, "herald-pub exits 0")
    sub.close(0)
    ctx.term()
    seen = events_of(pub, "pub.store_damaged", "pub.store_replaced", "pub.store_reopened")
    print(f"store_truncated: {seen}; /readyz 503 then 200; restore refused "
          f"({r.stderr.strip()}); head {head}, checks clean")


def case_store_readonly(w, procs):
    os.chmod(w, 0o755)
    path, ro = os.path.join(w, "herald.db"), os.path.join(w, "ro.db")
    store(path, "init", "--sample")
    store(path, "backup", ro)
    subprocess.run(["chown", "-R", "65534:65534", w], check=True)
    os.chmod(ro, 0o444)
    pub, port, ctx, sub = pub_with_metrics(procs, w, path, wrap=NOBODY)
    stream = stream_id(ro)
    os.rename(ro, path)
    wait_until(lambda: [e for e in pub.logged("pub.cursor_failed") if "readonly" in
                        e.get("error", "")], 15, "pub.cursor_failed on the read-only store")
    ready_ro = readyz(port)
    r = subprocess.run(NOBODY + [os.path.join(BIN, "herald-store"), "--db", path, "add-event",
                                 "--id", "ro-1", "--kind", "course", "--title", "T",
                                 "--start-date", "2026-01-01", "--end-date", "2026-01-01",
                                 "--city", "A", "--country", "FR"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and "readonly" in r.stderr, f"a write refused: {r.stderr}")
    check(pub.alive(), "herald-pub runs on with a read-only store")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.chmod(path + suffix, 0o644)
    wait_until(lambda: pub.logged("pub.cursor_ok"), 15, "the cursor written once writable")
    r = subprocess.run(NOBODY + [os.path.join(BIN, "herald-store"), "--db", path, "add-event",
                                 "--id", "rw-1", "--kind", "course", "--title", "T",
                                 "--start-date", "2026-01-01", "--end-date", "2026-01-01",
                                 "--city", "A", "--country", "FR"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"a write once writable: {r.stderr}")
    head = int(subprocess.run(NOBODY + [os.path.join(BIN, "herald-store"), "--db", path, "head"],
                              capture_output=True, text=True, timeout=30).stdout)
    wait_until(announced(sub, stream, head), 15, "the change after the store became writable", 0)
    check(pub.stop() == 0, "herald-pub exits 0")
    sub.close(0)
    ctx.term()
    after = state(path)
    check(after[2] == [("ok",)] and after[3] == [], f"checks {after[2:]}")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    cur = con.execute("SELECT seq FROM cursors WHERE name = 'publisher'").fetchone()
    con.close()
    check(cur == (head,), f"the publisher's cursor {cur} at head {head}")
    seen = events_of(pub, "pub.store_reopened", "pub.cursor_ok")
    print(f"store_readonly: pub.cursor_failed (read-only), /readyz {ready_ro} while read-only "
          f"(it still announces); once writable {seen}, head {head} announced, cursor written, "
          f"checks clean")


class Lock:
    """BEGIN IMMEDIATE held on a database for seconds (another writer's long transaction)."""

    def __init__(self, path, seconds):
        self.path, self.seconds = path, seconds
        self.held = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        con = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        con.execute("BEGIN IMMEDIATE")
        self.held.set()
        time.sleep(self.seconds)
        con.execute("ROLLBACK")
        con.close()

    def __enter__(self):
        self.thread.start()
        self.held.wait(30)
        return self

    def __exit__(self, *exc):
        self.thread.join(60)


def case_long_locks(w, procs):
    world = World(w, procs, imported=500)
    pub = procs.procs[0]
    st, out = os.path.join(w, "log.state"), os.path.join(w, "log.jsonl")
    mst, mirror = os.path.join(w, "mirror.state"), os.path.join(w, "mirror.db")
    log = world.sub("log", "--state", st, "--from", "start", "--sink", "log", "--out", out)
    margs = ["--state", mst, "--sink", "mirror", "--mirror-db", mirror]
    mir = world.sub("mirror", *margs)
    wait_until(lambda: export_or_none(mirror) == export(world.db), 30, "the mirror to catch up")
    # The publisher: its cursor writes wait; its announcements do not.
    write_import(os.path.join(w, "again.ndjson"), 500, "imp-again")
    store(world.db, "import", os.path.join(w, "again.ndjson"))
    head = world.head()
    with Lock(world.db, 6):
        wait_until(lambda: state_seq(st) >= head, 5, "the announcements under the lock")
        time.sleep(5)
        check(pub.alive(), "herald-pub runs under a 6 s lock")
    pub_errors = [e for e in pub.log_events() if e.get("level") in ("warn", "error")]
    check(pub_errors == [], f"herald-pub logs nothing for a busy cursor: {pub_errors}")
    # herald-store import: refused whole, with the file, the wait and the holder.
    src = os.path.join(w, "more.ndjson")
    write_import(src, 300, "locked")
    head0 = world.head()
    with Lock(world.db, 6):
        r = store(world.db, "import", src, check_rc=False)
    check(r.returncode == 1 and world.db in r.stderr and "waited" in r.stderr and
          "database is locked" in r.stderr, f"import under a lock: {r.stderr}")
    check(world.head() == head0, "nothing of the refused import applied")
    store(world.db, "import", src)
    # The mirror: a lock on its database longer than its wait while changes arrive.
    with Lock(mirror, 6):
        with Writer(world.db, "wlock"):
            time.sleep(5.5)
    wait_until(lambda: not mir.alive() or export_or_none(mirror) == export(world.db), 30,
               "the mirror to catch up or stop")
    mirror_msg = ""
    if not mir.alive():
        errs = [e for e in mir.log_events() if e.get("level") == "error"]
        mirror_msg = errs[0].get("error", "") if errs else ""
        check(mirror_msg and "locked" in mirror_msg, f"the mirror says why it stopped: {errs}")
        mir = world.sub("mirror", *margs)
    head = world.head()
    want = export(world.db)
    wait_until(lambda: export(mirror) == want, 60, "the mirror equal to the origin")
    wait_until(lambda: state_seq(st) >= head, 60, "the log at head")
    wait_until(lambda: cursor_of(world.db) == head, 10, "the publisher's cursor written")
    log.stop()
    mir.stop()
    lost, dup, torn, disorder = count_log(out, head)
    print(f"long_locks: publisher under a 6 s lock: nothing logged, cursor written after it; "
          f"import refused whole ({r.stderr.strip()}); mirror "
          f"{'stopped: ' + mirror_msg if mirror_msg else 'waited'}, then equal; log lost {lost}, "
          f"duplicated {dup}, torn {torn}")
    check((lost, dup, torn, disorder) == (0, 0, 0, 0), "the log file is exact")
    for path in (st, mst, mirror, world.db):
        check_db(path)


def cursor_of(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        row = con.execute("SELECT seq FROM cursors WHERE name = 'publisher'").fetchone()
    finally:
        con.close()
    return row[0] if row else None


FIU_SQLITE = ["posix/io/rw/pwrite", "posix/io/sync/fsync", "posix/io/sync/fdatasync"]


def fiu_runs(world, name, args, probability, names, until, runs):
    """Starts the subscriber under libfiu runs times; each run ends when it stops by itself
    or reaches until(). Returns (stopped with an error, reached, killed by a signal)."""
    env = fiu_env(world.w, probability, names)
    stopped, reached, signalled, reasons = 0, 0, 0, set()
    for _ in range(runs):
        p = world.sub(name, *args, env=env)
        deadline = time.monotonic() + 20
        while p.alive() and not until() and time.monotonic() < deadline:
            time.sleep(0.05)
        if p.alive():
            reached += 1
            p.stop()
            continue
        rc = p.popen.returncode
        if rc < 0:
            signalled += 1
            continue
        errs = [e.get("error", "") for e in p.log_events() if e.get("level") == "error"]
        check(rc == 1 and errs, f"{name} under injected I/O errors exits 1 saying why: rc {rc}")
        reasons.add(errs[0][:70])
        stopped += 1
    return stopped, reached, signalled, reasons


def case_fiu_io(w, procs):
    world = World(w, procs, imported=4000)
    # The mirror: SQLite's writes and syncs fail now and then.
    mst, mirror = os.path.join(w, "mirror.state"), os.path.join(w, "mirror.db")
    margs = ["--state", mst, "--sink", "mirror", "--mirror-db", mirror]
    want = export(world.db)
    m = fiu_runs(world, "mirror", margs, 0.01, FIU_SQLITE,
                 lambda: export_or_none(mirror) == want, 4)
    for path in (mirror, mst):
        if os.path.exists(path):
            check_db(path)
    sub = world.sub("mirror", *margs)
    wait_until(lambda: export_or_none(mirror) == want, 60,
               "the mirror to catch up without faults")
    sub.stop()
    check_db(mirror)
    # The log: the file's writes too (write(2) is also ZeroMQ's wake-up of its own threads,
    # which aborts on a failure: such a run counts as killed).
    st, out = os.path.join(w, "log.state"), os.path.join(w, "log.jsonl")
    largs = ["--state", st, "--from", "start", "--sink", "log", "--out", out]
    head = world.head()
    lg = fiu_runs(world, "log", largs, 0.05, FIU_SQLITE + ["posix/io/rw/write"],
                  lambda: state_seq(st) >= head, 4)
    if os.path.exists(st):
        check_db(st)
    sub = world.sub("log", *largs)
    wait_until(lambda: state_seq(st) >= head, 60, "the log to catch up without faults")
    sub.stop()
    lost, dup, torn, disorder = count_log(out, head)
    check((lost, dup, torn, disorder) == (0, 0, 0, 0),
          f"the log file is exact: lost {lost}, duplicated {dup}, torn {torn}")
    check_db(st)
    # herald-store import: applied whole or not at all.
    src = os.path.join(w, "fiu.ndjson")
    write_import(src, 2000, "fiu")
    env = dict(os.environ, **fiu_env(w, 0.003, FIU_SQLITE))
    refused, applied = 0, 0
    reasons = set()
    for _ in range(4):
        before = store_head(world.db)
        r = subprocess.run([os.path.join(BIN, "herald-store"), "--db", world.db, "import", src],
                           capture_output=True, text=True, timeout=60, env=env)
        check_db(world.db)
        after = store_head(world.db)
        if r.returncode == 0:
            applied += 1
            check(after >= before, "an import applied")
        else:
            refused += 1
            check(r.returncode == 1 and r.stderr.startswith("herald-store: import:"),
                  f"a clear error: {r.stderr}")
            reasons.add(r.stderr.strip().split("\n")[0][:90])
            check(after == before, f"a refused import left nothing: head {before} -> {after}")
    store(world.db, "import", src)
    ids = {e["id"] for e in export(world.db)["events"] if e["id"].startswith("fiu-")}
    check(len(ids) == 2000, f"every imported record there once: {len(ids)}")
    print(f"fiu_io: mirror runs: {m[0]} stopped with an error, {m[1]} caught up, {m[2]} killed; "
          f"{sorted(m[3])}")
    print(f"fiu_io: log runs: {lg[0]} stopped with an error, {lg[1]} caught up, {lg[2]} killed "
          f"(ZeroMQ's own write failed); {sorted(lg[3])}")
    print(f"fiu_io: imports: {applied} applied, {refused} refused whole {sorted(reasons)}; "
          f"after restarts without faults: mirror equal, log lost {lost}, duplicated {dup}, "
          f"torn {torn}; integrity_check and foreign_key_check clean")


def export_or_none(db):
    """The export, or None while the file is not yet a store."""
    r = subprocess.run([os.path.join(BIN, "herald-store"), "--db", db, "export"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return None
    doc = json.loads(r.stdout)
    doc.pop("stream_id", None)
    return doc


def case_clock_jumps(w, procs):
    # The wall clock stepped forward and back (NTP, an operator); then the monotonic clock
    # too, forward only (a monotonic clock never goes back; it leaps after a suspend).
    clock_jumps(os.path.join(w, "wall"), procs, ("+2h", "-1h"), monotonic=False)
    clock_jumps(os.path.join(w, "both"), procs, ("+2h", "+5h"), monotonic=True)


def clock_jumps(w, procs, jumps, monotonic):
    os.makedirs(w)
    ctl = os.path.join(w, "faketime")
    with open(ctl, "w") as f:
        f.write("+0\n")
    env = preload_env(w, [FAKETIME_LIB], FAKETIME_TIMESTAMP_FILE=ctl,
                      FAKETIME_NO_CACHE="1",
                      FAKETIME_DONT_FAKE_MONOTONIC="0" if monotonic else "1")
    what = "wall and monotonic" if monotonic else "wall"
    db = os.path.join(w, "origin.db")
    store(db, "init")
    live, replay = tcp(), tcp()
    pub = start_pub(procs, w, db, live, replay, env=env)
    wait_until(lambda: pub.logged("pub.started"), 15, "pub.started")
    ctx = zmq.Context()
    hb = ctx.socket(zmq.SUB)
    hb.setsockopt(zmq.SUBSCRIBE, b"hb")
    hb.setsockopt(zmq.RCVTIMEO, 100)
    hb.connect(live)
    server = SmtpServer()
    st, out = os.path.join(w, "log.state"), os.path.join(w, "log.jsonl")
    mst = os.path.join(w, "mail.state")
    log = procs.start("log", sub_args(live, replay, "--state", st, "--from", "start", "--sink",
                                      "log", "--out", out), w, env=env)
    mail = procs.start("mail", sub_args(live, replay, "--state", mst, "--sink", "mail", "--smtp",
                                        server.url, "--mail-from", "herald@example.org",
                                        "--mail-to", "ops@example.org", "--digest-every", "1s"),
                       w, env=env)
    # The receiver on the same clock (the machine's clock jumps): it refuses a signature whose
    # timestamp is more than 5 minutes off its own clock, as Standard Webhooks asks.
    saved = dict(os.environ)
    os.environ.update(LD_PRELOAD=FAKETIME_LIB, FAKETIME_TIMESTAMP_FILE=ctl,
                      FAKETIME_NO_CACHE="1")
    try:
        rx = Receiver(w, "rx").start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    hook = procs.start("webhook", sub_args(live, replay, "--state", os.path.join(w, "wh.state"),
                                           "--sink", "webhook", "--webhook-url", rx.url),
                       w, env=dict(env, HERALD_WEBHOOK_SECRET=SECRET))
    wait_until(lambda: mail.logged("sub.following"), 15, "the mail subscriber to follow")
    wait_until(lambda: hook.logged("sub.following"), 15, "the webhook subscriber to follow")
    first = store_head(db) + 1

    def heartbeats(seconds):
        """Heartbeats received in the next seconds, those queued before dropped first."""
        while True:
            try:
                hb.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
        n, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                hb.recv_multipart()
                n += 1
            except zmq.Again:
                pass
        return n

    counts = {}
    with Writer(db, "wclock"):
        counts["before"] = heartbeats(1.0)
        for jump in jumps:
            server.mode = "tempfail"
            rx.control(status=500, stale_ok=True)  # a request signed before the jump: 500 too
            with open(ctl, "w") as f:
                f.write(jump + "\n")
            retries = len(mail.logged("sub.mail_retry"))
            hooks = len(hook.logged("sub.webhook_retry"))
            wait_until(lambda: len(hook.logged("sub.webhook_retry")) > hooks, 30,
                       f"a webhook retry after the jump to {jump}")
            rx.control()
            wait_until(lambda: len(mail.logged("sub.mail_retry")) > retries, 30,
                       f"a mail retry after the jump to {jump}")
            counts[jump] = heartbeats(1.0)
            server.mode = "ok"
            h = store_head(db)
            wait_until(lambda: max([r["body"]["seq"] for r in rx.delivered()] or [0]) >= h, 30,
                       f"the webhook deliveries after {jump}")
            sent = len(server.accepted)
            wait_until(lambda: len(server.accepted) > sent, 30, f"a digest after {jump}")
    head = store_head(db)
    wait_until(lambda: state_seq(st) >= head, 60, f"the log to reach {head}")
    wait_until(lambda: mail_counts(server, first, head)[0] == 0, 60, f"mails up to {head}")
    wait_until(lambda: set(range(first, head + 1)) <= {r["body"]["seq"] for r in rx.delivered()},
               60, f"webhook deliveries up to {head}")
    time.sleep(0.5)
    rx.stop()
    firsts = []
    for r in rx.delivered():
        if r["body"]["seq"] >= first and r["body"]["seq"] not in firsts:
            firsts.append(r["body"]["seq"])
    hook_retries = len(hook.logged("sub.webhook_retry"))
    for p in (log, mail, hook, pub):
        check(p.alive(), f"{p.name} runs through the jumps")
        check(p.stop() == 0, f"{p.name} exits 0")
    hb.close(0)
    ctx.term()
    lost, dup, torn, disorder = count_log(out, head)
    mlost, mdup, resent = mail_counts(server, first, head)
    retries = len(mail.logged("sub.mail_retry"))
    print(f"clock_jumps ({what}, {' then '.join(jumps)}): heartbeats in 1 s: {counts}; "
          f"{retries} mail retries, "
          f"{len(server.accepted)} digests; log lost {lost}, duplicated {dup}, torn {torn}; "
          f"mail lost {mlost}, duplicated {mdup}, resent {resent}; {hook_retries} webhook "
          f"retries, deliveries in order {firsts == list(range(first, head + 1))}")
    check(firsts == list(range(first, head + 1)), "every seq delivered to the webhook, in order")
    check(all(5 <= v <= 15 for v in counts.values()), f"a heartbeat every 100 ms: {counts}")
    check((lost, dup, torn, disorder) == (0, 0, 0, 0), "the log file is exact")
    check((mlost, mdup) == (0, 0), "every change mailed once")
    check_db(st)
    check_db(mst)


CASES = {"pub_kill9": case_pub_kill9, "webhook_kill9": case_webhook_kill9,
         "store_deleted": case_store_deleted, "store_truncated": case_store_truncated,
         "store_readonly": case_store_readonly, "long_locks": case_long_locks,
         "fiu_io": case_fiu_io, "clock_jumps": case_clock_jumps}


def main():
    run_each("herald-faults-", CASES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
