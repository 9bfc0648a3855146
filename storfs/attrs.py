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

    def filler(self, st: Any) -> StatFiller:
        """A `fill` for one C `struct stat` reused entry after entry (one readdirplus call)."""
        return StatFiller(st, self.uid, self.gid)

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


class StatFiller:
    """Fills one C `struct stat` entry after entry, writing only the fields that differ from the
    previous entry's: the entries of a listing share mode and size, often their times too, and
    each ctypes field write costs as much as a Python call (the timespec members are looked up
    once: each lookup would build a new ctypes view). `reset()` after anyone else wrote into
    the struct."""

    __slots__ = (
        "_ats",
        "_ctime",
        "_cts",
        "_gid",
        "_is_dir",
        "_mnanos",
        "_mtime",
        "_mts",
        "_size",
        "_uid",
        "st",
    )

    def __init__(self, st: Any, uid: int, gid: int) -> None:
        self.st = st
        self._mts = st.st_mtimespec
        self._ats = st.st_atimespec
        self._cts = st.st_ctimespec
        self._uid = uid
        self._gid = gid
        self.reset()

    def reset(self) -> None:
        self._is_dir: bool | None = None
        self._size: int | None = None
        self._mtime: int | None = None
        self._mnanos: int | None = None
        self._ctime: int | None = None

    def fill(self, entry: Entry) -> None:
        is_dir = entry.is_dir
        if is_dir is not self._is_dir:
            st = self.st
            if self._is_dir is None:
                st.st_uid = self._uid
                st.st_gid = self._gid
                st.st_blksize = 4096
            st.st_mode = DIR_MODE if is_dir else FILE_MODE
            st.st_nlink = 2 if is_dir else 1
            self._is_dir = is_dir
        size = entry.size
        if size != self._size:
            self.st.st_size = size
            self.st.st_blocks = (size + BLOCK - 1) // BLOCK
            self._size = size
        mtime_ns = entry.mtime_ns
        if mtime_ns != self._mtime:
            seconds, nanos = divmod(mtime_ns, NS)  # floor: 0.5 s before 1970 is -1 s + 500 ms
            self._mts.tv_sec = self._ats.tv_sec = seconds
            if nanos != self._mnanos:
                self._mts.tv_nsec = self._ats.tv_nsec = nanos
                self._mnanos = nanos
            self._mtime = mtime_ns
        ctime_ns = entry.ctime_ns
        if ctime_ns != self._ctime:
            self._cts.tv_sec, self._cts.tv_nsec = divmod(ctime_ns, NS)
            self._ctime = ctime_ns
