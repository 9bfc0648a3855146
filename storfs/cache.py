"""ListingCache: which listings are fresh, bounded by a total entry count."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from cachetools import LRUCache, TLRUCache

from storfs.listing import MAX_PAGES, Fetch, Listing
from storfs.providers.base import ListingKey
from storfs.stats import Stats


class ListingCache:
    """Fresh listings by key: a listing expires `ttl` seconds after its first page was asked for.

    The size of a listing is its entry count, so `max_entries` bounds memory; the least recently
    used listings go first. A listing evicted while a directory handle reads it lives on for that
    handle. Thread-safe: one lock guards the cachetools structure (which is not).
    """

    def __init__(
        self,
        ttl: float,
        max_entries: int,
        timer: Callable[[], float] = time.monotonic,
        executor: Executor | None = None,
        stats: Stats | None = None,
        *,
        max_pages: int = MAX_PAGES,
        stale_if_error: bool = False,
        window: int = 4,
    ) -> None:
        self.ttl = ttl
        self.window = window
        self.max_pages = max_pages
        # The last complete listing of each key, kept past its TTL only with stale_if_error.
        self._complete: LRUCache[ListingKey, Listing] | None = (
            LRUCache(maxsize=max_entries, getsizeof=lambda listing: max(1, len(listing)))
            if stale_if_error
            else None
        )
        self.timer = timer
        self.executor = executor
        self.stats = stats or Stats()
        self._lock = threading.Lock()
        self._listings: TLRUCache[ListingKey, Listing] = _CountingTLRU(
            self.stats,
            maxsize=max_entries,
            ttu=lambda _key, listing, _now: listing.born + ttl,
            timer=timer,
            getsizeof=lambda listing: max(1, len(listing)),
        )

    def listing(self, key: ListingKey, fetch: Fetch, label: str) -> Listing:
        """The fresh listing for `key`, or a new empty one that will fetch with `fetch`."""
        with self._lock:
            listing = self._listings.get(key)
            if listing is not None and listing.failed:
                listing = None  # its server broke the protocol: start the listing over
            if listing is None:
                self.stats.cache_event("misses")
                fallback = self._complete.get(key) if self._complete is not None else None
                listing = Listing(
                    label,
                    fetch,
                    born=self.timer(),
                    executor=self.executor,
                    max_pages=self.max_pages,
                    fallback=fallback,
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

    def invalidate(self, match: Callable[[ListingKey], bool] = lambda _key: True) -> int:
        """Drop every listing whose key matches; return how many were dropped."""
        with self._lock:
            doomed = [key for key in list(self._listings.keys()) if match(key)]
            for key in doomed:
                self._listings.pop(key, None)
            return len(doomed)

    @property
    def entries(self) -> int:
        with self._lock:
            return int(self._listings.currsize)

    def _regrow(self, key: ListingKey) -> Callable[[Listing], None]:
        def regrow(listing: Listing) -> None:
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
        except ValueError:  # a single listing larger than max_entries: serve it uncached
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
