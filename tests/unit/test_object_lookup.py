"""Provider.lookup() for blobs and objects answers exactly the entry the listing shows.

Runs the providers directly (no FUSE) against Azurite and the QingStor test server, over keys
that exercise every name rule, with a page size small enough that every rule meets a page end.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from storfs.entry import Entry
from storfs.providers.azure import AzureProvider
from storfs.providers.base import ListingKey, Provider
from storfs.providers.qingstor import QingStorProvider
from storfs.stats import STATS
from storfs.transport import HttpSettings
from tests.backends import AZURE, QINGSTOR
from tests.fakes.azurite import Azurite
from tests.fakes.qingstor_server import QingStorServer

HTTP = HttpSettings(connect_timeout=2, read_timeout=10, retries=0)
KEYS = {
    "a": b"object shadowed by a/",
    "a/b": b"b",
    "a/c/d": b"d",
    "a!": b"sorts between a and a/",
    "m/": b"",
    "m/x": b"x",
    "top.txt": b"top",
    "zz//q": b"empty segment",
    "zz/ok": b"ok",
}


def listing(provider: Provider, key: ListingKey) -> list[Entry]:
    entries, cursor = [], None
    for _ in range(100):
        page = provider.list_page(key, cursor)
        entries += page.entries
        cursor = page.next_cursor
        if cursor is None:
            return entries
    raise AssertionError("listing did not end")


def walk(provider: Provider, key: ListingKey) -> Iterator[tuple[ListingKey, Entry]]:
    for entry in listing(provider, key):
        yield key, entry
        inner = provider.contents(key, entry)
        if inner is not None:
            yield from walk(provider, inner)


def same(a: Entry | None, b: Entry) -> bool:
    return a is not None and (a.name, a.is_dir, a.size, a.mtime, a.ctime, a.fields, a.ref) == (
        b.name, b.is_dir, b.size, b.mtime, b.ctime, b.fields, b.ref,
    )  # fmt: skip


@pytest.fixture(scope="module")
def azure(azurite: Azurite) -> tuple[Provider, ListingKey]:
    azurite.upload_blobs("lookups", KEYS, metadata={"a/b": {"k": "v"}})
    provider = AzureProvider("dev", AZURE.table(azurite, page_size=2), HTTP)
    return provider, provider.key("blobs", "lookups", "")


@pytest.fixture(scope="module")
def qingstor() -> Iterator[tuple[Provider, ListingKey]]:
    with QingStorServer() as server:
        server.add_bucket("lookups")
        for key, data in KEYS.items():
            server.add_object("lookups", key, data)
        provider = QingStorProvider("main", QINGSTOR.table(server, page_size=2), HTTP)
        yield provider, provider.key("objects", "lookups", "pek3a", "")


@pytest.mark.parametrize("backend", ["azure", "qingstor"])
def test_lookup_equals_the_listed_entry(backend: str, request: pytest.FixtureRequest) -> None:
    provider, root = request.getfixturevalue(backend)
    walked = list(walk(provider, root))
    shown = {(key.args[-1], entry.name) for key, entry in walked}
    assert shown == {
        ("", "a"), ("a/", "b"), ("a/", "c"), ("a/c/", "d"), ("", "a!"), ("", "m"), ("m/", "x"),
        ("", "top.txt"), ("", "zz"), ("zz/", "ok"),
    }  # fmt: skip
    for key, entry in walked:
        assert same(provider.lookup(key, entry.name), entry), (key, entry)
    for absent in ("nope", "a/b", "", ".", "..", "zz/", "m/"):
        assert provider.lookup(root, absent) is None, absent


@pytest.mark.parametrize("backend", ["azure", "qingstor"])
def test_a_directory_lookup_is_its_listings_first_page(backend: str, request: pytest.FixtureRequest) -> None:
    provider, root = request.getfixturevalue(backend)
    op = "list_blobs" if backend == "azure" else "list_objects"
    for key, entry in walk(provider, root):
        before = sum(n for (_, o, _), n in STATS.requests.items() if o == op)
        found = provider.lookup_directory(key, entry.name)
        assert sum(n for (_, o, _), n in STATS.requests.items() if o == op) - before == 1
        if not entry.is_dir:
            assert found is None, (key, entry)
            continue
        assert found is not None, (key, entry)
        probed, first = found
        assert same(probed, entry)
        own = provider.list_page(provider.contents(key, entry), None)  # type: ignore[arg-type]
        assert (snapshot(first.entries), first.next_cursor) == (snapshot(own.entries), own.next_cursor)
    # "a" is a prefix that shadows the object "a"; "zz" holds only keys that cannot be paths;
    # "m" holds its marker and one key.
    assert provider.lookup_directory(root, "zz") is not None
    for absent in ("nope", "top", "", ".", "..", "a!"):
        assert provider.lookup_directory(root, absent) is None, absent


@pytest.mark.parametrize("backend", ["azure", "qingstor"])
def test_page_boundaries_cost_no_request_of_their_own(backend: str, request: pytest.FixtureRequest) -> None:
    provider, root = request.getfixturevalue(backend)
    op = "list_blobs" if backend == "azure" else "list_objects"
    before = sum(n for (_, o, _), n in STATS.requests.items() if o == op)
    pages, cursor = 0, None
    for _ in range(100):
        page = provider.list_page(root, cursor)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    # `a` ends page 1 (page 2 starts with the prefix `a/`): the next page decides, and the
    # listing's own fetch of that page takes the answer made for it.
    assert sum(n for (_, o, _), n in STATS.requests.items() if o == op) - before == pages
    assert ("a", "object shadowed by a directory of the same name") in provider.not_shown(root)


@pytest.mark.parametrize("backend", ["azure", "qingstor"])
def test_not_shown_keys_are_reported(backend: str, request: pytest.FixtureRequest) -> None:
    provider, root = request.getfixturevalue(backend)
    list(walk(provider, root))
    assert ("a", "object shadowed by a directory of the same name") in provider.not_shown(root)
    zz = next(k for k, _ in walk(provider, root) if k.args[-1] == "zz/")
    assert provider.not_shown(zz) == [("zz//", "empty path segment")]


def snapshot(entries: list[Entry]) -> list[tuple[object, ...]]:
    return sorted((e.name, e.is_dir, e.size, e.mtime, e.ctime, e.fields, e.ref) for e in entries)


@pytest.mark.parametrize("backend", ["azure", "qingstor"])
def test_one_flat_listing_fills_every_directory_as_its_own_listing_would(
    backend: str, request: pytest.FixtureRequest
) -> None:
    provider, root = request.getfixturevalue(backend)
    by_listing: dict[ListingKey, list[Entry]] = {root: []}
    for key, entry in walk(provider, root):
        by_listing.setdefault(key, []).append(entry)
        inner = provider.contents(key, entry)
        if inner is not None:
            by_listing.setdefault(inner, [])
    expected_not_shown = {key: sorted(provider.not_shown(key)) for key in by_listing}
    op = "list_blobs" if backend == "azure" else "list_objects"
    before = sum(n for (_, o, _), n in STATS.requests.items() if o == op)
    subtree = provider.list_subtree(root, limit=1000)
    requests = sum(n for (_, o, _), n in STATS.requests.items() if o == op) - before
    assert subtree is not None
    assert {k: snapshot(v) for k, v in subtree.items()} == {k: snapshot(v) for k, v in by_listing.items()}
    assert {key: sorted(provider.not_shown(key)) for key in subtree} == expected_not_shown
    assert requests == math.ceil(len(KEYS) / 2)  # page_size 2: the flat listing alone
    assert provider.list_subtree(root, limit=3) is None  # too big: list directory by directory
