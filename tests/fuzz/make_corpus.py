"""make_corpus.py -- writes the fuzz targets' seed corpus (tests/fuzz/corpus/) from a real
publisher: announcements as herald-pub sends them (records, a heartbeat, a replay end),
replay requests (a selector byte, then the ReplayRequest), and the sample catalogue as JSON
and NDJSON for the import.

    HERALD_BIN=build/bin /usr/bin/python3 tests/fuzz/make_corpus.py
"""
import hashlib
import json
import os
import sys

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import Procs, store, tcp, wait_until, workdir  # noqa: E402


def put(target, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def request(after=0, since=0, topics=(), limit=0, snapshot=False):
    out = b""
    if after:
        out += b"\x08" + varint(after)
    if since:
        out += b"\x10" + varint(since)
    for t in topics:
        out += b"\x1a" + varint(len(t)) + t.encode()
    if limit:
        out += b"\x20" + varint(limit)
    if snapshot:
        out += b"\x28\x01"
    return out


def main():
    with workdir() as w, Procs() as procs:
        db = os.path.join(w, "h.db")
        store(db, "init", "--sample")
        last = json.loads(store(db, "changes").stdout.splitlines()[-1])  # for an id-only body
        store(db, "delete-press-release" if last.get("type") == "press_release" else
              "delete-event", last["id"])
        exported = store(db, "export").stdout
        put("fuzz_import", exported.encode())
        doc = json.loads(exported)
        lines = []
        for key, kind in (("events", "event"), ("press_releases", "press_release")):
            for rec in doc.get(key, []):
                lines.append(json.dumps(dict(rec, type=kind), ensure_ascii=False))
        put("fuzz_import", ("\n".join(lines) + "\n").encode())
        put("fuzz_import", (lines[0] + "\n").encode())
        pub_ep, rep_ep = tcp(), tcp()
        procs.start("pub", ["herald-pub", "--db", db, "--bind", pub_ep, "--replay-bind", rep_ep,
                            "--heartbeat-ms", "100"], w)
        ctx = zmq.Context()
        sub = ctx.socket(zmq.SUB)
        sub.subscribe(b"hb")
        sub.connect(pub_ep)
        wait_until(lambda: sub.poll(100), 10, "a heartbeat")
        put("fuzz_announcement", sub.recv_multipart()[1])
        dealer = ctx.socket(zmq.DEALER)
        dealer.connect(rep_ep)
        for req in (request(), request(snapshot=True)):
            dealer.send(req)
            while True:
                topic, body = dealer.recv_multipart()
                put("fuzz_announcement", body)
                if topic == b"replay.end":
                    break
        for sel in range(4):
            for req in (request(), request(after=3, limit=2), request(topics=["press."]),
                        request(topics=["event.", "hb", ""]), request(snapshot=True, after=1),
                        request(since=1700000000000, topics=["event.conference.FR."]),
                        request(limit=20000)):
                put("fuzz_replay_request", bytes([sel]) + req)
                put("fuzz_announcement", req)
        sub.close(0)
        dealer.close(0)
        ctx.term()


if __name__ == "__main__":
    main()
