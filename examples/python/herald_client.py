#!/usr/bin/python3
"""herald_client.py -- a small Herald subscriber in Python, written from docs/protocol.md
alone: topic filters, replay from a seq (the DEALER exchange), gap healing, and CURVE.
Prints one JSON line per record announcement on stdout.

    herald_client.py --connect tcp://127.0.0.1:7700 --replay tcp://127.0.0.1:7701 \\
        [--topic event.conference. ...] [--from-seq 0] \\
        [--secret-file agency.key --server-key server.pub] [--count N]

Needs Debian's python3-zmq, python3-protobuf and protobuf-compiler: the bindings are
generated from proto/herald/v1/announcement.proto by `protoc --python_out` into a temporary
directory at start (HERALD_PROTO_DIR points elsewhere than ../../proto).
"""
import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile

import zmq
from google.protobuf.json_format import MessageToDict

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = 1000          # replay limit per request
TIMEOUT_MS = 3000    # Lazy Pirate: no replay.end within this, retry on a new DEALER
RETRIES = 3


def load_bindings(tmp):
    proto_dir = os.environ.get("HERALD_PROTO_DIR", os.path.join(HERE, "..", "..", "proto"))
    subprocess.run(["protoc", "-I", proto_dir, "--python_out", tmp,
                    os.path.join(proto_dir, "herald", "v1", "announcement.proto")], check=True)
    sys.path.insert(0, tmp)
    return importlib.import_module("herald.v1.announcement_pb2")


def read_key(path):
    """A Herald key file: the Z85 key on the first line."""
    with open(path, "rb") as f:
        key = f.readline().strip()
    if len(key) != 40:
        sys.exit(f"herald_client: {path}: the first line is not a 40-character Z85 key")
    return key


class Client:
    def __init__(self, args, pb):
        self.args, self.pb = args, pb
        self.ctx = zmq.Context()
        self.keys = None
        if args.secret_file:
            secret = read_key(args.secret_file)
            self.keys = (secret, zmq.curve_public(secret), read_key(args.server_key))
        self.topics = args.topic or []
        self.sub = self.socket(zmq.SUB)
        for t in self.topics or [""]:
            self.sub.setsockopt(zmq.SUBSCRIBE, t.encode())
        self.sub.setsockopt(zmq.SUBSCRIBE, b"hb")
        self.sub.connect(args.connect)
        self.dealer = None
        self.stream, self.last, self.printed = None, None, 0

    def socket(self, kind):
        s = self.ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        if self.keys:
            s.curve_secretkey, s.curve_publickey, s.curve_serverkey = self.keys
        return s

    def new_dealer(self):
        if self.dealer is not None:
            self.dealer.close()
        self.dealer = self.socket(zmq.DEALER)
        self.dealer.connect(self.args.replay)

    def request(self, after_seq):
        """One replay request and its answer: ([(topic, Announcement)], end Announcement)."""
        # batch: the announcements come packed, ~150 to a ReplayBatch message
        req = self.pb.ReplayRequest(after_seq=after_seq, topics=self.topics, limit=PAGE,
                                    batch=True)
        for _ in range(RETRIES):
            if self.dealer is None:
                self.new_dealer()
            self.dealer.send(req.SerializeToString())
            out = []
            while self.dealer.poll(TIMEOUT_MS):
                topic, body = self.dealer.recv_multipart()
                if topic == b"replay.batch":
                    out.extend((topic, a) for a in
                               self.pb.ReplayBatch.FromString(body).announcements)
                    continue
                a = self.pb.Announcement.FromString(body)
                if topic == b"replay.end":
                    return out, a
                out.append((topic, a))
            self.new_dealer()  # Lazy Pirate: a late answer goes to the closed socket
        sys.exit(f"herald_client: no answer from {self.args.replay}")

    def catch_up(self):
        after = self.last or 0
        while True:
            anns, end = self.request(after)
            if end.replay_end.error:
                print(f"herald_client: replay refused: {end.replay_end.error}", file=sys.stderr)
                return
            if not end.stream_id:
                return  # the publisher cannot read its store now: ask again later
            self.check_stream(end.stream_id)
            for _, a in anns:
                self.emit(a)
            after = max(after, end.replay_end.last_seq)
            if end.replay_end.last_seq >= end.replay_end.head_seq:
                break
        self.last = max(self.last or 0, after)

    def check_stream(self, stream_id):
        if self.stream is None:
            self.stream = stream_id
        elif stream_id != self.stream:
            print(f"herald_client: new stream {stream_id}: the store was recreated",
                  file=sys.stderr)
            self.stream, self.last = stream_id, 0

    def emit(self, a):
        body = a.WhichOneof("body")
        if body not in ("event", "press_release") or a.change not in (1, 2, 3, 4):
            return  # unknown body or change: skip (evolution rules)
        if self.last is not None and a.seq <= self.last:
            return
        rec = MessageToDict(getattr(a, body), preserving_proto_field_name=True)
        line = {"seq": a.seq, "stream_id": a.stream_id,
                "change": self.pb.Change.Name(a.change).lower(), "type": body,
                "committed_at_ms": a.committed_at_ms, **rec}
        print(json.dumps(line, ensure_ascii=False), flush=True)
        self.last = a.seq
        self.printed += 1
        if self.args.count and self.printed >= self.args.count:
            sys.exit(0)

    def run(self):
        if self.args.from_seq is not None:
            self.last = self.args.from_seq
            if self.args.replay:
                self.catch_up()
        while True:
            topic, body = self.sub.recv_multipart()
            a = self.pb.Announcement.FromString(body)
            if topic == b"hb":
                self.check_stream(a.stream_id)
                if self.last is None:
                    self.last = a.heartbeat.head_seq  # from the live head on
                elif a.heartbeat.head_seq > self.last and self.args.replay:
                    self.catch_up()
                continue
            self.check_stream(a.stream_id)
            if self.last is None:
                self.last = a.seq - 1
            if a.seq > self.last + 1 and not self.topics and self.args.replay:
                self.catch_up()  # brings a too
            else:
                self.emit(a)


def main():
    p = argparse.ArgumentParser(description="A Herald subscriber in Python.")
    p.add_argument("--connect", required=True, help="the live PUB endpoint")
    p.add_argument("--replay", help="the replay ROUTER endpoint")
    p.add_argument("--topic", action="append", help="a topic prefix (repeatable)")
    p.add_argument("--from-seq", type=int, help="replay the changes after this seq first")
    p.add_argument("--secret-file", help="CURVE: our secret key file (Z85, first line)")
    p.add_argument("--server-key", help="CURVE: the publisher's public key file")
    p.add_argument("--count", type=int, help="exit after printing this many")
    args = p.parse_args()
    if bool(args.secret_file) != bool(args.server_key):
        p.error("--secret-file and --server-key go together")
    with tempfile.TemporaryDirectory(prefix="herald-proto-") as tmp:
        pb = load_bindings(tmp)
        try:
            Client(args, pb).run()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
