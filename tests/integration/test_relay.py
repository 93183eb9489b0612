"""A relay end to end: origin publisher -> relay (a mirror subscriber and a publisher on the
mirror's store) -> internal subscriber. The origin's catalogue arrives and is replayable at
the relay (an internal subscriber --from start gets it all), and live changes at the origin,
a cancel and a delete among them, reach the internal subscriber."""
import json
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import SLOW, Procs, check, read_lines, store, tcp, wait_until, workdir  # noqa


def catalogue(db):
    """(event ids, press release ids) of a store; None while it is being created."""
    r = store(db, "export", check_rc=False)
    if r.returncode != 0:
        return None
    data = json.loads(r.stdout)
    return sorted(e["id"] for e in data.get("events", [])), \
        sorted(p["id"] for p in data.get("press_releases", []))


def main():
    with workdir() as w, Procs() as procs:
        origin = os.path.join(w, "origin.db")
        relay = os.path.join(w, "relay.db")
        store(origin, "init", "--sample")
        o_pub, o_rep = tcp(), tcp()
        r_pub, r_rep = tcp(), tcp()
        procs.start("origin", ["herald-pub", "--db", origin, "--bind", o_pub, "--replay-bind",
                               o_rep, "--heartbeat-ms", "200"], w)
        # The relay's publisher starts first, on the file as the mirror's creation leaves it
        # before its first transaction commits (a database header, no schema): it must wait
        # for the store, not refuse it (it once exited 2, "not a herald store").
        with sqlite3.connect(relay) as c:
            c.execute("PRAGMA journal_mode=WAL")
        relay_pub = procs.start("relay-pub", ["herald-pub", "--db", relay, "--bind", r_pub,
                                              "--replay-bind", r_rep, "--heartbeat-ms", "200"], w)
        time.sleep(0.5 * SLOW)
        check(relay_pub.alive(), "the relay's publisher waits for a store being created")
        mirror = procs.start("relay-mirror", ["herald-sub", "--connect", o_pub, "--replay", o_rep,
                                              "--sink", "mirror", "--mirror-db", relay], w)
        wait_until(lambda: os.path.exists(relay) and catalogue(relay) == catalogue(origin), 20,
                   "the relay's mirror holds the origin's catalogue")

        out = os.path.join(w, "internal.jsonl")
        internal = procs.start("internal", ["herald-sub", "--connect", r_pub, "--replay", r_rep,
                                            "--sink", "log", "--out", out, "--from", "start"], w)
        events, press = catalogue(origin)

        def has_all():
            lines = read_lines(out)
            ids = {(l["type"], l["id"]) for l in lines}
            return all(("event", e) in ids for e in events) and \
                all(("press_release", p) in ids for p in press) and lines
        lines = wait_until(has_all, 20, "the whole catalogue replayed from the relay")
        relay_stream = lines[0]["stream_id"]
        check(all(l["stream_id"] == relay_stream for l in lines), "one stream: the relay's")

        # Live changes at the origin reach the internal subscriber through the relay.
        store(origin, "add-event", "--id", "relay-1", "--kind", "conference", "--title",
              "Relayed", "--start-date", "2026-12-01", "--end-date", "2026-12-03", "--city",
              "Lyon", "--country", "FR")
        store(origin, "cancel-event", "relay-1", "--reason", "moved online")
        linked = {p.get("event_id") for p in json.loads(store(origin, "export").stdout)
                  .get("press_releases", [])}
        free = [e for e in events if e not in linked]
        victim = free[0] if free else "relay-1"
        store(origin, "delete-event", victim)

        def seen():
            got = [(l["id"], l["change"]) for l in read_lines(out)]
            want = [("relay-1", "created"), ("relay-1", "cancelled"), (victim, "deleted")]
            return all(x in got for x in want) and got
        wait_until(seen, 15, "the created, cancelled and deleted announcements")
        cancelled = [l for l in read_lines(out) if l["id"] == "relay-1" and
                     l["change"] == "cancelled"][0]
        check(cancelled.get("cancel_reason") == "moved online", str(cancelled))
        wait_until(lambda: catalogue(relay) == catalogue(origin), 10, "the relay's catalogue")

        # A newcomer at the relay replays everything, the changes above included.
        newcomer = procs.start("newcomer", ["herald-sub", "--connect", r_pub, "--replay", r_rep,
                                            "--sink", "mirror", "--mirror-db",
                                            os.path.join(w, "newcomer.db"), "--from", "start"], w)
        wait_until(lambda: os.path.exists(os.path.join(w, "newcomer.db")) and
                   catalogue(os.path.join(w, "newcomer.db")) == catalogue(origin), 20,
                   "a newcomer's mirror from the relay equals the origin")
        for p in (newcomer, internal, relay_pub, mirror):
            check(p.stop() == 0, f"{p.name} exits 0")
    print("ok")


if __name__ == "__main__":
    main()
