"""The kernel's mount table, read as text: what is mounted where (no stat of the mount itself,
which for a dead FUSE mount fails and for our own mount would be an upcall to ourselves)."""

from __future__ import annotations

import os
import re
from pathlib import Path


def mount_type(path: Path | str, mounts: str = "/proc/self/mounts") -> str | None:
    """The file system type mounted at `path` (`fuse.storfs`), "" if nothing is, None if unknown.

    Read from the mount table, so a dead FUSE mount (whose stat fails) still counts as a mount.
    """
    target = _absolute(path)
    try:
        with open(mounts, encoding="utf-8", errors="surrogateescape") as handle:
            table = handle.read().splitlines()
    except OSError:
        return None
    found = ""
    for line in table:
        fields = line.split()
        if len(fields) >= 3 and _unescape(fields[1]) == target:
            found = fields[2]  # the last mount at a path is the visible one
    return found


def _unescape(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def device_of(path: Path | str, mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """`major:minor` of the file system mounted at `path`; None if nothing is (or unknown)."""
    target = _absolute(path)
    found = None
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 5 and _unescape(fields[4]) == target:
                    found = fields[2]  # the last mount at a path is the visible one
    except OSError:
        return None
    return found


def _absolute(path: Path | str) -> str:
    absolute = os.path.abspath(path)
    return os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))
