"""`storfs stats`: a live mount's counters, from `<mnt>/.storfs/stats`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

NAME = "stats"
HELP = "show a mount's request, cache and upcall counters"
EXAMPLES = """examples:
  storfs stats ~/cloud
  storfs stats --json ~/cloud | jq .requests
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mountpoint", metavar="MOUNTPOINT")
    parser.add_argument("--json", action="store_true", help="print the raw JSON")


def run(args: argparse.Namespace) -> int:
    path = Path(args.mountpoint) / ".storfs" / "stats"
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        print(
            f"storfs: cannot read {path}: {exc.strerror} (is {args.mountpoint} a storfs mount?)",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(render(data))
    return 0


def render(data: dict[str, Any]) -> str:
    lines = [f"uptime        {data['uptime_seconds']:.0f} s"]
    lines.append(f"requests      {data['requests_total']}")
    for account, ops in data["requests"].items():
        for op, statuses in ops.items():
            counts = ", ".join(f"{status}: {n}" for status, n in statuses.items())
            lines.append(f"  {account} {op}: {counts}")
    lines.append(f"retries       {data.get('retries_total', sum(data['retries'].values()))}")
    for label, n in data["retries"].items():
        lines.append(f"  {label}: {n}")
    cache = data["cache"]
    lines.append(
        "cache         {} entries, {} hits, {} misses, {} evictions".format(
            cache.get("entries", 0), cache.get("hits", 0), cache.get("misses", 0), cache.get("evictions", 0)
        )
    )
    lines.append("upcalls       " + ", ".join(f"{k} {v}" for k, v in data["upcalls"].items()))
    if data["errors"]:
        lines.append("errors        " + ", ".join(f"{k} {v}" for k, v in data["errors"].items()))
    return "\n".join(lines)
