"""The provider-level contract, without FUSE: every listing kind of every provider, read through
the engine (tree, cache, listing) exactly as the mount reads it, against servers that check
signatures and paging: the listing equals the server's, costs ceil(n / page) requests, a wrong
secret is EACCES, a 503 on one page is retried, and a one-name lookup equals the listed entry.

The kinds come from the backend registry (`tests/backends.py`): a new provider or listing kind
adds its `Kind` factory to its entry there.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from storfs.cache import ListingCache
from storfs.entry import Entry
from storfs.errors import AccessDenied
from storfs.providers import PROVIDERS
from storfs.transport import HttpSettings
from storfs.tree import Tree
from tests.backends import KIND_PAGE as PAGE
from tests.backends import KINDS, Kind
from tests.fakes.azurite import Azurite


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest, azurite: Azurite) -> Iterator[Kind]:
    with ExitStack() as stack:
        yield KINDS[request.param](stack, azurite)


def tree_of(kind: Kind, **overrides: Any) -> Tree:
    table = {**kind.table, "page_size": PAGE, **overrides}
    http = HttpSettings(retries=2, backoff=0.01, deadline=20.0)
    provider = PROVIDERS[kind.provider]("main", table, http)
    return Tree([provider], ListingCache(ttl=300, max_entries=10_000))


def read(tree: Tree, kind: Kind) -> list[Entry]:
    node = tree.resolve(f"/{kind.provider}/main/{kind.path}")
    assert node.listing is not None, f"{kind.path} is not a listing"
    stream = tree.open_dir(node.listing)
    entries = []
    while (entry := stream.entry_at(len(entries))) is not None:
        entries.append(entry)
    return entries


def test_the_listing_equals_the_server_in_the_fewest_requests(kind: Kind) -> None:
    tree = tree_of(kind)
    try:
        levels = kind.requests()
        tree.resolve(f"/{kind.provider}/main/{kind.path}")  # the levels above, fetched now
        before = levels if kind.first_page_with_lookup else kind.requests()
        entries = read(tree, kind)
        sizes = {entry.name: entry.size for entry in entries}
        assert sorted(sizes) == sorted(kind.expected)
        assert sizes == kind.expected
        expected_pages = math.ceil(len(kind.expected) / PAGE)
        expected_requests = expected_pages
        assert kind.requests() - before in (
            expected_requests,
            expected_requests + 1,
        )  # +1: an empty last page
        again = read(tree, kind)
        assert [e.name for e in again] == [e.name for e in entries]
        assert kind.requests() - before <= expected_requests + 1, "a fresh listing is served from the cache"
    finally:
        tree.close()


def test_a_wrong_secret_is_access_denied(kind: Kind) -> None:
    tree = tree_of(kind, **kind.wrong_secret)
    try:
        with pytest.raises(AccessDenied):
            read(tree, kind)
    finally:
        tree.close()


def test_a_503_on_a_later_page_is_retried_and_the_listing_is_complete(kind: Kind) -> None:
    tree = tree_of(kind)
    try:
        node = tree.resolve(f"/{kind.provider}/main/{kind.path}")
        assert node.listing is not None
        stream = tree.open_dir(node.listing)
        kind.fail_once(503)
        names = []
        while (entry := stream.entry_at(len(names))) is not None:
            names.append(entry.name)
        assert sorted(names) == sorted(kind.expected)
    finally:
        tree.close()


def test_a_one_name_lookup_equals_the_listed_entry(kind: Kind) -> None:
    tree = tree_of(kind)
    try:
        entries = read(tree, kind)
        node = tree.resolve(f"/{kind.provider}/main/{kind.path}")
        assert node.listing is not None
        provider = tree.providers[0]
        if not kind.lookup:
            with pytest.raises(NotImplementedError):
                provider.lookup(node.listing, entries[0].name)
            return
        for entry in entries[:: max(1, len(entries) // 3)]:
            found = provider.lookup(node.listing, entry.name)
            assert found is not None
            assert (found.name, found.is_dir, found.size, found.mtime) == (
                entry.name,
                entry.is_dir,
                entry.size,
                entry.mtime,
            )
            assert list(found.xattrs()) == list(entry.xattrs())
        assert provider.lookup(node.listing, "no-such-name-here") is None
    finally:
        tree.close()


def test_every_provider_has_a_backend_and_a_kind() -> None:
    assert {kind.partition("-")[0] for kind in KINDS} == set(PROVIDERS)
