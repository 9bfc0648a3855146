"""`storfs refresh`: drop cached listings at or below a path of a live mount."""

from __future__ import annotations

import argparse
import os
import sys

from storfs.commands.common import escape
from storfs.control_socket import PUBLISHED, ControlError, ask

NAME = "refresh"
HELP = "make the next listing of PATH (and below) fetch afresh"
EXAMPLES = f"""examples:
  storfs refresh ~/cloud/azure/dev/containers     the next ls refetches this listing
  storfs refresh ~/cloud                          everything (same as kill -HUP <storfs pid>)

The mount publishes its control socket's path in <mountpoint>/.storfs/{PUBLISHED}; only the
user who mounted it can connect.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="a path inside a storfs mount")


def find_mount(path: str) -> tuple[str, str]:
    """The mountpoint that `path` is under (symlinks resolved), and `path` inside it (`/...`)."""
    real = os.path.realpath(path)
    mountpoint = real
    while not os.path.ismount(mountpoint):
        mountpoint = os.path.dirname(mountpoint)
    inside = os.path.relpath(real, mountpoint)
    return mountpoint, "/" if inside == "." else "/" + inside


def run(args: argparse.Namespace) -> int:
    mountpoint, inside = find_mount(args.path)
    shown = escape(args.path)
    try:
        answer = ask(mountpoint, {"op": "refresh", "path": inside})
    except FileNotFoundError:
        if os.path.exists(os.path.join(mountpoint, ".storfs", "stats")):
            why = f"the storfs mount at {escape(mountpoint)} has no control socket (see its log)"
        else:
            why = f"{shown} is not inside a storfs mount"
        print(f"storfs: {why}", file=sys.stderr)
        return 1
    except ControlError as exc:
        print(f"storfs: cannot reach the mount at {escape(mountpoint)}: {escape(str(exc))}", file=sys.stderr)
        return 1
    except OSError as exc:
        reason = escape(exc.strerror or str(exc))
        print(f"storfs: cannot reach the mount at {escape(mountpoint)}: {reason}", file=sys.stderr)
        return 1
    if "error" in answer:
        print(f"storfs: {escape(str(answer['error']))}", file=sys.stderr)
        return 1
    print(f"dropped {answer['dropped']} cached listing(s) under {shown}")
    return 0
