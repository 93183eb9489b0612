"""History at the issue's scale: a subscriber started after 10,000 changes replays them all in
order then follows live ones; a snapshot gives the current catalogue; a mirror killed with
kill -9 five times during 20,000 changes ends equal to the store; a subscriber with a receive
high-water mark of 10 behind a fast publisher ends complete through gap recovery; a recreated
store is followed by a mirror, which then holds exactly the new catalogue; two quick updates of
one event committed while the publisher is held back are both announced, each with its own
state, live and by replay (from the publisher's ring and from the store); a snapshot as of a
seq is the catalogue as it stood; a compacted store refuses the history below its horizon and
mirrors behind it resync from a snapshot."""
import json
import os
import signal
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Procs, check, read_lines, store, tcp, wait_until, workdir  # noqa


def ndjson(prefix, n, kinds=("conference", "course", "symposium"), start=0):
    lines = []
    for i in range(start, start + n):
        lines.append(json.dumps({
            "type": "event", "id": f"{prefix}-{i:06d}", "kind": kinds[i % len(kinds)],
            "title": f"{prefix} event {i}", "start_date": "2026-05-04", "end_date": "2026-05-06",
            "city": "Lyon", "country": "FR", "summary": "Ünïcödé summary"}, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def head(db):
    return int(store(db, "head").stdout)


def catalogue(db):
    r = store(db, "export", check_rc=False)
    if r.returncode != 0:
        return None  # a mirror being created: its file exists before its schema
    doc = json.loads(r.stdout)
    doc.pop("stream_id")
    return doc


def published(db):
    """The publisher's cursor as kept in the store (written within 200 ms of a backlog's end)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as c:
            row = c.execute("SELECT seq FROM cursors WHERE name = 'publisher'").fetchone()
            return row[0] if row else 0
    except sqlite3.Error:
        return 0


def check_in_order(lines, first, last, what):
    got = [l["seq"] for l in lines]
    want = list(range(first, last + 1))
    if got != want:
        dups = len(got) - len(set(got))
        missing = sorted(set(want) - set(got))[:5]
        check(False, f"{what}: {len(got)} lines, {dups} duplicates, missing {missing}...")


def one_event(i, title, status="scheduled"):
    return json.dumps({"type": "event", "id": "quick", "kind": "conference", "title": title,
                       "start_date": "2026-05-04", "end_date": "2026-05-06", "city": "Lyon",
                       "country": "FR", "status": status, "summary": f"state {i}"}) + "\n"


def check_quick(lines, want, what):
    """The lines of the event 'quick' are exactly want: (change, title, version) per change."""
    got = [(l["change"], l.get("title", ""), l.get("version", 0)) for l in lines
           if l["id"] == "quick"]
    check(got == want, f"{what}: each change as it left the event: {got} != {want}")


def held_back(w, procs):
    """Two quick updates of one event committed while the publisher is stopped: it then reads
    both at once, and announces each with the state that change left, live and by replay."""
    db = os.path.join(w, "quick.db")
    store(db, "init", "--sample")
    pub_ep, rep_ep = tcp(), tcp()
    pub_args = ["herald-pub", "--db", db, "--bind", pub_ep, "--replay-bind", rep_ep,
                "--heartbeat-ms", "200"]
    pub = procs.start("pub-quick", pub_args, w)
    live = os.path.join(w, "quick-live.jsonl")
    sub = procs.start("sub-quick", ["herald-sub", "--connect", pub_ep, "--replay", rep_ep,
                                    "--from", "latest", "--sink", "log", "--out", live,
                                    "--format", "json"], w)
    wait_until(lambda: sub.logged("sub.following"), 20, "the live subscriber to follow")
    store(db, "import", "-", stdin=one_event(1, "First"))
    wait_until(lambda: len(read_lines(live)) >= 1, 20, "the creation")
    os.kill(pub.pid, signal.SIGSTOP)
    try:
        store(db, "import", "-", stdin=one_event(2, "Second"))
        store(db, "import", "-", stdin=one_event(3, "Third", "cancelled"))
    finally:
        os.kill(pub.pid, signal.SIGCONT)
    store(db, "delete-event", "quick")
    n = head(db)
    wait_until(lambda: len(read_lines(live)) >= 4, 20, "the three changes after the creation")
    want = [("created", "First", 1), ("updated", "Second", 2), ("cancelled", "Third", 3),
            ("deleted", "", 0)]
    check_quick(read_lines(live), want, "live")
    # Replayed from the publisher's ring (what it published) ...
    ring = os.path.join(w, "quick-ring.jsonl")
    s = procs.start("sub-ring", ["herald-sub", "--connect", pub_ep, "--replay", rep_ep,
                                 "--from", "start", "--sink", "log", "--out", ring], w)
    wait_until(lambda: len(read_lines(ring)) >= n, 20, "the replay from the ring")
    check_in_order(read_lines(ring), 1, n, "replay from the ring")
    check_quick(read_lines(ring), want, "replay from the ring")
    check(s.stop() == 0 and pub.stop() == 0, "both exit 0")
    # ... and from the store by a new publisher, whose ring is empty.
    pub = procs.start("pub-quick2", pub_args, w)
    old = os.path.join(w, "quick-store.jsonl")
    s = procs.start("sub-store", ["herald-sub", "--connect", pub_ep, "--replay", rep_ep,
                                  "--from", "start", "--sink", "log", "--out", old], w)
    wait_until(lambda: len(read_lines(old)) >= n, 20, "the replay from the store")
    check_in_order(read_lines(old), 1, n, "replay from the store")
    check_quick(read_lines(old), want, "replay from the store")
    check(s.stop() == 0 and pub.stop() == 0, "both exit 0")


def compacted(w, procs):
    """herald-store snapshot --as-of gives the catalogue as it stood (an auditor imports it and
    exports it); compact --before removes superseded history; a mirror behind the horizon and a
    new one from start are refused the history and resync from a snapshot, ending equal."""
    db = os.path.join(w, "compact.db")
    store(db, "init", "--sample")
    store(db, "import", "-", stdin=ndjson("c", 60))
    at = head(db)
    then = catalogue(db)
    pub_ep, rep_ep = tcp(), tcp()
    pub = procs.start("pub-compact", ["herald-pub", "--db", db, "--bind", pub_ep,
                                      "--replay-bind", rep_ep, "--heartbeat-ms", "200"], w)
    mirror = os.path.join(w, "compact-mirror.db")
    margs = ["herald-sub", "--connect", pub_ep, "--replay", rep_ep, "--sink", "mirror",
             "--mirror-db", mirror]
    m = procs.start("mirror-compact", margs, w)
    wait_until(lambda: catalogue(mirror) == catalogue(db) if os.path.exists(mirror) else 0,
               30, "the mirror before compaction")
    check(m.stop() == 0, "mirror exits 0")
    # Later history the stopped mirror misses: updates, a cancellation, deletions.
    moved = ndjson("c", 30).replace("event ", "moved event ")
    store(db, "import", "-", stdin=moved)
    store(db, "cancel-event", "c-000003", "--reason", "postponed")
    store(db, "delete-event", "c-000004")
    store(db, "delete-event", "c-000005")
    store(db, "import", "-", stdin=ndjson("c", 10).replace("event ", "final event "))
    # The auditor's view as of `at`, through import and export.
    snap = store(db, "snapshot", "--as-of", str(at)).stdout
    audit = os.path.join(w, "audit.db")
    store(audit, "init")
    store(audit, "import", "-", stdin=snap)
    check(catalogue(audit) == then, "snapshot --as-of: the catalogue as it stood then")
    n = head(db)
    r = json.loads(store(db, "compact", "--before", str(n - 2)).stdout)
    check(r["compacted_before"] == n - 2 and r["removed"] >= 40, f"compacted: {r}")
    bad = store(db, "snapshot", "--as-of", str(at), check_rc=False)
    check(bad.returncode == 1 and "history compacted" in bad.stderr,
          f"snapshot --as-of below the horizon refused: {bad.stderr}")
    # The stopped mirror comes back behind the horizon; a new one starts from the start.
    m = procs.start("mirror-compact2", margs, w)
    fresh = os.path.join(w, "compact-fresh.db")
    f = procs.start("fresh-compact", ["herald-sub", "--connect", pub_ep, "--replay", rep_ep,
                                      "--sink", "mirror", "--mirror-db", fresh,
                                      "--from", "start"], w)
    for db_, name in ((mirror, "the mirror behind the horizon"), (fresh, "the new mirror")):
        wait_until(lambda: catalogue(db_) == catalogue(db) if os.path.exists(db_) else 0,
                   30, f"{name} equal to the compacted store")
    for s in (m, f):
        errors = [e for e in s.logged("sub.replay_error") if "history compacted" in e["error"]]
        check(errors, f"{s.name}: the compacted history was refused: {s.logged('sub.replay_error')}")
        check(s.stop() == 0, f"{s.name} exits 0")
    check(pub.stop() == 0, "pub exits 0")


def main():
    with workdir() as w, Procs() as procs:
        compacted(w, procs)
        held_back(w, procs)
        db = os.path.join(w, "h.db")
        store(db, "init", "--sample")
        store(db, "import", "-", stdin=ndjson("bulk", 9990))
        for i in range(0, 100, 3):
            store(db, "cancel-event", f"bulk-{i:06d}")
        n = head(db)
        check(n >= 10_000, f"at least 10,000 changes ({n})")
        pub_ep, rep_ep = tcp(), tcp()
        pub_args = ["herald-pub", "--db", db, "--bind", pub_ep, "--replay-bind", rep_ep,
                    "--heartbeat-ms", "200", "--sndhwm", "200"]
        procs.start("pub", pub_args, w)
        # An idle publisher (its backlog out): the subscriber below is far behind its head.
        wait_until(lambda: published(db) >= n, 30, "the publisher's backlog")

        # --from start: every change in order, then live ones.
        out = os.path.join(w, "start.jsonl")
        sub = procs.start("sub-start", ["herald-sub", "--connect", pub_ep, "--replay", rep_ep,
                                        "--from", "start", "--sink", "log", "--out", out,
                                        "--log-level", "debug"], w)
        wait_until(lambda: len(read_lines(out)) >= n, 60, f"{n} replayed changes")
        store(db, "delete-press-release", "2014-01-28-global-security-and-counter-terrorism-"
              "convention")
        store(db, "cancel-event", "bulk-000001", "--reason", "moved online")
        n = head(db)
        wait_until(lambda: len(read_lines(out)) >= n, 20, "the live changes after the replay")
        check_in_order(read_lines(out), 1, n, "--from start")
        # So far behind the head, the live feed was paused during the replay, then resumed.
        check(sub.logged("sub.live_paused") and sub.logged("sub.live_resumed"),
              "the live feed paused and resumed around the long replay")
        # Unfiltered change pages were pipelined: the next one asked before the current ended,
        # each at the end of the one before it (pages of 1,000 or 2,000, gapless seqs).
        prefetched = sub.logged("sub.replay_prefetch")
        check(len(prefetched) >= 3, f"pages asked for ahead of time ({len(prefetched)})")
        check(all(p["after"] % 1000 == 0 and p["after"] < p["head"] for p in prefetched),
              f"prefetched pages start on a page boundary below the head: {prefetched[:3]}")
        check(sub.stop() == 0, "sub exits 0")
        check(sub.logged("sub.stopped")[-1]["prefetched"] == len(prefetched), "prefetches counted")

        # --from snapshot: the current catalogue, each record once.
        snap = os.path.join(w, "snap.jsonl")
        sub = procs.start("sub-snap", ["herald-sub", "--connect", pub_ep, "--replay", rep_ep,
                                       "--from", "snapshot", "--sink", "log", "--out", snap], w)
        cat = catalogue(db)
        want = {e["id"]: e for e in cat["events"]}
        want.update({p["id"]: p for p in cat["press_releases"]})
        wait_until(lambda: len(read_lines(snap)) >= len(want), 60, "the snapshot")
        lines = read_lines(snap)
        check(sorted(l["id"] for l in lines) == sorted(want), "the snapshot holds every record once")
        for l in lines:
            if l["type"] == "event":
                check(l["status"] == want[l["id"]]["status"], f"status of {l['id']}")
        check(sub.stop() == 0, "snapshot sub exits 0")

        # A mirror killed with kill -9 five times during 20,000 changes ends equal.
        mirror = os.path.join(w, "mirror.db")
        margs = ["herald-sub", "--connect", pub_ep, "--replay", rep_ep, "--sink", "mirror",
                 "--mirror-db", mirror]
        m = procs.start("mirror", margs, w)
        wait_until(lambda: catalogue(mirror) == catalogue(db) if os.path.exists(mirror) else 0,
                   60, "the mirror's snapshot")
        base = head(db)
        for round_ in range(5):
            store(db, "import", "-", stdin=ndjson(f"k{round_}", 4000))

            def applied():
                try:
                    with sqlite3.connect(f"file:{mirror}?mode=ro", uri=True, timeout=1) as c:
                        r = c.execute("SELECT seq FROM cursors WHERE name='subscriber'").fetchone()
                        return r and r[0] > base + round_ * 4000 + 100
                except sqlite3.Error:
                    return False
            wait_until(applied, 60, f"the mirror applying round {round_}", interval=0.005)
            m.kill9()
            m = procs.start("mirror", margs, w)
        wait_until(lambda: catalogue(mirror) == catalogue(db), 120,
                   "the mirror to equal the store after five kill -9")
        check(m.stop() == 0, "mirror exits 0")

        # A receive high-water mark of 10 behind a fast publisher: complete through gap recovery.
        slow = os.path.join(w, "slow.jsonl")
        s = procs.start("sub-slow", ["herald-sub", "--connect", pub_ep, "--replay", rep_ep,
                                     "--from", "latest", "--rcvhwm", "10", "--sink", "log",
                                     "--out", slow], w)
        wait_until(lambda: s.logged("sub.following"), 20, "the slow subscriber to follow")
        first = head(db) + 1
        os.kill(s.pid, signal.SIGSTOP)
        try:
            store(db, "import", "-", stdin=ndjson("burst", 5000))
            time.sleep(0.5)
        finally:
            os.kill(s.pid, signal.SIGCONT)
        n = head(db)
        wait_until(lambda: len(read_lines(slow)) >= n - first + 1, 60, "the burst")
        check(s.stop() == 0, "slow sub exits 0")
        check_in_order(read_lines(slow), first, n, "--rcvhwm 10")
        stopped = s.logged("sub.stopped")[-1]
        check(stopped["gaps_detected"] > 0 and stopped["gaps_healed"] >= 1,
              f"gaps were detected and healed: {stopped}")

        # A recreated store: the mirror follows and holds exactly the new catalogue.
        m = procs.start("mirror", margs, w)
        wait_until(lambda: catalogue(mirror) == catalogue(db), 60, "the mirror before")
        procs.procs[0].stop()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.unlink(db + suffix)
        store(db, "init", "--sample")
        store(db, "cancel-event", "2014-06-chemical-and-explosives-terrorism-prevention-course-in-southeast-asia")
        procs.start("pub2", pub_args, w)
        # A mirror holds one stream: the new one is refused, naming both, and nothing changes
        # until the documented resync (--mirror-resync) is asked for.
        before = catalogue(mirror)
        wait_until(lambda: not m.alive(), 30, "the mirror to stop on another stream")
        check(m.popen.returncode == 1, f"the mirror exits 1: {m.popen.returncode}")
        check(m.logged("sub.stream_changed"), "the new stream is logged")
        failed = " ".join(json.dumps(e) for e in m.logged("sub.sink_failed"))
        check("--mirror-resync" in failed and "mirrors stream" in failed and
              "serves stream" in failed, f"the refusal names both streams and the fix: {failed}")
        check(catalogue(mirror) == before, "the refused mirror is untouched")
        m = procs.start("mirror-resync", margs + ["--mirror-resync"], w)
        wait_until(lambda: catalogue(mirror) == catalogue(db), 60, "the mirror of the new store")
        check(m.logged("sub.mirror_resync"), "the resync is logged")
        check(m.stop() == 0, "mirror exits 0")

        # A subscriber that starts with a publisher busy with a backlog of 20,000 changes: its
        # replay races the live feed (answered from the publisher's recent ring, which it
        # publishes ahead into) and hands over to it; complete and in order all the same.
        db3 = os.path.join(w, "backlog.db")
        store(db3, "init")
        store(db3, "import", "-", stdin=ndjson("backlog", 20000))
        n3 = head(db3)
        pub3_ep, rep3_ep = tcp(), tcp()
        out3 = os.path.join(w, "backlog.jsonl")
        s3 = procs.start("sub-backlog", ["herald-sub", "--connect", pub3_ep, "--replay", rep3_ep,
                                         "--from", "start", "--sink", "log", "--out", out3,
                                         "--format", "json"], w)
        p3 = procs.start("pub-backlog", ["herald-pub", "--db", db3, "--bind", pub3_ep,
                                         "--replay-bind", rep3_ep, "--log-level", "info"], w)
        wait_until(lambda: len(read_lines(out3)) >= n3, 60, "the backlog")
        store(db3, "cancel-event", "backlog-000007")
        wait_until(lambda: len(read_lines(out3)) >= n3 + 1, 20, "a live change after it")
        check_in_order(read_lines(out3), 1, n3 + 1, "a replay racing a backlog")
        check(s3.stop() == 0 and p3.stop() == 0, "both exit 0")
        check(p3.logged("pub.stopped")[-1]["replayed_recent"] > 0,
              f"replays came from the recent ring: {p3.logged('pub.stopped')}")
        # The handover waits until the catch-up is near the head (5,000): the backlog came
        # by replay, not one live message at a time.
        stopped3 = s3.logged("sub.stopped")[-1]
        check(stopped3["replayed"] >= n3 - 5000, f"the backlog came by replay: {stopped3}")
    print("ok")


if __name__ == "__main__":
    main()
