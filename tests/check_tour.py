#!/usr/bin/env python3
"""check_tour.py -- fails when a tracked source file under proto/, store/ or services/ is not
named in the README's source tour ("## Source tour", its table's first column).

A row names files by path from the repository's root (`services/common/options.h`) or, after
a first full path, relative to that path's folder or one of its parents (`options.c`,
`sinks/sink.c`). A header and the .c of the same name are one module: naming either names
both. Prints every file left out, and the tour's names that match no file; exit 1 if any.

usage: check_tour.py [REPO]   (default: the folder above this script's)
"""
import os
import re
import subprocess
import sys

ROOTS = ("proto/", "store/", "services/")


def tracked(repo):
    """The repository's .c/.h files under ROOTS (git ls-files; a walk without git)."""
    try:
        out = subprocess.run(["git", "-C", repo, "ls-files", *ROOTS], capture_output=True,
                             text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        out = [os.path.relpath(os.path.join(d, f), repo)
               for root in ROOTS for d, _, files in os.walk(os.path.join(repo, root))
               for f in files]
    return sorted(p for p in out if p.endswith((".c", ".h")))


def tour_rows(readme):
    """The first cells of the source tour's table rows."""
    text = open(readme, encoding="utf-8").read()
    start = text.index("## Source tour")
    end = text.find("\n## ", start + 1)
    rows = []
    for line in text[start:end if end > 0 else len(text)].splitlines():
        if line.startswith("| `"):
            rows.append(line.split(" | ")[0])
    return rows


def named(repo, rows):
    """The files the rows name, and the names that match none."""
    files, unknown = set(), []
    for cell in rows:
        first = None
        for name in re.findall(r"`([^`]+)`", cell):
            if name.endswith("/"):
                continue  # a folder
            candidates = [name]
            if first:
                folder = os.path.dirname(first)
                while folder:
                    candidates.append(os.path.join(folder, name))
                    folder = os.path.dirname(folder)
            path = next((c for c in candidates if os.path.isfile(os.path.join(repo, c))), None)
            if path is None:
                unknown.append(name)
                continue
            first = first or path
            files.add(path)
    return files, unknown


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))
    files, unknown = named(repo, tour_rows(os.path.join(repo, "README.md")))
    modules = {os.path.splitext(f)[0] for f in files}
    missing = [p for p in tracked(repo) if os.path.splitext(p)[0] not in modules]
    for p in missing:
        print("README.md source tour: %s is not named" % p)
    for name in unknown:
        print("README.md source tour: `%s` names no file" % name)
    return 1 if missing or unknown else 0


if __name__ == "__main__":
    sys.exit(main())
