"""Command line: `storfs COMMAND ...`, and the `storfs SOURCE MOUNTPOINT -o ...` form fstab uses."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from storfs import __version__
from storfs.commands import accounts, doctor, ls, mount, refresh, stat, stats, unmount

COMMANDS: list[ModuleType] = [mount, unmount, refresh, stats, accounts, ls, stat, doctor]

EXAMPLES = """examples:
  storfs mount ~/cloud                     mount every account, in the background
  ls -l ~/cloud/azure/dev/containers       list containers
  getfattr -d ~/cloud/azure/dev/containers/audio
  storfs refresh ~/cloud/azure/dev         forget cached listings there
  storfs unmount ~/cloud

run `storfs COMMAND --help` for each command's options and examples.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="storfs",
        description="Mount cloud-storage listings as a read-only directory tree.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"storfs {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.NAME,
            help=command.HELP,
            description=command.HELP[:1].upper() + command.HELP[1:] + ".",
            epilog=command.EXAMPLES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.configure(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    names = {command.NAME for command in COMMANDS}
    if args_list and args_list[0] not in names:
        translated = mount.fstab_argv(args_list)
        if translated is not None:
            args_list = translated
    args = build_parser().parse_args(args_list)
    return int(args.run(args))


def run() -> None:
    """The `storfs` command: `main`, then exit at once.

    Requests that outlived their deadline may still hold threads; the answer is already given,
    so the process does not wait for them (as interpreter shutdown would).
    """
    try:
        code = main()
    except KeyboardInterrupt:
        code = 130
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
