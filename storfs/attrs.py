"""Nodes -> stat dictionaries and extended attributes (what `ls -l`, `stat`, `getfattr` show)."""

from __future__ import annotations

import stat as statmod
from typing import Any

from storfs.entry import Entry

DIR_MODE = statmod.S_IFDIR | 0o555
FILE_MODE = statmod.S_IFREG | 0o444
BLOCK = 512


class StatMaker:
    """Builds stat dicts for one mount: every node is owned by the mounting user."""

    def __init__(self, uid: int, gid: int, mount_time: float) -> None:
        self.uid = uid
        self.gid = gid
        self._fixed_dir = self._make(DIR_MODE, 2, 0, mount_time, mount_time)

    def fixed_dir(self) -> dict[str, Any]:
        """A directory of the fixed levels (root, provider, account, `containers`, ...)."""
        return self._fixed_dir

    def entry(self, entry: Entry) -> dict[str, Any]:
        if entry.is_dir:
            return self._make(DIR_MODE, 2, entry.size, entry.mtime, entry.ctime)
        return self._make(FILE_MODE, 1, entry.size, entry.mtime, entry.ctime)

    def _make(self, mode: int, nlink: int, size: int, mtime: float, ctime: float) -> dict[str, Any]:
        return {
            "st_mode": mode,
            "st_nlink": nlink,
            "st_uid": self.uid,
            "st_gid": self.gid,
            "st_size": size,
            "st_blocks": (size + BLOCK - 1) // BLOCK,
            "st_blksize": 4096,
            "st_atime": mtime,
            "st_mtime": mtime,
            "st_ctime": ctime,
        }
