"""The FUSE adapter: translates kernel calls into tree lookups and answers errno and stat."""

from __future__ import annotations

import errno
import functools
import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from storfs.attrs import StatMaker
from storfs.binding import ENOATTR, Operations
from storfs.errors import NotADirectory, NotSupported, ReadOnly
from storfs.listing import Listing
from storfs.tree import Node, Tree

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: readdir offsets: "." is 1, ".." is 2, listed entry i is i + FIRST_ENTRY_OFFSET.
FIRST_ENTRY_OFFSET = 3


def errno_only(method: F) -> F:
    """Let OSErrors through; turn anything unexpected into EIO with one logged traceback."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except OSError:
            raise
        except Exception:
            log.exception("internal error in %s", method.__name__)
            raise OSError(errno.EIO, "internal error") from None

    return wrapper  # type: ignore[return-value]


def read_only(*_args: Any, **_kwargs: Any) -> Any:
    raise ReadOnly("storfs is read-only")


class DirHandle:
    """An open directory: a fixed list of names, or a listing read by index."""

    __slots__ = ("listing", "names", "node")

    def __init__(self, node: Node, names: list[str] | None, listing: Listing | None) -> None:
        self.node = node
        self.names = names
        self.listing = listing


class StorfsOperations(Operations):  # type: ignore[misc]
    use_ns = False

    def __init__(self, tree: Tree, stats: StatMaker) -> None:
        self.tree = tree
        self.stats = stats
        self._handles: dict[int, DirHandle] = {}
        self._next_handle = itertools.count(1)
        self._lock = threading.Lock()

    # -- reading the tree --------------------------------------------------------------------

    @errno_only
    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        return self._stat(self.tree.resolve(path))

    @errno_only
    def opendir(self, path: str) -> int:
        node = self.tree.resolve(path)
        if not node.is_dir:
            raise NotADirectory(path)
        if node.listing is not None:
            handle = DirHandle(node, None, self.tree.listing(node.listing))
        else:
            handle = DirHandle(node, list(node.children), None)
        fh = next(self._next_handle)
        with self._lock:
            self._handles[fh] = handle
        return fh

    @errno_only
    def releasedir(self, path: str | None, fh: int) -> int:
        with self._lock:
            self._handles.pop(fh, None)
        return 0

    def readdir_with_offset(
        self, path: str | None, offset: int, fh: int
    ) -> Iterator[tuple[str, dict[str, Any], int]]:
        with self._lock:
            handle = self._handles.get(fh)
        if handle is None:
            raise OSError(errno.EBADF, "directory handle is not open")
        dir_stat = self._stat(handle.node)
        if offset < 1:
            yield ".", dir_stat, 1
        if offset < 2:
            yield "..", {"st_mode": dir_stat["st_mode"]}, 2
        index = max(0, offset - FIRST_ENTRY_OFFSET + 1)
        if handle.listing is not None:
            entry_at = handle.listing.entry_at
            make = self.stats.entry
            while (entry := entry_at(index)) is not None:
                index += 1
                yield entry.name, make(entry), index + FIRST_ENTRY_OFFSET - 1
        else:
            assert handle.names is not None
            fixed = self.stats.fixed_dir()
            for i in range(index, len(handle.names)):
                yield handle.names[i], fixed, i + FIRST_ENTRY_OFFSET

    @errno_only
    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        if not name.startswith("user."):
            # ENOTSUP makes `ls -l` stop asking for security.* and system.* on every entry.
            raise OSError(errno.ENOTSUP, "only user.* attributes exist here")
        node = self.tree.resolve(path)
        value = node.entry.xattr(name) if node.entry is not None else None
        if value is None:
            raise OSError(ENOATTR, name)
        return value.encode("utf-8", "surrogateescape")

    @errno_only
    def listxattr(self, path: str) -> list[str]:
        node = self.tree.resolve(path)
        return [] if node.entry is None else [name for name, _ in node.entry.xattrs()]

    @errno_only
    def open(self, path: str, flags: int) -> int:
        node = self.tree.resolve(path)
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_APPEND | os.O_CREAT):
            raise ReadOnly(path)
        if node.is_dir:
            raise OSError(errno.EISDIR, path)
        raise NotSupported(f"{path}: listings only; the API cannot serve this file's bytes")

    @errno_only
    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        raise NotSupported(path)

    @errno_only
    def statfs(self, path: str) -> dict[str, int]:
        return {"f_bsize": 4096, "f_frsize": 4096, "f_namemax": 255}

    def _stat(self, node: Node) -> dict[str, Any]:
        if node.entry is None:
            return self.stats.fixed_dir()
        return self.stats.entry(node.entry)

    # -- every mutating call: read-only file system ----------------------------------------------

    chmod = chown = create = link = mkdir = mknod = read_only
    removexattr = rename = rmdir = setxattr = symlink = truncate = read_only
    unlink = utimens = write = read_only
