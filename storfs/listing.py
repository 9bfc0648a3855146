"""Listing: one directory's entries, fetched page by page on demand and shared by all its readers.

Who owns what (each subtlety in one place):
- this module: the order of pages, one fetch per page whatever the number of readers, read-ahead
  and the pages an API reveals ahead, a failure shared by everyone waiting for that page, the
  entry budget past which a listing stops growing (it "overflows"), and the first entries of
  the next page shown while the rest of it is parsed (its parts);
- paging.PageGuard: what makes a page malformed (repeated cursor, page budget, names);
- stream.PageStream: a reader's own pass once a listing overflowed;
- cache.ListingCache: freshness, eviction, stale answers, lookups in overflowed listings.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

from storfs.ahead import PagesAhead
from storfs.entry import Entry, Page
from storfs.errors import BadResponse, PagingError, RemoteError, RemoteTimeout
from storfs.paging import MAX_PAGES, PageGuard
from storfs.source import Source, again, fetch_page, page_failure

log = logging.getLogger(__name__)


#: Seconds a fetch had been running when a reader joined it, past which the reader, seeing that
#: fetch fail for an outage, tries once more of its own (the server may be back by now).
LATE_JOIN = 1.0


class Overflowed(Exception):
    """The listing outgrew its budget before reaching the index or name asked for.

    Not an error for the user: the reader continues on a stream of its own from `cursor`.
    """

    def __init__(self, listing: Listing) -> None:
        super().__init__(listing.label)
        self.listing = listing


class Listing:
    """Entries of one listing, grown one page at a time, shared by every reader.

    Readers ask for the entry at an index or for a name; a page is fetched only when a reader
    needs something beyond what is here (or streams and is near the end: read-ahead). Each page is
    fetched once, on the account's page pool, and every reader waiting for it gets its outcome,
    each waiting at most until its own deadline. Entries are never dropped or reordered, so an
    index stays valid for as long as the object lives.

    With a `budget`, the listing stops growing once it holds more entries than that: it is then
    `overflowed`, and `overflow_cursor` is where a reader's own stream continues.
    """

    def __init__(
        self,
        source: Source,
        born: float,
        *,
        budget: int = 0,
        max_pages: int = MAX_PAGES,
        window: int = 1,
    ) -> None:
        self.source = source
        self.label = source.label
        self.born = born
        self.budget = budget
        self.guard = PageGuard(source.label, max_pages)
        self.complete = False
        self.overflowed = False
        self.overflow_cursor: str | None = None
        self.stale = False  # served after its TTL because refreshing failed (stale_if_error)
        self.on_grow: Callable[[Listing], None] | None = None
        self._window = max(1, window)
        self._cond = threading.Condition()
        self._entries: list[Entry] = []
        self._by_name: dict[str, int] = {}  # name -> index in _entries
        self._page_ends: list[int] = []  # cumulative entry counts, one per page
        self._page_cursors: list[str | None] = []  # the cursor each page was fetched with
        self._cursor: str | None = None  # of the next page to add
        self._requested: set[str | None] = set()  # pages being fetched
        self._ahead = PagesAhead()  # pages past the next one, and the next if it arrived
        self._failures = 0  # failed fetches of the next page so far
        self._failure: OSError | None = None  # the latest
        self._failed_since = 0.0  # when the fetch that failed last had started
        self._waiting = 0  # readers waiting for the next page
        self._reader_at = 0  # the furthest index a streaming reader asked for
        self._started: dict[str | None, float] = {}  # when each fetch in flight started
        self._error: OSError | None = None  # the server broke its protocol: never continue
        # The next page's parts shown so far: (its cursor, how many of its entries they held).
        self._part: tuple[str | None, int] | None = None

    # -- reading -----------------------------------------------------------------------------

    @property
    def failed(self) -> bool:
        """The server broke its protocol while this listing was read: never continue or keep it."""
        return self._error is not None

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def pages_fetched(self) -> int:
        return len(self._page_ends)

    def entry_at(self, index: int, until: float | None = None, *, streaming: bool = False) -> Entry | None:
        """The entry at `index`, fetching pages as needed; None past the end.

        Waits at most until `until` (monotonic; default: the source's wait from now), then raises
        RemoteTimeout. Raises Overflowed past the budget. `streaming` readers (readdir) get the
        next page fetched ahead while they consume the last one.
        """
        if index >= len(self._entries):
            deadline = self._deadline(until)
            while index >= len(self._entries):
                if self.complete:
                    return None
                if self.overflowed:
                    raise Overflowed(self)
                self._wait_for_page(len(self._page_ends), deadline, streaming)
        if streaming and not self.complete:
            self._reader_at = max(self._reader_at, index)
            if index >= self._last_page_start():
                self.read_ahead()
        return self._entries[index]

    def entries_from(self, index: int, until: float | None = None, limit: int = 256) -> list[Entry]:
        """`entry_at(index, until, streaming=True)`, then up to `limit` - 1 entries after it that
        are here already; [] past the end. One call instead of one per entry (readdirplus).

        A batch never runs from an earlier page into the last page added, so read-ahead starts
        exactly when it would for a reader taking entries one by one.
        """
        entry = self.entry_at(index, until, streaming=True)
        if entry is None:
            return []
        stop = index + limit
        last_page = self._last_page_start()
        if index < last_page:
            stop = min(stop, last_page)
        return [entry, *self._entries[index + 1 : stop]]

    def ready(self, index: int) -> bool:
        """Whether `entry_at(index)` would answer without waiting for the network."""
        return index < len(self._entries) or self.complete or self.overflowed or self._error is not None

    def lookup(self, name: str, until: float | None = None) -> Entry | None:
        """The entry called `name`, fetching pages until it appears; None if the listing lacks it."""
        deadline = self._deadline(until)
        while True:
            index = self._by_name.get(name)
            if index is not None:
                return self._entries[index]
            if self.complete:
                return None
            if self.overflowed:
                raise Overflowed(self)
            self._wait_for_page(len(self._page_ends), deadline, streaming=False)

    def index_of(self, name: str) -> int | None:
        """The index of the entry called `name` if it is already here (no fetch)."""
        return self._by_name.get(name)

    def loaded_at(self, index: int) -> Entry | None:
        """The entry at `index` if it is already here (no fetch)."""
        entries = self._entries
        return entries[index] if 0 <= index < len(entries) else None

    def tail(self, count: int) -> list[Entry]:
        """The last `count` entries fetched so far."""
        return self._entries[-count:] if count > 0 else []

    def pages(self) -> Iterator[tuple[str | None, list[Entry]]]:
        """(cursor, entries) of each page fetched so far, in order."""
        start = 0
        for cursor, end in zip(self._page_cursors, self._page_ends, strict=False):
            yield cursor, self._entries[start:end]
            start = end

    def start(self) -> None:
        """Request the first page without waiting for it (a prefetch)."""
        with self._cond:
            if not self._page_ends and not self.complete:
                self._request(self._cursor, streaming=False)

    def read_ahead(self) -> None:
        """Request the next page without waiting for it."""
        with self._cond:
            if not self.complete and not self.overflowed and self._error is None and self._room_for(1):
                self._request(self._cursor, streaming=True)

    # -- fetching ----------------------------------------------------------------------------

    def _deadline(self, until: float | None) -> float:
        return time.monotonic() + self.source.wait if until is None else until

    def _last_page_start(self) -> int:
        """The index where the last page added starts."""
        ends = self._page_ends
        return ends[-2] if len(ends) > 1 else 0

    def _room_for(self, pages: int) -> bool:
        """Whether `pages` more pages like the last one still fit the budget (lock held).

        A page fetched ahead past the budget would be fetched again by the reader's own stream.
        """
        if not self.budget:
            return True
        ends = self._page_ends
        last = ends[-1] - (ends[-2] if len(ends) > 1 else 0) if ends else 0
        return len(self._entries) + pages * last <= self.budget

    def _wait_for_page(self, seen: int, deadline: float, streaming: bool) -> None:
        """Wait until page `seen` is added, the listing ends, or that page's fetch fails."""
        arrived = time.monotonic()
        retried = False
        with self._cond:
            failures = self._failures
            have = len(self._entries)  # a part of the page shown also ends the wait
            self._waiting += 1
            try:
                while (
                    len(self._page_ends) == seen
                    and len(self._entries) == have
                    and not (self.complete or self.overflowed)
                ):
                    if self._error is not None:
                        raise again(self._error)
                    if self._failures != failures:
                        assert self._failure is not None
                        failures = self._failures
                        # A fetch that had been under way a while when we came may have begun in
                        # an outage that has ended since: try once more, within our own deadline.
                        # Otherwise the fetch we waited for failed: share its answer.
                        joined_late = arrived - self._failed_since >= LATE_JOIN
                        if retried or not joined_late or not _outage(self._failure):
                            raise again(self._failure)
                        retried = True
                    self._request(self._cursor, streaming)
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise RemoteTimeout(
                            f"{self.label}: no answer within the {self.source.wait:g}s deadline"
                        )
                    self._cond.wait(remaining)
            finally:
                self._waiting -= 1

    def _request(self, cursor: str | None, streaming: bool, sent: threading.Event | None = None) -> None:
        """Start fetching the page at `cursor` unless it is on its way (lock held)."""
        if cursor in self._requested or self._ahead.has(cursor):
            return
        self._requested.add(cursor)
        self._started[cursor] = time.monotonic()
        try:
            self.source.pool.submit(self._fetch, cursor, streaming, sent)
        except RuntimeError:  # the pool is shut down: the mount is stopping
            self._requested.discard(cursor)
            raise

    def _fetch(self, cursor: str | None, streaming: bool, sent: threading.Event | None = None) -> None:
        """Fetch one page (on the page pool) and add it, and any pages waiting behind it, in order."""
        on_hint = (lambda hint: self._ahead_of_parse(cursor, hint)) if streaming else None
        on_part = lambda start, entries: self._show_part(cursor, start, entries)  # noqa: E731
        try:
            page = fetch_page(self.source, cursor, on_hint, sent.set if sent is not None else None, on_part)
        except BaseException as exc:
            with self._cond:
                self._requested.discard(cursor)
                started = self._started.pop(cursor, 0.0)
                if cursor == self._cursor and not self.complete:
                    failure = page_failure(self.label, exc, len(self._page_ends))
                    self._failure = failure
                    self._failed_since = started
                    self._failures += 1
                    shown = self._part is not None and self._part[0] == cursor
                    if isinstance(failure, BadResponse) or shown:
                        # A broken protocol, or a page part of which readers have seen already
                        # (a retry could not take up where it stopped): never continue.
                        self._error = failure
                        self._ahead.forget()
                elif not isinstance(exc, OSError):
                    log.debug("%s: fetch ahead failed", self.label, exc_info=exc)
                self._cond.notify_all()
            return
        with self._cond:
            self._requested.discard(cursor)
            self._started.pop(cursor, None)
            self._ahead.keep(cursor, page, self._cursor)
            grew = self._advance(streaming)
            self._cond.notify_all()
        if grew and self.on_grow is not None:
            self.on_grow(self)

    def _show_part(self, cursor: str | None, start: int, entries: list[Entry]) -> None:
        """Show the entries the next page's parse has decoded so far, from its entry `start` on.

        Only the page that is next in order, and only in order from its first part: a page
        fetched ahead is shown whole once the pages before it are. What the page's end says
        (its cursor, the checks on it) decides as ever when the page is added.
        """
        with self._cond:
            if self._error is not None or self.complete or self.overflowed or cursor != self._cursor:
                return
            if self._part != ((cursor, start) if start else None):
                return
            admitted = self.guard.admit(entries, self._by_name.__contains__)
            self._publish(admitted)
            self._part = (cursor, start + len(entries))
            self._cond.notify_all()

    def _publish(self, entries: list[Entry]) -> None:
        """Append admitted entries and index their names (lock held)."""
        first = len(self._entries)
        self._entries.extend(entries)  # before the index: lock-free readers may look them up at once
        names = [entry.name for entry in entries]
        self._by_name.update(zip(names, range(first, len(self._entries)), strict=True))

    def _ahead_of_parse(self, cursor: str | None, hint: str) -> threading.Event | None:
        """The page at `cursor` named its successor before being parsed: request that one now,
        and say when it is on the wire."""
        with self._cond:
            # Only while a reader is in the last page added (or waits): read-ahead never runs
            # more than two pages ahead of the furthest reader.
            near = self._waiting > 0 or self._reader_at >= self._last_page_start()
            current = cursor == self._cursor and near and not self.overflowed
            if current and self._error is None and len(self._requested) < self._window and self._room_for(2):
                if hint in self._requested or self._ahead.has(hint):
                    return None
                sent = threading.Event()
                self._ahead.want(hint)
                self._request(hint, streaming=True, sent=sent)
                return sent
        return None

    def _advance(self, streaming: bool) -> bool:
        """Add the pages that are next in order (lock held); whether any was added."""
        grew = False
        while self._error is None and not self.complete and not self.overflowed:
            cursor = self._cursor
            page = self._ahead.take(cursor)
            if page is None:
                return grew
            try:
                self._add(cursor, page)
            except OSError as exc:
                # The server broke its own protocol: this listing is not to be continued or kept.
                self._error = exc
                log.warning("%s", exc)
                self._ahead.forget()
                return grew
            grew = True
            if streaming:
                self._ahead.reveal(page.lookahead[: self.guard.max_pages])
            self._top_up()
        return grew

    def _add(self, cursor: str | None, page: Page) -> None:
        shown = self._part[1] if self._part is not None and self._part[0] == cursor else 0
        self._part = None
        self.guard.check(cursor, page, self._known_before_page if shown else self._by_name.__contains__)
        self._publish(self.guard.admit(page.entries[shown:], self._by_name.__contains__))
        following = page.next_cursor
        # Publish entries before the page count so readers never see a page end beyond them.
        self._page_ends.append(len(self._entries))
        self._page_cursors.append(cursor)
        self._cursor = following
        self._failure = None
        if not self._ahead.added(cursor, following):
            raise PagingError(f"{self.label}: the listing ended before pages the server announced")
        if following is None:
            self.complete = True
            self.guard.finish()
        else:
            self.guard.before_fetch()  # a page budget that runs out is an error, not an end
        if self.budget and len(self._entries) > self.budget and not self.complete:
            self.overflowed = True
            self.overflow_cursor = following
            self._ahead.forget()

    def _known_before_page(self, name: str) -> bool:
        """Whether a page before the one being added listed `name` (its parts' names do not count)."""
        index = self._by_name.get(name)
        return index is not None and index < (self._page_ends[-1] if self._page_ends else 0)

    def _top_up(self) -> None:
        """Keep up to `window` revealed pages in flight, in cursor order (lock held)."""
        while len(self._requested) < self._window and (cursor := self._ahead.next_revealed()) is not None:
            self._request(cursor, streaming=True)


def _outage(error: OSError) -> bool:
    """Whether `error` says the server was unreachable or failing (worth another try later)."""
    return isinstance(error, RemoteTimeout | RemoteError) and not isinstance(error, BadResponse)
