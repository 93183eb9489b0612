#!/usr/bin/env python3
"""check_log_events.py -- docs/log-events.md lists every log event the programs emit.

Usage: check_log_events.py SOURCE_DIR

Reads every log call in the C sources under services/ and store/ (log_debug, log_info,
log_warn, log_error, log_emit of services/common/log.h) and takes its event names: the string
literals of its event argument (both of a `cond ? "a" : "b"`). A call whose event is a
variable must sit in one of the CARRIERS below, the helpers that log an event their callers
name: their callers' event-shaped literals ("pub.store_busy") are the names then. Fails, naming
them, on
  - an event the code emits that the catalogue lacks, or lists under another program;
  - an event the catalogue lists that the code no longer emits;
  - a level a literal call writes that the catalogue's row does not give;
  - a log call with a variable event outside the carriers (add the helper here);
  - an event docs/troubleshooting.md names that the catalogue lacks.
"""
import pathlib
import re
import sys

# The helpers that log an event named by their callers: function name -> why.
CARRIERS = {
    "s_mhd_log": "services/common/http_server.c: libmicrohttpd's errors, event from the caller",
    "s_problem_in": "services/publisher/publisher.c: a store problem logged once",
    "s_log_limited": "services/subscriber/subscriber.c: rate-limited bad input",
    "outbox_sink_destroy": "services/subscriber/sinks/outbox.c: an outbox sink's end, the event "
                           "its kind names",
}
# Event-shaped literals (the carriers' callers) have one of these prefixes.
EVENT_LITERAL = re.compile(r'"((?:pub|sub|metrics)\.[a-z_]+)"')
CALL = re.compile(r"\blog_(debug|info|warn|error|emit)\s*\(")
# A function's definition: its name, its parameters (one level of parentheses inside), and its
# opening brace alone at the start of the next line (STYLE.md; statements keep theirs on the line).
FUNC = re.compile(r"(\w+)\s*\((?:[^;{}()]|\([^;{}()]*\))*\)\s*\n\{")
LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')
# The catalogue's sections: heading -> the source folders whose events belong there.
SECTIONS = {
    "herald-pub": "services/publisher/",
    "herald-sub": "services/subscriber/",
    "both": "services/common/",
}


def program_of(path):
    """The catalogue section for a source file, or None (store/, keygen: no logger)."""
    for section, folder in SECTIONS.items():
        if path.startswith(folder):
            return section
    return None


def first_argument(text, start):
    """The text of the call's first argument, from just after its '(' at start."""
    depth, i, in_string = 0, start, False
    while i < len(text):
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                return text[start:i]
            depth -= 1
        elif c == "," and depth == 0:
            return text[start:i]
        i += 1
    return text[start:]


def strip_comments(text):
    """The text with its comments and #include lines blanked (newlines kept, so line numbers
    hold): "metrics.h" is no event."""
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    return re.sub(r"/\*.*?\*/|//[^\n]*|^[ \t]*#[ \t]*include[^\n]*", blank, text,
                  flags=re.S | re.M)


def code_events(root):
    """{event: {"programs": set, "levels": set, "where": [file:line]}} and a list of errors."""
    events, errors = {}, []

    def add(name, program, level, where):
        e = events.setdefault(name, {"programs": set(), "levels": set(), "where": []})
        e["programs"].add(program)
        if level:
            e["levels"].add(level)
        e["where"].append(where)

    files = sorted(list(root.glob("services/**/*.c")) + list(root.glob("store/**/*.c")))
    for path in files:
        rel = path.relative_to(root).as_posix()
        if rel == "services/common/log.c":
            continue  # the logger itself
        text = strip_comments(path.read_text())
        program = program_of(rel)
        functions = [(m.start(), m.group(1)) for m in FUNC.finditer(text)]
        for m in CALL.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            where = f"{rel}:{line}"
            arg = first_argument(text, m.end())
            levels = [m.group(1)]
            if m.group(1) == "emit":
                levels = [lv.lower() for lv in re.findall(r"LOG_([A-Z]+)", arg)]
                rest = text[m.end() + len(arg) + 1:]
                arg = first_argument(rest, 0)
            names = LITERAL.findall(arg)
            if program is None:
                errors.append(f"{where}: a log call outside services/ (add its section)")
                continue
            if not names:
                inside = [name for start, name in functions if start < m.start()]
                if not inside or inside[-1] not in CARRIERS:
                    errors.append(f"{where}: log call with a variable event ({arg.strip()}) "
                                  f"outside the carriers: add its function to CARRIERS")
                continue
            for name in names:
                for level in levels:
                    add(name, program, level, where)
        for m in EVENT_LITERAL.finditer(text):
            name = m.group(1)
            line = text.count("\n", 0, m.start()) + 1
            if name not in events or f"{rel}:{line}" not in events[name]["where"]:
                add(name, program, None, f"{rel}:{line}")
    return events, errors


def catalogue(path, errors):
    """{event: {"section": heading, "levels": set}} from docs/log-events.md's tables; a
    heading that counts its events ("## herald-pub (62 events)") must count its rows."""
    rows, section, counted = {}, None, {}
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
            section = next((s for s in SECTIONS if heading.startswith(s)), None)
            if heading.lower().startswith("both"):
                section = "both"
            m = re.search(r"\((\d+) events\)", heading)
            counted[heading] = [int(m.group(1)) if m else None, 0]
            current = counted[heading]
            continue
        m = re.match(r"\|\s*`([a-z]+\.[a-z_]+)`\s*\|([^|]*)\|", line)
        if m and section:
            levels = set(re.findall(r"debug|info|warn|error", m.group(2)))
            if m.group(1) in rows:
                rows[m.group(1)]["dup"] = True
            rows[m.group(1)] = {"section": section, "levels": levels}
            current[1] += 1
    for heading, (said, found) in counted.items():
        if said is not None and said != found:
            errors.append(f"docs/log-events.md: \"{heading}\" lists {found} events")
    return rows


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    events, errors = code_events(root)
    rows = catalogue(root / "docs" / "log-events.md", errors)
    for name in sorted(events):
        e = events[name]
        where = ", ".join(e["where"][:3])
        if name not in rows:
            errors.append(f"{name}: emitted ({where}) but not in docs/log-events.md")
            continue
        row = rows[name]
        if row.get("dup"):
            errors.append(f"{name}: listed twice in docs/log-events.md")
        if row["section"] not in e["programs"]:
            errors.append(f"{name}: listed under {row['section']} but emitted by "
                          f"{', '.join(sorted(e['programs']))} ({where})")
        missing = e["levels"] - row["levels"]
        if missing:
            errors.append(f"{name}: written at {', '.join(sorted(missing))} ({where}) but "
                          f"docs/log-events.md gives {', '.join(sorted(row['levels'])) or '-'}")
    for name in sorted(set(rows) - set(events)):
        errors.append(f"{name}: in docs/log-events.md but no longer emitted by the code")
    guide = root / "docs" / "troubleshooting.md"
    if guide.exists():
        named = set(re.findall(r'[`"]((?:pub|sub|metrics)\.[a-z_]+)[`"]', guide.read_text()))
        for name in sorted(named - set(rows)):
            errors.append(f"{name}: named in docs/troubleshooting.md but not in the catalogue")
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        print(f"check_log_events: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_log_events: {len(events)} events, all in docs/log-events.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
