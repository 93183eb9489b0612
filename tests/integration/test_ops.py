"""Operations: compose.yaml validates; the local topology script starts, carries an
announcement to every sink (log, mirror, mail) and stops cleanly; /metrics parses with
Prometheus' own parser and moves (lag rises and falls); /readyz fails while the store is
gone; *_FILE secrets and the both-set error; --print-config never shows a secret; the CURVE
secret key from HERALD_CURVE_SECRET or its file, shown nowhere; SIGTERM under load exits 0
within ten seconds."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.dirname(__file__))
from harness import (BIN, SRC, Procs, check, fail, free_port, read_lines, store, tcp,  # noqa
                     wait_until, workdir)

PUB_METRICS = ["herald_pub_announcements_published_total", "herald_pub_replay_requests_total",
               "herald_pub_replay_announcements_total",
               "herald_pub_replay_recent_announcements_total", "herald_pub_replay_errors_total",
               "herald_pub_store_head_seq", "herald_pub_published_seq",
               "herald_pub_live_connections", "herald_pub_replay_bad_requests_total"]
SUB_METRICS = ["herald_sub_messages_received_total", "herald_sub_records_applied_total",
               "herald_sub_duplicates_dropped_total", "herald_sub_gaps_detected_total",
               "herald_sub_gaps_healed_total", "herald_sub_decode_errors_total",
               "herald_sub_bad_frames_total", "herald_sub_stream_changes_total",
               "herald_sub_applied_seq", "herald_sub_publisher_head_seq",
               "herald_sub_lag_announcements", "herald_sub_last_heartbeat_timestamp_seconds"]
MAIL_METRICS = ["herald_sub_mail_sent_total", "herald_sub_mail_failed_attempts_total",
                "herald_sub_mail_items_waiting", "herald_sub_mail_dead_letters_total"]

def http(port, path):
    """(status, body) of GET path, or (None, reason)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def scrape(port):
    """{sample name: value} parsed by prometheus_client, with the HELP/TYPE checked."""
    status, text = http(port, "/metrics")
    check(status == 200, f"/metrics on {port}: {status} {text}")
    out = {}
    for family in text_string_to_metric_families(text):
        check(family.name.startswith("herald_"), f"prefix: {family.name}")
        check(family.documentation, f"{family.name} has a HELP")
        for sample in family.samples:
            if family.type == "counter":
                check(sample.name.endswith("_total"), f"counter {sample.name} ends in _total")
            out[sample.name] = sample.value
    return out


def promtool(text, what):
    """promtool check metrics on one scrape, when Debian's prometheus package is installed
    (scripts/deps.sh installs it): Prometheus' own linter of names, units and HELP."""
    tool = shutil.which("promtool")
    if not tool:
        print("NOTICE: promtool not installed: names checked by prometheus_client only")
        return
    r = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
          f"promtool check metrics on {what}: {r.stdout} {r.stderr}")


def documented_metrics():
    """{program column: set of names} of the metrics table in docs/operations.md."""
    out = {}
    inside = False
    with open(os.path.join(SRC, "docs", "operations.md")) as f:
        for line in f:
            if line.startswith("| metric | program | type | unit | meaning |"):
                inside = True
            elif not line.startswith("|"):
                inside = False
            if not inside or not line.startswith("| `herald_"):
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            name, program = cells[0].strip("`"), cells[1]
            out.setdefault(program, set()).add(name)
    return out


def families(port):
    """The exposition text and {name: type} of one scrape, HELP and TYPE required of each."""
    status, text = http(port, "/metrics")
    check(status == 200, f"/metrics on {port}: {status} {text}")
    helps = {l.split()[2] for l in text.splitlines() if l.startswith("# HELP ")}
    types = {l.split()[2]: l.split()[3] for l in text.splitlines() if l.startswith("# TYPE ")}
    out = {}
    for family in text_string_to_metric_families(text):
        name = family.name + ("_total" if family.type == "counter" else "")
        if family.type == "info":
            name = family.name + "_info"
        check(name in helps and name in types, f"{name}: HELP and TYPE")
        check(name.startswith("herald_pub_") or name.startswith("herald_sub_") or
              name == "herald_build_info", f"{name}: herald_pub_ or herald_sub_")
        check((types[name] == "counter") == name.endswith("_total"),
              f"{name}: a counter, and only a counter, ends in _total")
        out[name] = types[name]
    check(set(out) == set(types), f"parsed {sorted(out)} of {sorted(types)}")
    return text, out


def test_metric_names(w, procs):
    """Every metric a publisher and a subscriber of each sink export passes promtool and the
    prometheus_client parser, and docs/operations.md's table lists exactly those names."""
    db = os.path.join(w, "names.db")
    store(db, "init", "--sample")
    pub_ep, rep_ep = tcp(), tcp()
    ports = {"herald-pub": free_port()}
    procs.start("pub-names", ["herald-pub", "--db", db, "--bind", pub_ep, "--replay-bind",
                              rep_ep, "--metrics", str(ports["herald-pub"])], w)
    base = ["herald-sub", "--connect", pub_ep, "--replay", rep_ep]
    sinks = {
        "herald-sub": ["--sink", "log", "--out", os.path.join(w, "names.jsonl")],
        "herald-sub --sink mail": ["--sink", "mail", "--smtp", "smtp://127.0.0.1:1",
                                   "--mail-from", "herald@example.org", "--mail-to",
                                   "ops@example.org", "--state",
                                   os.path.join(w, "names-mail.state")],
        "herald-sub --sink webhook": ["--sink", "webhook", "--webhook-url",
                                      "http://127.0.0.1:1/hook", "--state",
                                      os.path.join(w, "names-webhook.state")],
        "herald-sub --sink calendar, atom": ["--sink", "calendar", "--feed-out",
                                             os.path.join(w, "names.ics"), "--state",
                                             os.path.join(w, "names-cal.state")],
    }
    for i, (program, args) in enumerate(sinks.items()):
        ports[program] = free_port()
        procs.start(f"sub-names-{i}", base + args + ["--metrics", str(ports[program])], w,
                    env={"HERALD_WEBHOOK_SECRET": "s" * 32})
    exported = {}
    for program, port in ports.items():
        wait_until(lambda: http(port, "/metrics")[0] == 200, 15, f"/metrics of {program}")
        text, names = families(port)
        promtool(text, program)
        check(text.count("herald_build_info{") == 1 and
              f'program="{program.split()[0]}"' in text, f"{program}: herald_build_info")
        exported[program] = set(names)
    core = exported["herald-sub"]
    for program in sinks:
        if program != "herald-sub":
            check(core <= exported[program], f"{program} exports the subscriber's own")
            exported[program] -= core
    for program in exported:
        if program != "herald-pub":
            exported[program].discard("herald_build_info")
    exported["herald-pub"].discard("herald_build_info")
    documented = documented_metrics()
    check(documented.pop("both", set()) == {"herald_build_info"}, "herald_build_info documented")
    nats = documented.pop("herald-sub --sink nats", set())
    check(len(nats) == 4 and all(n.startswith("herald_sub_nats_") for n in nats), str(nats))
    for program in sorted(set(documented) | set(exported)):
        check(documented.get(program) == exported.get(program),
              f"docs/operations.md's table for {program}: documented "
              f"{sorted(documented.get(program, set()) - exported.get(program, set()))} not "
              f"exported, exported "
              f"{sorted(exported.get(program, set()) - documented.get(program, set()))} "
              f"not documented")


def ndjson(prefix, n):
    return "".join(json.dumps({
        "type": "event", "id": f"{prefix}-{i:06d}", "kind": "course", "title": f"{prefix} {i}",
        "start_date": "2026-05-04", "end_date": "2026-05-06", "city": "Lyon",
        "country": "FR"}) + "\n" for i in range(n))


def test_compose():
    dc = shutil.which("docker-compose")
    if not dc:
        r = subprocess.run(["bash", os.path.join(SRC, "scripts/deps.sh")], capture_output=True)
        dc = shutil.which("docker-compose")
    if not dc:
        print("NOTICE: docker-compose is not installable here: compose.yaml not validated")
        return
    for profiles in ([], ["--profile", "dev", "--profile", "relay"]):
        r = subprocess.run([dc, "-f", os.path.join(SRC, "compose.yaml")] + profiles +
                           ["config", "-q"], capture_output=True, text=True, cwd=SRC)
        check(r.returncode == 0, f"docker-compose config {profiles}: {r.stderr}")
    r = subprocess.run([dc, "-f", os.path.join(SRC, "compose.yaml"), "--profile", "dev",
                        "--profile", "relay", "config", "--services"], capture_output=True,
                       text=True, cwd=SRC)
    services = set(r.stdout.split())
    for s in ("store-init", "keygen", "publisher", "sub-log", "sub-mirror", "sub-mail",
              "mailpit", "relay-mirror", "relay-pub", "sub-internal"):
        check(s in services, f"compose service {s}: {services}")
    # The default topology works as it is: no service without a profile names one that has
    # one (sub-mail's mailpit).
    import yaml  # docker-compose's own dependency
    with open(os.path.join(SRC, "compose.yaml")) as f:
        spec = yaml.safe_load(f)["services"]
    default = {n for n, v in spec.items() if not v.get("profiles")}
    check(default == {"store-init", "keygen", "publisher", "sub-log", "sub-mirror"},
          f"default services: {default}")
    # Every long-running Herald service may hold one descriptor per agency (operations.md).
    for name, v in spec.items():
        if v.get("image") == "herald:latest" and v.get("restart") != "no":
            nofile = (v.get("ulimits") or {}).get("nofile") or {}
            check(nofile.get("soft", 0) >= 65536, f"{name}: ulimits nofile {nofile}")
    # A reference is a dependency or a host name (smtp://mailpit:1025), not a key file's name.
    for name in default:
        text = json.dumps(spec[name])
        deps = spec[name].get("depends_on") or {}
        for other in set(spec) - default:
            check(other not in deps and f"//{other}:" not in text and f"@{other}:" not in text,
                  f"{name} needs {other}'s profile")
    # The container test's own override (scripts/container-test.sh runs it for real).
    r = subprocess.run([dc, "-f", os.path.join(SRC, "compose.yaml"), "-f",
                        os.path.join(SRC, "deploy/compose/test.yaml"), "--profile", "mail",
                        "--profile", "relay", "config", "-q"], capture_output=True, text=True,
                       cwd=SRC)
    check(r.returncode == 0, f"docker-compose config with test.yaml: {r.stderr}")
    with open(os.path.join(SRC, "compose.yaml")) as f:
        text = f.read()
    # `docker compose logs -f sub-log` shows the announcements: the log sink on stdout.
    sub_log = text[text.index("  sub-log:"):text.index("  sub-mirror:")]
    check("--out" not in sub_log, "sub-log writes its announcements to stdout")
    # The one-shots do not inherit the image's healthcheck (they are no publisher).
    for one_shot, after in (("  store-init:", "  keygen:"), ("  keygen:", "  publisher:")):
        part = text[text.index(one_shot):text.index(after)]
        check("disable: true" in part, f"{one_shot.strip()} healthcheck disabled")
    in_ports, published = False, 0
    for line in text.splitlines():
        item = line.strip()
        if item == "ports:":
            in_ports = True
        elif in_ports and item.startswith("- "):
            published += 1
            check(item.startswith('- "127.0.0.1:'), f"a port published on loopback: {line}")
        else:
            in_ports = False
    check(published >= 3, f"the publisher's and mailpit's ports: {published}")


def test_topology(w):
    base = random.randrange(20000, 32600, 100)  # below the ephemeral ports (harness)
    env = dict(os.environ, HERALD_BIN=BIN, HERALD_TOPOLOGY_DIR=os.path.join(w, "topo"),
               HERALD_TOPOLOGY_PORT=str(base))
    script = os.path.join(SRC, "scripts/topology.sh")
    top = os.path.join(w, "topo")
    try:
        r = subprocess.run(["bash", script, "start"], env=env, capture_output=True, text=True,
                           timeout=40)
        check(r.returncode == 0, f"topology start: {r.stderr}")
        r = subprocess.run(["bash", script, "status"], env=env, capture_output=True, text=True,
                           timeout=20)
        check(r.returncode == 0 and r.stdout.count("ready") == 5, f"status: {r.stdout}")
        db = os.path.join(top, "herald.db")
        store(db, "add-event", "--id", "topo-1", "--kind", "course", "--title", "Topology",
              "--start-date", "2026-12-01", "--end-date", "2026-12-03", "--city", "Lyon",
              "--country", "FR")
        log = os.path.join(top, "announcements.jsonl")
        wait_until(lambda: any(l["id"] == "topo-1" for l in read_lines(log)), 10, "the log line")
        mirror = os.path.join(top, "mirror.db")
        wait_until(lambda: "topo-1" in store(mirror, "export", check_rc=False).stdout, 10,
                   "the mirror export")
        maildir = os.path.join(top, "maildir", "new")

        def mailed():
            for name in os.listdir(maildir):
                with open(os.path.join(maildir, name), "rb") as f:
                    if b"Topology" in f.read():
                        return True
            return False
        wait_until(mailed, 15, "the mail at the catcher")
        m = scrape(base + 10)
        for name in PUB_METRICS:
            check(name in m, f"publisher metric {name}")
        check(m["herald_pub_announcements_published_total"] >= 1, str(m))
        s = scrape(base + 13)
        for name in SUB_METRICS + MAIL_METRICS:
            check(name in s, f"mail subscriber metric {name}")
        wait_until(lambda: scrape(base + 13)["herald_sub_mail_sent_total"] >= 1, 5, "mail_sent_total")
        check(http(base + 10, "/healthz")[0] == 200, "publisher /healthz")
    finally:
        r = subprocess.run(["bash", script, "stop"], env=env, capture_output=True, text=True,
                           timeout=60)
    check(r.returncode == 0, f"topology stop: {r.stderr}")
    for name in ("publisher", "sub-log", "sub-mirror", "sub-mail"):
        check(not os.path.exists(os.path.join(top, f"{name}.pid")), f"{name}.pid removed")
        with open(os.path.join(top, f"{name}.log")) as f:
            text = f.read()
        check('.stopped"' in text, f"{name} logged its clean stop")
        check("Sanitizer" not in text and "runtime error:" not in text, f"{name}: {text}")


def test_metrics_and_ready(w, procs):
    db = os.path.join(w, "m.db")
    store(db, "init", "--sample")
    pub_ep, rep_ep = tcp(), tcp()
    pm, sm = free_port(), free_port()
    pub = procs.start("pub-m", ["herald-pub", "--db", db, "--bind", pub_ep, "--replay-bind",
                                rep_ep, "--heartbeat-ms", "100", "--sndhwm", "100",
                                "--metrics", str(pm)], w)
    out = os.path.join(w, "m.jsonl")
    sub = procs.start("sub-m", ["herald-sub", "--connect", pub_ep, "--replay", rep_ep, "--sink",
                                "log", "--out", out, "--from", "start", "--rcvhwm", "100",
                                "--metrics", f"127.0.0.1:{sm}"], w)
    head = int(store(db, "head").stdout)
    wait_until(lambda: http(sm, "/readyz")[0] == 200, 10, "the subscriber ready")
    wait_until(lambda: scrape(sm).get("herald_sub_applied_seq") == head, 10, "applied head")
    r = subprocess.run([os.path.join(BIN, "herald-sub"), "health", "--metrics", str(sm)],
                       capture_output=True, text=True, timeout=5)
    check(r.returncode == 0, f"herald-sub health: {r.stdout} {r.stderr}")
    r = subprocess.run([os.path.join(BIN, "herald-pub"), "health"], capture_output=True,
                       text=True, timeout=5, env=dict(os.environ, HERALD_METRICS=str(pm)))
    check(r.returncode == 0, f"herald-pub health: {r.stdout} {r.stderr}")
    check(scrape(pm)["herald_pub_live_connections"] >= 1, "a subscriber is connected")

    # Lag: the subscriber stopped while 20000 changes go out, then let go.
    os.kill(sub.pid, signal.SIGSTOP)
    store(db, "import", "-", stdin=ndjson("lag", 20000))
    new_head = int(store(db, "head").stdout)
    wait_until(lambda: scrape(pm)["herald_pub_published_seq"] == new_head, 20, "all published")
    time.sleep(0.3)  # a few heartbeats with the new head are on their way
    os.kill(sub.pid, signal.SIGCONT)
    lags = []

    def caught_up():
        m = scrape(sm)
        lags.append(m["herald_sub_lag_announcements"])
        return m["herald_sub_applied_seq"] == new_head and m["herald_sub_lag_announcements"] == 0 and m
    m = wait_until(caught_up, 30, "the subscriber caught up")
    check(max(lags) > 0, f"the lag rose while the subscriber was stopped: {lags[:10]}")
    check(m["herald_sub_publisher_head_seq"] == new_head, f"head from heartbeats: {m['herald_sub_publisher_head_seq']}")
    check(m["herald_sub_gaps_detected_total"] >= 1 and m["herald_sub_gaps_healed_total"] >= 1, str(m))
    check(0 <= time.time() - m["herald_sub_last_heartbeat_timestamp_seconds"] < 2, str(m))
    p = scrape(pm)
    check(p["herald_pub_replay_requests_total"] >= 2 and p["herald_pub_replay_announcements_total"] > 0,
          str(p))
    # the gap was near the head: healed from the publisher's ring, not the store
    check(0 < p["herald_pub_replay_recent_announcements_total"] <= p["herald_pub_replay_announcements_total"], str(p))

    # A refused replay request is counted.
    import zmq
    ctx = zmq.Context()
    d = ctx.socket(zmq.DEALER)
    d.setsockopt(zmq.LINGER, 0)
    d.connect(rep_ep)
    d.send(b"\xff\xff garbage")
    check(d.poll(3000), "an answer to garbage")
    d.recv_multipart()
    d.close()
    ctx.term()
    wait_until(lambda: scrape(pm)["herald_pub_replay_bad_requests_total"] >= 1, 5, "replay_bad_requests_total")

    # Readiness follows the store: renamed away, 503 with a reason; back, 200.
    check(http(pm, "/readyz")[0] == 200, "publisher ready")
    os.rename(db, db + ".away")
    st, body = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(http(pm, "/readyz")),
                          10, "/readyz 503 while the store is away")
    check("store" in body, f"reason: {body}")
    r = subprocess.run([os.path.join(BIN, "herald-pub"), "health", "--metrics", str(pm)],
                       capture_output=True, text=True, timeout=5)
    check(r.returncode == 1, f"health exits 1 when not ready: {r.returncode}")
    check(http(pm, "/healthz")[0] == 200, "alive all the same")
    os.rename(db + ".away", db)
    wait_until(lambda: http(pm, "/readyz")[0] == 200, 10, "/readyz 200 with the store back")
    check(pub.stop() == 0 and sub.stop() == 0, "clean stops")
    r = subprocess.run([os.path.join(BIN, "herald-pub"), "health", "--metrics", str(pm)],
                       capture_output=True, text=True, timeout=5)
    check(r.returncode == 1, f"health exits 1 with nobody there: {r.returncode}")


def test_config(w):
    sub = os.path.join(BIN, "herald-sub")
    pub = os.path.join(BIN, "herald-pub")
    secret = "s3cret-do-not-print"
    pw = os.path.join(w, "pw")
    with open(pw, "w") as f:
        f.write(secret + "\n")
    mail = [sub, "--connect", "tcp://127.0.0.1:1", "--sink", "mail", "--state",
            os.path.join(w, "c.state"), "--smtp", "smtp://127.0.0.1:2", "--mail-from",
            "a@example.org", "--mail-to", "b@example.org"]
    for env in ({"HERALD_SMTP_PASSWORD": secret}, {"HERALD_SMTP_PASSWORD_FILE": pw}):
        r = subprocess.run(mail + ["--print-config"], capture_output=True, text=True,
                           env=dict(os.environ, **env), timeout=10)
        check(r.returncode == 0, f"print-config: {r.stderr}")
        config = json.loads(r.stdout)
        check(secret not in r.stdout + r.stderr, f"the secret was printed: {r.stdout}")
        check(config.get("smtp_password") == "***", f"redacted: {config}")
        check(config["sink"] == "mail" and config["rcvhwm"] > 0, str(config))
    r = subprocess.run(mail + ["--print-config"], capture_output=True, text=True, timeout=10,
                       env=dict(os.environ, HERALD_SMTP_PASSWORD=secret,
                                HERALD_SMTP_PASSWORD_FILE=pw))
    check(r.returncode == 2 and "HERALD_SMTP_PASSWORD" in r.stderr, f"both set: {r.stderr}")
    check(secret not in r.stdout + r.stderr, "the secret in the error")
    r = subprocess.run(mail, capture_output=True, text=True, timeout=10,
                       env=dict(os.environ, HERALD_SMTP_PASSWORD_FILE=pw + ".missing"))
    check(r.returncode == 2 and "pw.missing" in r.stderr, f"missing file: {r.stderr}")
    # Environment twins and refusals naming the variable.
    r = subprocess.run([pub, "--print-config"], capture_output=True, text=True, timeout=10,
                       env=dict(os.environ, HERALD_DB="x.db", HERALD_HEARTBEAT_MS="250",
                                HERALD_METRICS="9123", HERALD_PUB_BIND="tcp://127.0.0.1:1"))
    config = json.loads(r.stdout)
    check(config["db"] == "x.db" and config["heartbeat_ms"] == 250 and
          config["metrics"] == "9123" and config["bind"] == "tcp://127.0.0.1:1", str(config))
    r = subprocess.run([pub, "--db", "x.db"], capture_output=True, text=True, timeout=10,
                       env=dict(os.environ, HERALD_HEARTBEAT_MS="fast"))
    check(r.returncode == 2 and "HERALD_HEARTBEAT_MS" in r.stderr, r.stderr)
    r = subprocess.run([pub, "--db", "x.db", "--metrics", "nope:port"], capture_output=True,
                       text=True, timeout=10)
    check(r.returncode == 2 and "--metrics" in r.stderr, r.stderr)
    r = subprocess.run([sub, "--connect", "tcp://127.0.0.1:1", "--sink", "log"],
                       capture_output=True, text=True, timeout=10,
                       env=dict(os.environ, HERALD_METRICS="99999"))
    check(r.returncode == 2 and "HERALD_METRICS" in r.stderr, r.stderr)
    # The CURVE secret, where the programs take one.
    help_text = subprocess.run([pub, "--help"], capture_output=True, text=True).stdout
    if "--curve-secret-file" in help_text:
        r = subprocess.run([pub, "--db", "x.db", "--print-config"], capture_output=True,
                           text=True, timeout=10,
                           env=dict(os.environ, HERALD_CURVE_SECRET_FILE=pw))
        check(secret not in r.stdout + r.stderr, f"curve secret printed: {r.stdout}")
        for prog in ([pub, "--db", "x.db"], [sub, "--connect", "tcp://127.0.0.1:1", "--sink",
                                             "log"]):
            r = subprocess.run(prog, capture_output=True, text=True, timeout=10,
                               env=dict(os.environ, HERALD_CURVE_SECRET=secret,
                                        HERALD_CURVE_SECRET_FILE=pw))
            check(r.returncode == 2 and "HERALD_CURVE_SECRET" in r.stderr, f"both: {r.stderr}")
            check(secret not in r.stdout + r.stderr, "the secret in the error")


def test_curve_secret(w, procs):
    """The CURVE secret key: from its file or as the value of HERALD_CURVE_SECRET, never both,
    never on the command line; --print-config shows the key files' paths and the secret as
    "***"; neither secret key ever shows in --print-config, an error or a log line."""
    pub, sub = os.path.join(BIN, "herald-pub"), os.path.join(BIN, "herald-sub")
    keys, clients = os.path.join(w, "ck"), os.path.join(w, "ck-clients")
    os.mkdir(keys)
    os.mkdir(clients)
    secrets = {}
    for name in ("server", "agency"):
        r = subprocess.run([os.path.join(BIN, "herald-keygen"), os.path.join(keys, name)],
                           capture_output=True, text=True, timeout=10)
        check(r.returncode == 0, f"keygen: {r.stderr}")
        with open(os.path.join(keys, name + ".key")) as f:
            secrets[name] = f.readline().strip()
    shutil.copy(os.path.join(keys, "agency.pub"), os.path.join(clients, "agency.pub"))
    server_key, server_pub = os.path.join(keys, "server.key"), os.path.join(keys, "server.pub")
    agency_key = os.path.join(keys, "agency.key")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_CURVE_SECRET")}
    outputs = []

    def run(args, **extra):
        r = subprocess.run(args, capture_output=True, text=True, timeout=10,
                           env=dict(env, **extra))
        outputs.append(r.stdout + r.stderr)
        return r

    # --print-config, the secret from a file (flag) and as a value (variable).
    db = os.path.join(w, "curve.db")
    store(db, "init", "--sample")
    for extra, args in (({}, ["--curve-secret-file", server_key]),
                        ({"HERALD_CURVE_SECRET": secrets["server"]}, [])):
        r = run([pub, "--db", db, "--clients", clients, "--print-config"] + args, **extra)
        check(r.returncode == 0, f"pub --print-config: {r.stderr}")
        c = json.loads(r.stdout)
        check(c["curve_secret"] == "***" and c["clients"] == clients and
              c["curve_secret_file"] == (server_key if args else None), f"pub config: {c}")
    for extra, args in (({}, ["--curve-secret-file", agency_key]),
                        ({"HERALD_CURVE_SECRET": secrets["agency"]}, [])):
        r = run([sub, "--connect", "tcp://127.0.0.1:1", "--sink", "log", "--server-key",
                 server_pub, "--print-config"] + args, **extra)
        check(r.returncode == 0, f"sub --print-config: {r.stderr}")
        c = json.loads(r.stdout)
        check(c["curve_secret"] == "***" and c["server_key"] == server_pub and
              c.get("curve_secret_file") == (agency_key if args else None), f"sub config: {c}")

    # Refusals (exit 2) naming the variables, never showing the key.
    for prog in ([pub, "--db", db, "--clients", clients],
                 [sub, "--connect", "tcp://127.0.0.1:1", "--sink", "log", "--server-key",
                  server_pub]):
        for extra, args in (({"HERALD_CURVE_SECRET": secrets["server"],
                              "HERALD_CURVE_SECRET_FILE": server_key}, []),
                            ({"HERALD_CURVE_SECRET": secrets["server"]},
                             ["--curve-secret-file", server_key])):
            r = run(prog + args + ["--print-config"], **extra)
            check(r.returncode == 2 and "HERALD_CURVE_SECRET and HERALD_CURVE_SECRET_FILE"
                  in r.stderr, f"both set: {r.returncode} {r.stderr}")
        r = run(prog, HERALD_CURVE_SECRET=secrets["server"][:-1] + "~")
        check(r.returncode == 2 and "HERALD_CURVE_SECRET" in r.stderr, f"not a key: {r.stderr}")
        r = run(prog + ["--curve-secret=" + secrets["server"]])
        check(r.returncode == 2 and "command line" in r.stderr, f"--curve-secret: {r.stderr}")

    # A subscriber with HERALD_CURVE_SECRET receives from a CURVE publisher whose secret is
    # HERALD_CURVE_SECRET too; nothing they log at debug shows either key.
    pub_ep, rep_ep = tcp(), tcp()
    out = os.path.join(w, "curve.jsonl")
    p = procs.start("pub-curve", ["herald-pub", "--db", db, "--bind", pub_ep, "--replay-bind",
                                  rep_ep, "--clients", clients, "--log-level", "debug",
                                  "--heartbeat-ms", "200"], w,
                    env={"HERALD_CURVE_SECRET": secrets["server"]})
    wait_until(lambda: p.logged("pub.started"), 10, "the CURVE publisher")
    q = procs.start("sub-curve", ["herald-sub", "--connect", pub_ep, "--replay", rep_ep,
                                  "--server-key", server_pub, "--sink", "log", "--out", out,
                                  "--from", "start", "--log-level", "debug"], w,
                    env={"HERALD_CURVE_SECRET": secrets["agency"]})
    head = int(store(db, "head").stdout)
    wait_until(lambda: len(read_lines(out)) >= head, 20, "the replay over CURVE")
    store(db, "add-press-release", "--id", "curve-env", "--title", "Over CURVE",
          "--published-on", "2026-12-02")
    wait_until(lambda: any(l["id"] == "curve-env" for l in read_lines(out)), 10,
               "a live change over CURVE")
    check(any(e.get("agency") == "agency" for e in p.logged("pub.auth_admitted")),
          "admitted as the agency of its key")
    check(p.stop() == 0 and q.stop() == 0, "clean stops")
    for proc in (p, q):
        with open(proc.log_path) as f:
            outputs.append(f.read())
    for text in outputs:
        for name, key in secrets.items():
            check(key not in text, f"the {name} secret key was shown: {text[:400]}")


def test_sigterm_under_load(w, procs):
    db = os.path.join(w, "big.db")
    store(db, "init")
    store(db, "import", "-", stdin=ndjson("big", 100000))
    head = int(store(db, "head").stdout)
    pub_ep, rep_ep = tcp(), tcp()
    sm = free_port()
    pub = procs.start("pub-big", ["herald-pub", "--db", db, "--bind", pub_ep, "--replay-bind",
                                  rep_ep], w)
    out = os.path.join(w, "big.jsonl")
    sub = procs.start("sub-big", ["herald-sub", "--connect", pub_ep, "--replay", rep_ep,
                                  "--sink", "mirror", "--mirror-db", os.path.join(w, "bm.db"),
                                  "--from", "start", "--metrics", str(sm)], w)
    wait_until(lambda: http(sm, "/metrics")[0] == 200 and
               scrape(sm)["herald_sub_records_applied_total"] > 2000, 30, "the subscriber under way")
    applied = scrape(sm)["herald_sub_records_applied_total"]
    check(applied < head, f"still under load ({applied} of {head})")
    t0 = time.monotonic()
    os.kill(pub.pid, signal.SIGTERM)
    os.kill(sub.pid, signal.SIGTERM)
    rc_pub, rc_sub = pub.stop(timeout=10), sub.stop(timeout=10)
    took = time.monotonic() - t0
    check(rc_pub == 0 and rc_sub == 0, f"exit statuses {rc_pub} {rc_sub}")
    check(took < 10, f"stopped in {took:.1f} s")
    check(pub.logged("pub.stopped") and sub.logged("sub.stopped"), "both logged their stop")


def main():
    test_compose()
    with workdir() as w, Procs() as procs:
        test_config(w)
        test_curve_secret(w, procs)
        test_topology(w)
        test_metrics_and_ready(w, procs)
        test_metric_names(w, procs)
        test_sigterm_under_load(w, procs)
    print("ok")


if __name__ == "__main__":
    main()
