"""webhook_receiver.py -- a webhook receiver for the tests: Python's http.server (HTTP/1.1,
keep-alive, optionally TLS) that verifies every request's Standard Webhooks signature with
its own implementation of the rule (HMAC-SHA256 over "id.timestamp.body", base64, "v1,"
prefix, any of the space-separated signatures) and records each request as a JSON line.

Usage: webhook_receiver.py --port N --dir DIR --secret whsec_... [--cert C --key K]
       [--quiet]   (--quiet: count only, for the benchmark: DIR/count holds the number)

Prints "ready" on stdout once listening. DIR/requests.jsonl gets one line per request:
{"id", "timestamp", "signature_ok", "content_type", "status" (what was answered), "body"
(parsed), "received_at"}. A bad signature is answered 401. DIR/control.json steers the
answers; a new content replaces the last: {"script": [{"status": 500}, {"status": 429,
"retry_after": 2}, {"hang": 3}, ...], "gone": [subjects answered 410], "status": N (every
request, after the script), "stale_ok": true (a request whose timestamp is more than 5 minutes
off is answered as the others are, not 401: for a test that jumps the clock while the receiver
answers 500, where a request signed just before the jump arrives just after)}. Each script
step answers one request, then 204 by default."""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import ssl
import sys
import threading
import time


def verify(secret, msg_id, timestamp, body, header):
    """The Standard Webhooks rule, written here independently of Herald's C."""
    key = base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for sig in header.split(" "):
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.control_text = None
        self.script = []
        self.gone = set()
        self.status = 204
        self.stale_ok = False
        self.count = 0
        self.log = None if args.quiet else open(os.path.join(args.dir, "requests.jsonl"), "a")

    def answer(self, subject):
        """(status, retry_after, hang) for the next request."""
        with self.lock:
            path = os.path.join(self.args.dir, "control.json")
            try:
                with open(path) as f:
                    text = f.read()
            except OSError:
                text = "{}"
            if text != self.control_text:
                self.control_text = text
                c = json.loads(text or "{}")
                self.script = list(c.get("script", []))
                self.gone = set(c.get("gone", []))
                self.status = c.get("status", 204)
                self.stale_ok = bool(c.get("stale_ok"))
            if subject in self.gone:
                return 410, None, 0
            if self.script:
                step = self.script.pop(0)
                return step.get("status", 204), step.get("retry_after"), step.get("hang", 0)
            return self.status, None, 0

    def record(self, line):
        with self.lock:
            self.count += 1
            if self.log:
                self.log.write(json.dumps(line) + "\n")
                self.log.flush()
            elif self.count % 100 == 0:
                with open(os.path.join(self.args.dir, "count.tmp"), "w") as f:
                    f.write(str(self.count))
                os.replace(os.path.join(self.args.dir, "count.tmp"),
                           os.path.join(self.args.dir, "count"))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, *a):
        pass

    def do_POST(self):
        st = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        msg_id = self.headers.get("webhook-id", "")
        ts = self.headers.get("webhook-timestamp", "")
        sig = self.headers.get("webhook-signature", "")
        ok = bool(msg_id and ts and sig) and verify(st.args.secret, msg_id, ts, body, sig)
        fresh = ts.isdigit() and abs(time.time() - int(ts)) < 300
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        subject = parsed.get("subject") if isinstance(parsed, dict) else None
        status, retry_after, hang = st.answer(subject)
        if not (ok and (fresh or st.stale_ok)):
            status, retry_after, hang = 401, None, 0
        line = {"id": msg_id, "timestamp": ts, "signature_ok": ok, "fresh": fresh,
                "signatures": len(sig.split(" ")) if sig else 0,
                "content_type": self.headers.get("Content-Type"), "status": status,
                "body": parsed, "received_at": time.time(), "hang": hang}
        if hang:
            st.record(line)
            time.sleep(hang)  # the client gives up first: its connection is gone
            return
        self.send_response(status)
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.send_header("Content-Length", "0")
        self.end_headers()
        st.record(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    main()
