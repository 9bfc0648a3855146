"""Garbage-collector policy of the mount daemon: no cyclic GC over what cannot be garbage.

A page parse allocates some 100,000 container objects (XML elements, entries) that all live
until the page is built, and the daemon's start-up leaves tens of thousands of long-lived
objects (modules, classes, the FUSE binding). CPython's cyclic collector scans both again and
again while a listing grows and frees nothing: on a cold 10,000-container `ls -l` that was
70-145 ms of GIL time. Reference counting still frees everything at once; only reference
cycles wait for the collector, and none is formed while a page is parsed.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import Iterator

#: How long a thread holding the GIL runs before one waiting gets it (CPython's default is 5 ms).
#: A FUSE reply (readdirplus, ~200 entries) needs the GIL for about a millisecond; while a page
#: is parsed on another thread it waited up to 5 ms for it each time it took it back.
SWITCH_INTERVAL = 0.001

_lock = threading.Lock()
_pauses = 0
_was_enabled = False


def after_start_up() -> None:
    """Move every object alive now into the permanent generation, which the collector skips.

    Call once, when the daemon has built its tree and is about to serve (nothing of start-up
    is garbage any more: one collection first frees what start-up left over).
    """
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL)


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """No automatic cyclic collection while the block runs (in any thread); nestable.

    For parsing one page: its objects are freed by reference counting or kept by the listing,
    so a collection inside would only scan them. The collector runs again afterwards as usual.
    """
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()
