#!/usr/bin/python3
"""herald_client.py -- a small Herald subscriber in Python, written from docs/protocol.md
alone: topic filters, replay from a seq or a snapshot (the DEALER exchange, batches routed by
their topics), validation, gap healing, a recreated store, and CURVE. Prints one JSON line per
record announcement on stdout, and one JSON line per protocol event (a gap healed, a new
stream, a refusal, an announcement dropped) on stderr.

    herald_client.py --connect tcp://127.0.0.1:7700 --replay tcp://127.0.0.1:7701 \\
        [--topic event.conference. ...] [--from-seq 0 | --snapshot] \\
        [--secret-file agency.key --server-key server.pub] [--count N]
    herald_client.py --check-vectors tests/vectors    # the conformance kit's test vectors

Needs Debian's python3-zmq, python3-protobuf and protobuf-compiler: the bindings are
generated from proto/herald/v1/announcement.proto by `protoc --python_out` into a temporary
directory at start (HERALD_PROTO_DIR points elsewhere than ../../proto).
"""
import argparse
import importlib
import json
import os
import re
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


# ---------------------------------------------------------------------------------------
# Validation: docs/protocol.md, "Validation" and the field tables

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ID = re.compile(r"[A-Za-z0-9._~:-]{1,200}")
KIND = re.compile(r"[a-z0-9-]{1,64}")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
CREATED, UPDATED, CANCELLED, DELETED = 1, 2, 3, 4
SCHEDULED, STATUS_CANCELLED = 1, 2


class Skip(Exception):
    """A value this client does not know (a newer publisher): skip, not an error."""


def text_problem(name, value, required=False, limit=4096, multiline=False):
    """One text field: required, at most limit bytes of UTF-8, no control characters (C0 and
    DEL; C1 is text), a summary may hold \\n and \\t (not \\r)."""
    if required and not value:
        return f"{name}: missing"
    if len(value.encode("utf-8", "surrogatepass")) > limit:
        return f"{name}: longer than {limit} bytes"
    for c in value:
        if (c < " " or c == "\x7f") and not (multiline and c in "\n\t"):
            return f"{name}: a control character U+{ord(c):04X}"
        if "\ud800" <= c <= "\udfff":
            return f"{name}: not valid UTF-8"
    return None


def date_problem(name, value):
    import datetime
    try:
        if not DATE.fullmatch(value):
            raise ValueError
        datetime.date.fromisoformat(value)
    except ValueError:
        return f"{name}: not a date ({value!r})"
    return None


def url_problem(name, value):
    if not value:
        return None
    if not re.fullmatch(r"https?://\S+", value):
        return f"{name}: not an http:// or https:// URL"
    return text_problem(name, value)


def id_only(a):
    """The body carries the id alone: the record is gone (never apply it as a record)."""
    body = a.WhichOneof("body")
    if body == "event":
        e = a.event
        return bool(e.id) and not (e.kind or e.title or e.start_date or e.end_date or e.city or
                                   e.country or e.summary or e.url or e.cancel_reason or
                                   len(e.people) or e.version or e.status)
    if body == "press_release":
        p = a.press_release
        return bool(p.id) and not (p.event_id or p.title or p.published_on or p.url or
                                   p.summary)
    return False


def event_problem(a):
    e = a.event
    if e.status not in (0, SCHEDULED, STATUS_CANCELLED):
        raise Skip(f"event.status: unknown value {e.status}")
    checks = [
        text_problem("event.kind", e.kind, True, 64)
        or (None if KIND.fullmatch(e.kind) else "event.kind: not a lower-case token"),
        text_problem("event.title", e.title, True),
        date_problem("event.start_date", e.start_date),
        date_problem("event.end_date", e.end_date),
        None if e.end_date >= e.start_date else "event.end_date: before start_date",
        text_problem("event.city", e.city),
        None if re.fullmatch(r"[A-Z]{2}", e.country) else "event.country: two upper-case letters",
        text_problem("event.summary", e.summary, limit=65536, multiline=True),
        url_problem("event.url", e.url),
        None if e.status else "event.status: unspecified",
        None if a.change != CANCELLED or e.status == STATUS_CANCELLED else
        "event.status: not cancelled in a cancelled announcement",
        text_problem("event.cancel_reason", e.cancel_reason),
        None if len(e.people) <= 64 else "event.people: more than 64",
        None if e.version >= 1 else "event.version: must be at least 1",
    ]
    for person in e.people:
        checks.append(text_problem("event.people.name", person.name, True))
        checks.append(text_problem("event.people.role", person.role))
    return next((c for c in checks if c), None)


def press_problem(a):
    p = a.press_release
    if a.change == CANCELLED:
        return "change: a press release cannot be cancelled"
    checks = [
        None if not p.event_id or ID.fullmatch(p.event_id) else "press_release.event_id: bad",
        text_problem("press_release.title", p.title, True),
        date_problem("press_release.published_on", p.published_on),
        url_problem("press_release.url", p.url),
        text_problem("press_release.summary", p.summary, limit=65536, multiline=True),
    ]
    return next((c for c in checks if c), None)


def problem(a):
    """Why a decoded Announcement must not be applied (a string), or None if it is valid.
    Raises Skip for values of a newer publisher (unknown body, change or status)."""
    body = a.WhichOneof("body")
    if body is None:
        return "body: none (or of an unknown type)"
    if a.change not in (0, CREATED, UPDATED, CANCELLED, DELETED):
        raise Skip(f"change: unknown value {a.change}")
    refusal = body == "replay_end" and a.replay_end.error
    if not UUID.fullmatch(a.stream_id) and not (refusal and a.stream_id == ""):
        return "stream_id: not a canonical lower-case UUID"
    if body == "heartbeat":
        if a.change:
            return "change: not CHANGE_UNSPECIFIED in a heartbeat"
        return None if a.seq == a.heartbeat.head_seq else "seq: differs from head_seq"
    if body == "replay_end":
        end = a.replay_end
        if a.change:
            return "change: not CHANGE_UNSPECIFIED in a replay end"
        if a.seq != end.last_seq:
            return "seq: differs from last_seq"
        if not end.error and end.last_seq > end.head_seq:
            return "replay_end.last_seq: beyond head_seq"
        return text_problem("replay_end.error", end.error)
    if a.seq < 1:
        return "seq: 0 in a record announcement"
    if a.change == 0:
        return "change: unspecified in a record announcement"
    rec = getattr(a, body)
    if not ID.fullmatch(rec.id):
        return f"{body}.id: not an id"
    if id_only(a):
        return None  # any change may come with the id alone (the record is gone)
    if a.change == DELETED:
        return "a DELETED announcement carries the id alone"
    return event_problem(a) if body == "event" else press_problem(a)


def topic_of(a):
    """The topic an announcement travels on, rebuilt from a full body (an older publisher's
    batch has no topics; an id-only event body has no kind or country: None)."""
    if a.WhichOneof("body") == "press_release":
        return "press."
    if a.WhichOneof("body") == "event" and a.event.kind and a.event.country:
        return f"event.{a.event.kind}.{a.event.country}."
    return None


def to_json(msg):
    """A decoded message as the test vectors write it: every field by its .proto name,
    defaults included, integers as numbers, enums by name, of a oneof only the member set."""
    out = {}
    for f in msg.DESCRIPTOR.fields:
        if f.containing_oneof is not None and msg.WhichOneof(f.containing_oneof.name) != f.name:
            continue
        value = getattr(msg, f.name)
        if f.label == f.LABEL_REPEATED:
            out[f.name] = [to_json(v) if f.message_type else v for v in value]
        elif f.message_type:
            out[f.name] = to_json(value)
        elif f.enum_type:
            known = f.enum_type.values_by_number.get(value)
            out[f.name] = known.name if known else value
        else:
            out[f.name] = value
    return out


def check_vectors(pb, folder):
    """The conformance kit's test vectors: every valid one decodes to its JSON and is valid,
    every invalid one fails to decode or is refused. Returns the failures (strings)."""
    failures = []
    names = sorted(n[:-5] for n in os.listdir(folder) if n.endswith(".json") and
                   n != "README.json")
    for name in names:
        with open(os.path.join(folder, name + ".json"), encoding="utf-8") as f:
            want = json.load(f)
        with open(os.path.join(folder, name + ".bin"), "rb") as f:
            data = f.read()
        msg = getattr(pb, want["message"]).FromString(data)
        if to_json(msg) != want["decoded"]:
            failures.append(f"{name}: decodes differently")
        anns = msg.announcements if want["message"] == "ReplayBatch" else (
            [msg] if want["message"] == "Announcement" else [])
        for a in anns:
            why = problem(a)
            if why:
                failures.append(f"{name}: refused: {why}")
        if want["message"] == "Announcement" and want["id_only"] is not None and \
                id_only(msg) != want["id_only"]:
            failures.append(f"{name}: id_only {id_only(msg)}")
        if want["message"] == "ReplayBatch":
            topics = list(msg.topics) or [topic_of(a) for a in anns]
            if topics != want["decoded"]["topics"]:
                failures.append(f"{name}: topics {topics}")
    bad = os.path.join(folder, "invalid")
    for name in sorted(n[:-5] for n in os.listdir(bad) if n.endswith(".json")):
        with open(os.path.join(bad, name + ".bin"), "rb") as f:
            data = f.read()
        try:
            why = problem(pb.Announcement.FromString(data))
        except Skip as e:
            why = str(e)
        except Exception as e:  # the protobuf library refuses it (bad UTF-8, truncated)
            why = f"does not decode: {e}"
        if not why:
            failures.append(f"invalid/{name}: accepted")
    return failures, len(names)


def note(event, **fields):
    """A protocol event on stderr, as one JSON line."""
    print(json.dumps({"note": event, **fields}, ensure_ascii=False), file=sys.stderr,
          flush=True)


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
        self.seen, self.snapshotting = {}, False

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

    def request(self, after_seq, snapshot=False):
        """One replay request and its answer: ([(topic, Announcement)], end Announcement)."""
        # batch: the announcements come packed, ~150 to a ReplayBatch message
        req = self.pb.ReplayRequest(after_seq=after_seq, topics=self.topics, limit=PAGE,
                                    batch=True, snapshot=snapshot)
        for _ in range(RETRIES):
            if self.dealer is None:
                self.new_dealer()
            self.dealer.send(req.SerializeToString())
            out = []
            while self.dealer.poll(TIMEOUT_MS):
                topic, body = self.dealer.recv_multipart()
                if topic == b"replay.batch":
                    # topics[i] is announcements[i]'s topic (none from an older publisher)
                    batch = self.pb.ReplayBatch.FromString(body)
                    topics = list(batch.topics)
                    for i, a in enumerate(batch.announcements):
                        t = topics[i] if i < len(topics) else topic_of(a)
                        out.append((t.encode() if t is not None else None, a))
                    continue
                a = self.pb.Announcement.FromString(body)
                if topic == b"replay.end":
                    return out, a
                out.append((topic, a))
            self.new_dealer()  # Lazy Pirate: a late answer goes to the closed socket
        sys.exit(f"herald_client: no answer from {self.args.replay}")

    def catch_up(self, snapshot=False):
        """Pages a replay as docs/protocol.md says: after_seq = last_seq until last_seq >=
        head_seq; after a snapshot, the changes after the first page's head_seq."""
        after, first_head, requests = self.last or 0, None, 0
        while True:
            anns, end = self.request(after, snapshot)
            requests += 1
            if end.replay_end.error:
                note("refused", error=end.replay_end.error, after_seq=after)
                return False
            if not end.stream_id:
                return False  # the publisher cannot read its store now: ask again later
            if self.check_stream(end.stream_id):
                return self.catch_up(snapshot)  # a new stream: start again from 0
                # (check_stream dropped our state; the answer is paged again from 0)
            for topic, a in anns:
                self.emit(a, topic)
            if first_head is None:
                first_head = end.replay_end.head_seq
            after = max(after, end.replay_end.last_seq)
            if end.replay_end.last_seq >= end.replay_end.head_seq:
                break
        note("caught_up", snapshot=snapshot, last_seq=after, requests=requests)
        if snapshot:
            self.last = first_head  # then the changes made while paging
            return self.catch_up(False)
        self.last = max(self.last or 0, after)
        return True

    def check_stream(self, stream_id):
        """True if stream_id is a new stream (the store was recreated): state is reset."""
        if self.stream is None:
            self.stream = stream_id
        elif stream_id != self.stream:
            note("new_stream", stream_id=stream_id, was=self.stream)
            self.stream, self.last, self.seen = stream_id, 0, {}
            return True
        return False

    def emit(self, a, topic=None):
        try:
            why = problem(a)
        except Skip as e:
            why = None
            note("skipped", seq=a.seq, reason=str(e))
            return
        if why:
            note("dropped", seq=a.seq, reason=why)
            return
        body = a.WhichOneof("body")
        if body not in ("event", "press_release"):
            return
        # Routing: the topic it travelled on (a batch's topics[i]), as the live feed gives it
        topic = topic.decode() if isinstance(topic, bytes) else topic
        if self.topics and topic is not None and not any(topic.startswith(p)
                                                         for p in self.topics):
            return
        key = (body, getattr(a, body).id)
        if a.seq <= self.seen.get(key, 0):
            return  # the per-record rule: an older seq of a record already applied
        if self.last is not None and a.seq <= self.last and not self.snapshotting:
            return
        self.seen[key] = a.seq
        rec = MessageToDict(getattr(a, body), preserving_proto_field_name=True)
        line = {"seq": a.seq, "stream_id": a.stream_id,
                "change": self.pb.Change.Name(a.change).lower(), "type": body,
                "committed_at_ms": a.committed_at_ms, "topic": topic, "id_only": id_only(a),
                **rec}
        print(json.dumps(line, ensure_ascii=False), flush=True)
        self.last = max(self.last or 0, a.seq)
        self.printed += 1
        if self.args.count and self.printed >= self.args.count:
            sys.exit(0)

    def resync(self):
        """Drops every record held and starts again from a snapshot (a new stream, or a store
        with less history than we applied)."""
        note("resync", stream_id=self.stream)
        self.seen, self.last, self.snapshotting = {}, 0, True
        self.catch_up(snapshot=True)
        self.snapshotting = False

    def run(self):
        if self.args.snapshot and self.args.replay:
            self.resync()
        elif self.args.from_seq is not None:
            self.last = self.args.from_seq
            if self.args.replay:
                self.catch_up()
        while True:
            topic, body = self.sub.recv_multipart()
            try:
                a = self.pb.Announcement.FromString(body)
            except Exception as e:  # not an Announcement (bad UTF-8, truncated): drop it
                note("dropped", reason=f"does not decode: {e}")
                continue
            if topic == b"hb":
                if self.check_stream(a.stream_id) and self.args.replay:
                    self.resync()  # a recreated store: everything again from 0
                if self.last is None:
                    self.last = a.heartbeat.head_seq  # from the live head on
                elif a.heartbeat.head_seq > self.last and self.args.replay:
                    note("gap", last=self.last, head_seq=a.heartbeat.head_seq)
                    self.catch_up()
                elif a.heartbeat.head_seq < self.last and self.args.replay:
                    # Same stream, less history than we applied (restored from an older
                    # backup?): a replay from our last is refused ("beyond the head"); then
                    # everything we hold is suspect: resync.
                    note("head_behind", last=self.last, head_seq=a.heartbeat.head_seq)
                    if not self.catch_up():
                        self.resync()
                continue
            if self.check_stream(a.stream_id) and self.args.replay:
                self.resync()
                continue
            if self.last is None:
                self.last = a.seq - 1
            if a.seq > self.last + 1 and not self.topics and self.args.replay:
                note("gap", last=self.last, seq=a.seq)
                self.catch_up()  # brings a too
            else:
                self.emit(a, topic)


def main():
    p = argparse.ArgumentParser(description="A Herald subscriber in Python.")
    p.add_argument("--connect", help="the live PUB endpoint")
    p.add_argument("--replay", help="the replay ROUTER endpoint")
    p.add_argument("--topic", action="append", help="a topic prefix (repeatable)")
    p.add_argument("--from-seq", type=int, help="replay the changes after this seq first")
    p.add_argument("--snapshot", action="store_true",
                   help="start from a snapshot of the catalogue (then the live feed)")
    p.add_argument("--check-vectors", metavar="DIR",
                   help="check the decoder against the test vectors in DIR and exit")
    p.add_argument("--secret-file", help="CURVE: our secret key file (Z85, first line)")
    p.add_argument("--server-key", help="CURVE: the publisher's public key file")
    p.add_argument("--count", type=int, help="exit after printing this many")
    args = p.parse_args()
    if bool(args.secret_file) != bool(args.server_key):
        p.error("--secret-file and --server-key go together")
    with tempfile.TemporaryDirectory(prefix="herald-proto-") as tmp:
        pb = load_bindings(tmp)
        if args.check_vectors:
            failures, count = check_vectors(pb, args.check_vectors)
            for f in failures:
                print(f"herald_client: vector {f}", file=sys.stderr)
            print(f"{count} vectors, {len(failures)} failures")
            sys.exit(1 if failures else 0)
        if not args.connect:
            p.error("--connect is required")
        try:
            Client(args, pb).run()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
