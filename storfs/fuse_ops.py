"""The FUSE adapter: translates kernel calls into tree lookups and answers errno and stat."""

from __future__ import annotations

import errno
import functools
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from storfs.attrs import DIR_MODE, FILE_MODE, StatMaker
from storfs.binding import ENOATTR, Operations, fuse_get_context
from storfs.control import Control
from storfs.entry import Entry
from storfs.errors import NotADirectory, NotFound, NotSupported, ReadOnly
from storfs.keys import ListingKey
from storfs.prefetch import SiblingPrefetcher
from storfs.reader import RangeReader
from storfs.stats import Stats
from storfs.stream import DirStream
from storfs.tree import Node, Tree

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: readdir offsets: "." is 1, ".." is 2, listed entry i is i + FIRST_ENTRY_OFFSET.
FIRST_ENTRY_OFFSET = 3

#: What a readdir item carries for its attributes: a listed entry, or a ready stat dict.
StatSource = Entry | dict[str, Any]


def upcall(method: F) -> F:
    """Count the call; let OSErrors through; turn anything unexpected into EIO with one traceback."""
    name = method.__name__.removesuffix("_into")  # read_into is counted as the read it serves

    @functools.wraps(method)
    def wrapper(self: StorfsOperations, *args: Any, **kwargs: Any) -> Any:
        self.stats.upcall(name)
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            raise self.errno_error(name, exc) from None

    return wrapper  # type: ignore[return-value]


def caller_pid() -> int:
    """The process that made the current FUSE call (0 outside one)."""
    try:
        return fuse_get_context()[2]
    except ValueError:  # no FUSE call on this thread (a NULL context)
        return 0


def read_only(*_args: Any, **_kwargs: Any) -> Any:
    raise ReadOnly("storfs is read-only")


class DirHandle:
    """An open directory: fixed names with their stat, or a listing read by index."""

    __slots__ = ("fixed", "key", "node_stat", "stream")

    def __init__(
        self,
        node_stat: dict[str, Any],
        fixed: list[tuple[str, dict[str, Any]]] | None = None,
        stream: DirStream | None = None,
        key: ListingKey | None = None,
    ) -> None:
        self.node_stat = node_stat
        self.fixed = fixed
        self.stream = stream
        self.key = key


class StorfsOperations(Operations):  # type: ignore[misc]
    use_ns = True  # stat dicts carry integer nanoseconds (attrs.py)

    def __init__(
        self,
        tree: Tree,
        stats: StatMaker,
        counters: Stats,
        control: Control | None = None,
        prefetcher: SiblingPrefetcher | None = None,
        wait: float = 60.0,
    ) -> None:
        self.tree = tree
        self.wait = wait  # what one call may wait for the network, in all (the `deadline`)
        self.attrs = stats
        self.stats = counters
        self.control = control or Control({})
        self.prefetcher = prefetcher or SiblingPrefetcher(tree, 0)
        self._dirs: dict[int, DirHandle] = {}
        self._files: dict[int, bytes | RangeReader] = {}
        self._next_handle = itertools.count(1)
        self._lock = threading.Lock()

    # -- reading the tree --------------------------------------------------------------------

    @upcall
    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        if self.control.owns(path):
            return self._control_stat(path)
        return self._stat(self.tree.resolve(path, self._until()))

    @upcall
    def opendir(self, path: str) -> int:
        if self.control.owns(path):
            if not self.control.is_dir(path):
                raise NotADirectory(path)
            names = self.control.names()
            fixed = [(name, self._control_stat(f"{path.rstrip('/')}/{name}")) for name in names]
            return self._add(self._dirs, DirHandle(self.attrs.fixed_dir(), fixed))
        until = self._until()
        node = self.tree.resolve(path, until)
        if not node.is_dir:
            raise NotADirectory(path)
        if node.listing is None:
            fixed_dir = self.attrs.fixed_dir()
            return self._add(self._dirs, DirHandle(self._stat(node), [(n, fixed_dir) for n in node.children]))
        pid = caller_pid()
        self.prefetcher.opening(node.listing, pid)  # a walk is listed flat before this page
        # The first page now: a directory that vanished is ENOENT here, where `ls` reports it.
        stream = self.tree.open_dir(node.listing, until)
        self.prefetcher.opened(node.listing, pid)
        return self._add(self._dirs, DirHandle(self._stat(node), stream=stream, key=node.listing))

    @upcall
    def releasedir(self, path: str | None, fh: int) -> int:
        with self._lock:
            self._dirs.pop(fh, None)
        return 0

    def errno_error(self, name: str, exc: Exception) -> OSError:
        """What a failed call answers: its own errno if it has one, else EIO and a logged traceback.

        An OSError without a positive errno (requests' exceptions are OSErrors too) would reach
        mfusepy as EINVAL, which is never what happened.
        """
        if isinstance(exc, OSError) and isinstance(exc.errno, int) and exc.errno > 0:
            self.stats.error(exc.errno)
            return exc
        log.error("internal error in %s", name, exc_info=exc)
        self.stats.error(errno.EIO)
        return OSError(errno.EIO, "internal error")

    def readdir_items(self, offset: int, fh: int) -> Iterator[tuple[str, StatSource, int]]:
        """`(name, entry or stat dict, next offset)` from `offset` on; pages are fetched as read."""
        self.stats.upcall("readdir")
        try:
            yield from self._readdir_items(offset, fh)
        except Exception as exc:
            error = self.errno_error("readdir", exc)
            if error.errno == errno.ENOENT:
                # glibc's readdir takes ENOENT for the end of the directory: a listing that
                # failed after it began must never look complete.
                error = OSError(errno.EIO, f"listing failed mid-way: {error.strerror}")
            raise error from None

    def _readdir_items(self, offset: int, fh: int) -> Iterator[tuple[str, StatSource, int]]:
        with self._lock:
            handle = self._dirs.get(fh)
        if handle is None:
            raise OSError(errno.EBADF, "directory handle is not open")
        if offset < 1:
            yield ".", handle.node_stat, 1
        if offset < 2:
            yield "..", handle.node_stat, 2
        index = max(0, offset - FIRST_ENTRY_OFFSET + 1)
        stream = handle.stream
        if stream is None:
            assert handle.fixed is not None
            for i in range(index, len(handle.fixed)):
                name, st = handle.fixed[i]
                yield name, st, i + FIRST_ENTRY_OFFSET
            return
        # One call waits for at most one page, and at most `wait` in all: entries already here go
        # to the kernel at once, and the next call (which comes at once) waits for the next page.
        until = self._until()
        first = True
        while first or stream.ready(index):
            batch = stream.entries_from(index, until)
            if not batch:
                if handle.key is not None:
                    self.prefetcher.read_to_end(handle.key, caller_pid())
                return
            first = False
            offset = index + FIRST_ENTRY_OFFSET
            for entry in batch:
                yield entry.name, entry, offset
                offset += 1
            index += len(batch)

    def readdir_with_offset(self, path: str | None, offset: int, fh: int) -> Iterator[tuple[str, int, int]]:
        """mfusepy's plain readdir (libfuse 2, or no readdirplus): only the mode reaches the kernel."""
        for name, source, next_offset in self.readdir_items(offset, fh):
            yield name, self.mode_of(source), next_offset

    def mode_of(self, source: StatSource) -> int:
        if isinstance(source, Entry):
            return DIR_MODE if source.is_dir else FILE_MODE
        return int(source["st_mode"])

    @upcall
    def getxattr(self, path: str, name: str, position: int = 0) -> bytes:
        if not name.startswith("user."):
            # ENOTSUP makes `ls -l` stop asking for security.* and system.* on every entry.
            raise OSError(errno.ENOTSUP, "only user.* attributes exist here")
        if self.control.owns(path):
            raise OSError(ENOATTR, name)
        node = self.tree.resolve(path, self._until())
        value = node.entry.xattr(name) if node.entry is not None else None
        if value is None:
            raise OSError(ENOATTR, name)
        try:
            return value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate the server sent: show it escaped, not fail
            return value.encode("utf-8", "backslashreplace")

    @upcall
    def listxattr(self, path: str) -> list[str]:
        if self.control.owns(path):
            return []
        node = self.tree.resolve(path, self._until())
        return [] if node.entry is None else [name for name, _ in node.entry.xattrs()]

    @upcall
    def open(self, path: str, flags: int) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_APPEND | os.O_CREAT):
            raise ReadOnly(path)
        if self.control.owns(path):
            content = self.control.render(path)
            if content is None:
                raise OSError(errno.EISDIR if self.control.is_dir(path) else errno.ENOENT, path)
            return self._add(self._files, content)
        node = self.tree.resolve(path, self._until())
        if node.is_dir:
            raise OSError(errno.EISDIR, path)
        entry, provider = node.entry, node.provider
        if entry is None or provider is None or not provider.readable(entry):
            raise NotSupported(f"{path}: the API lists this file but cannot serve its bytes")
        read_range, open_range = (
            functools.partial(provider.read_range, entry),
            functools.partial(provider.open_range, entry),
        )
        reader = RangeReader(read_range, entry.size, open_at=open_range)
        return self._add(self._files, reader)

    @upcall
    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        content = self._open_file(fh)
        if isinstance(content, RangeReader):
            return content.read(offset, size)
        return content[offset : offset + size]

    @upcall
    def read_into(self, path: str, view: memoryview, offset: int, fh: int) -> int:
        """`read` into the reply buffer `view` (libfuse's): a blob's bytes are not copied on the way."""
        content = self._open_file(fh)
        if isinstance(content, RangeReader):
            return content.read_into(offset, view)
        data = content[offset : offset + len(view)]
        view[: len(data)] = data
        return len(data)

    @upcall
    def release(self, path: str, fh: int) -> int:
        with self._lock:
            content = self._files.pop(fh, None)
        if isinstance(content, RangeReader):
            content.close()
        return 0

    @upcall
    def statfs(self, path: str) -> dict[str, int]:
        """`df`: no blocks (storfs holds listings, not data); the entries cached, as inodes in use."""
        used = self.tree.cache.entries
        blocks = {"f_blocks": 0, "f_bfree": 0, "f_bavail": 0}
        return {
            "f_bsize": 4096,
            "f_frsize": 4096,
            "f_namemax": 255,
            **blocks,
            "f_files": used,
            "f_ffree": 0,
            "f_favail": 0,
        }

    def direct_io(self, path: str) -> bool:
        """Whether reads of `path` must bypass the page cache (generated files change size)."""
        return self.control.owns(path)

    # -- helpers -----------------------------------------------------------------------------

    def _open_file(self, fh: int) -> RangeReader | bytes:
        """What open file `fh` reads: a blob's reader, or a generated file's bytes."""
        with self._lock:
            content = self._files.get(fh)
        if content is None:
            raise OSError(errno.EBADF, "file handle is not open")
        return content

    def _until(self) -> float:
        """The moment this call stops waiting for the network."""
        return time.monotonic() + self.wait

    def _stat(self, node: Node) -> dict[str, Any]:
        if node.entry is None:
            return self.attrs.fixed_dir()
        return self.attrs.entry(node.entry)

    def _control_stat(self, path: str) -> dict[str, Any]:
        if self.control.is_dir(path):
            return self.attrs.fixed_dir()
        content = self.control.render(path)
        if content is None:
            raise NotFound(path)
        return self.attrs.file(len(content), time.time())

    def _add(self, table: dict[int, Any], value: Any) -> int:
        fh = next(self._next_handle)
        with self._lock:
            table[fh] = value
        return fh

    # -- every mutating call: read-only file system ----------------------------------------------

    chmod = chown = create = link = mkdir = mknod = read_only
    removexattr = rename = rmdir = setxattr = symlink = truncate = read_only
    unlink = utimens = write = read_only
