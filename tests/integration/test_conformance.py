"""The conformance kit: the Python example client (examples/python/herald_client.py) passes
the wire test vectors (tests/vectors/) and gets through the scripted peer (scripts/peer.sh):
a snapshot whose newest changes are deletions ends, live changes, a gap healed by replay, a
store restored from an older backup (a refusal, then a resync), a recreated store. A raw
ZMTP/2.0 subscriber that connects, works and leaves is not logged as a failed handshake."""
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, SRC, check, fail, free_port, wait_until, workdir  # noqa

CLIENT = os.path.join(SRC, "examples", "python", "herald_client.py")
PEER = os.path.join(SRC, "scripts", "peer.sh")


def test_vectors():
    r = subprocess.run(["/usr/bin/python3", CLIENT, "--check-vectors",
                        os.path.join(SRC, "tests", "vectors")], capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 0, f"the vectors: {r.stdout} {r.stderr}")
    check(" 0 failures" in r.stdout, r.stdout)


def jsonl(path):
    out = []
    with open(path, "rb") as f:
        for line in f.read().split(b"\n"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass  # the protobuf library's own complaints, a partial last line
    return out


def zmtp2_subscriber(port):
    """A ZMTP/2.0 SUB written by hand (another ZeroMQ implementation): greeting, an empty
    identity, a subscription to "hb"; returns once a heartbeat arrived, then leaves."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"\xff" + b"\0" * 8 + b"\x7f" + b"\x01" + b"\x02" + b"\x00\x00")
    s.sendall(b"\x00\x03\x01hb")
    data = b""
    while b"hb" not in data[12:]:
        chunk = s.recv(4096)
        if not chunk:
            fail("the ZMTP/2.0 subscriber was disconnected")
        data += chunk
    s.close()


def test_peer():
    with workdir() as w:
        pub_port, rep_port = free_port(), free_port()
        pub_ep, rep_ep = f"tcp://127.0.0.1:{pub_port}", f"tcp://127.0.0.1:{rep_port}"
        peer_out = open(os.path.join(w, "peer.out"), "wb")
        peer = subprocess.Popen(["bash", PEER, "--step", "enter", "--dir", os.path.join(w, "p"),
                                 "--pub", pub_ep, "--replay", rep_ep], stdin=subprocess.PIPE,
                                stdout=peer_out, env=dict(os.environ, HERALD_BIN=BIN))
        client = None
        try:
            def phase(name):
                with open(os.path.join(w, "peer.out")) as f:
                    return [l for l in f if l.startswith(f"peer: {name} ")]

            def next_phase():
                peer.stdin.write(b"\n")
                peer.stdin.flush()

            wait_until(lambda: phase("ready"), 30, "the peer's ready phase")
            out, err = os.path.join(w, "client.out"), os.path.join(w, "client.err")
            client = subprocess.Popen(["/usr/bin/python3", CLIENT, "--connect", pub_ep,
                                       "--replay", rep_ep, "--snapshot"],
                                      stdout=open(out, "wb"), stderr=open(err, "wb"))
            notes = lambda kind: [n for n in jsonl(err) if n.get("note") == kind]  # noqa
            ids = lambda: {l["id"] for l in jsonl(out) if "id" in l}  # noqa

            # ready: the snapshot of a store whose newest changes are deletions ends, in one
            # page, at the head; the deleted records are not in it
            head = int(phase("ready")[0].split("head=")[1].split()[0])
            snap = wait_until(lambda: [n for n in notes("caught_up") if n["snapshot"]], 20,
                              "the snapshot's end")[0]
            check(snap["last_seq"] == head and snap["requests"] == 1, f"snapshot: {snap}")
            check(ids() == {"ev-1", "ev-2", "ev-3", "ev-4", "ev-5", "ev-6", "pr-1"},
                  f"the snapshot's records: {sorted(ids())}")
            moved = [l for l in jsonl(out) if l.get("id") == "ev-2"][-1]
            check(moved["topic"] == "event.conference.DE." and moved["country"] == "DE",
                  f"a batched announcement routed by its topic: {moved}")
            zmtp2_subscriber(pub_port)

            next_phase()  # live
            wait_until(lambda: {f"live-{i}" for i in range(1, 6)} <= ids(), 20, "live changes")
            next_phase()  # gap
            wait_until(lambda: {f"gap-{i}" for i in range(1, 7)} <= ids(), 20, "the gap healed")
            next_phase()  # restored
            wait_until(lambda: "restored-1" in ids(), 20, "the change after the restore")
            refused = notes("refused")
            check(refused and "beyond the head" in refused[0]["error"], f"refusal: {refused}")
            next_phase()  # recreated
            wait_until(lambda: notes("new_stream"), 20, "the new stream noticed")
            wait_until(lambda: "new-1" in ids(), 20, "the new store's record")
            stream = notes("new_stream")[-1]["stream_id"]
            check(not [l for l in jsonl(out) if l.get("stream_id") == stream and
                       l.get("id") == "new-2"], "a record deleted before the snapshot is absent")
            next_phase()  # done
            check(peer.wait(30) == 0, "the peer script exits 0")
            with open(os.path.join(w, "peer.out")) as f:
                check(f.read().rstrip().endswith("peer: done"), "the peer's last line")
            with open(os.path.join(w, "p", "publisher.log")) as f:
                log = f.read()
            check("pub.handshake_failed" not in log,
                  "no failed handshake logged for clients that worked (ZMTP/2.0 included)")
        finally:
            if client:
                client.kill()
                client.wait()
            if peer.poll() is None:
                peer.terminate()  # its EXIT trap stops the publisher
                try:
                    peer.wait(10)
                except subprocess.TimeoutExpired:
                    peer.kill()
                    peer.wait()
            peer_out.close()


def main():
    test_vectors()
    test_peer()
    print("ok")


if __name__ == "__main__":
    main()
