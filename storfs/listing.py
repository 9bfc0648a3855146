"""Listing: one directory's entries, fetched page by page on demand and shared by all readers."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future

from storfs.entry import Entry, Page
from storfs.errors import BadResponse, PagingError, RemoteError, RemoteTimeout, StorfsError
from storfs.names import unusable_reason

log = logging.getLogger(__name__)

#: fetch(cursor, streaming) -> Page; `streaming` says a reader is going through the pages in order.
Fetch = Callable[[str | None, bool], Page]

#: Default page budget of one listing (a server whose cursor never ends).
MAX_PAGES = 10_000
#: Empty pages in a row that still promise more: a server going nowhere.
MAX_EMPTY_PAGES = 100


class Listing:
    """Entries of one listing, grown one page at a time.

    Readers ask for the entry at an index or for a name; a page is fetched only when a reader
    needs something beyond what is already here. Fetches are serialised (marker paging is
    sequential) so concurrent readers share each page. A streaming reader (readdir) may ask for
    read-ahead: the next page is then fetched in the background while the kernel consumes this
    one, and pages whose cursors the API revealed in advance are fetched concurrently.

    A failed fetch leaves the listing incomplete; the next reader retries from the same cursor.
    Nothing is ever dropped or reordered, so an index stays valid for as long as the object lives.
    """

    def __init__(
        self,
        label: str,
        fetch: Fetch,
        born: float,
        executor: Executor | None = None,
        *,
        max_pages: int = MAX_PAGES,
        fallback: Listing | None = None,
        window: int = 4,
    ) -> None:
        self.label = label
        self.born = born
        self._fetch = fetch
        self._executor = executor
        self._max_pages = max_pages
        self._fallback = fallback  # a complete, expired listing to serve if fetching fails
        self._empty_run = 0
        self.stale = False
        self._fetch_lock = threading.Lock()
        self._entries: list[Entry] = []
        self._by_name: dict[str, int] = {}  # name -> index in _entries
        self._page_ends: list[int] = []  # cumulative entry counts, one per page
        self._cursor: str | None = None
        self._seen_cursors: set[str] = set()
        self._pending: deque[tuple[str, Future[Page]]] = deque()  # revealed pages in flight
        self._revealed: deque[str] = deque()  # revealed cursors not yet asked for
        self._window = window
        self._error: BadResponse | None = None  # the server broke the protocol: start over
        self._attempts = 0  # fetch attempts so far
        self._last_failure: OSError | None = None  # of the latest attempt, if it failed
        self._reading_ahead = False
        self._skipped = 0
        self.complete = False
        self.on_grow: Callable[[Listing], None] | None = None

    @property
    def failed(self) -> bool:
        """The server broke its protocol while this listing was read: never continue or keep it."""
        return self._error is not None

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def pages_fetched(self) -> int:
        return len(self._page_ends)

    def entry_at(self, index: int, readahead: bool = False) -> Entry | None:
        """The entry at `index`, fetching pages as needed; None past the end.

        With `readahead`, reaching the last fetched page starts fetching the next one.
        """
        while index >= len(self._entries):
            if self.complete:
                return None
            self._fetch_next(streaming=readahead)
        if readahead and not self.complete and index >= self._last_page_start():
            self._read_ahead()
        return self._entries[index]

    def lookup(self, name: str) -> Entry | None:
        """The entry called `name`, fetching pages until it appears; None if the listing lacks it."""
        while True:
            index = self._by_name.get(name)
            if index is not None:
                return self._entries[index]
            if self.complete:
                return None
            self._fetch_next(streaming=False)

    def index_of(self, name: str) -> int | None:
        """The index of the entry called `name` if it is already here (no fetch)."""
        return self._by_name.get(name)

    def loaded_at(self, index: int) -> Entry | None:
        """The entry at `index` if it is already here (no fetch)."""
        return self._entries[index] if 0 <= index < len(self._entries) else None

    def _last_page_start(self) -> int:
        ends = self._page_ends
        return ends[-2] if len(ends) > 1 else 0

    def _read_ahead(self) -> None:
        if self._executor is None or self._reading_ahead:
            return
        self._reading_ahead = True
        seen = len(self._page_ends)

        def fetch() -> None:
            try:
                if len(self._page_ends) == seen:
                    self._fetch_next(streaming=True)
            except Exception as exc:  # the reader that needs the page retries and reports it
                log.debug("%s: read-ahead failed: %s", self.label, exc)
            finally:
                self._reading_ahead = False

        self._executor.submit(fetch)

    def _fetch_next(self, streaming: bool) -> None:
        seen = len(self._page_ends)
        attempts = self._attempts
        with self._fetch_lock:
            if self.complete or len(self._page_ends) != seen:
                return  # another reader fetched this page while we waited
            if self._error is not None:
                raise _again(self._error)  # the protocol broke; it was reported once, then
            if self._attempts != attempts and self._last_failure is not None:
                # Someone tried this very page while we waited and failed: share that answer
                # rather than make every waiting reader wait for the network again.
                raise _again(self._last_failure)
            self._attempts += 1
            try:
                if seen >= self._max_pages:
                    raise PagingError(f"{self.label}: more than {self._max_pages} pages; giving up")
                page = self._next_page(streaming)
                self._add(page)
            except BadResponse as exc:
                # The server broke its own protocol: this listing is not to be continued or kept.
                self._error = exc
                log.warning("%s", exc)
                raise
            except OSError as exc:
                self._last_failure = exc
                if not self._serve_fallback(exc):
                    raise
            else:
                self._last_failure = None
                self._fallback = None  # fresh pages arrive: the old listing may go
                if streaming and page.lookahead and not self._revealed and not self._pending:
                    self._revealed.extend(page.lookahead[: self._max_pages])
                self._top_up()
        if self.on_grow is not None:
            self.on_grow(self)

    def _top_up(self) -> None:
        """Keep up to `window` revealed pages in flight, in cursor order."""
        if self._executor is None:
            return
        while self._revealed and len(self._pending) < self._window:
            cursor = self._revealed.popleft()
            self._pending.append((cursor, self._executor.submit(self._fetch, cursor, False)))

    def _serve_fallback(self, error: OSError) -> bool:
        """Adopt the expired complete listing instead of failing (`stale_if_error`).

        Only when the server is unreachable or failing; a denial or a missing bucket is news.
        """
        fallback = self._fallback
        outage = isinstance(error, RemoteTimeout | RemoteError) and not isinstance(error, BadResponse)
        if fallback is None or not fallback.complete or self._page_ends or not outage:
            return False
        log.warning(
            "%s: serving the listing fetched earlier, because refreshing failed: %s", self.label, error
        )
        self._entries = fallback._entries
        self._by_name = fallback._by_name
        self._page_ends = list(fallback._page_ends)
        self.born = fallback.born
        self.stale = True
        self.complete = True
        self._fallback = None
        return True

    def _next_page(self, streaming: bool) -> Page:
        """The page at the current cursor: from a revealed fetch already in flight, or fetched now."""
        if self._pending and self._pending[0][0] == self._cursor:
            _, future = self._pending.popleft()
            return future.result()
        self._drop_revealed()  # the chain of cursors changed: those pages are stale
        return self._fetch(self._cursor, streaming)

    def _drop_revealed(self) -> None:
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()
        self._revealed.clear()

    def _add(self, page: Page) -> None:
        cursor = page.next_cursor
        if cursor is not None:
            if cursor in self._seen_cursors or cursor == self._cursor:
                raise PagingError(f"{self.label}: the server repeated page cursor {cursor!r}")
            self._seen_cursors.add(cursor)
        self._empty_run = 0 if page.entries or cursor is None else self._empty_run + 1
        if self._empty_run >= MAX_EMPTY_PAGES:
            raise PagingError(f"{self.label}: {MAX_EMPTY_PAGES} empty pages in a row that promise more")
        if page.entries and cursor is not None and all(e.name in self._by_name for e in page.entries):
            # A server that ignores its cursor (say, an old one without offset paging) would
            # answer the same full page forever.
            raise PagingError(f"{self.label}: the server answered a page of entries it already listed")
        for entry in page.entries:
            self._admit(entry)
        # Publish entries before the page count so readers never see a page end beyond them.
        self._page_ends.append(len(self._entries))
        self._cursor = cursor
        if cursor is None:
            self.complete = True
            self._seen_cursors.clear()
            if self._revealed or self._pending:
                log.warning(
                    "%s: the listing ended before pages the server announced (a wrong count)", self.label
                )
            self._drop_revealed()
            if self._skipped:
                log.warning(
                    "%s: skipped %d entries whose names cannot be file names or repeat an earlier one",
                    self.label,
                    self._skipped,
                )

    def _admit(self, entry: Entry) -> None:
        reason = unusable_reason(entry.name)
        if reason is None and entry.name in self._by_name:
            reason = "duplicate name"
        if reason is not None:
            self._skipped += 1
            log.debug("%s: skipping entry %r: %s", self.label, entry.name[:300], reason)
            return
        self._entries.append(entry)  # before the index: lock-free readers may look it up at once
        self._by_name[entry.name] = len(self._entries) - 1


def _again(error: OSError) -> OSError:
    """A fresh exception like `error`, to raise in another thread."""
    if isinstance(error, StorfsError):
        return type(error)(str(error))
    return OSError(error.errno, error.strerror)
