"""Live announcements end to end: records committed by herald-store reach herald-sub's log
through herald-pub, with the right fields, in seq order; topic filters; a restarted
publisher; a rogue peer's garbage. Real processes on loopback (tcp and ipc)."""
import os
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(__file__))
from harness import Procs, check, fail, read_lines, store, tcp, wait_until, workdir  # noqa


def sub_args(pub, rep, out, *extra):
    return ["herald-sub", "--connect", pub, "--replay", rep, "--sink", "log", "--out", out,
            "--from", "start"] + list(extra)


def seqs(lines):
    return [l["seq"] for l in lines]


def main():
    with workdir() as w, Procs() as procs:
        db = os.path.join(w, "h.db")
        store(db, "init", "--sample")
        pub_ep, rep_ep = tcp(), f"ipc://{w}/replay.sock"
        pub = procs.start("pub", ["herald-pub", "--db", db, "--bind", pub_ep,
                                  "--replay-bind", rep_ep, "--heartbeat-ms", "200"], w)
        out = os.path.join(w, "all.jsonl")
        sub = procs.start("sub", sub_args(pub_ep, rep_ep, out), w)
        conf = os.path.join(w, "conf.jsonl")
        procs.start("sub-conf", sub_args(pub_ep, rep_ep, conf, "--topic", "event.conference."), w)
        press = os.path.join(w, "press.jsonl")
        procs.start("sub-press", sub_args(pub_ep, rep_ep, press, "--topic", "press."), w)
        th = os.path.join(w, "th.jsonl")
        procs.start("sub-th", sub_args(pub_ep, rep_ep, th, "--topic", "event.course.TH."), w)

        head = int(store(db, "head").stdout)
        wait_until(lambda: len(read_lines(out)) >= head, 20, f"the {head} sample changes")

        # Live: an event with UTF-8 people, an update, a cancel, a press release, deletions.
        store(db, "add-event", "--id", "live-1", "--kind", "conference", "--title",
              "Live <conference> & co", "--start-date", "2026-12-01", "--end-date",
              "2026-12-03", "--city", "Lyon", "--country", "FR", "--summary", "First line",
              "--person", "Jürgen Stock|INTERPOL Secretary General",
              "--person", "Jorge Fernández Díaz|Ministro del Interior de España")
        store(db, "add-event", "--id", "live-1", "--kind", "conference", "--title",
              "Live <conference> & co", "--start-date", "2026-12-01", "--end-date",
              "2026-12-04", "--city", "Lyon", "--country", "FR", "--summary", "First line",
              "--person", "Jürgen Stock|INTERPOL Secretary General",
              "--person", "Jorge Fernández Díaz|Ministro del Interior de España")
        store(db, "cancel-event", "live-1", "--reason", "venue closed")
        store(db, "add-press-release", "--id", "live-pr", "--title", "Live press", "--published-on",
              "2026-12-02", "--event-id", "live-1")
        store(db, "delete-press-release", "live-pr")
        store(db, "add-event", "--id", "live-2", "--kind", "course", "--title", "Phuket again",
              "--start-date", "2026-06-17", "--end-date", "2026-06-20", "--city", "Phuket",
              "--country", "TH")
        store(db, "delete-event", "live-2")
        head = int(store(db, "head").stdout)
        lines = wait_until(lambda: (lambda l: l if l and l[-1]["seq"] >= head else None)(
            read_lines(out)), 10, "the live changes")

        check(seqs(lines) == list(range(1, head + 1)), f"seq order without gap: {seqs(lines)}")
        live = lines[-7:]
        check([l["change"] for l in live] ==
              ["created", "updated", "cancelled", "created", "deleted", "created", "deleted"],
              f"changes: {[l['change'] for l in live]}")
        c = live[0]
        check(c["type"] == "event" and c["id"] == "live-1" and c["kind"] == "conference", str(c))
        check(c["title"] == "Live <conference> & co" and c["city"] == "Lyon", str(c))
        check(c["country"] == "FR" and c["start_date"] == "2026-12-01", str(c))
        check(c["people"][0] == {"name": "Jürgen Stock", "role": "INTERPOL Secretary General"},
              f"people: {c['people']}")
        check(c["people"][1]["name"] == "Jorge Fernández Díaz", f"people: {c['people']}")
        check(len({l["stream_id"] for l in lines}) == 1, "one stream_id")
        check(live[1]["end_date"] == "2026-12-04", "the update carries the new end date")
        check(live[2]["status"] == "cancelled" and live[2].get("cancel_reason") == "venue closed",
              f"cancelled: {live[2]}")
        check(live[3]["type"] == "press_release" and live[3]["event_id"] == "live-1", str(live[3]))
        check(live[4]["type"] == "press_release" and live[4]["id"] == "live-pr", str(live[4]))
        check("title" not in live[6] or not live[6]["title"], "a deletion carries the id alone")

        # Topic filters select by type, kind and country.
        def settled(path, pred):
            want = [l["seq"] for l in lines if pred(l)]
            return wait_until(lambda: seqs(read_lines(path)) == want or None, 10,
                              f"{path} to hold {want} (has {seqs(read_lines(path))})")
        settled(conf, lambda l: l["type"] == "event" and l.get("kind", "conference") ==
                "conference" and not (l["change"] == "deleted" and l["id"] == "live-2"))
        settled(press, lambda l: l["type"] == "press_release")
        settled(th, lambda l: l["type"] == "event" and (
            l.get("country") == "TH" and l.get("kind") == "course" or l["id"] == "live-2"))

        # A restarted publisher publishes what was committed while it was down.
        check(pub.stop() == 0, "herald-pub exits 0 on SIGTERM")
        for i in range(3):
            store(db, "add-press-release", "--id", f"down-{i}", "--title", f"While down {i}",
                  "--published-on", "2026-12-05")
        head = int(store(db, "head").stdout)
        procs.start("pub2", ["herald-pub", "--db", db, "--bind", pub_ep,
                             "--replay-bind", rep_ep, "--heartbeat-ms", "200"], w)
        lines = wait_until(lambda: (lambda l: l if l and l[-1]["seq"] >= head else None)(
            read_lines(out)), 20, "the changes committed while the publisher was down")
        check(seqs(lines) == list(range(1, head + 1)), "no gap, no duplicate after a restart")

        # A rogue peer's garbage does not stop a subscriber.
        ctx = zmq.Context()
        rogue = ctx.socket(zmq.PUB)
        rogue_ep = tcp()
        rogue.bind(rogue_ep)
        out2 = os.path.join(w, "rogue.jsonl")
        sub2 = procs.start("sub-rogue", ["herald-sub", "--connect", pub_ep, "--connect", rogue_ep,
                                         "--replay", rep_ep, "--sink", "log", "--out", out2,
                                         "--from", "start"], w)
        wait_until(lambda: len(read_lines(out2)) >= head, 20, "the rogue-side subscriber")
        garbage = [[b"event.x.", os.urandom(300)], [b"only one frame"],
                   [b"a", b"b", b"c"], [b"hb", b"\x0a\xff\xff\xff"], [b"event.", b""],
                   [b"press.", b"\x12\x05hello\x10\x01"]]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
                sub2.logged("sub.bad_frame") or sub2.logged("sub.decode_error")):
            for g in garbage:
                rogue.send_multipart(g)
            time.sleep(0.05)
        check(sub2.alive(), "the subscriber survives garbage")
        check(sub2.logged("sub.bad_frame") or sub2.logged("sub.decode_error"),
              "garbage is logged")
        store(db, "add-press-release", "--id", "after-rogue", "--title", "After the rogue",
              "--published-on", "2026-12-06")
        wait_until(lambda: any(l["id"] == "after-rogue" for l in read_lines(out2)), 10,
                   "a real announcement after the garbage")
        rogue.close(0)
        ctx.term()
        check(sub.stop() == 0 and sub2.stop() == 0, "herald-sub exits 0 on SIGTERM")
    print("ok")


if __name__ == "__main__":
    main()
