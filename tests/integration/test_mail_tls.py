"""test_mail_tls.py -- the mail sink over TLS and with SMTP AUTH, against smtp_sink.py
(aiosmtpd) serving STARTTLS or implicit TLS (smtps://) with a self-signed certificate for
127.0.0.1 made at test time by openssl, trusted through --smtp-ca-file (verification stays on).

STARTTLS required: delivered over TLS; against a server without STARTTLS: retried, logged,
kept queued, and delivered once the server offers it. smtps://: delivered. A certificate that
the CA file does not vouch for (or the system's CAs, without a CA file): refused, logged, kept
queued. SMTP AUTH over STARTTLS: the right password logs in; a wrong one is retried and
logged, and no password ever shows in a log. Run one case: test_mail_tls.py starttls."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, wait_until  # noqa: E402
from test_mail import outbox_rows, parts, queue_rows, run  # noqa: E402

PASSWORD = "s3cret-Pw-8c1f"  # the server's, for the user herald
WRONG = "wr0ng-Pw-77d2"


def certificate(workdir, name, san="IP:127.0.0.1,DNS:localhost"):
    """A self-signed certificate for san (127.0.0.1 and localhost): (cert.pem, key.pem)."""
    cert = os.path.join(workdir, name + ".crt")
    key = os.path.join(workdir, name + ".key")
    if not os.path.exists(cert):
        r = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days",
             "2", "-subj", f"/CN=herald test {name}", "-addext",
             f"subjectAltName={san}"], capture_output=True, text=True,
            timeout=30)
        check(r.returncode == 0, f"openssl req: {r.stderr}")
    return cert, key


def tls_server(world, name, mode, cert_name="server", port=None, auth=None):
    """smtp_sink.py with --tls mode (starttls, smtps or none) and the named certificate."""
    cert, key = certificate(world.w, cert_name)
    extra = ["--tls", mode, "--cert", cert, "--key", key]
    if auth:
        extra += ["--auth", auth]
    return world.smtp(name, port=port, extra=extra,
                      scheme="smtps" if mode == "smtps" else "smtp")


def ca(world, name="server"):
    return certificate(world.w, name)[0]


def one_mail(smtp, sub):
    """Waits for one message and its sub.mail_sent; returns (envelope, message)."""
    wait_until(lambda: smtp.messages() and sub.logged("sub.mail_sent"), 15, "a delivery")
    msgs = smtp.messages()
    check(len(msgs) == 1, f"one mail: {len(msgs)}")
    return msgs[0][0], msgs[0][2]


def refused(sub, st, word, what):
    """The digest failed with word in the error, was scheduled again and stays queued."""
    wait_until(lambda: sub.logged("sub.mail_retry"), 15, f"a retry ({what})")
    r = sub.logged("sub.mail_retry")[0]
    check(word.lower() in r["error"].lower() and r["attempt"] == 1 and r["next_in_ms"] >= 1000,
          f"{what}: sub.mail_retry says why: {r}")
    check(not sub.logged("sub.mail_sent") and not sub.logged("sub.mail_dead"),
          f"{what}: neither sent nor dead-lettered")
    boxes, rcpts = outbox_rows(st)
    check(queue_rows(st) == 1 and len(boxes) == 1 and boxes[0][0] == r["message_id"] and
          rcpts, f"{what}: the digest is kept: {boxes} {rcpts}")
    return r


def case_starttls(world):
    """--smtp-starttls required against a server that offers STARTTLS: delivered over TLS."""
    smtp = tls_server(world, "smtp-starttls", "starttls")
    st = os.path.join(world.w, "starttls.state")
    sub = world.sub("sub-starttls", st, smtp, "--mail-to", "tls@example.org",
                    "--smtp-starttls", "required", "--smtp-ca-file", ca(world),
                    "--digest-every", "0")
    world.event("tls-1", "Sent over STARTTLS")
    env, msg = one_mail(smtp, sub)
    check(env["tls"] and env["rcpt_tos"] == ["tls@example.org"], f"over TLS: {env}")
    check("Sent over STARTTLS" in parts(msg)[0], "the item")
    check(queue_rows(st) == 0, "the queue is empty")
    check(sub.stop() == 0, "herald-sub exits 0")


def case_starttls_missing(world):
    """--smtp-starttls required against a server without STARTTLS: nothing is sent in clear,
    the digest is retried and stays queued; once the server offers STARTTLS it goes out."""
    plain = world.smtp("smtp-nostarttls")
    st = os.path.join(world.w, "nostarttls.state")
    sub = world.sub("sub-nostarttls", st, plain, "--mail-to", "tls@example.org",
                    "--smtp-starttls", "required", "--smtp-ca-file", ca(world),
                    "--digest-every", "0")
    world.event("notls-1", "Never in clear")
    r = refused(sub, st, "STARTTLS", "no STARTTLS")
    check(not plain.messages(), "nothing delivered without TLS")
    plain.stop()
    smtp = tls_server(world, "smtp-nostarttls-2", "starttls", port=plain.port)
    env, msg = one_mail(smtp, sub)
    check(env["tls"] and "Never in clear" in parts(msg)[0], f"delivered over TLS: {env}")
    check(msg["Message-ID"] == r["message_id"], "the same digest")
    check(not plain.messages(), "still nothing in clear")
    check(sub.stop() == 0, "herald-sub exits 0")


def case_smtps(world):
    """smtps:// against a server that speaks TLS from the first byte: delivered."""
    smtp = tls_server(world, "smtp-smtps", "smtps")
    check(smtp.url.startswith("smtps://"), smtp.url)
    st = os.path.join(world.w, "smtps.state")
    sub = world.sub("sub-smtps", st, smtp, "--mail-to", "tls@example.org",
                    "--smtp-ca-file", ca(world), "--digest-every", "0")
    world.event("smtps-1", "Sent over implicit TLS")
    env, msg = one_mail(smtp, sub)
    check(env["tls"] and "Sent over implicit TLS" in parts(msg)[0], f"over TLS: {env}")
    check(sub.stop() == 0, "herald-sub exits 0")


def case_wrong_ca(world):
    """A server certificate that --smtp-ca-file does not vouch for (another self-signed
    certificate), over STARTTLS (opportunistic too: no fallback to clear text) and over
    smtps://, or no --smtp-ca-file at all (the system's CAs), or a trusted certificate for
    another host name: refused, logged, kept queued."""
    starttls = tls_server(world, "smtp-wrongca", "starttls")
    smtps = tls_server(world, "smtp-wrongca-s", "smtps")
    certificate(world.w, "elsewhere", san="DNS:mail.example.org")
    elsewhere = tls_server(world, "smtp-wronghost", "starttls", cert_name="elsewhere")
    other = ca(world, "other")
    runs = [("required", starttls, ["--smtp-starttls", "required", "--smtp-ca-file", other],
             "certificate"),
            ("opportunistic", starttls, ["--smtp-ca-file", other], "certificate"),
            ("smtps", smtps, ["--smtp-ca-file", other], "certificate"),
            ("system", starttls, ["--smtp-starttls", "required"], "certificate"),
            ("host", elsewhere, ["--smtp-ca-file", ca(world, "elsewhere")], "127.0.0.1")]
    subs = []
    for name, server, extra, _ in runs:
        st = os.path.join(world.w, f"wrongca-{name}.state")
        sub = world.sub(f"sub-wrongca-{name}", st, server, "--mail-to", "tls@example.org",
                        "--digest-every", "0", *extra)
        subs.append((name, st, sub))
    world.event("wrongca-1", "Not for an unknown server")
    for (name, st, sub), run_ in zip(subs, runs):
        refused(sub, st, run_[3], f"wrong CA ({name})")
    check(not starttls.messages() and not smtps.messages() and not elsewhere.messages(),
          "nothing delivered")
    for _, _, sub in subs:
        check(sub.stop() == 0, "herald-sub exits 0")


def case_auth(world):
    """SMTP AUTH over STARTTLS with the password from HERALD_SMTP_PASSWORD_FILE: logged in and
    delivered; a wrong password: retried and logged (never the password), kept queued."""
    auth = os.path.join(world.w, "smtp-users")
    good, bad = os.path.join(world.w, "pw-good"), os.path.join(world.w, "pw-bad")
    for path, text in [(auth, f"herald:{PASSWORD}\n"), (good, PASSWORD + "\n"),
                       (bad, WRONG + "\n")]:
        with open(path, "w") as f:
            f.write(text)
    smtp = tls_server(world, "smtp-auth", "starttls", auth=auth)
    common = ["--mail-to", "auth@example.org", "--smtp-starttls", "required", "--smtp-ca-file",
              ca(world), "--smtp-user", "herald", "--digest-every", "0"]
    st_ok, st_bad = os.path.join(world.w, "auth.state"), os.path.join(world.w, "auth-bad.state")
    sub = world.sub("sub-auth", st_ok, smtp, *common,
                    env={"HERALD_SMTP_PASSWORD_FILE": good})
    sub_bad = world.sub("sub-auth-bad", st_bad, smtp, *common,
                        env={"HERALD_SMTP_PASSWORD_FILE": bad})
    world.event("auth-1", "Sent after logging in")
    env, msg = one_mail(smtp, sub)
    check(env["tls"] and env["login"] == "herald", f"logged in over TLS: {env}")
    check("Sent after logging in" in parts(msg)[0], "the item")
    refused(sub_bad, st_bad, "login denied", "wrong password")
    wait_until(lambda: len(sub_bad.logged("sub.mail_retry")) >= 2, 10, "a second try")
    with open(os.path.join(smtp.dir, "auth.jsonl")) as f:
        tries = [line for line in f]
    check(any('"ok": true' in t for t in tries) and any('"ok": false' in t for t in tries),
          f"the server saw one good and one bad login: {tries}")
    check(len(smtp.messages()) == 1, "nothing delivered for the wrong password")
    check(sub.stop() == 0 and sub_bad.stop() == 0, "herald-sub exits 0")


CASES = [case_starttls, case_starttls_missing, case_smtps, case_wrong_ca, case_auth]

if __name__ == "__main__":
    run(CASES, secrets=(PASSWORD.encode(), WRONG.encode()))
