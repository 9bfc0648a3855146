"""`storfs unmount`: unmount a storfs mount (also one whose process died)."""

from __future__ import annotations

import argparse

from storfs import mount

NAME = "unmount"
HELP = "unmount a storfs mount"
EXAMPLES = """examples:
  storfs unmount ~/cloud
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mountpoint", metavar="MOUNTPOINT")


def run(args: argparse.Namespace) -> int:
    return mount.unmount(args.mountpoint)
