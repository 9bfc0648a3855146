"""ListingCache: which listings are fresh, bounded by a total entry count, at any directory size.

A listing that fits the budget is cached whole and shared by every reader. One that outgrows it
"overflows": it leaves the cache, each reader streams it on its own (stream.PageStream), and
names in it are answered from the entries recently seen there, one small request where the API
has one (`Source.lookup`), or one page at a remembered cursor (hints.PageHints), never a full
listing per name.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from cachetools import LRUCache, TLRUCache, TTLCache

from storfs.entry import Entry
from storfs.errors import BadResponse, RemoteError, RemoteTimeout
from storfs.hints import ABSENT, PageHints
from storfs.keys import ListingKey
from storfs.listing import Listing, Overflowed
from storfs.names import unusable_reason
from storfs.paging import MAX_PAGES
from storfs.source import Source, again, fetch_page, page_failure
from storfs.stats import Stats
from storfs.stream import DirStream, PageSink, PageStream

log = logging.getLogger(__name__)

#: Share of `max_entries` kept for directory entries recently seen in listings too large to cache.
SEEN_SHARE = 4
#: Listings remembered as too large to cache (each with its page hints).
OVERSIZED_MAX = 4096


class ListingCache:
    """Fresh listings by key: a listing expires `ttl` seconds after its first page was asked for.

    `max_entries` bounds every entry kept: cached listings (the least recently used go first) and,
    a quarter of it, the directory entries recently streamed from listings too large to cache.
    A listing evicted while a directory handle reads it lives on for that handle. Thread-safe.
    """

    def __init__(
        self,
        ttl: float,
        max_entries: int,
        timer: Callable[[], float] = time.monotonic,
        stats: Stats | None = None,
        *,
        max_pages: int = MAX_PAGES,
        stale_if_error: bool = False,
        window: int = 4,
    ) -> None:
        self.ttl = ttl
        self.window = window
        self.max_pages = max_pages
        self.timer = timer
        self.stats = stats or Stats()
        seen_max = max(1, max_entries // SEEN_SHARE)
        #: The most entries one cached listing may hold before it streams instead.
        self.budget = max(1, max_entries - seen_max)
        self._lock = threading.Lock()
        self._listings: TLRUCache[ListingKey, Listing] = _CountingTLRU(
            self.stats,
            maxsize=self.budget,
            ttu=lambda _key, listing, _now: listing.born + ttl,
            timer=timer,
            getsizeof=lambda listing: max(1, len(listing)),
        )
        # The last complete listing of each key, kept past its TTL only with stale_if_error.
        self._complete: LRUCache[ListingKey, Listing] | None = (
            LRUCache(maxsize=self.budget, getsizeof=lambda listing: max(1, len(listing)))
            if stale_if_error
            else None
        )
        self._oversized: TTLCache[ListingKey, PageHints] = TTLCache(OVERSIZED_MAX, ttl, timer=timer)
        self._seen: LRUCache[tuple[ListingKey, str], tuple[float, Entry]] = LRUCache(seen_max)

    # -- listings that fit -------------------------------------------------------------------

    def listing(self, key: ListingKey, source: Source) -> Listing:
        """The fresh listing for `key`, or a new empty one that will fetch from `source` (no wait)."""
        with self._lock:
            listing = self._listings.get(key)
            if listing is not None and listing.failed:
                listing = None  # its server broke the protocol: start the listing over
            if listing is None:
                self.stats.cache_event("misses")
                listing = Listing(
                    source,
                    born=self.timer(),
                    budget=self.budget,
                    max_pages=self.max_pages,
                    window=self.window,
                )
                listing.on_grow = self._regrow(key)
                self._store(key, listing)
            else:
                self.stats.cache_event("hits")
            return listing

    def cached(self, key: ListingKey) -> Listing | None:
        with self._lock:
            return self._listings.get(key)

    def oversized(self, key: ListingKey) -> bool:
        """Whether `key` is known to be too large to cache (within its TTL)."""
        with self._lock:
            return key in self._oversized

    # -- what the tree asks ------------------------------------------------------------------

    def open_dir(self, key: ListingKey, source: Source, until: float | None = None) -> DirStream:
        """A reader for listing `key`, its first page there (so a missing directory fails here)."""
        with self._lock:
            hints = self._oversized.get(key)
        if hints is None:
            listing = self._fresh(key, source, until, streaming=True)
            return DirStream(listing, source, on_page=self._sink(key), max_pages=self.max_pages)
        self.stats.cache_event("oversized_streams")
        stream = DirStream(None, source, on_page=self._sink(key, hints), max_pages=self.max_pages)
        stream.entry_at(0, until)
        return stream

    def find(self, key: ListingKey, source: Source, name: str, until: float | None = None) -> Entry | None:
        """The entry `name` of listing `key`, or None if the listing has no such entry."""
        with self._lock:
            hints = self._oversized.get(key)
        if hints is None:
            listing = self._fresh(key, source, until)
            try:
                return listing.lookup(name, until)
            except Overflowed:
                hints = self._overflowed(key, listing)
        return self._find_in_oversized(key, source, name, until, hints)

    def invalidate(self, match: Callable[[ListingKey], bool] = lambda _key: True) -> int:
        """Drop every listing whose key matches; return how many were dropped."""
        with self._lock:
            doomed = [key for key in list(self._listings.keys()) if match(key)]
            for key in doomed:
                self._listings.pop(key, None)
            for key in [key for key in list(self._oversized.keys()) if match(key)]:
                self._oversized.pop(key, None)
                doomed.append(key)
            for seen in [seen for seen in list(self._seen.keys()) if match(seen[0])]:
                self._seen.pop(seen, None)
            return len(doomed)

    @property
    def entries(self) -> int:
        with self._lock:
            return int(self._listings.currsize) + int(self._seen.currsize)

    # -- inside ------------------------------------------------------------------------------

    def _fresh(
        self, key: ListingKey, source: Source, until: float | None, *, streaming: bool = False
    ) -> Listing:
        """The listing for `key` with its first page, or, for an outage, the stale complete one.

        `streaming`: a reader will go through it in order (pages may be fetched ahead).
        """
        listing = self.listing(key, source)
        try:
            listing.entry_at(0, until, streaming=streaming)
        except (RemoteTimeout, RemoteError) as exc:
            stale = self._stale(key, exc)
            if stale is None:
                raise
            return stale
        except Overflowed:
            pass
        return listing

    def _stale(self, key: ListingKey, error: OSError) -> Listing | None:
        """The expired complete listing to serve instead of failing (`stale_if_error`).

        Only when the server is unreachable or failing; a denial or a missing bucket is news.
        """
        if self._complete is None or isinstance(error, BadResponse):
            return None
        with self._lock:
            stale = self._complete.get(key)
        if stale is None or not stale.complete:
            return None
        log.warning(
            "%s: serving the listing fetched earlier, because refreshing failed: %s", stale.label, error
        )
        stale.stale = True
        return stale

    def _find_in_oversized(
        self, key: ListingKey, source: Source, name: str, until: float | None, hints: PageHints
    ) -> Entry | None:
        now = self.timer()
        with self._lock:
            seen = self._seen.get((key, name))
        if seen is not None and now < seen[0] + self.ttl:
            self.stats.cache_event("hits")
            return seen[1]
        self.stats.cache_event("name_lookups")
        try:
            entry = source.lookup(name)
        except NotImplementedError:
            pass
        else:
            if entry is None or entry.name != name or unusable_reason(name) is not None:
                return None
            self._remember(key, (entry,), dirs_only=False)
            return entry
        where = hints.locate(name)
        if where is ABSENT:
            return None
        assert isinstance(where, list)
        for cursor in where[:4]:
            for entry in self._one_page(source, cursor, until):
                if entry.name == name and unusable_reason(name) is None:
                    self._remember(key, (entry,), dirs_only=False)
                    return entry
        # Never seen (or the listing moved since): a pass of our own, as far as the name.
        stream = PageStream(source, on_page=self._sink(key, hints), max_pages=self.max_pages)
        index = 0
        while (found := stream.entry_at(index, until)) is not None:
            if found.name == name:
                return found
            index += 1
        return None

    def _one_page(self, source: Source, cursor: str | None, until: float | None) -> list[Entry]:
        deadline = time.monotonic() + source.wait if until is None else until
        future = source.pool.submit(fetch_page, source, cursor)
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic())).entries
        except FutureTimeout:
            raise RemoteTimeout(f"{source.label}: no answer within the {source.wait:g}s deadline") from None
        except BaseException as exc:
            raise again(page_failure(source.label, exc, 1)) from exc

    def _sink(self, key: ListingKey, hints: PageHints | None = None) -> PageSink:
        """What a reader's own stream tells the cache of each page it reads."""

        def on_page(index: int, cursor: str | None, entries: list[Entry], last: bool) -> None:
            target = hints
            if target is None:
                with self._lock:
                    target = self._oversized.get(key)
            if target is not None:
                target.add_page(index, cursor, (entry.name for entry in entries), last)
            self._remember(key, entries)

        return on_page

    def _remember(self, key: ListingKey, entries: Iterable[Entry], *, dirs_only: bool = True) -> None:
        """Keep entries a walk is about to enter (directories), for the lookups that follow."""
        born = self.timer()
        with self._lock:
            for entry in entries:
                if entry.is_dir or not dirs_only:
                    self._seen[key, entry.name] = (born, entry)

    def _overflowed(self, key: ListingKey, listing: Listing) -> PageHints:
        """Note that `listing` outgrew the budget: it streams from now on, for its TTL."""
        with self._lock:
            hints = self._oversized.get(key)
            if hints is not None:
                return hints
            if self._listings.get(key) is listing:
                self._listings.pop(key, None)
            hints = PageHints()
            self._oversized[key] = hints
        self.stats.cache_event("oversized_listings")
        log.info("%s: more than %d entries: streamed, not cached", listing.label, self.budget)
        for index, (cursor, entries) in enumerate(listing.pages()):
            hints.add_page(index, cursor, (entry.name for entry in entries), False)
        self._remember(key, listing.tail(int(self._seen.maxsize)))
        return hints

    def _regrow(self, key: ListingKey) -> Callable[[Listing], None]:
        def regrow(listing: Listing) -> None:
            if listing.overflowed:
                self._overflowed(key, listing)
                return
            # cachetools sizes an item when it is stored: store it again so its size is current.
            with self._lock:
                if self._listings.get(key) is listing:
                    self._store(key, listing)
                if listing.complete and not listing.stale and self._complete is not None:
                    with contextlib.suppress(ValueError):  # larger than the whole cache
                        self._complete[key] = listing

        return regrow

    def _store(self, key: ListingKey, listing: Listing) -> None:
        try:
            self._listings[key] = listing
        except ValueError:  # larger than the cache: it overflows on its next page
            self._listings.pop(key, None)


class _CountingTLRU(TLRUCache):  # type: ignore[type-arg]
    """A TLRUCache that counts what it evicts to stay within its size."""

    def __init__(self, stats: Stats, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stats = stats

    def popitem(self) -> Any:
        item = super().popitem()
        self._stats.cache_event("evictions")
        return item
