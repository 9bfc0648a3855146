"""`storfs ls`: the mount's listings without FUSE, for scripts, debugging and machines without it."""

from __future__ import annotations

import argparse
import os
import stat as statmod
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

from storfs.commands.common import (
    ESCAPES_HELP,
    add_config_argument,
    add_logging_arguments,
    escape,
    open_session,
    report,
    to_json,
)
from storfs.entry import NS
from storfs.errors import StorfsError
from storfs.tree import Node
from storfs.tree_walk import BRIEF_FIELDS, Item, Session, describe

NAME = "ls"
HELP = "list a path of the tree the mount shows, without mounting"
EXAMPLES = f"""examples:
  storfs ls azure/dev/containers                   names, one per line, in listing order
  storfs ls -l qingstor/main/buckets               mode, links, size, mtime, name (like ls -l)
  storfs ls -l qingstor/main/buckets/b/uploads     ... upload id, then its object key
  storfs ls --json oas/archive/vaults | jq .xattrs one JSON object per entry per line
  storfs ls -R qingstor/main                       every path below, depth first (like find)
  storfs ls -R --json qingstor/main > all.jsonl    streams as pages arrive; progress on a terminal
  storfs ls                                        the providers; `storfs ls azure` its accounts

PATH is <provider>/<account>/... as under a mountpoint (a leading / is optional). Works
without FUSE: nothing here needs libfuse or /dev/fuse. Exit status: 0, or 1 if any listing
failed (each failure is reported on stderr and the rest is still listed), 2 for a bad config.

{ESCAPES_HELP}"""

SIX_MONTHS = 182 * 24 * 3600


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", nargs="?", default="", help="<provider>/<account>/...")
    parser.add_argument("-l", dest="long", action="store_true", help="mode, links, size, mtime and name")
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per entry per line: path, name, type, mode, size, mtime, ctime, xattrs",
    )
    parser.add_argument("-R", dest="recursive", action="store_true", help="every path below PATH")
    add_config_argument(parser)
    add_logging_arguments(parser)


def run(args: argparse.Namespace) -> int:
    session = open_session(args)
    if isinstance(session, int):
        return session
    with session:
        output = Output(sys.stdout, args.recursive)
        session.before_fetch = output.flush
        try:
            return list_path(session, args, output)
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
            return 1
        except KeyboardInterrupt:
            return 130
        finally:
            output.close()


def list_path(session: Session, args: argparse.Namespace, output: Output) -> int:
    try:
        item, node = session.lookup(args.path)
    except StorfsError as exc:
        report(session, args.path, exc, given=args.path)
        return 1
    failures = 0

    def failed(path: str, error: StorfsError) -> None:
        nonlocal failures
        failures += 1
        output.flush()
        report(session, path, error)

    items: Iterator[tuple[Item, Node]]
    if not node.is_dir:
        items = iter([(item, node)])
    elif args.recursive:
        items = session.walk(item.path, node, failed)
    else:
        items = guarded(session.children(item.path, node), item.path, failed)
    now = time.time()
    columns = long_columns(node) if args.long and not args.recursive else ()
    for child, _ in items:
        line = render(child, session.stat(child), args, now)
        if columns and not args.json and child.entry is not None:
            line += "".join(f"  {escape(child.entry.xattr(name) or '-')}" for name in columns)
        output.line(line, escape(child.path))
    if args.json:
        for directory, raw_key, reason in session.not_shown:
            record = {"path": directory, "type": "not_shown", "key": raw_key, "reason": reason}
            output.line(to_json(record), escape(directory))
    return 1 if failures else 0


def long_columns(node: Node) -> tuple[str, ...]:
    """The attributes `-l` shows after each name of this listing (an upload's object key)."""
    if node.listing is None or node.provider is None:
        return ()
    return tuple(node.provider.long_columns.get(node.listing.kind, ()))


def guarded(items: Iterator[tuple[Item, Node]], path: str, failed: Any) -> Iterator[tuple[Item, Node]]:
    try:
        yield from items
    except StorfsError as exc:
        failed(path, exc)


def render(item: Item, st: dict[str, Any], args: argparse.Namespace, now: float) -> str:
    """One line of output: the raw names as JSON with --json, else escaped (see ESCAPES_HELP)."""
    if args.json:
        return to_json(describe(item, st, BRIEF_FIELDS))
    name = escape(item.path if args.recursive else item.name or item.path)
    if args.long:
        return long_line(st, name, now)
    return name


def long_line(st: dict[str, Any], name: str, now: float) -> str:
    """`dr-xr-xr-x 2        0 Oct 26  2016 audio`: `ls -l` without owner and group."""
    mtime = st["st_mtime"] // NS
    local = time.localtime(mtime)
    recent = now - SIX_MONTHS < mtime <= now + 3600
    when = time.strftime("%b %e %H:%M" if recent else "%b %e  %Y", local)
    return f"{statmod.filemode(st['st_mode'])} {st['st_nlink']} {st['st_size']:>12} {when} {name}"


class Output:
    """Lines to stdout, flushed whenever the walk is about to wait on the network.

    With -R and stderr on a terminal, a progress bar (entries listed, where the walk is) runs on
    stderr; lines meant for the same terminal are written around it.
    """

    def __init__(self, out: TextIO, recursive: bool) -> None:
        self.out = out
        self.count = 0
        self.bar: Any = None
        self._pending: list[str] = []
        self._shown = 0.0
        if recursive and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                file=sys.stderr, unit=" entries", leave=False, dynamic_ncols=True, mininterval=0.2
            )
        self._around_bar = self.bar is not None and out.isatty()

    def line(self, text: str, path: str) -> None:
        self.count += 1
        if self._around_bar:
            self._pending.append(text)
            if len(self._pending) >= 1000:
                self.flush()
        else:
            self.out.write(text + "\n")
        if self.bar is not None:
            self.bar.update(1)
            now = time.monotonic()
            if now - self._shown > 0.2:
                self._shown = now
                self.bar.set_postfix_str(path, refresh=False)

    def flush(self) -> None:
        if self._pending:
            with self.bar.external_write_mode(file=self.out):
                self.out.write("\n".join(self._pending) + "\n")
                self.out.flush()
            self._pending.clear()
        self.out.flush()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self.bar is not None:
                self.bar.close()
