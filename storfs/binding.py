"""The FUSE binding: mfusepy on libfuse 3, with attributes handed over in readdir (readdirplus)."""

from __future__ import annotations

import ctypes.util
import os

# mfusepy picks libfuse 2 when both are installed; readdirplus needs libfuse 3.
if "FUSE_LIBRARY_NAME" not in os.environ and ctypes.util.find_library("fuse3"):
    os.environ["FUSE_LIBRARY_NAME"] = "fuse3"

import mfusepy

FUSE_READDIR_PLUS = 1  # bit 0 of readdir's flags: the kernel wants attributes
FUSE_FILL_DIR_PLUS = 2  # filler flag: the attributes we pass are complete

LIBFUSE_MAJOR: int = mfusepy.fuse_version_major
Operations = mfusepy.Operations
ENOATTR: int = mfusepy.ENOATTR
set_st_attrs = mfusepy.set_st_attrs


class PlusFUSE(mfusepy.FUSE):
    """mfusepy.FUSE whose libfuse 3 readdir fills full attributes when the kernel asks.

    With them the kernel needs no LOOKUP/GETATTR per entry, so `ls -l` of N entries costs a few
    upcalls instead of N. Offsets must be non-zero and increasing (libfuse < 3.17.1 drops the
    attributes of entries at offset 0); `Operations.readdir_with_offset` guarantees that.
    """

    def readdir_fuse_3(self, path, buf, filler, offset, fip, flags):  # type: ignore[no-untyped-def]
        if not flags & FUSE_READDIR_PLUS:
            return self._readdir(path, buf, filler, offset, fip)
        operations = self.operations
        encoding, errors = self.encoding, self.errors
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

    def open(self, path, fip):  # type: ignore[no-untyped-def]
        result = super().open(path, fip)
        if self.operations.direct_io(path.decode(self.encoding, self.errors)):
            fip.contents.direct_io = 1
        return result
