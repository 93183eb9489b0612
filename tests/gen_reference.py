#!/usr/bin/env python3
"""gen_reference.py -- docs/reference.md from the programs' --help, which the options tables
(services/common/options.h) print: every program and command, every flag with its variable,
its default and its values. The tables are the one source; this only lays their text out.

Reads herald-pub, herald-sub, herald-store and herald-keygen --help, then the --help of each
command their usage or "Commands:" list names (herald-store init, herald-sub mail-dead list,
...). Prints the markdown, or with --check FILE compares it with FILE and exits 1 when they
differ (the ctest test reference_doc: regenerate with
`python3 tests/gen_reference.py build/bin > docs/reference.md`).

usage: gen_reference.py BIN [--check FILE]
"""
import os
import re
import subprocess
import sys

PROGRAMS = ["herald-pub", "herald-sub", "herald-store", "herald-keygen"]
OPTION = re.compile(r"^  (?:-(\w), )?(--[\w-]+)(?: ([^ ]+))?(?: {2,}(.*))?$")
HELP_COL = 28  # where options.c starts an option's help and its continuation lines


def help_text(bin_dir, argv):
    p = subprocess.run([os.path.join(bin_dir, argv[0])] + argv[1:] + ["--help"],
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        sys.exit(f"gen_reference: {' '.join(argv)} --help: exit {p.returncode}: {p.stderr}")
    return p.stdout


def parse(text):
    """(usage lines, about, [(group title, [option])]) of a --help text; an option is a dict:
    flag, short, arg, help, bracket (the [...] text: variable; range; default)."""
    lines = text.splitlines()
    usage = []
    i = 0
    while i < len(lines) and lines[i].strip():
        usage.append(lines[i][len("usage: "):])  # "usage: " or its width of blanks
        i += 1
    about = []
    i += 1
    while i < len(lines) and lines[i].strip() and not lines[i].startswith("  "):
        about.append(lines[i])
        i += 1
    groups = [(None, [])]
    opt = None
    in_bracket = False
    for line in lines[i:]:
        m = OPTION.match(line)
        if m and not in_bracket:
            opt = {"short": m.group(1), "flag": m.group(2), "arg": m.group(3) or "",
                   "help": [], "bracket": ""}
            rest = (m.group(4) or "").strip()
            groups[-1][1].append(opt)
            line = " " * HELP_COL + rest if rest else ""
            if not rest:
                continue
        if opt and line.startswith(" " * HELP_COL) and line.strip():
            text = line.strip()
            if in_bracket or text.startswith("["):
                opt["bracket"] += (" " if opt["bracket"] else "") + text
                in_bracket = not text.endswith("]")
            else:
                opt["help"].append(text)
            continue
        opt = None
        in_bracket = False
        if line and not line.startswith(" ") and line.endswith(":") and \
                not line.startswith("Commands"):
            groups.append((line[:-1], []))
    return usage, " ".join(about), groups


def commands(program, text):
    """The commands whose --help to read: herald-store's "Commands:" list, the others' usage
    lines (the first action of list|retry)."""
    out = []
    lines = text.splitlines()
    if "Commands:" in lines:
        for line in lines[lines.index("Commands:") + 1:]:
            if not line.startswith("  "):
                break
            out.append([line.split()[0]])
        return out
    for line in parse(text)[0][1:]:
        words = line.split()
        if len(words) > 1 and words[0] == program and not words[1].startswith("-"):
            cmd = [words[1]]
            if len(words) > 2 and "|" in words[2] and not words[2].startswith("["):
                cmd.append(words[2].split("|")[0])
            out.append(cmd)
    return out


def cell(text):
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def table(options, env):
    """A markdown table of options; env: whether the program reads variables."""
    head = "| Flag | Variable | Default | Values | Description |\n|---|---|---|---|---|\n"
    if not env:
        head = "| Flag | Default | Values | Description |\n|---|---|---|---|\n"
    rows = []
    for o in options:
        items = [s.strip() for s in o["bracket"].strip("[]").split(";")] if o["bracket"] else []
        var, default, values = "", "", []
        for item in items:
            if item.startswith("HERALD_") and not var:
                var = item
            elif item.startswith("default "):
                default = item[len("default "):]
            elif item == "required":
                default = "required"
            elif item:
                values.append(item)
        flag = (f"-{o['short']}, " if o["short"] else "") + o["flag"]
        flag = f"`{flag}{' ' + o['arg'] if o['arg'] else ''}`".replace("|", "\\|")
        code = f"`{default}`" if default and default != "required" else default
        cols = [flag, f"`{var}`" if var else "", code,
                cell("; ".join(values)), cell(" ".join(o["help"]))]
        if not env:
            del cols[1]
        rows.append("| " + " | ".join(cols) + " |\n")
    return head + "".join(rows)


def section(level, title, text):
    usage, about, groups = parse(text)
    env = any(o["bracket"].startswith("[HERALD_") for _, opts in groups for o in opts)
    out = f"{'#' * level} {title}\n\n```\n" + "\n".join(usage) + "\n```\n\n"
    if about:
        out += about + "\n\n"
    for name, opts in groups:
        opts = [o for o in opts if o["flag"] not in ("--help", "--version", "--print-config")]
        if not opts:
            continue
        if name:
            out += f"{'#' * (level + 1)} {name}\n\n"
        out += table(opts, env) + "\n"
    return out


def generate(bin_dir):
    out = ("# Reference\n\n"
           "Every program, every command, every flag: its environment variable, its default and\n"
           "its values. Generated from the programs' `--help` (their options tables) by\n"
           "`tests/gen_reference.py`; do not edit by hand: the test `reference_doc` fails when\n"
           "this file differs from what the programs say. Regenerate with\n"
           "`python3 tests/gen_reference.py build/bin > docs/reference.md`.\n\n"
           "Every program also answers `-h`/`--help` and `--version`; the services answer\n"
           "`--print-config`. A flag wins over its variable. A secret (`--x-file`) is read from\n"
           "the file, or given itself in the variable `HERALD_X`, never on the command line.\n\n")
    for program in PROGRAMS:
        text = help_text(bin_dir, [program])
        out += section(2, program, text)
        for cmd in commands(program, text):
            out += section(3, " ".join([program] + cmd), help_text(bin_dir, [program] + cmd))
    return out.rstrip("\n") + "\n"


def main():
    if len(sys.argv) not in (2, 4) or (len(sys.argv) == 4 and sys.argv[2] != "--check"):
        sys.exit(__doc__.strip().splitlines()[-1])
    text = generate(sys.argv[1])
    if len(sys.argv) == 2:
        sys.stdout.write(text)
        return
    with open(sys.argv[3], encoding="utf-8") as f:
        committed = f.read()
    if committed != text:
        import difflib
        sys.stdout.writelines(difflib.unified_diff(committed.splitlines(True),
                                                   text.splitlines(True), sys.argv[3],
                                                   "generated"))
        sys.exit(f"{sys.argv[3]} differs from the programs' --help: regenerate it with "
                 "python3 tests/gen_reference.py build/bin > docs/reference.md")
    print(f"{sys.argv[3]}: up to date")


if __name__ == "__main__":
    main()
