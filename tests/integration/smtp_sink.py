#!/usr/bin/python3
"""smtp_sink.py -- a small SMTP server for the mail tests (aiosmtpd on loopback).

Saves every accepted message as DIR/NNNN.eml (the raw bytes as received) and DIR/NNNN.json
({"mail_from": ..., "rcpt_tos": [...], "tls": bool, "login": user or null}). Behaviour is
read from DIR/control.json at every command, so a test changes it while the server runs:
  {"reject": ["a@x"]}       answer 550 at RCPT TO for these recipients
  {"tempfail": true}        answer 451 at RCPT TO for everyone
  {"tempfail_for": ["a@x"]} answer 451 at RCPT TO for these recipients
TLS (--cert and --key, PEM): --tls starttls offers STARTTLS and requires it before MAIL;
--tls smtps speaks TLS from the first byte. --auth FILE (a "user:password" line) requires
SMTP AUTH (PLAIN or LOGIN, only over TLS) before MAIL; each attempt is appended to
DIR/auth.jsonl as {"login": ..., "ok": bool} (never the password).
usage: smtp_sink.py --port PORT --dir DIR [--tls none|starttls|smtps --cert F --key F]
                    [--auth FILE]   (prints "ready" on stdout when listening)
"""
import argparse
import json
import os
import signal
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, directory):
        self.dir = directory
        self.count = len([n for n in os.listdir(directory) if n.endswith(".eml")])

    def control(self):
        try:
            with open(os.path.join(self.dir, "control.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        c = self.control()
        if c.get("tempfail") or address in c.get("tempfail_for", []):
            return "451 4.3.0 Try again later"
        if address in c.get("reject", []):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.dir, f"{self.count:04d}")
        with open(base + ".json.tmp", "w") as f:
            tls = server.transport.get_extra_info("ssl_object") is not None
            login = getattr(session.auth_data, "login", None)
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                       "tls": tls, "login": login.decode() if login else None}, f)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".json.tmp", base + ".json")
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 Message accepted for delivery"


class Authenticator:
    """Accepts the one user:password of the --auth file; logs every attempt's login."""

    def __init__(self, path, directory):
        with open(path) as f:
            user, _, password = f.readline().rstrip("\r\n").partition(":")
        self.user, self.password = user.encode(), password.encode()
        self.log = os.path.join(directory, "auth.jsonl")

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == self.user and
              auth_data.password == self.password)
        login = auth_data.login.decode(errors="replace") if isinstance(
            auth_data, LoginPassword) else None
        with open(self.log, "a") as f:
            f.write(json.dumps({"login": login, "mechanism": mechanism, "ok": ok}) + "\n")
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--tls", choices=["none", "starttls", "smtps"], default="none")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--auth")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    kw = {}
    if args.tls != "none":
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.cert, args.key)
        if args.tls == "starttls":
            kw.update(tls_context=ctx, require_starttls=True)
        else:
            kw.update(ssl_context=ctx)
    if args.auth:
        kw.update(authenticator=Authenticator(args.auth, args.dir), auth_required=True,
                  auth_require_tls=True)
    controller = Controller(Handler(args.dir), hostname="127.0.0.1", port=args.port,
                            decode_data=False, **kw)
    controller.start()
    print("ready", flush=True)
    signal.sigwait([signal.SIGTERM, signal.SIGINT])  # blocked in every thread, see below
    controller.stop()


if __name__ == "__main__":
    # blocked before the server's thread starts, so only sigwait sees them
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGINT])
    main()
    sys.exit(0)
