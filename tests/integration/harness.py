"""harness.py -- what Herald's integration tests share: free ports, the programs started as
real processes and stopped by PID, waits on conditions with deadlines, the store CLI, and the
few bits of protobuf the tests read (varints and length-delimited fields: the only wire types
Herald's messages use)."""
import json
import os
import shutil
import signal
import socket
import re
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("HERALD_BIN", os.path.join(os.getcwd(), "build", "bin"))
SRC = os.environ.get("HERALD_SRC", os.getcwd())
# Deadlines are stretched by HERALD_SLOW when the services run under valgrind.
SLOW = float(os.environ.get("HERALD_SLOW", "1"))


_started = []  # every Proc of this test run, for the logs fail() shows


def fail(msg):
    """Ends the test; the last lines of each program's log go with the message, so that a
    failure seen only in CI's output says what the programs were doing."""
    print(f"FAIL: {msg}", file=sys.stderr)
    for p in _started:
        try:
            with open(p.log_path, "rb") as f:
                text = f.read()[-4000:].decode("utf-8", "replace")
            # LeakSanitizer's table of the suppressions it used says nothing of the failure
            text = re.sub(r"-{20,}\nSuppressions used:\n(.*\n)*?-{20,}\n", "", text)
            tail = [line for line in text.splitlines() if line.strip()][-12:]
        except OSError:
            continue
        state = "running" if p.popen.poll() is None else f"exited {p.popen.returncode}"
        print(f"--- {p.name} (pid {p.pid}, {state}), last lines of its log:", file=sys.stderr)
        for line in tail:
            print(f"    {line}", file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


_given = set()
# Ports are reserved across the tests ctest runs at once: a file per port, created with
# O_EXCL, removed when this test ends. A file older than an hour is left by a killed test.
PORTS_DIR = os.path.join(tempfile.gettempdir(), "herald-it-ports")


def _release_ports():
    for port in _given:
        try:
            os.unlink(os.path.join(PORTS_DIR, str(port)))
        except OSError:
            pass


def _reserve(port):
    path = os.path.join(PORTS_DIR, str(port))
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        return True
    except FileExistsError:
        try:
            if time.time() - os.stat(path).st_mtime > 3600:
                os.unlink(path)
        except OSError:
            pass
        return False


def free_port():
    """A port free now and reserved for this test, below Linux's ephemeral range
    (32768-60999): a port the kernel picks for bind(0) is one it may give the next outgoing
    connection of a parallel test, before the program under test binds it."""
    import atexit
    import random
    os.makedirs(PORTS_DIR, exist_ok=True)
    if not _given:
        atexit.register(_release_ports)
    for _ in range(400):
        port = random.randrange(20000, 32700)
        if port in _given or not _reserve(port):
            continue
        _given.add(port)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    fail("no free port below 32700")


def tcp():
    return f"tcp://127.0.0.1:{free_port()}"


def wait_until(fn, timeout, what, interval=0.02):
    """Calls fn until it returns a true value or timeout seconds pass; returns the value."""
    timeout *= SLOW
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() >= deadline:
            fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def read_varint(buf, i):
    """(value, next index) of the varint at buf[i]; ValueError when truncated or too long."""
    value, shift = 0, 0
    for _ in range(10):
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i
    raise ValueError("varint too long")


def fields(buf):
    """{field number: [values]}: ints for varints, bytes for length-delimited fields."""
    out, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(buf, i)
        elif wire == 2:
            n, i = read_varint(buf, i)
            value, i = bytes(buf[i:i + n]), i + n
        else:
            raise ValueError(f"unexpected wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def first(f, number, default=0):
    """The first value of field number in f (fields()), or default."""
    return f.get(number, [default])[0]


class Proc:
    """A Herald program run in the background; stderr (its JSON log) goes to a file."""

    def __init__(self, name, args, workdir, env=None, stdout=None, stdin=None):
        self.name = name
        self.log_path = os.path.join(workdir, f"{name}.{time.monotonic_ns()}.log")
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        # HERALD_WRAP (e.g. "valgrind --leak-check=full --error-exitcode=99") runs the
        # services under a checker; its verdict shows in the exit status stop() returns.
        wrap = os.environ.get("HERALD_WRAP", "").split()
        self.popen = subprocess.Popen(wrap + [os.path.join(BIN, args[0])] + list(args[1:]),
                                      stdin=stdin, stdout=stdout or subprocess.DEVNULL,
                                      stderr=self.log, env=full_env)
        self.pid = self.popen.pid
        _started.append(self)

    def alive(self):
        return self.popen.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signals the process by PID and waits; returns its exit status."""
        if self.popen.poll() is None:
            os.kill(self.pid, sig)
            try:
                self.popen.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait()
                fail(f"{self.name} (pid {self.pid}) did not stop within {timeout}s")
        self.log.close()
        return self.popen.returncode

    def kill9(self):
        os.kill(self.pid, signal.SIGKILL)
        self.popen.wait()
        self.log.close()

    def log_events(self):
        """The JSON log lines written so far, parsed."""
        out = []
        with open(self.log_path, "rb") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def logged(self, event):
        return [e for e in self.log_events() if e.get("event") == event]


class Shown:
    """A program a test started itself (not through Proc) whose log fail() should show."""

    def __init__(self, name, popen, log_path):
        self.name, self.popen, self.pid, self.log_path = name, popen, popen.pid, log_path
        _started.append(self)


class Procs:
    """Stops every process it started, whatever happens in the test."""

    def __init__(self):
        self.procs = []

    def start(self, *args, **kw):
        p = Proc(*args, **kw)
        self.procs.append(p)
        return p

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            if p.popen.poll() is None:
                p.popen.kill()
                p.popen.wait()


class Helper:
    """A helper server of the tests (a script next to harness.py: smtp_sink.py,
    webhook_receiver.py) on a port and in a directory of its own: started with --port and
    --dir, ready once it prints "ready", stopped with SIGTERM, steered through control.json in
    its directory. Its stderr goes to NAME.err in the workdir."""

    PY = "/usr/bin/python3"  # Debian's, with the python3-* packages the helpers import

    def __init__(self, workdir, name, port=None):
        self.dir = os.path.join(workdir, name)
        self.err = os.path.join(workdir, name + ".err")
        self.port = port or free_port()
        self.proc = None
        os.makedirs(self.dir, exist_ok=True)

    def launch(self, script, args=()):
        """Starts script with --port, --dir and args; returns self once it is ready."""
        with open(self.err, "ab") as err:
            self.proc = subprocess.Popen(
                [self.PY, os.path.join(os.path.dirname(os.path.abspath(__file__)), script),
                 "--port", str(self.port), "--dir", self.dir] + list(args),
                stdout=subprocess.PIPE, stderr=err)
        check(self.proc.stdout.readline().strip() == b"ready",
              f"{script} did not start (see {self.err})")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()

    def write_control(self, obj):
        """Replaces control.json (atomically: the helper reads it at any time)."""
        path = os.path.join(self.dir, "control.json")
        with open(path + ".tmp", "w") as f:
            json.dump(obj, f)
        os.rename(path + ".tmp", path)


class PubWorld:
    """What a sink's cases share (run_cases' world): a store, h.db in the workdir (made by
    prepare(db) when given, else by init), herald-pub on it (live and replay endpoints), the
    helper servers and the subscribers the cases start; close() stops the helpers."""

    def __init__(self, workdir, procs, prepare=None):
        self.w = workdir
        self.procs = procs
        self.db = os.path.join(workdir, "h.db")
        if prepare:
            prepare(self.db)
        else:
            store(self.db, "init")
        self.live, self.replay = tcp(), tcp()
        procs.start("pub", ["herald-pub", "--db", self.db, "--bind", self.live,
                            "--replay-bind", self.replay, "--heartbeat-ms", "200"], workdir)
        self.helpers = []
        self.subs = []

    def helper(self, helper):
        """Starts helper (a Helper), stopped by close(); returns it."""
        self.helpers.append(helper.start())
        return helper

    def start_sub(self, name, state, sink_args, env=None, wait=True):
        """herald-sub on the publisher with --state state and sink_args; with wait, once it
        follows (or resumed)."""
        args = ["herald-sub", "--connect", self.live, "--replay", self.replay, "--state",
                state] + list(sink_args)
        p = self.procs.start(name, args, self.w, env=env)
        self.subs.append(p)
        if wait:
            wait_until(lambda: p.logged("sub.following") or p.logged("sub.resumed"), 15,
                       f"{name} to follow the publisher")
        return p

    def event(self, eid, title, *extra, kind="conference", end="2026-12-03"):
        """Adds an event (from 2026-12-01, in Lyon) with herald-store add-event."""
        store(self.db, "add-event", "--id", eid, "--kind", kind, "--title", title,
              "--start-date", "2026-12-01", "--end-date", end, "--city", "Lyon", "--country",
              "FR", *extra)

    def head(self):
        return int(store(self.db, "head").stdout)

    def close(self):
        for h in self.helpers:
            h.stop()


def store(db, *args, check_rc=True, stdin=None):
    """Runs herald-store --db DB ARGS...; returns CompletedProcess (text)."""
    r = subprocess.run([os.path.join(BIN, "herald-store"), "--db", db] + list(args),
                       capture_output=True, text=True, input=stdin, timeout=120)
    if check_rc and r.returncode != 0:
        fail(f"herald-store {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r


def dead_letters(command, state):
    """herald-sub COMMAND list --state STATE (mail-dead, webhook-dead), which must exit 0: the
    dead letters it prints, one JSON object a line."""
    r = subprocess.run([os.path.join(BIN, "herald-sub"), command, "list", "--state", state],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"{command} list exits 0: {r.stderr}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def read_lines(path):
    """The JSON lines of a log sink's file (a partial last line is left out)."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    out = []
    for line in data.split(b"\n")[:-1]:
        if line.strip():
            out.append(json.loads(line))
    return out


def workdir():
    return tempfile.TemporaryDirectory(prefix="herald-it-")


def check_logs(procs, secrets=()):
    """Fails if the log of a program procs started holds a sanitizer report or one of
    secrets (bytes)."""
    for p in procs.procs:
        with open(p.log_path, "rb") as f:
            log = f.read()
        check(b"Sanitizer" not in log and b"runtime error" not in log,
              f"no sanitizer report in {p.log_path}")
        for secret in secrets:
            check(secret not in log, f"no secret in the logs ({p.log_path})")


def run_each(prefix, cases):
    """Runs each case of cases ({NAME: fn(workdir, procs)}; those named on the command line
    only, if any) in a world of its own: a new workdir (prefix + NAME) and Procs, whose
    programs still running are stopped after it; then no program's log may hold a sanitizer
    report. A case's workdir is removed unless a check failed or HERALD_KEEP is set."""
    for name in sys.argv[1:] or list(cases):
        t0 = time.monotonic()
        w = tempfile.mkdtemp(prefix=f"{prefix}{name}-")
        with Procs() as procs:
            cases[name](w, procs)
            for p in procs.procs:
                if p.alive():
                    p.stop()
            check_logs(procs)
        print(f"ok {name} ({time.monotonic() - t0:.1f} s)")
        if not os.environ.get("HERALD_KEEP"):
            shutil.rmtree(w, ignore_errors=True)


def run_cases(prefix, make_world, cases, secrets=()):
    """Runs the cases (those named on the command line only, if any: case_NAME as NAME) in
    one world, make_world(workdir, procs), which has a close(); then every program must
    exit 0, with no sanitizer report and none of secrets (bytes) in its log. The workdir
    (prefix...) is removed unless a check failed or HERALD_KEEP is set."""
    only = sys.argv[1:]
    w = tempfile.mkdtemp(prefix=prefix)
    ok = False
    world = None
    try:
        with Procs() as procs:
            world = make_world(w, procs)
            for case in cases:
                name = case.__name__[5:]
                if only and name not in only:
                    continue
                t0 = time.monotonic()
                case(world)
                print(f"  {name}: ok ({time.monotonic() - t0:.1f}s)", file=sys.stderr)
            world.close()
            for p in procs.procs:
                if p.alive():
                    check(p.stop() == 0, f"{p.name} exits 0")
            check_logs(procs, secrets)
        ok = True
    finally:
        if world:
            world.close()
        if ok and not os.environ.get("HERALD_KEEP"):
            shutil.rmtree(w, ignore_errors=True)
        else:
            print(f"  kept {w}", file=sys.stderr)
    print("ok")
