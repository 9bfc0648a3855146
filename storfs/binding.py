"""The FUSE binding: mfusepy on libfuse 3, with attributes handed over in readdir (readdirplus)."""

from __future__ import annotations

import ctypes.util
import os
import threading
from collections.abc import Iterable

# mfusepy picks libfuse 2 when both are installed; readdirplus needs libfuse 3.
if "FUSE_LIBRARY_NAME" not in os.environ and ctypes.util.find_library("fuse3"):
    os.environ["FUSE_LIBRARY_NAME"] = "fuse3"

import mfusepy

FUSE_READDIR_PLUS = 1  # bit 0 of readdir's flags: the kernel wants attributes
FUSE_FILL_DIR_PLUS = 2  # filler flag: the attributes we pass are complete

LIBFUSE_MAJOR: int = mfusepy.fuse_version_major
LIBFUSE_VERSION: tuple[int, int] = (mfusepy.fuse_version_major, mfusepy.fuse_version_minor)
Operations = mfusepy.Operations
ENOATTR: int = mfusepy.ENOATTR
set_st_attrs = mfusepy.set_st_attrs
fuse_get_context = mfusepy.fuse_get_context


class PlusFUSE(mfusepy.FUSE):
    """mfusepy.FUSE whose libfuse 3 readdir fills full attributes when the kernel asks.

    With them the kernel needs no LOOKUP/GETATTR per entry, so `ls -l` of N entries costs a few
    upcalls instead of N. Offsets must be non-zero and increasing (libfuse < 3.17.1 drops the
    attributes of entries at offset 0); `Operations.readdir_with_offset` guarantees that.
    """

    def __init__(self, operations, mountpoint, *, kernel: KernelCache | None = None, **options):  # type: ignore[no-untyped-def]
        self.kernel = kernel
        super().__init__(operations, mountpoint, **options)

    def init_fuse_3(self, conn, config):  # type: ignore[no-untyped-def]
        if self.kernel is not None:
            self.kernel.attach(mfusepy._libfuse.fuse_get_context().contents.fuse)
        return super().init_fuse_3(conn, config)

    def destroy(self, private_data):  # type: ignore[no-untyped-def]
        if self.kernel is not None:
            self.kernel.detach()
        return super().destroy(private_data)

    def readdir_fuse_3(self, path, buf, filler, offset, fip, flags):  # type: ignore[no-untyped-def]
        if not flags & FUSE_READDIR_PLUS:
            return self._readdir(path, buf, filler, offset, fip)
        operations = self.operations
        encoding, errors = self.encoding, self.errors
        filler = _filler_holding_gil(filler)
        st = mfusepy.c_stat()  # the filler copies it, so one struct serves every entry
        stat_filler = operations.attrs.filler(st)  # StatMaker.filler
        fill_entry = stat_filler.fill
        for name, source, next_offset in operations.readdir_items(offset, fip.contents.fh):
            if type(source) is dict:  # "." and "..", a fixed directory's names
                set_st_attrs(st, source)
                stat_filler.reset()
            else:
                fill_entry(source)
            plus = 0 if name in (".", "..") else FUSE_FILL_DIR_PLUS
            if filler(buf, name.encode(encoding, errors), st, next_offset, plus) != 0:
                break
        return 0

    def read(self, path, buf, size, offset, fip):  # type: ignore[no-untyped-def]
        """Hand the operations libfuse's reply buffer itself (mfusepy copies a returned bytes)."""
        if not size:
            return 0
        view = memoryview(ctypes.cast(buf, ctypes.POINTER(ctypes.c_char * size)).contents).cast("B")
        name = None if path is None else path.decode(self.encoding, self.errors)
        return self.operations.read_into(name, view, offset, fip.contents.fh)

    def open(self, path, fip):  # type: ignore[no-untyped-def]
        result = super().open(path, fip)
        if self.operations.direct_io(path.decode(self.encoding, self.errors)):
            fip.contents.direct_io = 1
        return result


def _filler_holding_gil(filler):  # type: ignore[no-untyped-def]
    """libfuse's fill_dir, called without releasing the GIL.

    A ctypes call of a CFUNCTYPE pointer releases the GIL and takes it back after; a readdirplus
    reply makes ~200 of them, and while a page is parsed on another thread each one waits for
    that thread's switch interval to get the GIL back: a reply that takes 1 ms alone took 30.
    fill_dir only copies the name and the stat into the reply buffer (no callback into Python),
    so it may run holding the GIL.
    """
    prototype = _FILLERS.get(type(filler))
    if prototype is None:
        prototype = _FILLERS[type(filler)] = ctypes.PYFUNCTYPE(filler._restype_, *filler._argtypes_)
    return ctypes.cast(filler, prototype)


_FILLERS: dict[type, type] = {}


#: The root's node id: the parent of every name directly under the mountpoint.
FUSE_ROOT_ID = 1


class KernelCache:
    """The kernel's cached names and attributes of one mount, dropped on request (libfuse 3).

    `ls -d new` and `stat gone` are answered by the kernel for up to `entry_timeout` /
    `negative_timeout`; after `storfs refresh` they must ask storfs again. libfuse's high-level API
    reports its node ids as `st_ino`, so the node id of a directory is what `stat` shows for it,
    and telling the kernel to drop a directory's entry drops everything it cached below it too.
    """

    def __init__(self, mountpoint: str) -> None:
        self.mountpoint = mountpoint
        self._session: int | None = None
        self._lock = threading.Lock()

    def attach(self, fuse: int | None) -> None:
        """Called in libfuse's `init`, with the `struct fuse *` being served."""
        if not fuse or LIBFUSE_MAJOR != 3:
            return
        lib = mfusepy._libfuse
        lib.fuse_get_session.argtypes = [ctypes.c_void_p]
        lib.fuse_get_session.restype = ctypes.c_void_p
        lib.fuse_lowlevel_notify_inval_entry.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint64,
            ctypes.c_char_p,
            ctypes.c_size_t,
        ]
        lib.fuse_lowlevel_notify_inval_entry.restype = ctypes.c_int
        with self._lock:
            self._session = lib.fuse_get_session(ctypes.c_void_p(fuse))

    def detach(self) -> None:
        with self._lock:
            self._session = None

    def forget(self, path: str, top_names: Iterable[str]) -> int:
        """Make the kernel forget `path` and everything below it (`/`: every name in `top_names`).

        Returns how many entries the kernel was told to drop. Must not run on a FUSE worker
        thread: the kernel answers the notification only once no call is busy in the directory.
        """
        parts = [part for part in path.split("/") if part]
        if not parts:
            return sum(self._drop(FUSE_ROOT_ID, name) for name in top_names)
        parent = FUSE_ROOT_ID
        if len(parts) > 1:
            try:
                parent = os.stat(os.path.join(self.mountpoint, *parts[:-1])).st_ino
            except OSError:
                parent, parts = FUSE_ROOT_ID, parts[:1]  # drop the whole provider's subtree instead
        return self._drop(parent, parts[-1])

    def _drop(self, parent: int, name: str) -> int:
        encoded = os.fsencode(name)
        with self._lock:
            if self._session is None:
                return 0
            # 0, or -ENOENT when the kernel has no such entry cached: nothing to drop then.
            result = mfusepy._libfuse.fuse_lowlevel_notify_inval_entry(
                ctypes.c_void_p(self._session), parent, encoded, len(encoded)
            )
        return 1 if result == 0 else 0
