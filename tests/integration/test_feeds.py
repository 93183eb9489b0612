"""test_feeds.py -- herald-sub --sink calendar and --sink atom against a real publisher, read
by independent parsers: Python's icalendar (python3-icalendar) and libical's own parser
(ical_check) for the calendar, feedparser (python3-feedparser) for the Atom feed; and their
HTTP server with real requests: conditional GET (304), HEAD, Last-Modified, tokens by bearer
and by secret URL, refusals.

One store and one publisher serve every case. Run one case: test_feeds.py calendar;
HERALD_KEEP=1 keeps the directory."""
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import date, timedelta

sys.path.insert(0, "/usr/lib/python3/dist-packages")  # Debian's icalendar and feedparser
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Procs, check, fail, free_port, store, tcp, wait_until  # noqa: E402

import feedparser  # noqa: E402
import icalendar  # noqa: E402

TOKEN = "lyon-0123456789abcdef"
OTHER = "madrid-fedcba9876543210"
UTF8_ID = "2026-12-zurich"
UTF8_TITLE = ("Zürich: Konferenz über Cybersicherheit – Strafverfolgung, Grenzen; "
              "Zusammenarbeit in Europa (Ελλάδα, Россия, 日本)")


class World:
    def __init__(self, workdir, procs):
        self.w = workdir
        self.procs = procs
        self.db = os.path.join(workdir, "h.db")
        store(self.db, "init", "--sample")
        store(self.db, "put-event", "--id", UTF8_ID, "--kind", "conference", "--title",
              UTF8_TITLE, "--start-date", "2026-12-30", "--end-date", "2026-12-31", "--city",
              "Zürich", "--country", "CH", "--summary", "Über Grenzen hinweg. " * 12,
              "--person", "Jürgen Stock|Generalsekretär", "--url", "https://example.org/zürich")
        self.live, self.replay = tcp(), tcp()
        procs.start("pub", ["herald-pub", "--db", self.db, "--bind", self.live,
                            "--replay-bind", self.replay, "--heartbeat-ms", "200"], workdir)
        self.tokens = os.path.join(workdir, "tokens")
        with open(self.tokens, "w") as f:
            f.write(f"# agency token\ninterpol-lyon {TOKEN}\nguardia-civil {OTHER}\n")

    def path(self, name):
        return os.path.join(self.w, name)

    def sub(self, name, sink, out, *extra, wait=True):
        args = ["herald-sub", "--connect", self.live, "--replay", self.replay, "--state",
                self.path(name + ".state"), "--sink", sink, "--feed-out", out] + list(extra)
        p = self.procs.start(name, args, self.w)
        if wait:
            wait_until(lambda: p.logged("sub.following") or p.logged("sub.resumed")
                       or not p.alive(), 15, f"{name} to follow the publisher")
            check(p.alive(), f"{name} exited: {open(p.log_path).read()}")
        return p

    def export(self):
        out = subprocess.run([os.path.join(BIN, "herald-store"), "--db", self.db, "export"],
                             capture_output=True, check=True, timeout=60).stdout
        return json.loads(out)


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def vevents(data):
    return {str(e["UID"]): e for e in icalendar.Calendar.from_ical(data).walk("VEVENT")}


def libical(path):
    """libical's own reading: (header, {uid: event})."""
    r = subprocess.run([os.path.join(BIN, "ical_check"), path], capture_output=True,
                       timeout=60)
    check(r.returncode == 0, f"libical refused {path}: {r.stdout[-500:]} {r.stderr}")
    lines = [json.loads(line) for line in r.stdout.decode().splitlines()]
    return lines[0], {e["uid"]: e for e in lines[1:]}


def request(addr, path, method="GET", headers=None):
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def metric(addr, name):
    status, _, body = request(addr, "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    fail(f"no metric {name}")


def uid(stream, eid):
    return f"{eid}@{stream}.herald"


def case_calendar(world):
    out = world.path("agency.ics")
    http_addr, metrics_addr = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    sub = world.sub("cal", "calendar", out, "--feed-name", "INTERPOL – événements",
                    "--http", http_addr, "--http-tokens", world.tokens, "--metrics",
                    metrics_addr)
    catalogue = world.export()
    events = {e["id"]: e for e in catalogue["events"]}
    n = len(events)
    check(n >= 6, f"the seed's five events and ours: {n}")
    wait_until(lambda: read(out).count(b"BEGIN:VEVENT") == n, 15, "every event in the calendar")
    data = read(out)
    check(b"\r\n" in data and data.count(b"\n") == data.count(b"\r\n"), "CRLF line ends")
    for line in data.split(b"\r\n"):
        check(len(line) <= 75, f"a line longer than 75 octets: {line!r}")
        line.decode("utf-8")  # every folded line is whole UTF-8
    cal = icalendar.Calendar.from_ical(data)
    check(str(cal["X-WR-CALNAME"]) == "INTERPOL – événements", f"name: {cal['X-WR-CALNAME']}")
    parsed = vevents(data)
    head, by_libical = libical(out)
    check(head["errors"] == 0 and len(by_libical) == n, f"libical: {head}")
    stream = next(iter(parsed)).split("@", 1)[1][:-len(".herald")]
    for eid, e in events.items():
        u = uid(stream, eid)
        check(u in parsed and u in by_libical, f"{eid} missing from the calendar")
        v, lv = parsed[u], by_libical[u]
        start = date.fromisoformat(e["start_date"])
        end = date.fromisoformat(e["end_date"]) + timedelta(days=1)
        check(type(v["DTSTART"].dt) is date and v["DTSTART"].dt == start, f"{eid} DTSTART")
        check(type(v["DTEND"].dt) is date and v["DTEND"].dt == end, f"{eid} DTEND exclusive")
        check(lv["all_day"] and lv["dtstart"] == start.strftime("%Y%m%d")
              and lv["dtend"] == end.strftime("%Y%m%d"), f"{eid} dates in libical: {lv}")
        check(str(v["SUMMARY"]) == e["title"] and lv["summary"] == e["title"],
              f"{eid} SUMMARY {v['SUMMARY']!r}")
        check(str(v["LOCATION"]) == f"{e['city']}, {e['country']}", f"{eid} LOCATION")
        check(str(v["STATUS"]) == "CONFIRMED" and lv["status"] == "CONFIRMED", f"{eid} STATUS")
        check(str(v.get("URL", "")) == e["url"], f"{eid} URL")
        check(e["summary"][:40] in str(v.get("DESCRIPTION", "")), f"{eid} DESCRIPTION")
        check("DTSTAMP" in v and int(v["SEQUENCE"]) == 0 == lv["sequence"], f"{eid} SEQUENCE")
    ours = parsed[uid(stream, UTF8_ID)]
    check("Jürgen Stock (Generalsekretär)" in str(ours["DESCRIPTION"]), "people in DESCRIPTION")

    # HTTP: tokens, conditional GET, HEAD
    status, h, _ = request(http_addr, "/agency.ics")
    check(status == 401 and "bearer" in h.get("www-authenticate", "").lower(),
          f"no token: {status}")
    status, _, _ = request(http_addr, "/agency.ics",
                           headers={"Authorization": "Bearer wrong-0000000000000"})
    check(status == 401, f"wrong bearer: {status}")
    status, _, _ = request(http_addr, "/wrong-0000000000000000/agency.ics")
    check(status == 404, f"wrong secret URL: {status}")
    status, _, _ = request(http_addr, "/other.ics", headers={"Authorization": f"Bearer {TOKEN}"})
    check(status == 404, f"another path: {status}")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    status, h, body = request(http_addr, "/agency.ics", headers=auth)
    check(status == 200 and body == read(out), f"bearer GET: {status}")
    check(h["content-type"] == "text/calendar; charset=utf-8", f"type {h['content-type']}")
    etag, modified = h["etag"], h["last-modified"]
    status, h, body = request(http_addr, f"/{OTHER}/agency.ics")
    check(status == 200 and h["etag"] == etag and body == read(out), "secret URL GET")
    status, h, body = request(http_addr, "/agency.ics",
                              headers=dict(auth, **{"If-None-Match": etag}))
    check(status == 304 and body == b"" and h["etag"] == etag, f"If-None-Match: {status}")
    status, _, body = request(http_addr, "/agency.ics",
                              headers=dict(auth, **{"If-Modified-Since": modified}))
    check(status == 304 and body == b"", f"If-Modified-Since: {status}")
    status, h, body = request(http_addr, "/agency.ics", "HEAD", auth)
    check(status == 200 and body == b"" and int(h["content-length"]) == len(read(out))
          and h["etag"] == etag, f"HEAD: {status} {h}")

    # a cancellation: STATUS:CANCELLED, a higher SEQUENCE, a new ETag
    victim = "2016-01-global-counter-nuclear-smuggling-conference"
    before = int(parsed[uid(stream, victim)]["SEQUENCE"])
    store(world.db, "cancel-event", victim, "--reason", "Postponed; new date to follow")
    wait_until(lambda: b"STATUS:CANCELLED" in read(out), 15, "the cancellation")
    v = vevents(read(out))[uid(stream, victim)]
    lv = libical(out)[1][uid(stream, victim)]
    check(str(v["STATUS"]) == "CANCELLED" and lv["status"] == "CANCELLED", "CANCELLED")
    check(int(v["SEQUENCE"]) > before and lv["sequence"] > before, "a higher SEQUENCE")
    check("Postponed; new date to follow" in str(v["DESCRIPTION"]), "the reason")
    status, h, _ = request(http_addr, "/agency.ics", headers=dict(auth, **{"If-None-Match": etag}))
    check(status == 200 and h["etag"] != etag, f"changed: the old ETag gets 200, got {status}")

    # a deletion removes the event
    store(world.db, "delete-event", UTF8_ID)
    wait_until(lambda: uid(stream, UTF8_ID) not in vevents(read(out)), 15, "the deletion")
    check(len(libical(out)[1]) == n - 1, "one event less")

    # a burst is coalesced: 3,000 changes cost a few rewrites
    rewrites = metric(metrics_addr, "herald_sub_feed_rewrites_total")
    lines = "".join(json.dumps({
        "type": "event", "id": f"burst-{i:05d}", "kind": "course", "title": f"Course {i}",
        "start_date": "2027-03-01", "end_date": "2027-03-02", "city": "Lyon",
        "country": "FR"}) + "\n" for i in range(3000))
    store(world.db, "import", "-", stdin=lines)
    wait_until(lambda: read(out).count(b"BEGIN:VEVENT") == n - 1 + 3000, 60,
               "the burst in the calendar")
    time.sleep(1.2)
    done = metric(metrics_addr, "herald_sub_feed_rewrites_total") - rewrites
    check(1 <= done <= 6, f"3,000 changes took {done} rewrites")
    check(metric(metrics_addr, "herald_sub_feed_items") == n - 1 + 3000, "the items gauge")
    check(metric(metrics_addr, "herald_sub_feed_http_not_modified_total") == 2, "304s counted")

    # a restart resumes: a change made while it was down arrives, without a new snapshot
    check(sub.stop() == 0, "stopped by SIGTERM: exit 0")
    store(world.db, "put-event", "--id", "while-down", "--kind", "course", "--title",
          "Added while down", "--start-date", "2027-01-10", "--end-date", "2027-01-10",
          "--city", "Lyon", "--country", "FR")
    sub = world.sub("cal", "calendar", out, "--http", http_addr, "--http-tokens", world.tokens)
    check(sub.logged("sub.resumed"), "resumed from the state file")
    wait_until(lambda: uid(stream, "while-down") in vevents(read(out)), 15,
               "the change made while down")
    v = vevents(read(out))[uid(stream, "while-down")]
    check(v["DTEND"].dt == date(2027, 1, 11), "a one-day event ends the next day")
    check(not [e for e in sub.logged("sub.replay_started") if e.get("mode") == "snapshot"],
          "no snapshot after a restart")
    check(sub.stop() == 0, "calendar stopped")


def case_atom(world):
    out = world.path("feed.atom")
    http_addr = f"127.0.0.1:{free_port()}"
    sub = world.sub("atom", "atom", out, "--feed-name", "INTERPOL press office", "--http",
                    http_addr, "--feed-url", f"http://{http_addr}/feed.atom")
    catalogue = world.export()
    records = len(catalogue["events"]) + len(catalogue["press_releases"])
    wait_until(lambda: read(out).count(b"<entry>") == records, 15, "an entry per record")
    store(world.db, "add-press-release", "--id", "pr-feeds", "--title", "Herald speaks Atom",
          "--published-on", "2027-02-01", "--url", "https://example.org/press/atom?a=1&b=2",
          "--summary", "Feeds <for> everyone & all")
    store(world.db, "put-event", "--id", "atom-ev", "--kind", "course", "--title", "Atom course",
          "--start-date", "2027-02-03", "--end-date", "2027-02-04", "--city", "Lyon",
          "--country", "FR")
    store(world.db, "cancel-event", "atom-ev")
    store(world.db, "delete-event", "atom-ev")
    wait_until(lambda: read(out).count(b"<entry>") == records + 4, 15, "four more entries")
    status, h, body = request(http_addr, "/feed.atom")
    check(status == 200 and h["content-type"] == "application/atom+xml", f"GET: {status} {h}")
    check(body == read(out), "the served document is the file")
    status, _, _ = request(http_addr, "/feed.atom", headers={"If-None-Match": h["etag"]})
    check(status == 304, f"conditional GET: {status}")
    feed = feedparser.parse(body)
    check(not feed.bozo, f"feedparser: {feed.get('bozo_exception')}")
    check(feed.feed.title == "INTERPOL press office", f"title {feed.feed.title}")
    entries = feed.entries
    check(len(entries) == records + 4, f"every entry present: {len(entries)}")
    check(len({e.id for e in entries}) == len(entries), "entry ids unique")
    check(all(e.id.startswith("tag:herald,2026:stream/") for e in entries), "tag IRIs")
    check([e.updated_parsed for e in entries] == sorted((e.updated_parsed for e in entries),
                                                        reverse=True), "newest first")
    titles = [e.title for e in entries[:4]]
    check(titles == ["Removed: Atom course", "Cancelled: Atom course", "New: Atom course",
                     "Herald speaks Atom"], f"titles {titles}")
    press = entries[3]
    check(press.link == "https://example.org/press/atom?a=1&b=2", f"link {press.link}")
    check("Feeds <for> everyone & all" in press.summary, f"summary {press.summary}")
    first_ids = [e.id for e in entries]
    check(sub.stop() == 0, "atom stopped")
    # a restart keeps the entries and their ids
    sub = world.sub("atom", "atom", out, "--atom-entries", "3")
    store(world.db, "put-event", "--id", "atom-ev-2", "--kind", "course", "--title",
          "Second course", "--start-date", "2027-02-03", "--end-date", "2027-02-04", "--city",
          "Lyon", "--country", "FR")
    wait_until(lambda: b"Second course" in read(out), 15, "the entry after the restart")
    feed = feedparser.parse(read(out))
    check(not feed.bozo and len(feed.entries) == 3, f"pruned to 3: {len(feed.entries)}")
    check([e.id for e in feed.entries[1:]] == first_ids[:2], "ids stable across restarts")
    check(sub.stop() == 0, "atom stopped")


def case_options(world):
    def usage(*extra):
        r = subprocess.run([os.path.join(BIN, "herald-sub"), "--connect", world.live] + list(extra),
                           capture_output=True, text=True, timeout=30)
        return r.returncode, r.stderr
    state = world.path("opt.state")
    rc, err = usage("--sink", "calendar", "--state", state)
    check(rc == 2 and "--feed-out" in err, f"no --feed-out: {rc} {err}")
    rc, err = usage("--sink", "atom", "--feed-out", world.path("x.atom"))
    check(rc == 2 and "--state" in err, f"no --state: {rc} {err}")
    rc, err = usage("--sink", "atom", "--state", state, "--feed-out", world.path("x.atom"),
                    "--atom-entries", "0")
    check(rc == 2 and "--atom-entries" in err, f"bad entries: {rc} {err}")
    port = free_port()
    rc, err = usage("--sink", "calendar", "--state", state, "--feed-out", world.path("x.ics"),
                    "--http", f"0.0.0.0:{port}")
    check(rc == 2 and "--http-tokens" in err and "--http-insecure" in err,
          f"beyond loopback without tokens: {rc} {err}")
    # a public feed, by the operator's choice
    out = world.path("public.ics")
    sub = world.sub("public", "calendar", out, "--http", f"0.0.0.0:{port}", "--http-insecure",
                    "1")
    wait_until(lambda: b"BEGIN:VEVENT" in read(out), 15, "the public calendar")
    status, _, body = wait_until(lambda: (lambda r: r if r[0] == 200 else None)(
        request(f"127.0.0.1:{port}", "/public.ics")), 10, "the public feed served")
    check(body.startswith(b"BEGIN:VCALENDAR"), "public GET")
    check(sub.stop() == 0, "public stopped")


CASES = [("atom", case_atom), ("calendar", case_calendar), ("options", case_options)]


def main():
    wanted = set(sys.argv[1:])
    work = tempfile.mkdtemp(prefix="herald-feeds-")
    ok = True
    with Procs() as procs:
        world = World(work, procs)
        for name, fn in CASES:
            if wanted and name not in wanted:
                continue
            started = time.monotonic()
            try:
                fn(world)
                print(f"ok   {name} ({time.monotonic() - started:.1f}s)", file=sys.stderr)
            except SystemExit:
                ok = False
                print(f"FAIL {name}", file=sys.stderr)
                break
            except Exception:
                traceback.print_exc()
                ok = False
                print(f"FAIL {name}", file=sys.stderr)
                break
    if ok and not os.environ.get("HERALD_KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    else:
        print("  kept " + work, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
