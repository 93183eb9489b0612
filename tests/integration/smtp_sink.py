#!/usr/bin/python3
"""smtp_sink.py -- a small SMTP server for the mail tests (aiosmtpd on loopback).

Saves every accepted message as DIR/NNNN.eml (the raw bytes as received) and DIR/NNNN.json
({"mail_from": ..., "rcpt_tos": [...]}). Behaviour is read from DIR/control.json at every
command, so a test changes it while the server runs:
  {"reject": ["a@x"]}   answer 550 at RCPT TO for these recipients
  {"tempfail": true}    answer 451 at RCPT TO for everyone
usage: smtp_sink.py --port PORT --dir DIR   (prints "ready" on stdout when listening)
"""
import argparse
import json
import os
import signal
import sys

from aiosmtpd.controller import Controller


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
        if c.get("tempfail"):
            return "451 4.3.0 Try again later"
        if address in c.get("reject", []):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.dir, f"{self.count:04d}")
        with open(base + ".json.tmp", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".json.tmp", base + ".json")
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 Message accepted for delivery"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    controller = Controller(Handler(args.dir), hostname="127.0.0.1", port=args.port,
                            decode_data=False)
    controller.start()
    print("ready", flush=True)
    signal.sigwait([signal.SIGTERM, signal.SIGINT])  # blocked in every thread, see below
    controller.stop()


if __name__ == "__main__":
    # blocked before the server's thread starts, so only sigwait sees them
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGINT])
    main()
    sys.exit(0)
