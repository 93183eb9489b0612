#!/usr/bin/env python3
"""check_format.py -- fails when a tracked .c/.h file is not as .clang-format (clang-format
14) writes it: runs `clang-format --dry-run --Werror` on each (generated code, *.pb-c.*,
excepted) and names the files that differ, with `clang-format -i FILE` as the fix.

usage: check_format.py [REPO]   (default: the folder above this script's)
"""
import os
import shutil
import subprocess
import sys

GENERATED = (".pb-c.c", ".pb-c.h")


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))
    tool = shutil.which("clang-format-14") or shutil.which("clang-format")
    if not tool:
        print("check_format: clang-format not found (apt-get install clang-format-14)")
        return 1
    files = subprocess.run(["git", "-C", repo, "ls-files", "*.c", "*.h"], capture_output=True,
                           text=True, check=True).stdout.split()
    files = [f for f in files if not f.endswith(GENERATED)]
    bad = []
    for f in files:
        r = subprocess.run([tool, "--dry-run", "--Werror", f], cwd=repo, capture_output=True,
                           text=True)
        if r.returncode != 0:
            bad.append(f)
    for f in bad:
        print("check_format: %s is not clang-formatted (clang-format -i %s)" % (f, f))
    print("check_format: %d files, %d to format" % (len(files), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
