"""Listing, streams and ListingCache without FUSE: lazy paging, sharing, guards, TTL and budgets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from storfs.cache import ListingCache
from storfs.entry import Entry, Page
from storfs.errors import NotFound, PagingError, RemoteError, RemoteTimeout
from storfs.hints import ABSENT, PageHints
from storfs.keys import ListingKey
from storfs.listing import Listing, Overflowed
from storfs.source import Fetched, Source

POOL = ThreadPoolExecutor(8, thread_name_prefix="test-pages")


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
        self.lookups: list[str] = []
        self.fail_at: dict[str | None, Exception] = {}
        self.delay = 0.0
        self.lock = threading.Lock()
        self.can_lookup = False

    def __call__(self, cursor: str | None) -> Page:
        with self.lock:
            self.calls.append(cursor)
        time.sleep(self.delay)
        if cursor in self.fail_at:
            raise self.fail_at[cursor]
        start = int(cursor or 0)
        chunk = self.names[start : start + self.size]
        end = start + len(chunk)
        return Page([Entry(n, is_dir=True) for n in chunk], str(end) if end < len(self.names) else None)

    def lookup(self, name: str) -> Entry | None:
        if not self.can_lookup:
            raise NotImplementedError
        self.lookups.append(name)
        return Entry(name, is_dir=True) if name in self.names else None

    def source(self, wait: float = 10.0) -> Source:
        return source_of(self, wait, self.lookup)


def source_of(
    fetch: Callable[[str | None], Page],
    wait: float = 10.0,
    lookup: Callable[[str], Entry | None] | None = None,
) -> Source:
    def no_lookup(name: str) -> Entry | None:
        raise NotImplementedError

    return Source("t", lambda cursor, _sent: Fetched.ready(fetch(cursor)), lookup or no_lookup, POOL, wait)


def names_of(read: Callable[[int], Entry | None]) -> Iterator[str]:
    index = 0
    while (entry := read(index)) is not None:
        yield entry.name
        index += 1


NAMES = [f"n{i:03d}" for i in range(25)]


def test_pages_are_fetched_only_as_far_as_readers_go() -> None:
    source = Pages(NAMES, 10)
    listing = Listing(source.source(), born=0)
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
    listing = Listing(source.source(), born=0)
    assert listing.lookup("n012").name == "n012"
    assert len(source.calls) == 2
    assert listing.lookup("zzz") is None
    assert len(source.calls) == 3
    assert listing.lookup("yyy") is None
    assert len(source.calls) == 3


def test_a_repeated_cursor_is_an_error_not_a_loop() -> None:
    def looping(cursor: str | None) -> Page:
        return Page([Entry(f"x{cursor}", is_dir=True)], "same")

    listing = Listing(source_of(looping), born=0)
    with pytest.raises(PagingError, match="repeated page cursor"):
        listing.entry_at(5)
    assert not listing.complete


def test_a_failed_page_is_retried_by_the_next_reader_and_never_marks_the_listing_complete() -> None:
    source = Pages(NAMES, 10)
    source.fail_at = {"10": RemoteError("boom")}
    listing = Listing(source.source(), born=0)
    with pytest.raises(RemoteError):
        listing.entry_at(15)
    assert not listing.complete and len(listing) == 10
    with pytest.raises(RemoteError):
        listing.lookup("missing")
    source.fail_at = {}
    assert [listing.entry_at(i).name for i in range(25)] == NAMES
    assert listing.lookup("missing") is None


def test_unusable_and_duplicate_names_are_skipped() -> None:
    names = ["ok", "a/b", ".", "..", "", "x" * 256, "nul\0", "ok", "fine"]
    listing = Listing(source_of(lambda _c: Page([Entry(n, is_dir=False) for n in names], None)), born=0)
    assert [listing.entry_at(i).name for i in range(2)] == ["ok", "fine"]
    assert listing.entry_at(2) is None


def test_concurrent_readers_share_each_page_fetch() -> None:
    source = Pages(NAMES, 10)
    source.delay = 0.05
    listing = Listing(source.source(), born=0)
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
    source = Pages(NAMES, 10).source()
    first = cache.listing(KEY, source)
    first.entry_at(24)
    clock.now += 59
    assert cache.listing(KEY, source) is first
    clock.now += 2
    second = cache.listing(KEY, source)
    assert second is not first and len(second) == 0
    assert first.entry_at(3).name == "n003", "an expired listing still serves its open handles"


def test_cache_evicts_least_recently_used_listings_beyond_max_entries() -> None:
    cache = ListingCache(ttl=60, max_entries=80, timer=FakeClock())
    keys = [ListingKey("p", "a", "things", (str(i),)) for i in range(3)]
    for key in keys:
        cache.listing(key, Pages(NAMES, 25).source()).entry_at(0)  # 25 entries each
    assert cache.entries <= 80
    assert cache.cached(keys[0]) is None and cache.cached(keys[2]) is not None


def test_invalidate_drops_matching_listings() -> None:
    cache = ListingCache(ttl=60, max_entries=100, timer=FakeClock())
    cache.listing(KEY, Pages(NAMES, 10).source())
    other = ListingKey("p", "b", "things")
    cache.listing(other, Pages(NAMES, 10).source())
    assert cache.invalidate(lambda k: k.account == "a") == 1
    assert cache.cached(KEY) is None and cache.cached(other) is not None


def wait_for(condition: Callable[[], bool], seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_readahead_fetches_the_next_page_while_the_reader_consumes_this_one() -> None:
    source = Pages(NAMES, 10)
    listing = Listing(source.source(), born=0)
    assert listing.entry_at(0, streaming=True).name == "n000"
    assert wait_for(lambda: len(source.calls) == 2)
    assert source.calls == [None, "10"], "page 2 is fetched in the background"
    assert [listing.entry_at(i, streaming=True).name for i in range(25)] == NAMES
    assert listing.entry_at(25, streaming=True) is None
    assert source.calls == [None, "10", "20"], "read-ahead never fetches a page twice or past the end"


def offsets(calls: list[str | None], count: int, lock: threading.Lock) -> Callable[[str | None], Page]:
    """Offset paging, 5 a page, whose first page reveals the other offsets from `count`."""

    def fetch(cursor: str | None) -> Page:
        with lock:
            calls.append(cursor)
        time.sleep(0.05)
        start = int(cursor or 0)
        chunk = NAMES[start : start + 5]
        full = len(chunk) == 5
        lookahead = tuple(str(o) for o in range(5, count, 5)) if start == 0 else ()
        return Page([Entry(n, is_dir=True) for n in chunk], str(start + 5) if full else None, lookahead)

    return fetch


def test_revealed_pages_are_fetched_concurrently_and_in_order() -> None:
    calls: list[str | None] = []
    listing = Listing(source_of(offsets(calls, 25, threading.Lock())), born=0, window=4)
    started = time.monotonic()
    names = [e.name for i in range(30) if (e := listing.entry_at(i, streaming=True)) is not None]
    elapsed = time.monotonic() - started
    assert names == NAMES
    # 25 entries, 5 a page: 5 full pages then one empty page past the end.
    assert sorted(calls, key=lambda c: int(c or 0)) == [None, "5", "10", "15", "20", "25"]
    assert elapsed < 6 * 0.05, "pages 2-5 were fetched concurrently, not one after another"


def test_a_listing_that_ends_before_the_pages_it_announced_is_an_error_not_complete() -> None:
    listing = Listing(source_of(offsets([], 60, threading.Lock())), born=0, window=4)
    with pytest.raises(PagingError, match="announced"):
        list(names_of(lambda i: listing.entry_at(i, streaming=True)))
    assert not listing.complete and listing.failed


def test_not_found_on_a_later_page_is_eio_never_the_end_of_the_listing() -> None:
    source = Pages(NAMES, 10)
    source.fail_at = {"20": NotFound("HTTP 404 ContainerNotFound")}
    listing = Listing(source.source(), born=0)
    with pytest.raises(RemoteError, match="mid-listing") as raised:
        list(names_of(listing.entry_at))
    assert raised.value.errno == 5 and not isinstance(raised.value, NotFound)
    assert not listing.complete


def test_not_found_on_the_first_page_stays_not_found() -> None:
    source = Pages(NAMES, 10)
    source.fail_at = {None: NotFound("HTTP 404 NoSuchBucket")}
    with pytest.raises(NotFound):
        Listing(source.source(), born=0).entry_at(0)


def test_waiters_on_one_failing_page_share_its_failure_within_the_deadline() -> None:
    source = Pages(NAMES, 10)
    source.delay = 0.3
    source.fail_at = {None: RemoteTimeout("no answer")}
    listing = Listing(source.source(wait=5), born=0)
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            listing.entry_at(0)
        except OSError as exc:
            errors.append(exc)

    started = time.monotonic()
    threads = [threading.Thread(target=reader) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    elapsed = time.monotonic() - started
    assert len(errors) == 8 and all(isinstance(e, RemoteTimeout) for e in errors)
    assert source.calls == [None], "one fetch for all eight readers"
    assert elapsed < 0.3 * 3, f"they failed together, not one after another ({elapsed:.2f}s)"


def test_a_hung_page_times_out_at_the_callers_deadline_and_the_next_call_retries() -> None:
    source = Pages(NAMES, 10)
    source.delay = 1.0
    listing = Listing(source.source(wait=0.2), born=0)
    started = time.monotonic()
    with pytest.raises(RemoteTimeout):
        listing.entry_at(0)
    assert time.monotonic() - started < 0.6
    source.delay = 0
    assert listing.entry_at(0, time.monotonic() + 5).name == "n000"  # the same fetch, finished


def test_a_listing_over_its_budget_overflows_and_the_reader_goes_on_alone() -> None:
    names = [f"n{i:04d}" for i in range(95)]
    source = Pages(names, 10)
    cache = ListingCache(ttl=60, max_entries=40, timer=FakeClock())  # budget 30
    stream = cache.open_dir(KEY, source.source())
    assert list(names_of(stream.entry_at)) == names
    assert cache.cached(KEY) is None and cache.oversized(KEY)
    assert source.calls == [None, *[str(i) for i in range(10, 100, 10)]], "each page once"
    assert cache.entries <= 40
    # A second reader streams on its own from the start: once per reader, never more.
    source.calls.clear()
    assert list(names_of(cache.open_dir(KEY, source.source()).entry_at)) == names
    assert len(source.calls) == 10


def test_names_in_an_overflowed_listing_cost_one_page_each_and_absent_names_nothing() -> None:
    names = [f"n{i:04d}" for i in range(95)]
    source = Pages(names, 10)
    cache = ListingCache(ttl=60, max_entries=40, timer=FakeClock())
    list(names_of(cache.open_dir(KEY, source.source()).entry_at))
    source.calls.clear()
    # Directories seen last are answered from memory; older ones with one page at its cursor.
    assert cache.find(KEY, source.source(), "n0094").name == "n0094"
    assert source.calls == []
    assert cache.find(KEY, source.source(), "n0003").name == "n0003"
    assert source.calls == [None]
    assert cache.find(KEY, source.source(), "n0042").name == "n0042"
    assert source.calls == [None, "40"]
    assert cache.find(KEY, source.source(), "zzz") is None, "a whole pass was seen: absent for free"
    assert source.calls == [None, "40"]


def test_names_in_an_overflowed_listing_use_the_apis_own_lookup_where_it_has_one() -> None:
    names = [f"n{i:04d}" for i in range(95)]
    source = Pages(names, 10)
    source.can_lookup = True
    cache = ListingCache(ttl=60, max_entries=40, timer=FakeClock())
    list(names_of(cache.open_dir(KEY, source.source()).entry_at))
    source.calls.clear()
    assert cache.find(KEY, source.source(), "n0001").name == "n0001"
    assert cache.find(KEY, source.source(), "zzz") is None
    assert source.lookups == ["n0001", "zzz"] and source.calls == []


def test_a_lookup_in_a_listing_that_overflows_on_the_way_still_finds_the_name() -> None:
    names = [f"n{i:04d}" for i in range(95)]
    source = Pages(names, 10)
    cache = ListingCache(ttl=60, max_entries=40, timer=FakeClock())
    assert cache.find(KEY, source.source(), "n0077").name == "n0077"
    assert cache.find(KEY, source.source(), "missing") is None
    assert cache.oversized(KEY)


def test_page_hints_locate_names_by_page_and_know_absence_after_a_whole_pass() -> None:
    hints = PageHints()
    hints.add_page(0, None, ["a", "b"], False)
    hints.add_page(2, "x", ["z"], False)  # out of order: ignored
    hints.add_page(1, "c1", ["c", "d"], True)
    assert hints.locate("a") == [None] and hints.locate("d") == ["c1"]
    assert hints.locate("z") is ABSENT


def test_an_overflowed_reader_that_rewinds_reads_the_directory_again() -> None:
    names = [f"n{i:04d}" for i in range(95)]
    source = Pages(names, 10)
    cache = ListingCache(ttl=60, max_entries=40, timer=FakeClock())
    stream = cache.open_dir(KEY, source.source())
    assert list(names_of(stream.entry_at)) == names
    assert stream.entry_at(2).name == "n0002"
    assert stream.entry_at(60).name == "n0060"


def test_overflowed_is_internal_and_carries_the_listing() -> None:
    listing = Listing(Pages(NAMES, 10).source(), born=0, budget=5)
    assert listing.entry_at(9).name == "n009"
    with pytest.raises(Overflowed):
        listing.entry_at(10)
    assert listing.overflowed and listing.overflow_cursor == "10"
