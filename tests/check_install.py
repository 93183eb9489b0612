#!/usr/bin/env python3
"""check_install.py -- `cmake --install` puts the programs where the systemd units expect them.

Usage: check_install.py SOURCE_DIR BUILD_DIR [--man]   (CMAKE: the cmake to run, default cmake)

Installs BUILD_DIR into a fresh temporary prefix and checks, relative to it, that each
program a unit of deploy/systemd starts (ExecStart=/usr/local/bin/herald-pub: the default
prefix /usr/local, then bin/herald-pub) is there, executable, and answers --version; that the
other programs (herald-store, herald-keygen) sit beside them; that herald-sub's program of
each sink (herald-sub-NAME) is in libexec/herald and the installed herald-sub reaches them
(its handover: a subcommand and --print-config of a sink answered by the sink's program);
and with --man (help2man was found) that each program's man page is
PREFIX/share/man/man1/PROGRAM.1.
"""
import os
import pathlib
import re
import subprocess
import sys
import tempfile

PROGRAMS = ["herald-pub", "herald-sub", "herald-store", "herald-keygen"]
SINK_PROGRAMS = ["mail", "webhook", "calendar", "atom", "nats"]  # libexec/herald/herald-sub-*
UNIT_PREFIX = "/usr/local"  # CMAKE_INSTALL_PREFIX's default, the units' ExecStart paths


def unit_paths(source):
    """{program: path relative to the prefix} from the units' ExecStart lines."""
    paths = {}
    for unit in sorted((source / "deploy" / "systemd").glob("*.service")):
        for line in unit.read_text().splitlines():
            m = re.match(r"ExecStart=[-@:+!]*(\S+)", line)
            if m:
                path = m.group(1)
                if not path.startswith(UNIT_PREFIX + "/"):
                    sys.exit(f"{unit.name}: ExecStart {path} is outside {UNIT_PREFIX}")
                paths[os.path.basename(path)] = path[len(UNIT_PREFIX) + 1:]
    return paths


def main():
    source, build = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    want_man = "--man" in sys.argv[3:]
    errors = []
    expected = unit_paths(source)
    if not {"herald-pub", "herald-sub"} <= set(expected):
        errors.append(f"the units start {sorted(expected)}, expected herald-pub and herald-sub")
    bindir = os.path.dirname(expected.get("herald-pub", "bin/herald-pub"))
    for program in PROGRAMS:
        expected.setdefault(program, f"{bindir}/{program}")
    with tempfile.TemporaryDirectory(prefix="herald-install-") as prefix:
        cmake = os.environ.get("CMAKE", "cmake")
        run = subprocess.run([cmake, "--install", str(build), "--prefix", prefix],
                             capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            sys.exit(f"cmake --install failed ({run.returncode}):\n{run.stdout}{run.stderr}")
        root = pathlib.Path(prefix)
        for program, rel in sorted(expected.items()):
            path = root / rel
            if not path.is_file() or not os.access(path, os.X_OK):
                errors.append(f"{program}: not installed as {rel} (the units expect it there)")
                continue
            version = subprocess.run([str(path), "--version"], capture_output=True, text=True,
                                     timeout=30)
            if version.returncode != 0 or not version.stdout.startswith(program + " "):
                errors.append(f"{rel} --version: exit {version.returncode}, {version.stdout!r}")
        for sink in SINK_PROGRAMS:
            rel = f"libexec/herald/herald-sub-{sink}"
            if not os.access(root / rel, os.X_OK):
                errors.append(f"herald-sub-{sink}: not installed as {rel}")
        sub = root / expected["herald-sub"]
        for args in (["webhook-dead", "list", "--help"],
                     ["--connect", "tcp://127.0.0.1:1", "--sink", "nats", "--print-config"]):
            run = subprocess.run([str(sub)] + args, capture_output=True, text=True, timeout=30)
            if run.returncode != 0 or not run.stdout:
                errors.append(f"installed herald-sub {' '.join(args)}: exit {run.returncode}, "
                              f"{run.stderr.strip()!r}")
        if want_man:
            for program in PROGRAMS:
                page = root / "share" / "man" / "man1" / f"{program}.1"
                if not page.is_file():
                    errors.append(f"{program}: no man page share/man/man1/{program}.1")
                    continue
                text = page.read_text()
                if not re.search(rf'^\.TH {program.upper()} "1"', text, re.M) or \
                        "--help" not in text.replace("\\-", "-"):
                    errors.append(f"share/man/man1/{program}.1 is not {program}'s page")
        installed = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        print("installed: " + ", ".join(installed), file=sys.stderr)
        return 1
    print("check_install: " + ", ".join(installed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
