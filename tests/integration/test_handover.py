"""test_handover.py -- herald-sub maps the libraries of the sink it runs and no other's: the
log and the mirror sinks run in herald-sub itself, which links no HTTP, TLS, calendar, XML
or NATS library; every other sink NAME runs in LIBEXECDIR/herald/herald-sub-NAME, which
herald-sub becomes (execv: same process id, same arguments) once it has read the command
line. Checked on running subscribers through /proc/PID/exe and /proc/PID/maps; then what an
operator meets: --print-config and a subcommand through herald-sub, a sink's program
missing, and one that hands the command line back.

Run one case: test_handover.py missing; HERALD_KEEP=1 keeps the directory."""
import base64
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, PubWorld, check, fail, free_port, run_cases  # noqa: E402

LIBEXEC = os.path.normpath(os.path.join(BIN, "..", "libexec", "herald"))
# the library of each sink's program, by the start of its file name
LIBS = {"calendar": "libical.so", "atom": "libxml2.so", "webhook": "libcurl.so",
        "mail": "libcurl.so", "nats": "libnats.so"}
SECRET = "whsec_" + base64.b64encode(b"herald-test-secret-0123456789ab").decode()


def maps(pid):
    """The base names of the files pid maps."""
    with open(f"/proc/{pid}/maps") as f:
        return {os.path.basename(line.split()[5]) for line in f if len(line.split()) > 5}


def mapped(names, lib):
    return any(n.startswith(lib) for n in names)


def sink_args(world, sink):
    """A command line of sink that opens without a server (the mail and the webhook sinks
    only connect to send)."""
    closed = free_port()  # nothing listens there
    return {
        "calendar": ["--feed-out", os.path.join(world.w, "a.ics")],
        "atom": ["--feed-out", os.path.join(world.w, "a.xml")],
        "webhook": ["--webhook-url", f"http://127.0.0.1:{closed}/hook"],
        "mail": ["--smtp", f"smtp://127.0.0.1:{closed}", "--mail-from", "herald@example.org",
                 "--mail-to", "ops@example.org"],
    }[sink]


def case_log(world):
    """herald-sub runs the log sink itself, with none of the other sinks' libraries."""
    sub = world.start_sub("sub-log", os.path.join(world.w, "log.state"),
                          ["--sink", "log", "--out", os.path.join(world.w, "log.jsonl")])
    exe = os.readlink(f"/proc/{sub.pid}/exe")
    check(exe == os.path.realpath(os.path.join(BIN, "herald-sub")), f"the log sink runs in {exe}")
    names = maps(sub.pid)
    for lib in sorted(set(LIBS.values()) | {"libcrypto.so", "libicu"}):
        check(not mapped(names, lib), f"herald-sub --sink log maps {lib}")
    check(mapped(names, "libzmq.so") and mapped(names, "libsqlite3.so"), "its own libraries")
    sub.stop()


def case_sinks(world):
    """Each other sink runs in its own program, in the process herald-sub started as, with
    its library and none of the others'."""
    env = {"HERALD_WEBHOOK_SECRET": SECRET}
    for sink in ("calendar", "atom", "webhook", "mail"):
        sub = world.start_sub(f"sub-{sink}", os.path.join(world.w, f"{sink}.state"),
                              ["--sink", sink] + sink_args(world, sink), env=env)
        exe = os.readlink(f"/proc/{sub.pid}/exe")
        want = os.path.realpath(os.path.join(LIBEXEC, f"herald-sub-{sink}"))
        check(exe == want, f"--sink {sink} runs in {exe}, not {want}")
        with open(f"/proc/{sub.pid}/cmdline", "rb") as f:
            argv0 = f.read().split(b"\0")[0].decode()
        check(argv0.endswith("/herald-sub"), f"its argv[0] stays herald-sub's: {argv0}")
        names = maps(sub.pid)
        check(mapped(names, LIBS[sink]), f"--sink {sink} maps {LIBS[sink]}")
        for other in sorted(set(LIBS.values()) - {LIBS[sink]}):
            check(not mapped(names, other), f"--sink {sink} maps {other}")
        check(sub.stop() == 0, f"--sink {sink} stops with 0 on SIGTERM")


def case_commands(world):
    """--print-config and a subcommand of a handed-over sink answer as its program does."""
    state = os.path.join(world.w, "mail.state")
    r = subprocess.run([os.path.join(BIN, "herald-sub"), "--connect", world.live, "--state",
                        state, "--sink", "mail", "--print-config"] + sink_args(world, "mail"),
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"--print-config: {r.returncode} {r.stderr}")
    config = json.loads(r.stdout)
    check(config.get("sink") == "mail" and config.get("list_id"),
          f"mail's own values (list_id) in --print-config: {sorted(config)}")
    r = subprocess.run([os.path.join(BIN, "herald-sub"), "mail-dead", "list", "--state", state],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"mail-dead list through herald-sub: {r.returncode} {r.stderr}")
    r = subprocess.run([os.path.join(BIN, "herald-sub"), "webhook-dead", "list"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 2 and "--state" in r.stderr, f"a usage error is still one: {r}")


def lone(world, name, extra=None):
    """A bin/herald-sub of its own under world.w/name; extra: {libexec file: source}."""
    root = os.path.join(world.w, name)
    os.makedirs(os.path.join(root, "bin"))
    shutil.copy(os.path.join(BIN, "herald-sub"), os.path.join(root, "bin", "herald-sub"))
    for file, source in (extra or {}).items():
        os.makedirs(os.path.join(root, "libexec", "herald"), exist_ok=True)
        shutil.copy(source, os.path.join(root, "libexec", "herald", file))
    return os.path.join(root, "bin", "herald-sub")


def run_lone(world, program, sink):
    return subprocess.run([program, "--connect", world.live, "--state",
                           os.path.join(world.w, f"{sink}.lone.state"), "--sink", sink]
                          + sink_args(world, sink), capture_output=True, text=True, timeout=30)


def start_failed(stderr):
    """The error of the sub.start_failed line of a subscriber's JSON log (stderr)."""
    for line in stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "sub.start_failed" and event.get("level") == "error":
            return event.get("error", "")
    fail(f"no sub.start_failed line in {stderr!r}")


def case_missing(world):
    """No herald-sub-NAME: exit 1 and an error line in the log naming the program and the
    reason; the log sink still runs (it needs none). A subcommand says it on stderr."""
    program = lone(world, "missing")
    r = run_lone(world, program, "calendar")
    want = os.path.join(world.w, "missing", "bin", "..", "libexec", "herald",
                        "herald-sub-calendar")
    check(r.returncode == 1, f"a missing program: exit {r.returncode} {r.stderr!r}")
    error = start_failed(r.stderr)
    check(want in error and "No such file" in error, f"a missing program is named: {error!r}")
    r = subprocess.run([program, "webhook-dead", "list", "--state", "x.state"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and r.stderr.startswith("herald-sub: webhook-dead webhook runs in ")
          and "herald-sub-webhook" in r.stderr, f"a subcommand's missing program: {r}")
    r = subprocess.run([program, "--connect", world.live, "--sink", "log", "--print-config"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and json.loads(r.stdout)["sink"] == "log", f"log alone: {r}")


def case_handed_back(world):
    """A herald-sub-NAME that is not the sink's program (herald-sub itself, copied there):
    exit 1 at once, not a loop of exec."""
    program = lone(world, "back", {"herald-sub-atom": os.path.join(BIN, "herald-sub")})
    r = run_lone(world, program, "atom")
    check(r.returncode == 1 and "handed it back" in start_failed(r.stderr),
          f"a program that hands back: {r.returncode} {r.stderr!r}")


def main():
    run_cases("herald-it-handover-", PubWorld,
              [case_log, case_sinks, case_commands, case_missing, case_handed_back])


if __name__ == "__main__":
    main()
