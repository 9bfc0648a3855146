"""`storfs stat`: every attribute and extended attribute of one entry, without mounting."""

from __future__ import annotations

import argparse
from typing import Any

from storfs.commands.common import (
    ESCAPES_HELP,
    add_config_argument,
    add_logging_arguments,
    escape,
    open_session,
    quoted,
    report,
    to_json,
)
from storfs.errors import StorfsError
from storfs.tree_walk import describe

NAME = "stat"
HELP = "show every attribute and user.* extended attribute of one path, without mounting"
EXAMPLES = f"""examples:
  storfs stat azure/dev/containers/audio           mode, size, blocks, times, then user.* attributes
  storfs stat qingstor/main/buckets/b/uploads/ID/parts/00001
  storfs stat --json azure/dev/containers/audio | jq '.xattrs["user.azure.public_access"]'

What `stat` and `getfattr -d` show on a mount, for machines without FUSE or getfattr.
PATH is <provider>/<account>/... (a leading / is optional). Exit status: 0; 1 if the path does
not exist or its listing failed; 2 for a bad config. Attribute values are quoted, escaped
like names, with \\" for a double quote.

{ESCAPES_HELP}"""

LABELS = ("Path", "Type", "Mode", "Links", "Uid", "Gid", "Size", "Blocks", "Mtime", "Ctime")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="<provider>/<account>/...")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_config_argument(parser)
    add_logging_arguments(parser)


def run(args: argparse.Namespace) -> int:
    session = open_session(args)
    if isinstance(session, int):
        return session
    with session:
        try:
            item, _ = session.lookup(args.path)
        except StorfsError as exc:
            report(session, args.path, exc, given=args.path)
            return 1
        data = describe(item, session.stat(item))
    if args.json:
        print(to_json(data, indent=2))
        return 0
    print(render(data))
    return 0


def render(data: dict[str, Any]) -> str:
    kind = "directory" if data["type"] == "dir" else "regular file"
    values = (
        escape(data["path"]) or "/",
        kind,
        f"{data['mode']} ({data['mode_string']})",
        data["nlink"],
        data["uid"],
        data["gid"],
        data["size"],
        data["blocks"],
        data["mtime"],
        data["ctime"],
    )
    width = max(len(label) for label in LABELS)
    lines = [f"{label:>{width}}: {value}" for label, value in zip(LABELS, values, strict=True)]
    # getfattr -d style; quoted and escaped so any character reads unambiguously.
    lines += [f"{escape(name)}={quoted(value)}" for name, value in data["xattrs"].items()]
    return "\n".join(lines)
