"""The Python example client (examples/python/herald_client.py) against the real publisher:
replay from a seq, live announcements, topic filters, and CURVE with Herald's own key
files. What it prints is checked against the store."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, SRC, Procs, check, store, tcp, wait_until, workdir  # noqa

CLIENT = os.path.join(SRC, "examples", "python", "herald_client.py")


class Client:
    def __init__(self, w, name, args):
        self.path = os.path.join(w, f"{name}.jsonl")
        self.err = open(os.path.join(w, f"{name}.err"), "wb")
        self.out = open(self.path, "wb")
        self.popen = subprocess.Popen(["/usr/bin/python3", CLIENT] + args, stdout=self.out,
                                      stderr=self.err)

    def lines(self):
        with open(self.path, "rb") as f:
            return [json.loads(l) for l in f.read().split(b"\n") if l.strip()]

    def wait(self, timeout=20):
        rc = self.popen.wait(timeout)
        self.out.close()
        self.err.close()
        return rc

    def kill(self):
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


def main():
    with workdir() as w, Procs() as procs:
        db = os.path.join(w, "h.db")
        store(db, "init", "--sample")
        head = int(store(db, "head").stdout)
        curve = "--curve-secret-file" in subprocess.run(
            [os.path.join(BIN, "herald-pub"), "--help"], capture_output=True, text=True).stdout
        pub_args, client_keys = [], []
        if curve:
            keys = os.path.join(w, "keys")
            os.makedirs(os.path.join(keys, "clients"))
            for base in ("server", "clients/python"):
                subprocess.run([os.path.join(BIN, "herald-keygen"), os.path.join(keys, base)],
                               check=True, capture_output=True)
            pub_args = ["--curve-secret-file", os.path.join(keys, "server.key"), "--clients",
                        os.path.join(keys, "clients")]
            client_keys = ["--secret-file", os.path.join(keys, "clients", "python.key"),
                           "--server-key", os.path.join(keys, "server.pub")]
        pub_ep, rep_ep = tcp(), tcp()
        procs.start("pub", ["herald-pub", "--db", db, "--bind", pub_ep, "--replay-bind", rep_ep,
                            "--heartbeat-ms", "200"] + pub_args, w)
        common = ["--connect", pub_ep, "--replay", rep_ep] + client_keys

        # Replay from seq 3, then live: head - 3 from the history and 2 live ones.
        everything = Client(w, "all", common + ["--from-seq", "3", "--count", str(head - 3 + 2)])
        conf = Client(w, "conf", common + ["--from-seq", "0", "--topic", "event.conference."])
        clients = [everything, conf]
        try:
            wait_until(lambda: len(everything.lines()) >= head - 3, 30, "the replayed history")
            store(db, "add-event", "--id", "py-1", "--kind", "conference", "--title",
                  "Python «client»", "--start-date", "2026-12-01", "--end-date", "2026-12-03",
                  "--city", "Lyon", "--country", "FR", "--person", "Jürgen Stock|SG")
            store(db, "cancel-event", "py-1", "--reason", "postponed")
            check(everything.wait() == 0, "the client exits 0 after --count")
            lines = everything.lines()
            check([l["seq"] for l in lines] == list(range(4, head + 3)),
                  f"seqs: {[l['seq'] for l in lines]}")
            check(len({l["stream_id"] for l in lines}) == 1, "one stream")
            created, cancelled = lines[-2], lines[-1]
            check(created["id"] == "py-1" and created["change"] == "created" and
                  created["type"] == "event" and created["title"] == "Python «client»" and
                  created["people"] == [{"name": "Jürgen Stock", "role": "SG"}], str(created))
            check(cancelled["change"] == "cancelled" and
                  cancelled["status"] == "EVENT_STATUS_CANCELLED" and
                  cancelled["cancel_reason"] == "postponed", str(cancelled))
            wait_until(lambda: any(l["id"] == "py-1" for l in conf.lines()), 10,
                       "the conference filter's live line")
            check(all(l["type"] == "event" and l["kind"] == "conference" for l in conf.lines()),
                  f"only conferences: {conf.lines()}")
        finally:
            for c in clients:
                c.kill()
        if curve:
            # Without the keys the publisher admits nobody: nothing arrives.
            plain = Client(w, "plain", ["--connect", pub_ep, "--replay", rep_ep, "--from-seq",
                                        "0"])
            try:
                try:
                    plain.popen.wait(2)
                except subprocess.TimeoutExpired:
                    pass
                check(plain.lines() == [], "no announcement without CURVE keys")
            finally:
                plain.kill()
    print("ok" + (" (CURVE)" if curve else ""))


if __name__ == "__main__":
    main()
