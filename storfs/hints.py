"""PageHints: on which page of a listing too large to cache each name was seen.

A lookup of one name in such a listing then costs one page request at the remembered cursor
instead of a pass from the start; once a whole pass was recorded, an absent name costs nothing.
Eight bytes a name (a 48-bit hash and a 16-bit page number) and one cursor a page.
"""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_left
from collections.abc import Iterable

_HASH_BITS = 48
_PAGE_BITS = 16
_HASH_MASK = (1 << _HASH_BITS) - 1
_PAGE_MASK = (1 << _PAGE_BITS) - 1
#: Names remembered at most (32 MiB); past that, lookups fall back to reading the listing.
MAX_NAMES = 4_000_000

#: `locate` answer for a name that the recorded whole pass did not hold.
ABSENT = object()


class PageHints:
    """Name -> page cursor for one listing, recorded as pages are read, in order, once each."""

    def __init__(self) -> None:
        self._cursors: list[str | None] = []  # the cursor page i was fetched with
        self._codes = array("Q")
        self._sorted: array[int] | None = None
        self._complete = False
        self._lock = threading.Lock()

    def add_page(self, index: int, cursor: str | None, names: Iterable[str], last: bool) -> None:
        """Record page `index` (fetched at `cursor`); pages are taken only in order."""
        with self._lock:
            if index != len(self._cursors) or index > _PAGE_MASK:
                return
            if len(self._codes) >= MAX_NAMES:
                return
            self._cursors.append(cursor)
            self._codes.extend(((hash(name) & _HASH_MASK) << _PAGE_BITS) | index for name in names)
            self._sorted = None
            self._complete = last

    def locate(self, name: str) -> list[str | None] | object:
        """The cursors of the pages that may hold `name` (usually one), ABSENT, or [] if unknown."""
        code = (hash(name) & _HASH_MASK) << _PAGE_BITS
        with self._lock:
            if self._sorted is None:
                self._sorted = array("Q", sorted(self._codes))
            codes, cursors, complete = self._sorted, self._cursors, self._complete
        found = []
        i = bisect_left(codes, code)
        while i < len(codes) and codes[i] >> _PAGE_BITS == code >> _PAGE_BITS:
            found.append(cursors[codes[i] & _PAGE_MASK])
            i += 1
        if not found and complete:
            return ABSENT
        return found
