"""Listing and ListingCache without FUSE: lazy paging, loop guards, TTL and size bounds."""

from __future__ import annotations

import threading
import time

import pytest

from storfs.cache import ListingCache
from storfs.entry import Entry, Page
from storfs.errors import PagingError, RemoteError
from storfs.listing import Listing
from storfs.providers.base import ListingKey


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Pages:
    """A page source over `n` names, `size` per page, counting fetches; cursor = next index."""

    def __init__(self, names: list[str], size: int) -> None:
        self.names = names
        self.size = size
        self.calls: list[str | None] = []
        self.fail_at: set[str | None] = set()
        self.delay = 0.0

    def __call__(self, cursor: str | None, streaming: bool = False) -> Page:
        self.calls.append(cursor)
        time.sleep(self.delay)
        if cursor in self.fail_at:
            raise RemoteError("boom")
        start = int(cursor or 0)
        chunk = self.names[start : start + self.size]
        end = start + len(chunk)
        return Page([Entry(n, is_dir=True) for n in chunk], str(end) if end < len(self.names) else None)


NAMES = [f"n{i:03d}" for i in range(25)]


def test_pages_are_fetched_only_as_far_as_readers_go() -> None:
    source = Pages(NAMES, 10)
    listing = Listing("t", source, born=0)
    assert listing.entry_at(0).name == "n000"
    assert source.calls == [None]
    assert listing.entry_at(9).name == "n009"
    assert source.calls == [None]
    assert listing.entry_at(10).name == "n010"
    assert source.calls == [None, "10"]
    assert listing.entry_at(25) is None
    assert source.calls == [None, "10", "20"] and listing.complete
    assert listing.pages_fetched == 3


def test_lookup_stops_at_the_page_holding_the_name_and_absent_names_cost_nothing_once_complete() -> None:
    source = Pages(NAMES, 10)
    listing = Listing("t", source, born=0)
    assert listing.lookup("n012").name == "n012"
    assert len(source.calls) == 2
    assert listing.lookup("zzz") is None
    assert len(source.calls) == 3
    assert listing.lookup("yyy") is None
    assert len(source.calls) == 3


def test_a_repeated_cursor_is_an_error_not_a_loop() -> None:
    def looping(cursor: str | None, streaming: bool = False) -> Page:
        return Page([Entry(f"x{cursor}", is_dir=True)], "same")

    listing = Listing("t", looping, born=0)
    with pytest.raises(PagingError, match="repeated page cursor"):
        listing.entry_at(5)
    assert not listing.complete


def test_a_failed_page_is_retried_by_the_next_reader_and_never_marks_the_listing_complete() -> None:
    source = Pages(NAMES, 10)
    source.fail_at = {"10"}
    listing = Listing("t", source, born=0)
    with pytest.raises(RemoteError):
        listing.entry_at(15)
    assert not listing.complete and len(listing) == 10
    with pytest.raises(RemoteError):
        listing.lookup("missing")
    source.fail_at = set()
    assert [listing.entry_at(i).name for i in range(25)] == NAMES
    assert listing.lookup("missing") is None


def test_unusable_and_duplicate_names_are_skipped() -> None:
    names = ["ok", "a/b", ".", "..", "", "x" * 256, "nul\0", "ok", "fine"]
    listing = Listing("t", lambda _c, _s=False: Page([Entry(n, is_dir=False) for n in names], None), born=0)
    assert [listing.entry_at(i).name for i in range(2)] == ["ok", "fine"]
    assert listing.entry_at(2) is None


def test_concurrent_readers_share_each_page_fetch() -> None:
    source = Pages(NAMES, 10)
    source.delay = 0.05
    listing = Listing("t", source, born=0)
    results: list[list[str]] = []

    def reader() -> None:
        results.append([e.name for i in range(30) if (e := listing.entry_at(i)) is not None])

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [NAMES] * 8
    assert source.calls == [None, "10", "20"]


KEY = ListingKey("p", "a", "things")


def test_cache_serves_fresh_listings_and_expires_them_after_ttl() -> None:
    clock = FakeClock()
    cache = ListingCache(ttl=60, max_entries=1000, timer=clock)
    source = Pages(NAMES, 10)
    first = cache.listing(KEY, source, "t")
    first.entry_at(24)
    clock.now += 59
    assert cache.listing(KEY, source, "t") is first
    clock.now += 2
    second = cache.listing(KEY, source, "t")
    assert second is not first and len(second) == 0
    assert first.entry_at(3).name == "n003", "an expired listing still serves its open handles"


def test_cache_evicts_least_recently_used_listings_beyond_max_entries() -> None:
    cache = ListingCache(ttl=60, max_entries=30, timer=FakeClock())
    keys = [ListingKey("p", "a", "things", (str(i),)) for i in range(3)]
    for key in keys:
        cache.listing(key, Pages(NAMES, 25), "t").entry_at(0)  # 25 entries each
    assert cache.entries <= 30
    assert cache.cached(keys[0]) is None and cache.cached(keys[2]) is not None


def test_a_listing_larger_than_the_cache_is_served_uncached() -> None:
    cache = ListingCache(ttl=60, max_entries=10, timer=FakeClock())
    listing = cache.listing(KEY, Pages(NAMES, 25), "t")
    assert listing.entry_at(24).name == "n024"
    assert cache.cached(KEY) is None


def test_invalidate_drops_matching_listings() -> None:
    cache = ListingCache(ttl=60, max_entries=100, timer=FakeClock())
    cache.listing(KEY, Pages(NAMES, 10), "t")
    other = ListingKey("p", "b", "things")
    cache.listing(other, Pages(NAMES, 10), "t")
    assert cache.invalidate(lambda k: k.account == "a") == 1
    assert cache.cached(KEY) is None and cache.cached(other) is not None


def test_readahead_fetches_the_next_page_while_the_reader_consumes_this_one() -> None:
    from concurrent.futures import ThreadPoolExecutor

    source = Pages(NAMES, 10)
    with ThreadPoolExecutor(2) as pool:
        listing = Listing("t", source, born=0, executor=pool)
        assert listing.entry_at(0, readahead=True).name == "n000"
        for _ in range(100):
            if len(source.calls) == 2:
                break
            time.sleep(0.01)
        assert source.calls == [None, "10"], "page 2 is fetched in the background"
        assert [listing.entry_at(i, readahead=True).name for i in range(25)] == NAMES
        assert listing.entry_at(25, readahead=True) is None
    assert source.calls == [None, "10", "20"], "read-ahead never fetches a page twice or past the end"


def test_revealed_pages_are_fetched_concurrently_and_in_order() -> None:
    from concurrent.futures import ThreadPoolExecutor

    calls: list[str | None] = []
    lock = threading.Lock()

    def offsets(cursor: str | None, streaming: bool = False) -> Page:
        with lock:
            calls.append(cursor)
        time.sleep(0.05)
        start = int(cursor or 0)
        chunk = NAMES[start : start + 5]
        full = len(chunk) == 5
        lookahead = tuple(str(o) for o in range(5, 25, 5)) if start == 0 else ()
        return Page([Entry(n, is_dir=True) for n in chunk], str(start + 5) if full else None, lookahead)

    with ThreadPoolExecutor(4) as pool:
        listing = Listing("t", offsets, born=0, executor=pool)
        started = time.monotonic()
        names = [e.name for i in range(30) if (e := listing.entry_at(i, readahead=True)) is not None]
        elapsed = time.monotonic() - started
    assert names == NAMES
    # 25 entries, 5 a page: 5 full pages then one empty page past the end.
    assert sorted(calls, key=lambda c: int(c or 0)) == [None, "5", "10", "15", "20", "25"]
    assert elapsed < 6 * 0.05, "pages 2-5 were fetched concurrently, not one after another"
