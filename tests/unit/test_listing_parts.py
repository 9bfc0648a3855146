"""A page shown in parts while it is parsed: readers take its first entries early, and the
page's end still decides (a failure after a part ends the listing; checks are as if whole)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from storfs.entry import Entry, Page
from storfs.errors import PagingError, RemoteError
from storfs.listing import Listing
from storfs.providers.azure.parse import STEP, parse_containers
from storfs.source import Fetched, OnPart, Source

POOL = ThreadPoolExecutor(4, thread_name_prefix="test-parts")


def entries(*names: str) -> list[Entry]:
    return [Entry(name, is_dir=True) for name in names]


class PartedPages:
    """Pages given by cursor; each parse tells its first `shown` entries as a part, then waits
    for `release` (when set) and ends with `end` (a next cursor, or an exception)."""

    def __init__(self) -> None:
        self.pages: dict[str | None, tuple[list[Entry], int, object]] = {}
        self.release: dict[str | None, threading.Event] = {}
        self.fetches: list[str | None] = []

    def fetch(self, cursor: str | None, _on_sent: object) -> Fetched:
        self.fetches.append(cursor)
        page_entries, shown, end = self.pages[cursor]

        def parse(on_part: OnPart = None) -> Page:
            if on_part is not None and shown:
                on_part(0, page_entries[:shown])
            if cursor in self.release:
                assert self.release[cursor].wait(10)
            if isinstance(end, Exception):
                raise end
            assert end is None or isinstance(end, str)
            return Page(page_entries, end)

        return Fetched(parse, in_parts=parse)

    def listing(self) -> Listing:
        def no_lookup(name: str) -> Entry | None:
            raise NotImplementedError

        return Listing(Source("t", self.fetch, no_lookup, POOL, 10.0), 0.0)


def names(listing: Listing) -> list[str]:
    found = []
    while (entry := listing.entry_at(len(found))) is not None:
        found.append(entry.name)
    return found


def test_a_reader_takes_the_first_part_while_the_rest_is_parsed() -> None:
    pages = PartedPages()
    pages.pages[None] = (entries("a", "b", "c", "d"), 2, None)
    pages.release[None] = threading.Event()
    listing = pages.listing()
    assert listing.entry_at(1).name == "b"  # type: ignore[union-attr]
    assert not listing.complete and listing.pages_fetched == 0
    pages.release[None].set()
    assert names(listing) == ["a", "b", "c", "d"]
    assert listing.complete and pages.fetches == [None]


def test_a_page_shown_whole_in_parts_is_not_taken_for_a_repeat_of_earlier_pages() -> None:
    pages = PartedPages()
    pages.pages[None] = (entries("a", "b"), 2, "2")
    pages.pages["2"] = (entries("c", "d"), 2, "4")  # every name shown before the page's end
    pages.pages["4"] = (entries("e"), 0, None)
    assert names(pages.listing()) == ["a", "b", "c", "d", "e"]


def test_a_page_repeating_earlier_names_is_still_refused_with_parts() -> None:
    pages = PartedPages()
    pages.pages[None] = (entries("a", "b"), 1, "2")
    pages.pages["2"] = (entries("a", "b"), 2, "4")  # a server ignoring its cursor
    listing = pages.listing()
    with pytest.raises(PagingError, match="already listed"):
        names(listing)
    assert listing.failed


def test_a_failure_after_a_part_was_shown_ends_the_listing_for_good() -> None:
    pages = PartedPages()
    pages.pages[None] = (entries("a", "b"), 2, "2")
    pages.pages["2"] = (entries("c", "d"), 1, RemoteError("connection reset"))
    listing = pages.listing()
    with pytest.raises(RemoteError):
        names(listing)
    assert listing.failed and not listing.complete  # a retry would show "c" twice or skip some
    with pytest.raises(RemoteError):
        listing.entry_at(3)
    assert pages.fetches == [None, "2"]


def _containers_body(count: int, next_marker: str = "") -> bytes:
    containers = "".join(
        f"<Container><Name>c{i:05d}</Name><Properties><Last-Modified>Mon, 01 Jan 2024 00:00:00 GMT"
        f'</Last-Modified><Etag>"0x{i:X}"</Etag></Properties><Metadata><k>v{i}</k></Metadata></Container>'
        for i in range(count)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://x/">'
        f"<MaxResults>5000</MaxResults><Containers>{containers}</Containers>"
        f"<NextMarker>{next_marker}</NextMarker></EnumerationResults>"
    ).encode()


def test_containers_parsed_in_parts_are_the_page_parsed_whole() -> None:
    body = _containers_body(3000, "c03000")
    assert len(body) > 5 * STEP
    parts: list[tuple[int, list[Entry]]] = []
    in_parts = parse_containers(body, lambda start, found: parts.append((start, found)))
    whole = parse_containers(body)
    assert len(parts) > 3
    told = [entry for _, found in parts for entry in found]
    assert [start for start, _ in parts] == [sum(len(f) for _, f in parts[:i]) for i in range(len(parts))]
    assert told == in_parts.entries[: len(told)]
    assert in_parts.next_cursor == whole.next_cursor == "c03000"
    assert [(e.name, e.mtime, e.fields) for e in in_parts.entries] == [
        (e.name, e.mtime, e.fields) for e in whole.entries
    ]


def test_a_body_broken_after_its_first_parts_raises_after_them() -> None:
    body = _containers_body(3000)
    broken = body[: len(body) // 2] + b"<Container><Name>x</Nam></Container>" + body[len(body) // 2 :]
    parts: list[int] = []
    with pytest.raises(Exception, match="malformed XML"):
        parse_containers(broken, lambda start, found: parts.append(len(found)))
    assert parts  # shown before the break was reached: the listing then ends in an error
