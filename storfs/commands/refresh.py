"""`storfs refresh`: drop cached listings at or below a path of a live mount."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from storfs.control_socket import ask

NAME = "refresh"
HELP = "make the next listing of PATH (and below) fetch afresh"
EXAMPLES = """examples:
  storfs refresh ~/cloud/azure/dev/containers     the next ls refetches this listing
  storfs refresh ~/cloud                          everything (same as kill -HUP <storfs pid>)
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="a path inside a storfs mount")


def run(args: argparse.Namespace) -> int:
    path = Path(os.path.abspath(args.path))
    mountpoint = path
    while not os.path.ismount(mountpoint) and mountpoint != mountpoint.parent:
        mountpoint = mountpoint.parent
    if mountpoint == mountpoint.parent:
        print(f"storfs: {args.path} is not inside a storfs mount", file=sys.stderr)
        return 1
    inside = "/" + str(path.relative_to(mountpoint)).strip(".")
    try:
        answer = ask(mountpoint, {"op": "refresh", "path": inside})
    except OSError as exc:
        print(f"storfs: cannot reach the mount at {mountpoint}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if "error" in answer:
        print(f"storfs: {answer['error']}", file=sys.stderr)
        return 1
    print(f"dropped {answer['dropped']} cached listing(s) under {path}")
    return 0
