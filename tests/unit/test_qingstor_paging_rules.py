"""QingStor protocol deviations are malformed pages (BadResponse, EIO), never an end of listing;
what the docs allow still ends it. And a huge `count` reveals a bounded window of pages."""

from __future__ import annotations

import errno
import json
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from storfs.errors import BadResponse
from storfs.providers.qingstor import QingStorProvider
from storfs.transport import HttpSettings
from tests.fakes.qingstor_server import QingStorServer

AK = "EXAMPLEAKID0000000001"
SK = "EXAMPLEsecretKEY0000000000000000000000001"
HTTP = HttpSettings(connect_timeout=2, read_timeout=5, retries=0, parallel_pages=3)
PAGE = 5


@pytest.fixture
def server() -> Iterator[QingStorServer]:
    with QingStorServer(AK, SK) as fake:
        yield fake


@pytest.fixture
def provider(server: QingStorServer) -> QingStorProvider:
    settings = {"access_key_id": AK, "secret_access_key": SK, "endpoint": server.url, "page_size": PAGE}
    return QingStorProvider("main", settings, HTTP)


def buckets(n: int, start: int = 0, **top: Any) -> bytes:
    items = [
        {"name": f"b{i:03d}", "location": "pek3a", "created": "2015-07-11T04:45:57Z"}
        for i in range(start, start + n)
    ]
    return json.dumps({"buckets": items, **top}).encode()


def uploads(n: int, **top: Any) -> bytes:
    items = [{"key": f"k{i}", "upload_id": f"u{i}", "created": "2016-12-25T16:02:05.000Z"} for i in range(n)]
    return json.dumps({"uploads": items, **top}).encode()


def page_of(
    server: QingStorServer, provider: QingStorProvider, kind: str, body: bytes, cursor: str | None = None
) -> Any:
    key = {
        "buckets": provider.key("buckets"),
        "uploads": provider.key("uploads", "mybucket", "pek3a"),
        "parts": provider.key("parts", "mybucket", "pek3a", "k", "u"),
    }[kind]
    server.fail_next(200, body=body)
    return provider.list_page(key, cursor)


MALFORMED = [
    # has_more must be a JSON bool: anything else once ended the listing after page 1.
    ("uploads", uploads(5, has_more="true", next_key_marker="k4"), "`has_more`"),
    ("uploads", uploads(5, has_more=1, next_key_marker="k4"), "`has_more`"),
    ("uploads", uploads(5, has_more=None, next_key_marker="k4"), "`has_more`"),
    ("uploads", uploads(5, has_more="false"), "`has_more`"),
    ("uploads", uploads(5, has_more=True, next_key_marker=7), "`next_key_marker`"),
    (
        "uploads",
        uploads(5, has_more=True, next_key_marker="k4", next_upload_id_marker=["u"]),
        "`next_upload_id_marker`",
    ),
    ("uploads", uploads(1, has_more=True), "has_more without next_key_marker"),
    # a short page while count says more remain; a count below the page; a count of another type
    ("buckets", buckets(2, count=37), "count says 37"),
    ("buckets", buckets(0, count=1), "count says 1"),
    ("buckets", buckets(5, count=2), "count 2 is less"),
    ("buckets", buckets(5, count="37"), "`count`"),
    ("buckets", buckets(5, count=True), "`count`"),
    ("buckets", buckets(5, count=None), "`count`"),
    ("buckets", buckets(5, count=-1), "`count`"),
    ("buckets", buckets(5, count=37.0), "`count`"),
    ("parts", json.dumps({"count": 0, "object_parts": [{"part_number": 1}]}).encode(), "count 0 is less"),
    # documented fields of another JSON type, named
    ("buckets", json.dumps({"buckets": [{"name": "b", "created": 1436589957}]}).encode(), "`created`"),
    ("buckets", json.dumps({"buckets": [{"name": "b", "location": ["pek3a"]}]}).encode(), "`location`"),
    ("buckets", json.dumps({"buckets": [{"name": "b", "url": {}}]}).encode(), "`url`"),
    (
        "uploads",
        json.dumps({"uploads": [{"key": "k", "upload_id": "u", "created": 5}]}).encode(),
        "`created`",
    ),
    ("parts", json.dumps({"object_parts": [{"part_number": 1, "size": "100"}]}).encode(), "`size`"),
    ("parts", json.dumps({"object_parts": [{"part_number": 1, "size": 1.5}]}).encode(), "`size`"),
    ("parts", json.dumps({"object_parts": [{"part_number": 1, "etag": 5}]}).encode(), "`etag`"),
    ("parts", json.dumps({"object_parts": [[1]]}).encode(), r"`object_parts\[0\]`"),
]


@pytest.mark.parametrize(("kind", "body", "message"), MALFORMED)
def test_a_deviation_is_a_malformed_page(
    server: QingStorServer, provider: QingStorProvider, kind: str, body: bytes, message: str
) -> None:
    with pytest.raises(BadResponse, match=message) as caught:
        page_of(server, provider, kind, body)
    assert caught.value.errno == errno.EIO


def test_what_the_docs_allow_still_ends_the_listing(
    server: QingStorServer, provider: QingStorProvider
) -> None:
    # count as the page size, or as the total, on the last (short) page
    assert page_of(server, provider, "buckets", buckets(2, count=2), "35").next_cursor is None
    assert page_of(server, provider, "buckets", buckets(2, start=35, count=37), "35").next_cursor is None
    assert page_of(server, provider, "buckets", buckets(0, count=35), "35").next_cursor is None
    assert page_of(server, provider, "buckets", buckets(2)).next_cursor is None  # no count at all
    # has_more false (whatever next_key_marker says), or absent with an empty next_key_marker
    assert (
        page_of(server, provider, "uploads", uploads(5, has_more=False, next_key_marker="k4")).next_cursor
        is None
    )
    assert page_of(server, provider, "uploads", uploads(2, next_key_marker="")).next_cursor is None
    assert page_of(server, provider, "uploads", uploads(2)).next_cursor is None
    # null lists (what a Go server writes for an empty slice) and null attribute fields
    assert (
        page_of(
            server, provider, "uploads", json.dumps({"uploads": None, "has_more": False}).encode()
        ).entries
        == []
    )
    null_fields = json.dumps(
        {"buckets": [{"name": "b", "location": None, "created": None}], "count": 1}
    ).encode()
    (bucket,) = page_of(server, provider, "buckets", null_fields).entries
    assert bucket.ref == ("",) and bucket.mtime_ns == 0
    # a full page whose count is the page size goes on by offset
    assert page_of(server, provider, "buckets", buckets(5, count=5)).next_cursor == "5"


def test_a_huge_count_reveals_a_bounded_window_at_no_cost(
    server: QingStorServer, provider: QingStorProvider
) -> None:
    """`count` = 10**13 once built a 2.5 GB list in the FUSE thread."""
    tracemalloc.start()
    started = time.monotonic()
    page = page_of(server, provider, "buckets", buckets(5, count=10**13))
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert page.next_cursor == "5"
    assert page.lookahead == ("5", "10", "15")  # parallel_pages = 3
    assert peak < 5_000_000, f"{peak} bytes allocated for one page"
    assert elapsed < 5
    # and a later page reveals the next window, never beyond the count
    later = page_of(server, provider, "buckets", buckets(5, start=25, count=37), "25")
    assert later.lookahead == ("30", "35")
