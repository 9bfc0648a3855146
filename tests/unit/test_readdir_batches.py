"""Readdir takes a listing's entries in batches: the same entries, offsets and read-ahead as one by one."""

from __future__ import annotations

import time

from storfs.listing import Listing
from storfs.stream import DirStream
from tests.unit.test_listing_cache import Pages

NAMES = [f"n{i:03d}" for i in range(25)]


def test_a_batch_stops_where_the_last_page_begins_so_read_ahead_waits_for_the_reader() -> None:
    pages = Pages(NAMES, 10)
    listing = Listing(pages.source(), born=0)
    listing.entry_at(10)  # pages 1 and 2 are here (no reader streams yet: nothing fetched ahead)
    stream = DirStream(listing, pages.source())
    assert [e.name for e in stream.entries_from(0)] == NAMES[:10]  # not into page 2, the last added
    assert pages.calls == [None, "10"]
    assert [e.name for e in stream.entries_from(10)] == NAMES[10:20]  # the reader enters it:
    deadline = time.monotonic() + 5
    while len(pages.calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pages.calls == [None, "10", "20"]  # page 3 is fetched ahead, as for one-by-one reads


def test_batches_give_every_entry_once_in_order() -> None:
    pages = Pages(NAMES, 10)
    stream = DirStream(Listing(pages.source(), born=0), pages.source())
    seen: list[str] = []
    while batch := stream.entries_from(len(seen)):
        assert 1 <= len(batch) <= 10
        seen += [e.name for e in batch]
    assert seen == NAMES
    assert pages.calls == [None, "10", "20"]
