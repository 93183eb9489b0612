"""test_nats.py -- herald-sub --sink nats against a real nats-server (Debian's, JetStream on,
started here on loopback with a store directory of its own), the stream read back with
tests/nats_read.c (Debian packages no NATS client for Python, nor the nats CLI).

A writer commits batches of changes all along; meanwhile the subscriber is killed with
SIGKILL and restarted (twice), and nats-server is restarted, once stopped with SIGTERM and
once with SIGKILL. At the end the stream must hold every announcement of the store exactly
once and in seq order: Nats-Msg-Id "<stream_id>:<seq>" for seqs 1..head, each message's body
the Announcement of that seq, on the subject of its topic (herald.event.<kind>.<country>,
herald.press; a deletion's id-only body on the subject of the topic it was published on,
which only the topic tells). HERALD_KEEP=1 keeps the directory."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Procs, check, fields, free_port, store, tcp, wait_until  # noqa: E402

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


KINDS = ["conference", "course", "symposium", "working-group-meeting"]
COUNTRIES = ["FR", "DE", "US", "TH", "BR"]


def expected_subject(body):
    f = fields(body)
    if 6 in f:
        return "herald.press"
    event = fields(f[5][0])
    kind = event.get(2, [b""])[0].decode()
    country = event.get(7, [b""])[0].decode()
    if not (kind and country):
        # id-only (a deletion): the writer's event ev-N is of KINDS[N % 4] in COUNTRIES[N % 5]
        n = int(event[1][0].decode().split("-")[1])
        kind, country = KINDS[n % 4], COUNTRIES[n % 5]
    return f"herald.event.{kind}.{country}"


# -- nats-server -------------------------------------------------------------------------

class Nats:
    """nats-server -js on a port and a store directory of its own; restartable."""

    def __init__(self, workdir):
        self.port = free_port()
        self.dir = os.path.join(workdir, "jetstream")
        self.log = os.path.join(workdir, "nats-server.log")
        self.proc = None

    @property
    def url(self):
        return f"nats://127.0.0.1:{self.port}"

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([NATS_SERVER, "-js", "-a", "127.0.0.1", "-p",
                                          str(self.port), "-sd", self.dir],
                                         stdout=log, stderr=log)

        def up():
            check(self.proc.poll() is None, f"nats-server exited (see {self.log})")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False
        wait_until(up, 15, "nats-server to listen")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def read(self, stream="HERALD"):
        """[(stream seq, subject, msg id, body bytes)], or None when it cannot be read now."""
        r = subprocess.run([os.path.join(BIN, "nats_read"), self.url, stream],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            return None
        out = []
        for line in r.stdout.splitlines():
            jseq, subject, msg_id, data = line.split(" ")
            out.append((int(jseq), subject, msg_id, bytes.fromhex(data)))
        return out


# -- the world -----------------------------------------------------------------------------

class Writer(threading.Thread):
    """Commits batches of changes until stopped: imports of new events and press releases,
    edits, cancellations and deletions (id-only bodies)."""

    def __init__(self, db):
        super().__init__(daemon=True)
        self.db = db
        self.stop_flag = threading.Event()
        self.n = 0
        self.error = None

    def run(self):
        kinds, countries = KINDS, COUNTRIES
        try:
            while not self.stop_flag.is_set():
                lines = []
                for _ in range(25):
                    i = self.n
                    self.n += 1
                    lines.append(
                        f'{{"type":"event","id":"ev-{i}","kind":"{kinds[i % 4]}",'
                        f'"title":"Event {i}","start_date":"2026-12-01",'
                        f'"end_date":"2026-12-02","city":"Lyon","country":"{countries[i % 5]}"}}')
                    if i % 5 == 0:
                        lines.append(f'{{"type":"press_release","id":"pr-{i}","title":"Release '
                                     f'{i}","published_on":"2026-11-30"}}')
                store(self.db, "import", "-", stdin="\n".join(lines) + "\n")
                store(self.db, "cancel-event", f"ev-{self.n - 3}", "--reason", "moved")
                store(self.db, "delete-event", f"ev-{self.n - 2}")
                time.sleep(0.05)
        except SystemExit as e:  # fail() inside store()
            self.error = str(e)


def main():
    keep = os.environ.get("HERALD_KEEP")
    w = tempfile.mkdtemp(prefix="herald-it-nats-")
    ok = False
    nats = None
    try:
        with Procs() as procs:
            db = os.path.join(w, "h.db")
            store(db, "init", "--sample")
            live, replay = tcp(), tcp()
            procs.start("pub", ["herald-pub", "--db", db, "--bind", live, "--replay-bind",
                                replay, "--heartbeat-ms", "200"], w)
            nats = Nats(w)
            nats.start()

            def sub(name):
                return procs.start(name, ["herald-sub", "--connect", live, "--replay", replay,
                                          "--sink", "nats", "--nats-url", nats.url], w)

            def stream_count():
                got = nats.read()
                return len(got) if got is not None else -1

            def head():
                return int(store(db, "head").stdout)

            s = sub("sub1")
            wait_until(lambda: stream_count() >= head(), 30, "the history in the stream")
            check(s.logged("sub.nats_stream_created"), "the stream was not created")

            writer = Writer(db)
            writer.start()
            # kill -9 of the subscriber, mid-stream, twice
            for n in (2, 3):
                base = stream_count()
                wait_until(lambda: stream_count() > base + 30, 30, "the stream to grow")
                s.kill9()
                time.sleep(0.2)
                s = sub(f"sub{n}")
                wait_until(lambda: s.logged("sub.resumed"), 20, f"sub{n} to resume")
                check(s.logged("sub.resumed")[0].get("from") == "nats",
                      f"sub{n} resumed from {s.logged('sub.resumed')[0]} (not the stream)")
            # a restart of nats-server: stopped cleanly, then killed
            for sig in (signal.SIGTERM, signal.SIGKILL):
                base = stream_count()
                wait_until(lambda: stream_count() > base + 30, 30, "the stream to grow")
                nats.stop(sig)
                time.sleep(1.0)  # the writer goes on meanwhile
                check(s.alive(), f"the subscriber died while nats-server was down ({sig.name})")
                nats.start()
                wait_until(lambda: stream_count() > base + 60, 60,
                           f"the stream to grow after the restart ({sig.name})")
            time.sleep(0.5)
            writer.stop_flag.set()
            writer.join(60)
            check(writer.error is None, f"writer: {writer.error}")
            final = head()
            check(final > 300, f"only {final} changes were written")
            wait_until(lambda: stream_count() >= final, 90, f"the stream to reach seq {final}")
            time.sleep(0.5)  # anything more (a duplicate) would show now

            msgs = nats.read()
            check(msgs is not None, "nats_read failed at the end")
            stream_id = store(db, "export", check_rc=True).stdout.split('"stream_id": "')[1][:36]
            seqs = []
            for jseq, subject, msg_id, body in msgs:
                sid, _, seq = msg_id.rpartition(":")
                check(sid == stream_id, f"message {jseq}: Nats-Msg-Id {msg_id} names another "
                                        f"stream than {stream_id}")
                f = fields(body)
                check(f[1][0].decode() == stream_id and f[2][0] == int(seq),
                      f"message {jseq}: its body is not the Announcement of {msg_id}")
                want = expected_subject(body)
                check(subject == want, f"message {jseq} (seq {seq}) on {subject}, not {want}")
                seqs.append(int(seq))
            dups = len(seqs) - len(set(seqs))
            check(dups == 0, f"{dups} announcements twice in the stream")
            check(seqs == sorted(seqs), "the stream is out of seq order: "
                  + str([(a, b) for a, b in zip(seqs, seqs[1:]) if b < a][:5]))
            missing = sorted(set(range(1, final + 1)) - set(seqs))
            check(not missing, f"{len(missing)} announcements missing: {missing[:10]}")
            check(s.alive(), "the subscriber stopped")
            resends = sum(len(p.logged("sub.nats_resent")) for p in procs.procs)
            print(f"ok: {final} announcements exactly once and in order through 2 kill -9 of "
                  f"the subscriber and 2 restarts of nats-server ({resends} batches resent)")
            check(s.stop() == 0, "the subscriber did not stop cleanly")
            nats.stop()
            ok = True
    finally:
        if nats:
            nats.stop(signal.SIGKILL)
        if keep or not ok:
            print(f"kept {w}", file=sys.stderr)
        else:
            shutil.rmtree(w, ignore_errors=True)


if __name__ == "__main__":
    main()
