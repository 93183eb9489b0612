#!/usr/bin/python3
"""test_misuse.py -- the operators' mistakes, one table: each case runs a program the wrong
way and asserts its exit status (2: usage or configuration, 1: runtime failure, 0: fine),
the words of its message, and that no file in the work directory was created or changed.
Then the cases that need a setting of their own: a port taken, two publishers on one store,
readers as an unprivileged user on a read-only store.

HERALD_BIN holds the programs. Exits non-zero with a message on failure.
"""
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("HERALD_BIN", "build/bin")
STORE = os.path.join(BIN, "herald-store")
PUB = os.path.join(BIN, "herald-pub")
KEYGEN = os.path.join(BIN, "herald-keygen")
SUB = os.path.join(BIN, "herald-sub")
FAILURES = []


def check(cond, msg):
    if not cond:
        FAILURES.append(msg)
        print("FAIL: " + msg, file=sys.stderr)


def tree(root):
    """Every file under root: its mode, size and digest (what a misuse must not touch). An
    empty -wal and its -shm are SQLite's bookkeeping, made or removed by whichever connection
    closes last (a reader cannot checkpoint), not data: they are left out; a -wal that holds
    anything counts."""
    out = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            st = os.lstat(path)
            if name.endswith("-shm") or (name.endswith("-wal") and st.st_size == 0):
                continue
            digest = ""
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            out[os.path.relpath(path, root)] = (st.st_mode, st.st_size, digest)
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# (name, argv, extra environment, exit status, words the message holds, words it must not)
P1, P2 = free_port(), free_port()
LOOP = ["--bind", f"tcp://127.0.0.1:{P1}", "--replay-bind", f"tcp://127.0.0.1:{P2}"]
EVENT = ["add-event", "--id", "x", "--kind", "course", "--title", "T", "--city", "Lyon",
         "--country", "FR", "--end-date", "2026-03-01"]
SUBC = ["--connect", f"tcp://127.0.0.1:{P1}", "--sink", "log"]
MAILC = ["--connect", f"tcp://127.0.0.1:{P1}", "--sink", "mail", "--state", "m.state",
         "--mail-from", "herald@example.org", "--mail-to", "a@example.org"]
CASES = [
    # herald-store: flags, fields, files
    ("store field date", [STORE, "--db", "s.db"] + EVENT + ["--start-date", "2026-02-30"], {},
     2, ["--start-date", "not a date"], []),
    ("store field country", [STORE, "--db", "s.db", "add-event", "--id", "x", "--kind", "course",
                             "--title", "T", "--start-date", "2026-03-01", "--end-date",
                             "2026-03-01", "--city", "L", "--country", "fr"], {},
     2, ["--country", "two upper-case"], []),
    ("store db directory", [STORE, "--db", "adir", "head"], {}, 2, ["is a directory"],
     ["disk I/O"]),
    ("store db directory env", [STORE, "head"], {"HERALD_DB": "adir"}, 2, ["is a directory"],
     []),
    ("store db missing", [STORE, "--db", "nosuch.db", "export"], {}, 2,
     ["nosuch.db", "No such file", "init"], []),
    ("store db foreign", [STORE, "--db", "notes.txt", "head"], {}, 2, ["notes.txt", "not a", "database"],
     ["pragmas"]),
    ("store db foreign write", [STORE, "--db", "notes.txt", "cancel-event", "x"], {}, 2,
     ["notes.txt", "not a", "database"], ["pragmas"]),
    ("store init exists", [STORE, "--db", "s.db", "init"], {}, 2, ["already"], []),
    ("store unknown command", [STORE, "--db", "s.db", "frobnicate"], {}, 2,
     ["unknown command"], []),
    ("store abbreviated flag", [STORE, "--d", "s.db", "head"], {}, 2, ["--d"], []),
    ("store bad since", [STORE, "--db", "s.db", "changes", "--since", "-3"], {}, 2,
     ["--since"], []),
    ("store follow and limit", [STORE, "--db", "s.db", "changes", "--follow", "--limit", "3"],
     {}, 2, ["--follow", "--limit"], []),
    ("store list bad date", [STORE, "--db", "s.db", "list", "--from-date", "2026-13-01"], {},
     2, ["--from-date", "not a date"], []),
    ("store list bad status", [STORE, "--db", "s.db", "list", "--status", "gone"], {}, 2,
     ["--status"], []),
    ("store show missing", [STORE, "--db", "s.db", "show", "nope"], {}, 1, ["nope"], []),
    ("store cancel missing", [STORE, "--db", "s.db", "cancel-event", "nope"], {}, 1, ["nope"],
     []),
    ("store import missing file", [STORE, "--db", "s.db", "import", "nosuch.json"], {}, 2,
     ["nosuch.json", "No such file"], []),
    ("store import directory", [STORE, "--db", "s.db", "import", "adir"], {}, 2,
     ["adir", "directory"], []),
    ("store import NUL", [STORE, "--db", "s.db", "import", "nul.ndjson"], {}, 1,
     ["line 1", "NUL"], ["JSON_ALLOW_NUL"]),
    ("store import duplicate", [STORE, "--db", "s.db", "import", "dup.ndjson"], {}, 1,
     ["line 3", "'dup-1'", "line 1"], []),
    ("store import duplicate doc", [STORE, "--db", "s.db", "import", "dup.json"], {}, 1,
     ["events[1]", "events[0]", "'dup-2'"], []),
    # herald-pub: endpoints, keys, directories, numbers, the environment
    ("pub bind bogus", [PUB, "--db", "s.db", "--bind", "bogus"], {}, 2,
     ["--bind", "not a ZeroMQ endpoint"], ["loopback"]),
    ("pub replay-bind port", [PUB, "--db", "s.db", "--replay-bind", "tcp://127.0.0.1:notaport"],
     {}, 2, ["--replay-bind", "not a ZeroMQ endpoint"], []),
    ("pub port too big", [PUB, "--db", "s.db", "--bind", "tcp://127.0.0.1:70000"], {}, 2,
     ["--bind", "not a ZeroMQ endpoint"], []),
    ("pub bind env", [PUB, "--db", "s.db"], {"HERALD_PUB_BIND": "udp://x"}, 2,
     ["HERALD_PUB_BIND", "not a ZeroMQ endpoint"], []),
    ("pub clients missing", [PUB, "--db", "s.db", "--curve-secret-file", "keys/server.key",
                             "--clients", "noclients"] + LOOP, {}, 2,
     ["--clients", "noclients"], []),
    ("pub clients a file", [PUB, "--db", "s.db", "--curve-secret-file", "keys/server.key",
                            "--clients", "notes.txt"] + LOOP, {}, 2,
     ["--clients", "not a directory"], []),
    ("pub public key as secret", [PUB, "--db", "s.db", "--curve-secret-file",
                                  "keys/server.pub", "--clients", "clients"] + LOOP, {}, 2,
     ["keys/server.pub", "public key"], []),
    ("pub mixed pair", [PUB, "--db", "s.db", "--curve-secret-file", "keys/mixed.key",
                        "--clients", "clients"] + LOOP, {}, 2,
     ["keys/mixed.key", "keys/mixed.pub"], []),
    ("pub agency file as secret", [PUB, "--db", "s.db", "--curve-secret-file",
                                   "clients/agency.txt", "--clients", "clients"] + LOOP, {}, 2,
     ["clients/agency.txt", "grant"], []),
    ("pub secret file missing", [PUB, "--db", "s.db", "--curve-secret-file", "keys/none.key",
                                 "--clients", "clients"] + LOOP, {}, 2, ["keys/none.key"], []),
    ("pub secret without clients", [PUB, "--db", "s.db", "--curve-secret-file",
                                    "keys/server.key"] + LOOP, {}, 2, ["--clients"], []),
    ("pub secret both ways", [PUB, "--db", "s.db", "--curve-secret-file", "keys/server.key",
                              "--clients", "clients"] + LOOP,
     {"HERALD_CURVE_SECRET": "x" * 40}, 2, ["HERALD_CURVE_SECRET"], []),
    ("pub db directory", [PUB, "--db", "adir"] + LOOP, {}, 2, ["--db", "is a directory"], []),
    ("pub db in missing directory", [PUB, "--db", "nodir/s.db"] + LOOP, {}, 2,
     ["nodir", "does not exist"], []),
    ("pub db foreign", [PUB, "--db", "notes.txt"] + LOOP, {}, 2, ["notes.txt", "not a", "database"], []),
    ("pub heartbeat range", [PUB, "--db", "s.db", "--heartbeat-ms", "5"] + LOOP, {}, 2,
     ["--heartbeat-ms"], []),
    ("pub heartbeat env", [PUB, "--db", "s.db"] + LOOP, {"HERALD_HEARTBEAT_MS": "often"}, 2,
     ["HERALD_HEARTBEAT_MS"], []),
    ("pub log level", [PUB, "--db", "s.db", "--log-level", "loud"] + LOOP, {}, 2,
     ["--log-level"], []),
    ("pub unknown flag", [PUB, "--db", "s.db", "--heart", "5"] + LOOP, {}, 2, ["--heart"], []),
    ("pub metrics", [PUB, "--db", "s.db", "--metrics", "localhost:99999"] + LOOP, {}, 2,
     ["--metrics"], []),
    ("pub no db", [PUB] + LOOP, {}, 2, ["--db", "HERALD_DB"], []),
    # herald-sub: endpoints, topics the grammar of docs/protocol.md never sends, SMTP
    ("sub connect port", [SUB, "--connect", "tcp://h:notaport", "--sink", "log"], {}, 2,
     ["--connect", "not a ZeroMQ endpoint"], []),
    ("sub replay bogus", [SUB] + SUBC + ["--replay", "bogus"], {}, 2,
     ["--replay", "not a ZeroMQ endpoint"], []),
    ("sub connect env", [SUB, "--sink", "log"], {"HERALD_CONNECT": "tcp://127.0.0.1:0"}, 2,
     ["HERALD_CONNECT", "not a ZeroMQ endpoint"], []),
    ("sub topic not ascii", [SUB] + SUBC + ["--topic", "év ent*"], {}, 2,
     ["--topic", "can never match", "event. or press.", "docs/protocol.md"], []),
    ("sub topic kind", [SUB] + SUBC + ["--topic", "event.Conference."], {}, 2,
     ["--topic", "can never match", "lower-case"], []),
    ("sub topic country", [SUB] + SUBC + ["--topic", "event.conference.fr."], {}, 2,
     ["--topic", "can never match", "two upper-case"], []),
    ("sub topic after country", [SUB] + SUBC + ["--topic", "event.conference.FR.x"], {}, 2,
     ["--topic", "can never match"], []),
    ("sub topic press", [SUB] + SUBC + ["--topic", "press.release."], {}, 2,
     ["--topic", "can never match", "press."], []),
    ("sub topic prefix fine", [SUB] + SUBC + ["--topic", "event.conf", "--topic",
                                             "event.conference.F", "--print-config"], {}, 0,
     ["event.conference.F"], []),
    ("sub smtp no host", [SUB] + MAILC + ["--smtp", "smtp://"], {}, 2,
     ["--smtp", "no host"], []),
    ("sub smtp port", [SUB] + MAILC + ["--smtp", "smtp://localhost:70000"], {}, 2,
     ["--smtp", "1-65535"], []),
    ("sub smtp env port", [SUB] + MAILC, {"HERALD_SMTP": "smtp://localhost:0"}, 2,
     ["HERALD_SMTP", "1-65535"], []),
    ("sub smtp user no password", [SUB] + MAILC + ["--smtp", "smtp://localhost:2525",
                                                   "--smtp-user", "bob"], {}, 2,
     ["--smtp-user", "password", "HERALD_SMTP_PASSWORD"], []),
    # herald-keygen: names
    ("keygen directory", [KEYGEN, "keys/"], {}, 2, ["directory"], []),
    ("keygen directory no slash", [KEYGEN, "keys"], {}, 2, ["directory"], []),
    ("keygen empty", [KEYGEN, ""], {}, 2, ["PATH/NAME"], []),
    ("keygen missing directory", [KEYGEN, "nodir/a"], {}, 2, ["nodir", "does not exist"], []),
    ("keygen two names", [KEYGEN, "a", "b"], {}, 2, ["one argument"], []),
    ("keygen exists", [KEYGEN, "keys/server"], {}, 1, ["keys/server.key", "overwrite"], []),
    # --version
    ("store version", [STORE, "--version"], {}, 0, ["herald-store 0."], []),
    ("pub version", [PUB, "--version"], {}, 0, ["herald-pub 0."], []),
    ("keygen version", [KEYGEN, "--version"], {}, 0, ["herald-keygen 0."], []),
]


def setup(work):
    """The work directory the cases run in: a store, keys, a client directory, bad files."""
    def run(*argv):
        subprocess.run(list(argv), cwd=work, check=True, capture_output=True, timeout=60)
    run(STORE, "--db", "s.db", "init", "--sample")
    os.mkdir(os.path.join(work, "adir"))
    os.mkdir(os.path.join(work, "keys"))
    os.mkdir(os.path.join(work, "clients"))
    run(KEYGEN, "keys/server")
    run(KEYGEN, "keys/agency")
    run(KEYGEN, "keys/other")
    # a NAME.key whose NAME.pub is another pair's
    shutil.copy(os.path.join(work, "keys/server.key"), os.path.join(work, "keys/mixed.key"))
    shutil.copy(os.path.join(work, "keys/other.pub"), os.path.join(work, "keys/mixed.pub"))
    with open(os.path.join(work, "keys/agency.pub")) as f:
        agency = f.read()
    with open(os.path.join(work, "clients/agency.pub"), "w") as f:
        f.write(agency + "grant event.\n")
    with open(os.path.join(work, "clients/agency.txt"), "w") as f:
        f.write(agency + "grant event.\n")
    with open(os.path.join(work, "notes.txt"), "w") as f:
        f.write("not a database, " * 100 + "\n")
    rec = ('{"type":"event","id":"%s","kind":"course","title":"t","start_date":"2026-01-01",'
           '"end_date":"2026-01-01","city":"","country":"FR"}\n')
    with open(os.path.join(work, "nul.ndjson"), "w") as f:
        f.write('{"type":"event","id":"a\\u0000b"}\n')
    with open(os.path.join(work, "dup.ndjson"), "w") as f:
        f.write(rec % "dup-1" + rec % "dup-0" + rec % "dup-1")
    with open(os.path.join(work, "dup.json"), "w") as f:
        one = rec.strip() % "dup-2"
        one = one.replace('"type":"event",', "")
        f.write('{\n"events": [%s, %s]}\n' % (one, one))


def run_case(work, name, argv, env, want_rc, words, forbidden):
    before = tree(work)
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("HERALD_") and k != "HERALD_BIN":
            del e[k]
    e.update(env)
    try:
        p = subprocess.run(argv, cwd=work, env=e, capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        check(False, f"{name}: still running after 20 s (it should have stopped at once)")
        return
    out = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
    check(p.returncode == want_rc, f"{name}: exit {p.returncode}, want {want_rc}: {out!r}")
    for w in words:
        check(w in out, f"{name}: message lacks {w!r}: {out!r}")
    for w in forbidden:
        check(w not in out, f"{name}: message holds {w!r}: {out!r}")
    after = tree(work)
    check(after == before, f"{name}: files changed: "
          f"{sorted(set(after.items()) ^ set(before.items()))}")


def test_port_taken(work):
    """A port in use is a runtime failure (exit 1), named."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = subprocess.run([PUB, "--db", "s.db", "--bind", f"tcp://127.0.0.1:{port}",
                            "--replay-bind", f"tcp://127.0.0.1:{free_port()}"],
                           cwd=work, capture_output=True, timeout=20)
    err = p.stderr.decode()
    check(p.returncode == 1, f"port taken: exit {p.returncode}: {err}")
    check(str(port) in err and "Address already in use" in err, f"port taken: {err}")


def test_two_publishers(work):
    """The second publisher on a store refuses to start (exit 1) and names the first's PID."""
    first = subprocess.Popen([PUB, "--db", "s.db"] + LOOP, cwd=work, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 20
        line = b""
        while time.time() < deadline and b"pub.started" not in line:
            line = first.stderr.readline()
            if not line:
                break
        check(b"pub.started" in line, "first publisher did not start")
        p = subprocess.run([PUB, "--db", "s.db", "--bind", f"tcp://127.0.0.1:{free_port()}",
                            "--replay-bind", f"tcp://127.0.0.1:{free_port()}"],
                           cwd=work, capture_output=True, timeout=20)
        err = p.stderr.decode()
        check(p.returncode == 1, f"second publisher: exit {p.returncode}: {err}")
        check(f"PID {first.pid}" in err and "pub.store_locked" in err,
              f"second publisher: {err}")
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=20)
    check(first.returncode == 0, f"first publisher: exit {first.returncode}")


def test_public_key_logged(work):
    """pub.started and --print-config show the publisher's public key (its .pub)."""
    with open(os.path.join(work, "keys/server.pub")) as f:
        public = f.read().split()[0]
    p = subprocess.run([PUB, "--db", "s.db", "--curve-secret-file", "keys/server.key",
                        "--clients", "clients", "--print-config"] + LOOP,
                       cwd=work, capture_output=True, timeout=20)
    check(p.returncode == 0 and public in p.stdout.decode(), f"--print-config: {p.stdout!r}")
    first = subprocess.Popen([PUB, "--db", "s.db", "--curve-secret-file", "keys/server.key",
                              "--clients", "clients"] + LOOP, cwd=work, stderr=subprocess.PIPE)
    try:
        line = b""
        while b"pub.started" not in line:
            line = first.stderr.readline()
            if not line:
                break
        check(public.encode() in line, f"pub.started lacks the public key: {line!r}")
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=20)


def test_readers_read_only(work):
    """export, head, changes, show, list as an unprivileged user on a store in a directory
    that user cannot write: they work and write nothing; a write is refused (exit 1)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        print("readers: skipped (needs root and setpriv)")
        return
    ro = tempfile.mkdtemp(prefix="herald-ro-", dir="/tmp")
    try:
        subprocess.run([STORE, "--db", os.path.join(ro, "s.db"), "init", "--sample"], check=True,
                       capture_output=True)
        os.chmod(os.path.join(ro, "s.db"), 0o444)
        os.chmod(ro, 0o555)
        before = tree(ro)
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        db = os.path.join(ro, "s.db")
        for args in (["export"], ["head"], ["changes"], ["list"], ["show", "2016-01-global-"
                     "counter-nuclear-smuggling-conference"]):
            p = subprocess.run(nobody + [STORE, "--db", db] + args, capture_output=True,
                               timeout=20)
            check(p.returncode == 0 and p.stdout, f"read-only {args[0]}: exit {p.returncode}: "
                  f"{p.stderr.decode()}")
        p = subprocess.run(nobody + [STORE, "--db", db, "cancel-event", "x"],
                           capture_output=True, timeout=20)
        check(p.returncode == 1 and "may not write" in p.stderr.decode(),
              f"read-only write: exit {p.returncode}: {p.stderr.decode()}")
        check(tree(ro) == before, "read-only: files changed")
    finally:
        os.chmod(ro, 0o755)
        shutil.rmtree(ro)


def main():
    work = tempfile.mkdtemp(prefix="herald-misuse-")
    try:
        setup(work)
        for case in CASES:
            run_case(work, *case)
        test_port_taken(work)
        test_public_key_logged(work)
        test_two_publishers(work)
        test_readers_read_only(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if FAILURES:
        print(f"{len(FAILURES)} failures", file=sys.stderr)
        sys.exit(1)
    print(f"misuse: {len(CASES)} cases and 4 settings ok")


if __name__ == "__main__":
    main()
