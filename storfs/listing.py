"""Listing: one directory's entries, fetched page by page on demand and shared by all readers."""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable

from storfs.entry import Entry, Page
from storfs.errors import PagingError
from storfs.names import unusable_reason

log = logging.getLogger(__name__)

#: No listing may take more pages than this (a server whose cursor never ends).
MAX_PAGES = 100_000


class Listing:
    """Entries of one listing, grown one page at a time.

    Readers ask for the entry at an index or for a name; a page is fetched only when a reader
    needs something beyond what is already here. Fetches are serialised (marker paging is
    sequential) so concurrent readers share each page. A failed fetch leaves the listing
    incomplete; the next reader retries from the same cursor. Nothing is ever dropped or reordered,
    so an index stays valid for as long as the object lives.
    """

    def __init__(self, label: str, fetch: Callable[[str | None], Page], born: float) -> None:
        self.label = label
        self.born = born
        self._fetch = fetch
        self._fetch_lock = threading.Lock()
        self._entries: list[Entry] = []
        self._by_name: dict[str, Entry] = {}
        self._page_ends: list[int] = []  # cumulative entry counts, one per page
        self._cursor: str | None = None
        self._seen_cursors: set[str] = set()
        self._skipped = 0
        self.complete = False
        self.on_grow: Callable[[Listing], None] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def pages_fetched(self) -> int:
        return len(self._page_ends)

    def entry_at(self, index: int) -> Entry | None:
        """The entry at `index`, fetching pages as needed; None past the end."""
        while index >= len(self._entries):
            if self.complete:
                return None
            self._fetch_next()
        return self._entries[index]

    def lookup(self, name: str) -> Entry | None:
        """The entry called `name`, fetching pages until it appears; None if the listing lacks it."""
        while True:
            entry = self._by_name.get(name)
            if entry is not None or self.complete:
                return entry
            self._fetch_next()

    def cached(self, name: str) -> Entry | None:
        """The entry called `name` if it is already here (no fetch)."""
        return self._by_name.get(name)

    def page_of(self, index: int) -> int:
        """Which page (0-based) holds entry `index`."""
        return bisect.bisect_right(self._page_ends, index)

    def _fetch_next(self) -> None:
        seen = len(self._page_ends)
        with self._fetch_lock:
            if self.complete or len(self._page_ends) != seen:
                return  # another reader fetched this page while we waited
            if seen >= MAX_PAGES:
                raise PagingError(f"{self.label}: more than {MAX_PAGES} pages; giving up")
            page = self._fetch(self._cursor)
            self._add(page)
        if self.on_grow is not None:
            self.on_grow(self)

    def _add(self, page: Page) -> None:
        cursor = page.next_cursor
        if cursor is not None:
            if cursor in self._seen_cursors or cursor == self._cursor:
                raise PagingError(f"{self.label}: the server repeated page cursor {cursor!r}")
            self._seen_cursors.add(cursor)
        for entry in page.entries:
            self._admit(entry)
        # Publish entries before the page count so readers never see a page end beyond them.
        self._page_ends.append(len(self._entries))
        self._cursor = cursor
        if cursor is None:
            self.complete = True
            self._seen_cursors.clear()
            if self._skipped:
                log.warning("%s: skipped %d unusable or duplicate names", self.label, self._skipped)

    def _admit(self, entry: Entry) -> None:
        reason = unusable_reason(entry.name)
        if reason is None and entry.name in self._by_name:
            reason = "duplicate name"
        if reason is not None:
            self._skipped += 1
            log.warning("%s: skipping entry %r: %s", self.label, entry.name[:300], reason)
            return
        self._by_name[entry.name] = entry
        self._entries.append(entry)
