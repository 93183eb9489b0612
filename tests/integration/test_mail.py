"""test_mail.py -- herald-sub --sink mail against a real SMTP server on loopback
(smtp_sink.py, aiosmtpd): digest content and headers, schedules, retries while the server is
down, a crash between queueing and sending, a refused recipient and its dead letter.

One store and one publisher serve every case; each case has its own subscriber, state file and
SMTP server. Run one case: test_mail.py content; HERALD_KEEP=1 keeps the directory."""
import base64
import email.parser
import email.policy
import json
import os
import re
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, Helper, Procs, PubWorld, check, dead_letters, fail,  # noqa: E402
                     run_cases, store, wait_until)

FROM = "herald@example.org"


class Smtp(Helper):
    """smtp_sink.py on a port of its own; messages parsed from its directory. extra: more
    arguments for smtp_sink.py (--tls, --cert, --key, --auth); scheme: of url."""

    def __init__(self, workdir, name, port=None, extra=(), scheme="smtp"):
        super().__init__(workdir, name, port)
        self.extra = list(extra)
        self.scheme = scheme

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self):
        return self.launch("smtp_sink.py", self.extra)

    def control(self, **kw):
        self.write_control(kw)

    def messages(self):
        """[(envelope, raw bytes, parsed message)] in the order received."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".eml"):
                base = os.path.join(self.dir, name[:-4])
                with open(base + ".eml", "rb") as f:
                    raw = f.read()
                with open(base + ".json") as f:
                    env = json.load(f)
                msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
                out.append((env, raw, msg))
        return out


def s_old_course(db):
    store(db, "init")
    store(db, "add-event", "--id", "old-1", "--kind", "course", "--title", "An old course",
          "--start-date", "2026-02-01", "--end-date", "2026-02-02", "--city", "Lyon",
          "--country", "FR")


class World(PubWorld):
    """The shared store (an old course in it) and publisher, and what every case starts."""

    def __init__(self, workdir, procs):
        super().__init__(workdir, procs, prepare=s_old_course)

    def smtp(self, name, port=None, **kw):
        return self.helper(Smtp(self.w, name, port, **kw))

    def sub(self, name, state, smtp, *extra, env=None, wait=True):
        return self.start_sub(name, state, ["--sink", "mail", "--smtp", smtp.url, "--mail-from",
                                            FROM] + list(extra), env=env, wait=wait)


def stream_of(sub):
    return sub.logged("sub.following")[0]["stream_id"]


def parts(msg):
    check(msg.get_content_type() == "multipart/alternative",
          f"a multipart/alternative message, not {msg.get_content_type()}")
    ps = list(msg.iter_parts())
    check([p.get_content_type() for p in ps] == ["text/plain", "text/html"],
          f"plain first, html last: {[p.get_content_type() for p in ps]}")
    for p in ps:
        check(p.get_content_charset() == "utf-8", f"charset utf-8: {p['Content-Type']}")
    return ps[0].get_content(), ps[1].get_content()


def check_raw(raw):
    check(b"\n" not in raw.replace(b"\r\n", b""), "every line ends in CRLF")
    check(max(len(line) for line in raw.split(b"\r\n")) <= 998, "no line over 998 bytes")


def check_headers(msg, raw, rcpt):
    for h in ["Date", "From", "To", "Message-ID", "Subject", "List-Id", "List-Unsubscribe",
              "Auto-Submitted", "MIME-Version"]:
        check(msg[h] is not None, f"header {h} present")
    check(msg["To"] == rcpt, f"To: {msg['To']}")
    check(FROM in msg["From"], f"From: {msg['From']}")
    check(msg["Auto-Submitted"] == "auto-generated", "Auto-Submitted")
    check(msg["List-Unsubscribe"] == f"<mailto:{FROM}?subject=unsubscribe>",
          f"List-Unsubscribe: {msg['List-Unsubscribe']}")
    check(re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}",
                       str(msg["Date"])), f"an RFC 5322 date: {msg['Date']}")
    check(msg["List-Id"].endswith(">") and "<herald." in msg["List-Id"],
          f"List-Id {msg['List-Id']}")
    check_raw(raw)


def section(text, heading):
    """The lines of the body under heading, up to the next heading."""
    nxt = r"(?=\n[A-Z][^\n]* \(\d+\)\r?\n-|\n-- )"
    m = re.search(re.escape(heading) + r" \(\d+\)\r?\n-+\r?\n(.*?)" + nxt, text, re.S)
    return m.group(1) if m else ""


def case_content(world):
    """One digest (--digest-max 8) holds exactly the 8 changes, grouped, escaped, UTF-8."""
    smtp = world.smtp("smtp-content")
    st = os.path.join(world.w, "content.state")
    sub = world.sub("sub-content", st, smtp, "--mail-to", "ops@example.org", "--mail-to",
                    "duty@example.org", "--digest-every", "1h", "--digest-max", "8")
    first = world.head() + 1
    world.event("ev-new", "Meeting with Jürgen Stock <script>alert(1)</script> & co",
                "--summary", "Line one\nLine two", "--url", "https://example.org/a?b=1&c=2",
                "--person", "Jürgen Stock|INTERPOL Secretary General",
                "--person", "Jorge Fernández Díaz|Ministro del Interior de España")
    world.event("ev-chg", "A working group", kind="working-group-meeting")
    world.event("ev-chg", "A working group", kind="working-group-meeting", end="2026-12-05")
    world.event("ev-cxl", "A symposium", kind="symposium")
    store(world.db, "cancel-event", "ev-cxl", "--reason", "venue closed")
    store(world.db, "add-press-release", "--id", "pr-1", "--title", "Press release über Lyon",
          "--published-on", "2026-12-02", "--event-id", "ev-new", "--summary", "Said in Lyon")
    store(world.db, "delete-event", "old-1")
    store(world.db, "add-press-release", "--id", "pr-2", "--title", "Second release",
          "--published-on", "2026-12-03")
    last = world.head()
    check(last - first + 1 == 8, "8 changes committed")
    msgs = wait_until(lambda: (lambda m: m if len(m) >= 2 else None)(smtp.messages()), 15,
                      "the digest to both recipients")
    time.sleep(0.5)
    msgs = smtp.messages()
    check(len(msgs) == 2, f"one digest per recipient, got {len(msgs)}")
    check(sorted(m[0]["rcpt_tos"][0] for m in msgs) == ["duty@example.org", "ops@example.org"],
          "one transaction per recipient")
    stream = stream_of(sub)
    want_id = f"<herald.{stream}.{first}-{last}@"
    for env, raw, msg in msgs:
        check_headers(msg, raw, env["rcpt_tos"][0])
        check(msg["Message-ID"].startswith(want_id), f"Message-ID {msg['Message-ID']}")
        check(msg["Subject"] == "Herald: 3 new events, 1 changed, 1 cancelled, 1 deleted, "
              "2 press releases", f"Subject: {msg['Subject']}")
        text, html = parts(msg)
        check("Jürgen Stock" in text and "Fernández Díaz" in text, "UTF-8 names in the text")
        check("Jürgen Stock" in html and "Fernández Díaz" in html, "UTF-8 names in the html")
        check("&#" not in html.replace("&#39;", ""), "UTF-8 left as it is in the html")
        check("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html, "title escaped in html")
        check("<script>" not in html, "no raw <script> in the html")
        check("https://example.org/a?b=1&amp;c=2" in html, "the link escaped in the html")
        check("<script>alert(1)</script>" in text, "the plain text is plain")
        new, chg = section(text, "New events"), section(text, "Changed events")
        cxl, dele = section(text, "Cancelled events"), section(text, "Deleted (records removed)")
        press = section(text, "Press releases")
        check(all(t in new for t in ["Meeting with Jürgen", "A working group", "A symposium"]),
              f"new events: {new!r}")
        check("A working group" in chg and "2026-12-05" in chg and "Meeting" not in chg,
              f"changed: {chg!r}")
        check("A symposium" in cxl and "venue closed" in cxl, f"cancelled: {cxl!r}")
        check("old-1" in dele and "symposium" not in dele, f"deleted: {dele!r}")
        check("Press release über Lyon" in press and "Second release" in press,
              f"press: {press!r}")
        check("2026-12-01 to 2026-12-03 | Lyon, FR | conference" in new, "dates, city, kind")
        check("Line one" in new and "Line two" in new and "example.org/a" in new, "summary, url")
        check(text.index("New events") < text.index("Changed events") <
              text.index("Cancelled events") < text.index("Deleted") <
              text.index("Press releases"), "groups in order")
        check(sum(text.count(f"seq {s})") for s in range(first, last + 1)) == 8,
              "each change once")
    wait_until(lambda: sub.logged("sub.mail_sent"), 5, "sub.mail_sent")
    sent = sub.logged("sub.mail_sent")[0]
    check(sent["recipients"] == 2 and sent["items"] == 8 and sent["first_seq"] == first and
          sent["last_seq"] == last and sent["message_id"] == msgs[0][2]["Message-ID"],
          f"sub.mail_sent: {sent}")
    check(sub.stop() == 0, "herald-sub exits 0 on SIGTERM")


def case_every_zero(world):
    """--digest-every 0: one mail per announcement; UTF-8 subjects as RFC 2047 words."""
    smtp = world.smtp("smtp-zero")
    st = os.path.join(world.w, "zero.state")
    with open(os.path.join(world.w, "rcpts.txt"), "w") as f:
        f.write("# the duty desk\nzero@example.org  # primary\n\n")
    sub = world.sub("sub-zero", st, smtp, "--mail-to-file", os.path.join(world.w, "rcpts.txt"),
                    "--digest-every", "0")
    long_title = ("Konferenz über Grenzkriminalität mit Jürgen Stock und Jorge Fernández Díaz "
                  "in Zürich, Genève und Málaga — Ärger, Öl, Übermut, ½ ★")
    titles = ["Treffen mit Jürgen Stock", long_title, "Plain ascii title"]
    for i, t in enumerate(titles):
        world.event(f"zero-{i}", t)
    msgs = wait_until(lambda: (lambda m: m if len(m) >= 3 else None)(smtp.messages()), 15,
                      "three mails")
    time.sleep(0.3)
    msgs = smtp.messages()
    check(len(msgs) == 3, f"one mail per announcement: {len(msgs)}")
    for (env, raw, msg), t in zip(msgs, titles):
        check_headers(msg, raw, "zero@example.org")
        check(msg["Subject"] == f"Herald: 1 new event: {t}", f"Subject: {msg['Subject']!r}")
        head = raw.split(b"\r\n\r\n")[0].decode("ascii")
        subj = re.search(r"^Subject: (.*?)\r\n(?=\S)", head + "\r\nX", re.M | re.S).group(1)
        if t.isascii():
            check("=?" not in subj, "an ASCII subject stays as it is")
            continue
        words = re.findall(r"=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=", subj)
        check(words, f"RFC 2047 words: {subj!r}")
        for w_ in re.findall(r"=\?UTF-8\?B\?[A-Za-z0-9+/=]*\?=", subj):
            check(len(w_) <= 75, f"an encoded word of {len(w_)} chars")
        for w_ in words:
            base64.b64decode(w_).decode("utf-8")  # each word whole characters
        text, html = parts(msg)
        check(t in text and t in html, "title in both parts")
    check(sub.stop() == 0, "herald-sub exits 0")


def case_schedule(world):
    """--digest-every 1s (settings from the environment): a digest per tick with news, none
    when idle."""
    smtp = world.smtp("smtp-every")
    st = os.path.join(world.w, "every.state")
    env = {"HERALD_MAIL_TO": "a@example.org,b@example.org", "HERALD_DIGEST_EVERY": "1s",
           "HERALD_LIST_ID": "ops.example.org"}
    sub = world.sub("sub-every", st, smtp, env=env)
    world.event("tick-1", "First tick")
    wait_until(lambda: len(smtp.messages()) >= 2, 10, "the first digest")
    world.event("tick-2", "Second tick")
    wait_until(lambda: len(smtp.messages()) >= 4, 10, "the second digest")
    msgs = smtp.messages()
    check(msgs[0][2]["List-Id"] == "Herald <ops.example.org>", f"List-Id {msgs[0][2]['List-Id']}")
    check({m[0]["rcpt_tos"][0] for m in msgs} == {"a@example.org", "b@example.org"},
          "HERALD_MAIL_TO")
    time.sleep(3.2)  # three ticks with nothing new
    check(len(smtp.messages()) == 4, f"no mail when idle: {len(smtp.messages())}")
    check(len(sub.logged("sub.mail_sent")) == 2, "two digests logged")
    check(sub.stop() == 0, "herald-sub exits 0")


def case_digest_at(world):
    """--digest-at HH:MM in the process's time zone: a time zone whose minute starts a few
    seconds from now (TZ with an offset in seconds) makes the daily moment come quickly."""
    smtp = world.smtp("smtp-at")
    st = os.path.join(world.w, "at.state")
    target = int(time.time()) + 4
    ss = target % 60
    hhmm = time.strftime("%H:%M", time.gmtime(target - ss))
    sub = world.sub("sub-at", st, smtp, "--mail-to", "at@example.org", "--digest-at", hhmm,
                    env={"TZ": f"HRL+0:00:{ss:02d}"})
    world.event("at-1", "Waits for the daily digest")
    while time.time() < target - 0.3:
        check(not smtp.messages(), "no mail before the --digest-at moment")
        time.sleep(0.05)
    wait_until(lambda: smtp.messages(), 5, "the --digest-at digest")
    check(time.time() >= target - 0.3, "sent at the moment")
    msgs = smtp.messages()
    check(len(msgs) == 1 and "Waits for the daily digest" in parts(msgs[0][2])[0],
          "the waiting item")
    check(sub.stop() == 0, "herald-sub exits 0")


def case_server_down(world):
    """The server down for a while: retried with backoff (logged as a connection failure, not
    a recipient's), delivered once when it is back."""
    smtp = world.smtp("smtp-down")
    st = os.path.join(world.w, "down.state")
    sub = world.sub("sub-down", st, smtp, "--mail-to", "down@example.org",
                    "--digest-every", "1s")
    smtp.stop()
    world.event("down-1", "While the server is down")
    world.event("down-2", "Still down")
    wait_until(lambda: len(sub.logged("sub.mail_retry")) >= 2, 15, "two retries")
    r = sub.logged("sub.mail_retry")
    check(r[0]["attempt"] == 1 and r[1]["attempt"] == 2 and 1000 <= r[0]["next_in_ms"] <= 1250
          and 2000 <= r[1]["next_in_ms"] <= 2500, f"backoff: {r}")
    check(all("SMTP connection failed" in e["error"] and "down@example.org" not in e["error"]
              for e in r), f"a connection failure, not the recipient's: {r}")
    world.event("down-3", "Queued meanwhile")
    smtp2 = world.smtp("smtp-down", port=smtp.port)
    wait_until(lambda: smtp2.messages(), 15, "delivery after the server came back")
    wait_until(lambda: len(sub.logged("sub.mail_sent")) >= 1 and
               sum(e["items"] for e in sub.logged("sub.mail_sent")) >= 3, 10, "all three items")
    time.sleep(1.5)
    msgs = smtp2.messages()
    text = "".join(parts(m[2])[0] for m in msgs)
    for t in ["While the server is down", "Still down", "Queued meanwhile"]:
        check(text.count(f"* {t}\r\n") == 1, f"{t!r} delivered exactly once")
    check(sub.stop() == 0, "herald-sub exits 0")


def queue_rows(state):
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
        return db.execute("SELECT COUNT(*) FROM mail_queue").fetchone()[0]


def case_crash(world):
    """kill -9 after queueing, before sending: delivered once after the restart; and kill -9
    during the retries of a claimed digest: re-sent with the same Message-ID."""
    smtp = world.smtp("smtp-crash")
    st = os.path.join(world.w, "crash.state")
    sub = world.sub("sub-crash", st, smtp, "--mail-to", "c@example.org", "--digest-every", "1h")
    first = world.head() + 1
    for i in range(3):
        world.event(f"crash-{i}", f"Crash course {i}")
    wait_until(lambda: queue_rows(st) == 3, 10, "three items queued")
    stream = stream_of(sub)
    sub.kill9()
    world.event("crash-3", "Committed while the subscriber is dead")
    sub2 = world.sub("sub-crash2", st, smtp, "--mail-to", "c@example.org", "--digest-every",
                     "1h", "--digest-max", "4")
    msgs = wait_until(lambda: smtp.messages(), 15, "the digest after the restart")
    time.sleep(0.5)
    msgs = smtp.messages()
    check(len(msgs) == 1, f"one digest: {len(msgs)}")
    text, _ = parts(msgs[0][2])
    for i in range(3):
        check(text.count(f"* Crash course {i}\r\n") == 1, f"crash-{i} once")
    check("Committed while the subscriber is dead" in text, "the change made while down")
    check(msgs[0][2]["Message-ID"].startswith(f"<herald.{stream}.{first}-{first + 3}@"),
          f"Message-ID {msgs[0][2]['Message-ID']}")
    check(sub2.stop() == 0, "herald-sub exits 0")

    # A claimed digest (outbox) that the server refuses for now, then a crash.
    smtp.control(tempfail=True)
    sub3 = world.sub("sub-crash3", st, smtp, "--mail-to", "c@example.org", "--digest-every",
                     "0")
    world.event("crash-4", "Claimed then crashed")
    wait_until(lambda: sub3.logged("sub.mail_retry"), 10, "a temporary failure")
    claimed = sub3.logged("sub.mail_retry")[0]["message_id"]
    sub3.kill9()
    smtp.control()
    sub4 = world.sub("sub-crash4", st, smtp, "--mail-to", "c@example.org", "--digest-every",
                     "1h")
    wait_until(lambda: len(smtp.messages()) >= 2, 15, "the claimed digest re-sent")
    time.sleep(0.5)
    msgs = smtp.messages()
    check(len(msgs) == 2, f"sent once: {len(msgs)}")
    check(msgs[1][2]["Message-ID"] == claimed, f"same Message-ID {claimed}")
    check("Claimed then crashed" in parts(msgs[1][2])[0], "the claimed item")
    check(sub4.stop() == 0, "herald-sub exits 0")


def dead_list(st):
    return dead_letters("mail-dead", st)


def case_dead_letter(world):
    """A 550 for one recipient: dead-lettered and listed, the other delivered; mail-dead retry
    delivers it once the server accepts it."""
    smtp = world.smtp("smtp-dead")
    smtp.control(reject=["gone@example.org"])
    st = os.path.join(world.w, "dead.state")
    sub = world.sub("sub-dead", st, smtp, "--mail-to", "ok@example.org", "--mail-to",
                    "gone@example.org", "--digest-every", "0")
    world.event("dead-1", "Refused by one")
    wait_until(lambda: sub.logged("sub.mail_dead") and sub.logged("sub.mail_sent"), 15,
               "a dead letter and a delivery")
    d = sub.logged("sub.mail_dead")[0]
    check(d["recipient"] == "gone@example.org" and d["code"] == 550, f"sub.mail_dead {d}")
    sent = sub.logged("sub.mail_sent")[0]
    check(sent["recipients"] == 1 and sent["dead"] == 1, f"sub.mail_sent {sent}")
    msgs = smtp.messages()
    check([m[0]["rcpt_tos"] for m in msgs] == [["ok@example.org"]], "the other delivered")
    check(queue_rows(st) == 0, "the item left the queue")
    check(sub.stop() == 0, "herald-sub exits 0")
    dead = dead_list(st)
    check(len(dead) == 1 and dead[0]["recipient"] == "gone@example.org" and
          dead[0]["code"] == 550 and dead[0]["items"] == 1 and
          dead[0]["message_id"] == msgs[0][2]["Message-ID"], f"mail-dead list: {dead}")
    retry = [os.path.join(BIN, "herald-sub"), "mail-dead", "retry", "--state", st, "--smtp",
             smtp.url, "--mail-from", FROM]
    r = subprocess.run(retry, capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "sub.mail_dead" in r.stderr, f"still refused: {r.stderr}")
    check(len(dead_list(st)) == 1, "still listed")
    smtp.control()
    r = subprocess.run(retry, capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"mail-dead retry exits 0: {r.stderr}")
    msgs = smtp.messages()
    check(len(msgs) == 2 and msgs[1][0]["rcpt_tos"] == ["gone@example.org"],
          "delivered to the refused recipient")
    check(msgs[1][2]["Message-ID"] == msgs[0][2]["Message-ID"], "with the same Message-ID")
    check("Refused by one" in parts(msgs[1][2])[0], "the same digest")
    check(dead_list(st) == [], "the list is empty")


def outbox_rows(state):
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
        boxes = db.execute("SELECT message_id, attempts, sent, dead FROM mail_outbox").fetchall()
        rcpts = db.execute("SELECT recipient FROM mail_outbox_rcpt").fetchall()
        return boxes, [r[0] for r in rcpts]


def case_partial(world):
    """A digest that reaches its recipients over several attempts: sub.mail_sent counts every
    recipient that received it (and those dead-lettered), as the outbox row did, not only
    the last attempt's."""
    smtp = world.smtp("smtp-partial")
    smtp.control(tempfail_for=["late@example.org"], reject=["gone@example.org"])
    st = os.path.join(world.w, "partial.state")
    sub = world.sub("sub-partial", st, smtp, "--mail-to", "early@example.org", "--mail-to",
                    "late@example.org", "--mail-to", "gone@example.org", "--digest-every", "0")
    world.event("partial-1", "Reaches its readers in two attempts")
    wait_until(lambda: sub.logged("sub.mail_retry"), 10, "a retry for late@")
    check("late@example.org" in sub.logged("sub.mail_retry")[0]["error"],
          f"the retry names the recipient: {sub.logged('sub.mail_retry')[0]}")
    boxes, rcpts = outbox_rows(st)
    check(len(boxes) == 1 and boxes[0][1:] == (1, 1, 1) and rcpts == ["late@example.org"],
          f"outbox after the first attempt: {boxes} {rcpts}")
    smtp.control(reject=["gone@example.org"])
    wait_until(lambda: sub.logged("sub.mail_sent"), 10, "the digest done")
    sent = sub.logged("sub.mail_sent")
    check(len(sent) == 1 and sent[0]["recipients"] == 2 and sent[0]["dead"] == 1 and
          sent[0]["attempts"] == 2 and sent[0]["message_id"] == boxes[0][0],
          f"sub.mail_sent counts the whole digest: {sent}")
    check(sorted(m[0]["rcpt_tos"][0] for m in smtp.messages()) ==
          ["early@example.org", "late@example.org"], "each received it once")
    check(outbox_rows(st) == ([], []) and queue_rows(st) == 0, "the digest left the outbox")
    check(sub.stop() == 0, "herald-sub exits 0")


def case_usage(world):
    """Usage errors exit 2 and say what; the password never on the command line."""
    sub = os.path.join(BIN, "herald-sub")
    base = [sub, "--connect", world.live, "--sink", "mail", "--smtp", "smtp://127.0.0.1:1",
            "--mail-from", FROM, "--mail-to", "x@example.org"]
    st = os.path.join(world.w, "usage.state")
    pw = os.path.join(world.w, "pw")
    with open(pw, "w") as f:
        f.write("pw-do-not-print\n")
    for args, env, word in [
        (base, {}, "--state"),
        (base + ["--state", st, "--smtp-password", "x"], {}, "HERALD_SMTP_PASSWORD"),
        (base + ["--state", st], {"HERALD_SMTP_PASSWORD": "x", "HERALD_SMTP_PASSWORD_FILE": pw},
         "HERALD_SMTP_PASSWORD_FILE"),
        (base + ["--state", st, "--digest-every", "5x"], {}, "--digest-every"),
        (base + ["--state", st, "--digest-at", "25:00"], {}, "--digest-at"),
        (base + ["--state", st, "--smtp-starttls", "maybe"], {}, "--smtp-starttls"),
        (base + ["--state", st, "--smtp-ca-file", pw + ".missing"], {}, "--smtp-ca-file"),
        (base + ["--state", st], {"HERALD_SMTP_CA_FILE": pw + ".missing"}, "--smtp-ca-file"),
        (base + ["--state", st, "--mail-to", "not an address"], {}, "--mail-to"),
        ([sub, "mail-dead", "list"], {}, "--state"),
    ]:
        full = dict(os.environ)
        full.update(env)
        r = subprocess.run(args, capture_output=True, text=True, timeout=10, env=full)
        check(r.returncode == 2 and word in r.stderr, f"{args[3:]} {env}: {r.returncode} "
              f"{r.stderr!r}")
        check("pw-do-not-print" not in r.stderr, "the password is never printed")


CASES = [case_usage, case_content, case_every_zero, case_schedule, case_digest_at,
         case_server_down, case_crash, case_dead_letter, case_partial]


def run(cases, secrets=(b"secret",)):
    """The cases in one World (harness.run_cases); none of secrets in any log."""
    run_cases("herald-mail-", World, cases, secrets)


if __name__ == "__main__":
    run(CASES)
