"""test_publisher.py -- herald-pub on its own, seen through raw ZeroMQ sockets: the sample
records arrive live with their topics in seq order, replay answers (count, limit, filter,
snapshot, replay.end), garbage on the replay socket is answered with an error while the
service goes on, SIGTERM exits 0 quickly, and a restarted publisher sends what was committed
while it was down.

Announcements are read with a minimal protobuf reader (varints and length-delimited fields
only), so the test needs nothing beyond the standard library and python3-zmq."""
import os
import signal
import subprocess
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(__file__))
from harness import (Procs, check, fail, fields, first, store, tcp, wait_until,  # noqa: E402
                     workdir)


def announcement(body):
    """(stream_id, seq, fields) of an Announcement (stream_id is field 1, seq field 2)."""
    f = fields(body)
    return first(f, 1, b"").decode(), first(f, 2), f


def replay_end(body):
    """(last_seq, head_seq, error, stream_id) of a replay.end Announcement (field 8)."""
    stream_id, _, f = announcement(body)
    check(8 in f, "a replay.end announcement carries a ReplayEnd body")
    e = fields(first(f, 8, b""))
    return first(e, 1), first(e, 2), first(e, 3, b"").decode(), stream_id


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def request(after_seq=0, limit=0, snapshot=False, topics=(), batch=False):
    """A ReplayRequest: 1 after_seq, 3 topics, 4 limit, 5 snapshot, 6 batch."""
    out = b""
    if after_seq:
        out += b"\x08" + varint(after_seq)
    for t in topics:
        out += b"\x1a" + varint(len(t)) + t
    if limit:
        out += b"\x20" + varint(limit)
    if snapshot:
        out += b"\x28\x01"
    if batch:
        out += b"\x30\x01"
    return out


# -- helpers ----------------------------------------------------------------------------

def ask(sock, frames, timeout=5.0):
    """Sends frames on a DEALER and reads the answer up to replay.end: ([(topic, seq)], end
    body)."""
    sock.send_multipart(frames)
    got, deadline = [], time.monotonic() + timeout
    for _ in range(20000):
        left = deadline - time.monotonic()
        if left <= 0 or not sock.poll(int(left * 1000)):
            fail(f"no replay.end within {timeout}s (got {len(got)} announcements)")
        msg = sock.recv_multipart()
        check(len(msg) == 2, f"an answer message has two frames: {msg!r}")
        if msg[0] == b"replay.end":
            return got, msg[1]
        got.append((msg[0], announcement(msg[1])[1]))
    fail("an answer without end")


def ask_bodies(sock, req, timeout=5.0):
    """Sends one request and reads its answer: ([announcement bytes], [message topics], end
    body). A [replay.batch][ReplayBatch] message contributes each of its announcements."""
    sock.send(req)
    bodies, topics, deadline = [], [], time.monotonic() + timeout
    for _ in range(20000):
        left = deadline - time.monotonic()
        if left <= 0 or not sock.poll(int(left * 1000)):
            fail(f"no replay.end within {timeout}s (got {len(bodies)} announcements)")
        topic, body = sock.recv_multipart()
        topics.append(topic)
        if topic == b"replay.end":
            return bodies, topics, body
        if topic == b"replay.batch":
            f = fields(body)
            check(set(f) <= {1, 2}, f"a ReplayBatch holds fields 1 and 2 only: {sorted(f)}")
            check(len(f.get(2, [])) == len(f.get(1, [])),
                  "a ReplayBatch holds one topic per announcement")
            bodies.extend(f.get(1, []))
        else:
            bodies.append(body)
    fail("an answer without end")


def collect(sub, until, timeout, what, raw=None):
    """Reads [topic][body] from the SUB until until(messages) is true; the record bodies also
    go to raw, when given."""
    msgs, deadline = [], time.monotonic() + timeout
    while not until(msgs):
        left = deadline - time.monotonic()
        if left <= 0:
            fail(f"timed out after {timeout}s waiting for {what}; got "
                 f"{[(t, s) for t, _, s in msgs][-20:]}")
        if sub.poll(int(min(left, 0.2) * 1000)):
            topic, body = sub.recv_multipart()
            stream_id, seq, _ = announcement(body)
            msgs.append((topic, stream_id, seq))
            if raw is not None and topic != b"hb":
                raw.append(body)
    return msgs


def head_of(db):
    return int(store(db, "head").stdout)


def start_pub(procs, name, db, pub_ep, rep_ep, w):
    p = procs.start(name, ["herald-pub", "--db", db, "--bind", pub_ep, "--replay-bind",
                           rep_ep, "--heartbeat-ms", "100"], w)
    started = wait_until(lambda: p.logged("pub.started") or (not p.alive() and fail(
        f"{name} exited {p.popen.returncode} before starting")), 20, f"{name} to start")
    return p, started[0]


def main():
    with workdir() as w, Procs() as procs:
        ctx = zmq.Context()
        db = os.path.join(w, "pub.db")
        sample = os.path.join(w, "sample.db")
        store(db, "init")
        store(sample, "init", "--sample")
        sample_json = os.path.join(w, "sample.json")
        with open(sample_json, "w") as f:
            f.write(store(sample, "export").stdout)

        pub_ep, rep_ep = tcp(), tcp()
        pub, started = start_pub(procs, "pub", db, pub_ep, rep_ep, w)
        stream_id = started["stream_id"]
        check(started["cursor"] == 0 and started["head"] == 0, f"pub.started: {started}")

        # Both listeners queue a storm of agencies (ZMQ_BACKLOG 4096, capped by somaxconn),
        # not libzmq's 100: ss shows a listener's backlog as its Send-Q.
        with open("/proc/sys/net/core/somaxconn") as f:
            want = min(4096, int(f.read()))
        for ep in (pub_ep, rep_ep):
            port = ep.rsplit(":", 1)[1]
            out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True,
                                 text=True).stdout.split()
            check(len(out) >= 3 and int(out[2]) == want, f"the backlog of {ep}: ss says {out}")

        # Live: subscribe, wait for a heartbeat (the SUB is then connected), then commit the
        # sample records from another process.
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(pub_ep)
        collect(sub, lambda m: any(t == b"hb" for t, _, _ in m), 10, "a heartbeat")
        store(db, "import", sample_json)
        head = head_of(db)
        check(head >= 10, f"the sample makes at least 10 changes (head {head})")
        raw = []
        msgs = collect(sub, lambda m: any(t != b"hb" and s >= head for t, _, s in m), 10,
                       "the sample announcements", raw)
        live = [(t, sid, s) for t, sid, s in msgs if t != b"hb"]
        check([s for _, _, s in live] == list(range(1, head + 1)),
              f"live seqs in order without gap: {[s for _, _, s in live]}")
        check(all(sid == stream_id for _, sid, _ in live), "every announcement names the stream")
        for t, _, s in live:
            check(t == b"press." or (t.startswith(b"event.") and t.endswith(b".") and
                                     t.count(b".") == 3), f"topic of seq {s}: {t!r}")
        press = sum(1 for t, _, _ in live if t == b"press.")
        check(0 < press < head, f"the sample has events and press releases ({press} press)")
        hb = collect(sub, lambda m: any(t == b"hb" and s == head for t, _, s in m), 5,
                     f"a heartbeat with head_seq {head}")
        check(hb, "heartbeat")

        # Replay.
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(rep_ep)
        got, end = ask(dealer, [request()])
        check([s for _, s in got] == list(range(1, head + 1)), f"replay all: {got}")
        check([t for t, _ in got] == [t for t, _, _ in live], "replayed topics match live")
        last, ehead, err, sid = replay_end(end)
        check((last, ehead, err, sid) == (head, head, "", stream_id),
              f"replay.end of a full replay: {(last, ehead, err, sid)}")

        got, end = ask(dealer, [request(after_seq=2, limit=3)])
        check([s for _, s in got] == [3, 4, 5], f"after_seq 2, limit 3: {got}")
        check(replay_end(end)[:3] == (5, head, ""), f"end: {replay_end(end)}")

        got, end = ask(dealer, [request(after_seq=head)])
        check(got == [] and replay_end(end)[:3] == (head, head, ""),
              f"nothing after the head: {got} {replay_end(end)}")

        got, end = ask(dealer, [request(topics=[b"press."])])
        check(len(got) == press and all(t == b"press." for t, _ in got), f"press only: {got}")
        check(replay_end(end)[0] == head, "a filtered answer covers the whole scan")

        got, end = ask(dealer, [request(snapshot=True)])
        check(0 < len(got) <= head and replay_end(end)[2] == "", f"snapshot: {got}")

        # Batched: the same announcements, byte for byte, packed into ReplayBatch messages;
        # the publisher still holds them as it published them, so they are the live bytes.
        plain, _, end = ask_bodies(dealer, request())
        check(plain == raw, "a replay answer holds the bytes published live")
        bodies, topics, bend = ask_bodies(dealer, request(batch=True))
        check(bodies == raw, f"a batched answer holds the same announcements "
                             f"({len(bodies)} of {len(raw)})")
        check(topics == [b"replay.batch", b"replay.end"] and replay_end(bend) == replay_end(end),
              f"one ReplayBatch for a small answer, then the same replay.end: {topics}")
        bodies, _, bend = ask_bodies(dealer, request(after_seq=2, limit=3, batch=True))
        check([announcement(b)[1] for b in bodies] == [3, 4, 5] and
              replay_end(bend)[:3] == (5, head, ""), "a batched page: after_seq 2, limit 3")
        bodies, _, _ = ask_bodies(dealer, request(topics=[b"press."], batch=True))
        check(len(bodies) == press and all(6 in announcement(b)[2] for b in bodies),
              "a batched answer is filtered by topic too")
        bodies, _, bend = ask_bodies(dealer, request(snapshot=True, batch=True))
        check(len(bodies) == len(got) and replay_end(bend)[2] == "", "a batched snapshot")

        got, end = ask(dealer, [request(limit=20000)])
        check(got == [] and replay_end(end)[2] != "", "a limit above 10000 is refused")

        # Garbage on the replay socket: answered with an error, and the service goes on.
        for frames in ([b"\xff\xff\xff\xff garbage"], [b"\x0a\x05ab"], [b"a", b"b", b"c"],
                       [os.urandom(2000)]):
            got, end = ask(dealer, frames)
            check(got == [] and replay_end(end)[2] != "",
                  f"garbage {frames!r:.60} gets an error end, got {got} {replay_end(end)}")
        # An empty delimiter first (a REQ envelope): refused, the answer keeps the delimiter.
        dealer.send_multipart([b"", request()])
        check(dealer.poll(5000), "an answer to a REQ-shaped request")
        msg = dealer.recv_multipart()
        check(len(msg) == 3 and msg[:2] == [b"", b"replay.end"] and replay_end(msg[2])[2],
              f"answer to a REQ-shaped request: {msg!r}")
        req = ctx.socket(zmq.REQ)  # sends an empty delimiter first: refused, but answered
        req.setsockopt(zmq.LINGER, 0)
        req.connect(rep_ep)
        req.send(request())
        check(req.poll(5000), "a REQ peer gets an answer")
        msg = req.recv_multipart()
        check(msg[0] == b"replay.end" and replay_end(msg[1])[2] != "", f"REQ answer: {msg!r}")
        req.close()
        check(pub.logged("pub.replay_bad_request"), "bad requests are logged")
        got, end = ask(dealer, [request(after_seq=head - 1)])
        check([s for _, s in got] == [head], "replay still works after garbage")
        store(db, "add-press-release", "--id", "after-garbage", "--title", "Still here",
              "--published-on", "2026-12-01")
        head += 1
        collect(sub, lambda m: any(s == head and t == b"press." for t, _, s in m), 10,
                "a live announcement after the garbage")
        check(pub.alive(), "herald-pub survives garbage")

        # SIGTERM: exit 0 within 2 s.
        t0 = time.monotonic()
        os.kill(pub.pid, signal.SIGTERM)
        try:
            rc = pub.popen.wait(2.0)
        except Exception:
            fail("herald-pub did not exit within 2 s of SIGTERM")
        took = time.monotonic() - t0
        check(rc == 0, f"herald-pub exits 0 on SIGTERM (got {rc})")
        pub.stop()
        stopped = pub.logged("pub.stopped")
        check(stopped and stopped[0]["cursor"] == head, f"pub.stopped: {stopped}")
        check(stopped[0]["replayed_recent"] > 0, f"replays near the head came from memory: "
                                                 f"{stopped}")
        print(f"SIGTERM to exit: {took * 1000:.0f} ms")

        # Committed while the publisher was down: the restarted one publishes them (its
        # heartbeat head_seq is the last seq it published) and replays them.
        for i in range(3):
            store(db, "add-press-release", "--id", f"down-{i}", "--title", f"While down {i}",
                  "--published-on", "2026-12-05")
        new_head = head_of(db)
        check(new_head == head + 3, f"three changes while down (head {new_head})")
        pub2, started = start_pub(procs, "pub2", db, pub_ep, rep_ep, w)
        check(started["cursor"] == head and started["head"] == new_head,
              f"the restart resumes from the persisted cursor: {started}")
        collect(sub, lambda m: any(t == b"hb" and s == new_head for t, _, s in m), 10,
                f"a heartbeat of the restarted publisher with head_seq {new_head}")
        got, end = ask(dealer, [request(after_seq=head)], timeout=10)
        check([s for _, s in got] == [head + 1, head + 2, head + 3],
              f"what was committed while down: {got}")
        check(pub2.stop() == 0, "the restarted publisher exits 0")
        stopped = pub2.logged("pub.stopped")
        check(stopped and stopped[0]["published"] == 3 and stopped[0]["cursor"] == new_head,
              f"the restarted publisher published the 3 changes: {stopped}")

        for s in (sub, dealer):
            s.close()
        ctx.term()
    print("ok")


if __name__ == "__main__":
    main()
