"""A reader's own pass through a listing too large to cache, and the open-directory cursor over both.

`PageStream` keeps only the page being read and the one before it, with the next page fetched
ahead: memory per reader is about two pages, whatever the size of the directory.
`DirStream` is what an open directory reads: the shared cached listing while it fits the cache's
budget, then (or from the start, for a directory known to be too large) a PageStream of its own.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from storfs.entry import Entry, Page
from storfs.errors import RemoteTimeout
from storfs.listing import Listing, Overflowed
from storfs.paging import MAX_PAGES, PageGuard
from storfs.source import Source, again, fetch_page, page_failure

#: on_page(page_index, cursor, entries, last): told of every page a stream admits.
PageSink = Callable[[int, str | None, list[Entry], bool], None]

#: Pages a stream keeps behind the one being read (readdir offsets may step back a little).
KEEP_PAGES = 2


class Rewound(Exception):
    """A reader asked for an entry the stream no longer holds: start a new stream."""


class PageStream:
    """One reader's sequential pass over a listing, from `cursor` (entry index `base`, page `page_index`)."""

    def __init__(
        self,
        source: Source,
        *,
        cursor: str | None = None,
        base: int = 0,
        page_index: int = 0,
        guard: PageGuard | None = None,
        on_page: PageSink | None = None,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self.source = source
        self._guard = guard or PageGuard(source.label, max_pages)
        self._on_page = on_page
        self._cursor = cursor  # of the next page to read
        self._page_index = page_index
        self._pages: deque[tuple[int, list[Entry]]] = deque()  # (first index, entries), oldest first
        self._end = base  # index one past the last entry held
        self._first = base
        self.complete = False
        self._lock = threading.Lock()
        self._futures: dict[str | None, Future[Page]] = {}  # the page being read, and one ahead

    def entry_at(self, index: int, until: float | None = None) -> Entry | None:
        """The entry at `index`, reading on as needed; None past the end; Rewound if dropped."""
        deadline = time.monotonic() + self.source.wait if until is None else until
        while index >= self._end:
            if self.complete:
                return None
            self._read_page(deadline)
        if index < self._first:
            raise Rewound(index)
        for first, entries in reversed(self._pages):
            if index >= first:
                return entries[index - first]
        raise Rewound(index)  # pragma: no cover - _first covers it

    def ready(self, index: int) -> bool:
        """Whether `entry_at(index)` would answer without waiting for the network."""
        if index < self._end or self.complete:
            return True
        with self._lock:
            future = self._futures.get(self._cursor)
        return future is not None and future.done()

    def _read_page(self, deadline: float) -> None:
        cursor = self._cursor
        self._guard.before_fetch()
        future = self._future_for(cursor)
        remaining = deadline - time.monotonic()
        try:
            page = future.result(timeout=max(0.0, remaining))
        except FutureTimeout:
            raise RemoteTimeout(
                f"{self.source.label}: no answer within the {self.source.wait:g}s deadline"
            ) from None
        except BaseException as exc:
            with self._lock:
                self._futures.pop(cursor, None)
            raise again(page_failure(self.source.label, exc, self._page_index)) from exc
        known = self._held
        self._guard.check(cursor, page, known)
        entries = self._guard.admit(page.entries, known)
        following = page.next_cursor
        self._pages.append((self._end, entries))
        self._end += len(entries)
        while len(self._pages) > KEEP_PAGES + 1:
            self._pages.popleft()
        self._first = self._pages[0][0]
        if self._on_page is not None:
            self._on_page(self._page_index, cursor, entries, following is None)
        self._page_index += 1
        self._cursor = following
        with self._lock:
            for stale in [c for c in self._futures if c != following]:
                self._futures.pop(stale).cancel()  # read ahead on a chain the server left
        if following is None:
            self.complete = True
            self._guard.finish()
        else:
            self._future_for(following)  # read ahead: the next page while this one is consumed

    def _held(self, name: str) -> bool:
        return any(entry.name == name for _, entries in self._pages for entry in entries)

    def _future_for(self, cursor: str | None) -> Future[Page]:
        with self._lock:
            future = self._futures.get(cursor)
            if future is None:
                future = self.source.pool.submit(fetch_page, self.source, cursor, self._hinted)
                self._futures[cursor] = future
            return future

    def _hinted(self, hint: str) -> threading.Event | None:
        """The page being fetched named its successor before being parsed: request that one now,
        and say when it is on the wire."""
        with self._lock:
            if hint in self._futures or len(self._futures) >= 2 or self.complete:
                return None
            sent = threading.Event()
            self._futures[hint] = self.source.pool.submit(
                fetch_page, self.source, hint, self._hinted, sent.set
            )
            return sent


class DirStream:
    """An open directory's view of one listing: shared while it fits the budget, then its own."""

    def __init__(
        self,
        listing: Listing | None,
        source: Source,
        *,
        on_page: PageSink | None = None,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self.source = source
        self._listing = listing  # None: the directory is known to be too large to share
        self._on_page = on_page
        self._max_pages = max_pages
        self._stream: PageStream | None = None
        if listing is None:
            self._stream = self._new_stream()

    def entry_at(self, index: int, until: float | None = None) -> Entry | None:
        """The entry at `index` (None past the end), fetching as needed, at most until `until`."""
        listing = self._listing
        if listing is not None and (self._stream is None or index < len(listing)):
            try:
                return listing.entry_at(index, until, streaming=True)
            except Overflowed:
                self._stream = self._stream or self._continue_after(listing)
        stream = self._stream
        assert stream is not None
        try:
            entry = stream.entry_at(index, until)
        except Rewound:
            self._listing = None  # an old offset: read the directory again from its start
            self._stream = self._new_stream()
            return self._stream.entry_at(index, until)
        if listing is not None and index > len(listing):
            self._listing = None  # past the shared part for good: let the large listing go
        return entry

    def entries_from(self, index: int, until: float | None = None) -> list[Entry]:
        """The entry at `index` as `entry_at` gives it, with the entries after it that the shared
        listing holds already (`Listing.entries_from`); [] past the end."""
        listing = self._listing
        if listing is not None and self._stream is None:
            try:
                return listing.entries_from(index, until)
            except Overflowed:
                pass  # entry_at goes on in a stream of its own
        entry = self.entry_at(index, until)
        return [] if entry is None else [entry]

    def ready(self, index: int) -> bool:
        """Whether `entry_at(index)` would answer without waiting for the network."""
        listing = self._listing
        if listing is not None and (self._stream is None or index < len(listing)):
            if not listing.overflowed or index < len(listing):
                return listing.ready(index)
            return False
        return self._stream is not None and self._stream.ready(index)

    def _new_stream(self) -> PageStream:
        return PageStream(self.source, on_page=self._on_page, max_pages=self._max_pages)

    def _continue_after(self, listing: Listing) -> PageStream:
        return PageStream(
            self.source,
            cursor=listing.overflow_cursor,
            base=len(listing),
            page_index=listing.pages_fetched,
            guard=listing.guard.copy(),
            on_page=self._on_page,
        )
