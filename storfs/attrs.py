"""Nodes -> stat dictionaries and extended attributes (what `ls -l`, `stat`, `getfattr` show).

Times in the stat dicts are integer nanoseconds (mfusepy's `use_ns` convention), so a server's
`.678Z` reaches `st_mtime_ns` as exactly `...678000000`.
"""

from __future__ import annotations

import stat as statmod
from typing import Any

from storfs.entry import NS, Entry

DIR_MODE = statmod.S_IFDIR | 0o555
FILE_MODE = statmod.S_IFREG | 0o444
BLOCK = 512


class StatMaker:
    """Builds stat dicts for one mount: every node is owned by the mounting user."""

    def __init__(self, uid: int, gid: int, mount_time: float) -> None:
        self.uid = uid
        self.gid = gid
        mount_ns = round(mount_time * NS)
        self._fixed_dir = self._make(DIR_MODE, 2, 0, mount_ns, mount_ns)

    def fixed_dir(self) -> dict[str, Any]:
        """A directory of the fixed levels (root, provider, account, `containers`, ...)."""
        return self._fixed_dir

    def entry(self, entry: Entry) -> dict[str, Any]:
        if entry.is_dir:
            return self._make(DIR_MODE, 2, entry.size, entry.mtime_ns, entry.ctime_ns)
        return self._make(FILE_MODE, 1, entry.size, entry.mtime_ns, entry.ctime_ns)

    def file(self, size: int, mtime: float) -> dict[str, Any]:
        """A file storfs generates itself (under `/.storfs/`); `mtime` in seconds."""
        mtime_ns = round(mtime * NS)
        return self._make(FILE_MODE, 1, size, mtime_ns, mtime_ns)

    def fill(self, st: Any, entry: Entry) -> None:
        """Write an entry's attributes straight into a C `struct stat` (the readdirplus path)."""
        is_dir = entry.is_dir
        st.st_mode = DIR_MODE if is_dir else FILE_MODE
        st.st_nlink = 2 if is_dir else 1
        st.st_uid = self.uid
        st.st_gid = self.gid
        st.st_size = entry.size
        st.st_blocks = (entry.size + BLOCK - 1) // BLOCK
        st.st_blksize = 4096
        seconds, nanos = divmod(entry.mtime_ns, NS)  # floor: 0.5 s before 1970 is -1 s + 500 ms
        st.st_mtimespec.tv_sec = st.st_atimespec.tv_sec = seconds
        st.st_mtimespec.tv_nsec = st.st_atimespec.tv_nsec = nanos
        st.st_ctimespec.tv_sec, st.st_ctimespec.tv_nsec = divmod(entry.ctime_ns, NS)

    def _make(self, mode: int, nlink: int, size: int, mtime: int, ctime: int) -> dict[str, Any]:
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
