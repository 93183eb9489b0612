#!/usr/bin/python3
"""test_store_cli.py -- exercises herald-store end to end: init, export, edits, the change
log, exit codes and messages, an all-or-nothing import, --help.

HERALD_BIN is the directory holding herald-store. Exits non-zero with a message on failure.
"""
import json
import os
import pty
import re
import select
import subprocess
import sys
import tempfile
import time

BIN = os.path.join(os.environ.get("HERALD_BIN", "build/bin"), "herald-store")
LYON = "2016-01-global-counter-nuclear-smuggling-conference"
SEVILLE = ("2015-11-interpol-counter-terrorism-working-group-meeting-on-foreign-"
           "terrorist-fighters")
SYDNEY = "2014-01-global-security-and-counter-terrorism-convention"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def run(db, *args, stdin=None, env=None):
    argv = [BIN] + (["--db", db] if db else []) + list(args)
    p = subprocess.run(argv, input=stdin, capture_output=True, timeout=60, env=env)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def ok(db, *args, stdin=None):
    rc, out, err = run(db, *args, stdin=stdin)
    check(rc == 0, "%s: exit %d, stderr: %s" % (" ".join(args), rc, err))
    return out


def expect(db, code, needle, *args, stdin=None):
    rc, out, err = run(db, *args, stdin=stdin)
    check(rc == code, "%s: exit %d, wanted %d (stderr: %s)" % (" ".join(args), rc, code, err))
    check(needle in err, "%s: stderr %r lacks %r" % (" ".join(args), err, needle))
    return err


def changes(db, *extra):
    out = ok(db, "changes", *extra)
    return [json.loads(line) for line in out.decode("utf-8").splitlines()]


def on_terminal(argv, deadline=120):
    """Runs argv with a pseudo-terminal as its stdin, stdout and stderr: (exit code, output)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    out = b""
    end = time.monotonic() + deadline
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            out += data
    finally:
        os.close(fd)
    if time.monotonic() >= end:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


def main():
    check(os.access(BIN, os.X_OK), "no herald-store at %s (set HERALD_BIN)" % BIN)
    with tempfile.TemporaryDirectory(prefix="herald-store-cli-") as tmp:
        db = os.path.join(tmp, "herald.db")

        # --help everywhere, exit 0, on stdout.
        for args in (["--help"], ["init", "--help"], ["import", "--help"],
                     ["export", "--help"], ["add-event", "--help"],
                     ["add-press-release", "--help"], ["cancel-event", "--help"],
                     ["delete-event", "--help"], ["delete-press-release", "--help"],
                     ["changes", "--help"], ["head", "--help"]):
            out = ok(db, *args)
            check(b"usage: herald-store" in out, "%s: no usage text" % " ".join(args))
        check(not os.path.exists(db), "--help created a store")

        # A missing store is a configuration error (2) that names it and the fix.
        expect(db, 2, "herald-store: export: cannot open store " + db, "export")
        expect(db, 2, "init", "export")

        ok(db, "init", "--sample")
        expect(db, 2, "herald-store: init:", "init")  # a store is there: never overwritten

        raw = ok(db, "export")
        doc = json.loads(raw.decode("utf-8"))
        check(len(doc["events"]) == 5, "sample has %d events" % len(doc["events"]))
        check(len(doc["press_releases"]) == 5, "sample press releases")
        check(list(doc.keys()) == ["stream_id", "events", "press_releases"], "key order")
        ids = [e["id"] for e in doc["events"]]
        check(ids == sorted(ids), "events not sorted by id")
        check("J\u00fcrgen Stock".encode("utf-8") in raw, "Jürgen Stock not byte-exact")
        check("Jorge Fern\u00e1ndez D\u00edaz".encode("utf-8") in raw, "Fernández Díaz")
        check("INTERPOL\u2019s ability".encode("utf-8") in raw, "’ in the Lyon summary")
        check(b"\\u" not in raw, "export escapes UTF-8")
        lyon = [e for e in doc["events"] if e["id"] == LYON][0]
        check((lyon["start_date"], lyon["end_date"], lyon["city"], lyon["country"])
              == ("2016-01-27", "2016-01-29", "Lyon", "FR"), "Lyon event: %r" % lyon)
        check([p["name"] for p in lyon["people"]] == ["J\u00fcrgen Stock", "Alan King"],
              "Lyon people")
        kinds = sorted(e["kind"] for e in doc["events"])
        check(kinds == ["conference", "convention", "course", "symposium",
                        "working-group-meeting"], "kinds %r" % kinds)
        dates = sorted(p["published_on"] for p in doc["press_releases"])
        check(dates == ["2014-01-28", "2015-06-25", "2015-11-18", "2016-01-27", "2016-01-29"],
              "press dates %r" % dates)

        check(ok(db, "head") == b"10\n", "head after the sample")
        log = changes(db)
        check(len(log) == 10 and [c["seq"] for c in log] == list(range(1, 11)), "log seqs")
        check(set(log[0].keys()) == {"seq", "type", "id", "change", "committed_at_ms",
                                     "topic"}, "change keys %r" % log[0])
        check(log[0]["topic"] == "event.conference.FR." and log[0]["change"] == "created",
              "first change %r" % log[0])
        check(log[9]["type"] == "press_release" and log[9]["topic"] == "press.", "press row")

        # Edits and their change rows.
        ok(db, "add-event", "--id", "2017-test", "--kind", "symposium", "--title", "Test",
           "--start-date", "2016-02-29", "--end-date", "2016-03-01", "--city", "Sevilla",
           "--country", "ES", "--person", "Jorge Fern\u00e1ndez D\u00edaz|Ministro",
           "--person", "Solo")
        ok(db, "put-event", "--id", "2017-test", "--kind", "symposium", "--title", "Test 2",
           "--start-date", "2016-02-29", "--end-date", "2016-03-01", "--city", "Sevilla",
           "--country", "ES")
        ok(db, "add-press-release", "--id", "pr-test", "--title", "Press",
           "--published-on", "2016-03-02", "--event-id", "2017-test")
        ok(db, "cancel-event", SYDNEY, "--reason", "Postponed indefinitely")
        ok(db, "delete-press-release", "pr-test")
        ok(db, "delete-event", "2017-test")
        tail = changes(db, "--since", "10")
        check([(c["seq"], c["change"]) for c in tail] ==
              [(11, "created"), (12, "updated"), (13, "created"), (14, "cancelled"),
               (15, "deleted"), (16, "deleted")], "changes after 10: %r" % tail)
        check(tail[0]["topic"] == "event.symposium.ES.", "topic %r" % tail[0])
        check(len(changes(db, "--since", "10", "--limit", "2")) == 2, "--limit")
        doc = json.loads(ok(db, "export"))
        sydney = [e for e in doc["events"] if e["id"] == SYDNEY][0]
        check(sydney["status"] == "cancelled"
              and sydney["cancel_reason"] == "Postponed indefinitely", "cancel %r" % sydney)

        # Failures (1) and usage errors (2), with their messages; a field is named by its flag.
        expect(db, 2, "herald-store: add-event: --country: must be two upper-case letters"
               " (got 'FRA')", "add-event", "--id", "x", "--kind", "course", "--title", "T",
               "--start-date", "2016-01-01", "--end-date", "2016-01-02", "--city", "Lyon",
               "--country", "FRA")
        expect(db, 2, "--start-date: not a date (2015-02-29)", "add-event", "--id", "x",
               "--kind", "course", "--title", "T", "--start-date", "2015-02-29",
               "--end-date", "2016-01-02", "--city", "Lyon", "--country", "FR")
        expect(db, 2, "--end-date", "add-event", "--id", "x", "--kind", "course",
               "--title", "T", "--start-date", "2016-01-03", "--end-date", "2016-01-02",
               "--city", "Lyon", "--country", "FR")
        expect(db, 2, "missing --title", "add-event", "--id", "x", "--kind", "course",
               "--start-date", "2016-01-01", "--end-date", "2016-01-02", "--city", "Lyon",
               "--country", "FR")
        expect(db, 2, "unknown option '--colour'", "add-event", "--colour", "red")
        expect(db, 2, "needs a value", "changes", "--since")
        expect(db, 2, "--limit: not a positive number (ten)", "changes", "--limit", "ten")
        expect(db, 2, "--since: not a seq (x)", "changes", "--since", "x")
        expect(db, 2, "unknown command 'frobnicate'", "frobnicate")
        expect(db, 2, "missing command")
        expect(db, 2, "missing ID", "delete-event")
        expect(db, 1, "no event 'nope'", "cancel-event", "nope")
        expect(db, 1, "has press releases", "delete-event", LYON)
        expect(db, 1, "field event_id: no event 'nope'", "add-press-release", "--id", "p",
               "--title", "T", "--published-on", "2016-01-01", "--event-id", "nope")

        # A bad NDJSON import changes nothing and names the line and field.
        before = ok(db, "export")
        head = ok(db, "head")
        bad = (json.dumps({"type": "event", "id": "n1", "kind": "course", "title": "One",
                           "start_date": "2016-01-01", "end_date": "2016-01-02",
                           "country": "FR"}) + "\n" +
               json.dumps({"type": "press_release", "id": "n2", "title": "Two",
                           "published_on": "2016-01-03", "event_id": "n1"}) + "\n" +
               json.dumps({"type": "event", "id": "x", "kind": "course", "title": "Bad",
                           "start_date": "2016-13-01", "end_date": "2016-12-02",
                           "country": "FR"}) + "\n")
        expect(db, 1, "line 3: event 'x': field start_date: not a date (2016-13-01)",
               "import", "-", stdin=bad.encode())
        check(ok(db, "export") == before and ok(db, "head") == head, "bad import changed store")
        bad_file = os.path.join(tmp, "bad.ndjson")
        with open(bad_file, "w", encoding="utf-8") as f:
            f.write(bad)
        expect(db, 1, "line 3:", "import", bad_file)
        expect(db, 2, "cannot read", "import", os.path.join(tmp, "missing.ndjson"))

        # A good one, then export -> import into a new store -> export: same but stream_id.
        good = bad.replace("2016-13-01", "2016-12-01")
        ok(db, "import", stdin=good.encode())
        check(len(changes(db, "--since", head.decode().strip())) == 3, "good import rows")
        first = ok(db, "export")
        db2 = os.path.join(tmp, "copy.db")
        ok(db2, "init")
        ok(db2, "import", stdin=first)
        second = ok(db2, "export")
        a, b = json.loads(first), json.loads(second)
        check(a["stream_id"] != b["stream_id"], "stream ids should differ")
        check(first.split(b"\n", 2)[2] == second.split(b"\n", 2)[2], "round trip differs")

        # A long import shows progress on a terminal only: never on a pipe.
        big = os.path.join(tmp, "big.ndjson")
        with open(big, "w", encoding="utf-8") as f:
            for i in range(50000):
                f.write(json.dumps({"type": "event", "id": "big-%05d" % i, "kind": "course",
                                    "title": "Big %d" % i, "start_date": "2016-01-01",
                                    "end_date": "2016-01-02", "country": "FR"}) + "\n")
        db3 = os.path.join(tmp, "big.db")
        ok(db3, "init")
        rc, _, err = run(db3, "import", big)
        check(rc == 0 and "50000 records read, 50000 changed" in err, "big import: %s" % err)
        check("\r" not in err and err.count("\n") == 1, "progress on a pipe: %r" % err[:300])
        code, shown = on_terminal([BIN, "--db", db3, "import", big])
        check(code == 0, "import on a terminal: exit %d: %r" % (code, shown[-300:]))
        check("\rherald-store: import: " in shown or
              shown.startswith("herald-store: import: "), "no progress line: %r" % shown[:300])
        check(" records read (" in shown, "no progress line with a share: %r" % shown[:300])
        last = shown.replace("\r\n", "\n").rstrip("\n").split("\n")[-1]
        check(re.fullmatch(r"herald-store: import: 50000 records read, \d+ changed", last),
              "summary not last on a terminal: %r" % shown[-300:])

        # HERALD_DB is the default path.
        env = dict(os.environ, HERALD_DB=db2)
        rc, out, err = run(None, "head", env=env)
        check(rc == 0 and int(out) > 0, "HERALD_DB not used: %d %r %s" % (rc, out, err))
    print("test_store_cli: ok")


if __name__ == "__main__":
    main()
