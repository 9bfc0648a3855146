"""S3 objects without FUSE: the shared names rules, lookups, directory lookups, page ends, flat
walks, on_sent, virtual hosts.

Against the strict fake (tests/fakes/s3_server.py), with a page size small enough that every
names rule meets a page end; the same keys as tests/unit/test_object_lookup.py uses for Azure
and QingStor, so one rule decides every provider.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3.util.connection

from storfs.entry import Entry
from storfs.errors import AccessDenied, BadResponse
from storfs.keys import ListingKey
from storfs.providers.s3 import S3Provider
from storfs.transport import HttpSettings
from tests.fakes.s3_server import S3Server

HTTP = HttpSettings(connect_timeout=2, read_timeout=5, retries=0, deadline=10)
KEYS = {
    "a": 21,  # shadowed by the directory a/
    "a/b": 1,
    "a/c/d": 1,
    "a!": 22,  # sorts between a and a/
    "m/": 0,  # a directory marker
    "m/x": 1,
    "top.txt": 3,
    "zz//q": 13,  # an empty segment
    "zz/ok": 2,
    "w/": 12,  # a marker holding bytes
    "w/in": 1,
}
SHOWN = {
    ("", "a"), ("a/", "b"), ("a/", "c"), ("a/c/", "d"), ("", "a!"), ("", "m"), ("m/", "x"),
    ("", "top.txt"), ("", "zz"), ("zz/", "ok"), ("", "w"), ("w/", "in"),
}  # fmt: skip


def provider(server: S3Server, **settings: Any) -> S3Provider:
    table = {
        "access_key_id": server.access_key_id,
        "secret_access_key": server.secret,
        "endpoint": server.url,
    }
    return S3Provider("t", {**table, **settings}, HTTP)


@pytest.fixture
def strict() -> Iterator[S3Server]:
    with S3Server() as s3:
        s3.add_bucket("lookups")
        for key, size in KEYS.items():
            s3.add_object("lookups", key, size)
        yield s3


def listing(p: S3Provider, key: ListingKey) -> list[Entry]:
    entries, cursor = [], None
    for _ in range(100):
        page = p.list_page(key, cursor)
        entries += page.entries
        cursor = page.next_cursor
        if cursor is None:
            return entries
    raise AssertionError("listing did not end")


def walk(p: S3Provider, key: ListingKey) -> Iterator[tuple[ListingKey, Entry]]:
    for entry in listing(p, key):
        yield key, entry
        inner = p.contents(key, entry)
        if inner is not None:
            yield from walk(p, inner)


def snapshot(entries: list[Entry]) -> list[tuple[object, ...]]:
    return sorted((e.name, e.is_dir, e.size, e.mtime, e.ctime, e.fields, e.ref) for e in entries)


def test_listings_follow_the_shared_names_rules_and_lookups_equal_them(strict: S3Server) -> None:
    p = provider(strict, page_size=2)
    root = p.key("objects", "lookups", "")
    walked = list(walk(p, root))
    assert {(key.args[-1], entry.name) for key, entry in walked} == SHOWN
    for key, entry in walked:
        assert snapshot([p.lookup(key, entry.name)]) == snapshot([entry]), (key, entry)  # type: ignore[list-item]
    for absent in ("nope", "a/b", "", ".", "..", "zz/", "m/", "to"):
        assert p.lookup(root, absent) is None, absent
    assert ("a", "object shadowed by a directory of the same name") in p.not_shown(root)
    keys = {key.args[-1]: key for key, _ in walked}
    assert p.not_shown(keys["zz/"]) == [("zz//", "empty path segment")]
    assert p.not_shown(keys["w/"]) == [("w/", "directory marker holding bytes")]
    assert p.not_shown(keys["m/"]) == []  # a zero-byte marker is the directory itself


def test_one_flat_listing_fills_every_directory_as_its_own_listing_would(strict: S3Server) -> None:
    p = provider(strict, page_size=2)
    root = p.key("objects", "lookups", "")
    by_listing: dict[ListingKey, list[Entry]] = {root: []}
    for key, entry in walk(p, root):
        by_listing.setdefault(key, []).append(entry)
        inner = p.contents(key, entry)
        if inner is not None:
            by_listing.setdefault(inner, [])
    expected_not_shown = {key: sorted(p.not_shown(key)) for key in by_listing}
    strict.reset_log()
    subtree = p.list_subtree(root, limit=1000)
    assert subtree is not None
    assert {k: snapshot(v) for k, v in subtree.items()} == {k: snapshot(v) for k, v in by_listing.items()}
    assert {key: sorted(p.not_shown(key)) for key in subtree} == expected_not_shown
    listed = [r for r in strict.requests if r.op == "list_objects"]
    assert len(listed) == strict.count() == math.ceil(len(KEYS) / 2)  # the flat listing alone
    assert all("delimiter" not in dict(r.query) and dict(r.query)["max-keys"] == "2" for r in listed)
    assert [dict(r.query).get("continuation-token") is None for r in listed] == [True] + [False] * 5
    # Below the bucket's root: only that prefix's keys, listings keyed by their own prefix.
    inner = p.list_subtree(p.key("objects", "lookups", "a/"), limit=1000)
    assert inner is not None and set(inner) == {
        p.key("objects", "lookups", "a/"),
        p.key("objects", "lookups", "a/c/"),
    }
    strict.reset_log()
    assert p.list_subtree(root, limit=3) is None  # too big: list directory by directory
    assert strict.count() == 2  # it stops at the page that passes the limit


def test_a_directory_lookup_is_its_listings_first_page(strict: S3Server) -> None:
    p = provider(strict, page_size=2)
    root = p.key("objects", "lookups", "")
    walked = list(walk(p, root))
    for key, entry in walked:
        strict.reset_log()
        found = p.lookup_directory(key, entry.name)
        [request] = strict.requests
        assert dict(request.query)["prefix"] == key.args[-1] + entry.name + "/"
        assert dict(request.query)["delimiter"] == "/" and dict(request.query)["max-keys"] == "2"
        if not entry.is_dir:
            assert found is None, (key, entry)
            continue
        assert found is not None, (key, entry)
        probed, first = found
        assert snapshot([probed]) == snapshot([entry])
        own = p.list_page(p.contents(key, entry), None)  # type: ignore[arg-type]
        assert (snapshot(first.entries), first.next_cursor) == (snapshot(own.entries), own.next_cursor)
    # "a" is a prefix shadowing the object "a"; "zz" holds only a key that cannot be a path;
    # "m" its zero-byte marker and one key; "w" a marker holding bytes, reported once listed.
    for directory in ("a", "zz", "m", "w"):
        assert p.lookup_directory(root, directory) is not None, directory
    for absent in ("nope", "top", "top.txt", "", ".", "..", "a!", "a/b"):
        assert p.lookup_directory(root, absent) is None, absent
    with pytest.raises(NotImplementedError):
        p.lookup_directory(p.key("uploads", "lookups"), "a")


def test_page_ends_are_decided_by_the_next_page_the_listing_takes(strict: S3Server) -> None:
    p = provider(strict, page_size=2)
    root = p.key("objects", "lookups", "")
    strict.reset_log()
    names, pages, cursor = [], 0, None
    for _ in range(100):
        page = p.list_page(root, cursor)
        names += [entry.name for entry in page.entries]
        pages, cursor = pages + 1, page.next_cursor
        if cursor is None:
            break
    assert sorted(names) == ["a", "a!", "m", "top.txt", "w", "zz"]
    # `a` and `a!` end page 1 (page 2 starts with the prefix `a/`): the next page decides,
    # and the listing's own fetch of that page takes the answer made for it: one request a page.
    listed = [dict(r.query) for r in strict.requests]
    assert all(q["delimiter"] == "/" and q["max-keys"] == "2" for q in listed)
    assert [q.get("continuation-token") is None for q in listed] == [True] + [False] * (len(listed) - 1)
    assert len(listed) == pages == math.ceil(7 / 2)  # a, a!, a/, m/, top.txt, w/, zz/
    assert ("a", "object shadowed by a directory of the same name") in p.not_shown(root)


def test_a_next_page_that_cannot_tell_costs_one_small_query(strict: S3Server) -> None:
    strict.add_bucket("ends")
    for key in ("x", "x!", "x#", "x-", "x/y"):
        strict.add_object("ends", key, 1)
    p = provider(strict, page_size=2)
    strict.reset_log()
    assert [e.name for e in listing(p, p.key("objects", "ends", ""))] == ["x!", "x#", "x-", "x"]
    # Page 1 ends with `x!`; page 2 (`x#`, `x-`, more to come) sorts wholly before `x/`, so
    # whether `x/` exists is asked on its own; page 3 (`x/`) tells page 2 that `x-/` does not.
    queries = [
        (q.get("prefix"), q.get("delimiter"), q["max-keys"])
        for q in map(dict, (r.query for r in strict.requests))
    ]
    assert sorted(queries, key=str) == sorted([(None, "/", "2")] * 3 + [("x/", None, "1")], key=str), queries
    assert p.not_shown(p.key("objects", "ends", "")) == [
        ("x", "object shadowed by a directory of the same name")
    ]


def test_a_repeated_continuation_token_is_a_bad_response(
    strict: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = provider(strict)
    sent: list[dict[str, str]] = []

    def looping(
        op: str, bucket: str, key: str, query: dict[str, str], what: str, on_sent: Any = None
    ) -> bytes:
        sent.append(query)
        n = len(sent)
        return (
            "<ListBucketResult><IsTruncated>true</IsTruncated>"
            f"<NextContinuationToken>{'same' if n > 1 else 'first'}</NextContinuationToken>"
            f"<Contents><Key>k{n}</Key><Size>1</Size></Contents></ListBucketResult>"
        ).encode()

    monkeypatch.setattr(p.objects, "_send", looping)
    with pytest.raises(BadResponse, match="repeated continuation token 'same'"):
        p.list_subtree(p.key("objects", "lookups", ""), limit=1000)
    assert [q.get("continuation-token") for q in sent] == [None, "first", "same"]


def test_a_flat_listing_with_common_prefixes_is_a_bad_response(
    strict: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = provider(strict)
    body = b"<ListBucketResult><CommonPrefixes><Prefix>d/</Prefix></CommonPrefixes></ListBucketResult>"
    monkeypatch.setattr(p.objects, "_send", lambda *args, **kwargs: body)
    with pytest.raises(BadResponse, match="without a delimiter"):
        p.list_subtree(p.key("objects", "lookups", ""), limit=1000)


def test_on_sent_hears_each_request_on_the_wire_before_the_parse(strict: S3Server) -> None:
    upload = strict.add_upload("lookups", "big/file")
    strict.add_part(upload, 1, 5)
    p = provider(strict, page_size=2)
    for key in (
        p.key("buckets"),
        p.key("objects", "lookups", ""),
        p.key("uploads", "lookups"),
        p.key("parts", "lookups", "big/file", upload),
    ):
        told: list[int] = []
        strict.reset_log()
        fetched = p.fetch_page(key, None, lambda told=told: told.append(strict.count()))
        assert len(told) == 1 and told[0] <= 1, key  # told once, as its request was written
        assert fetched.page() is not None


# -- virtual-host addressing ---------------------------------------------------------------------

VIRTUAL = "s3.localhost"


@pytest.fixture
def loopback_names(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`*.s3.localhost` resolves to 127.0.0.1 in this process only (the resolver here knows no
    `*.localhost`); every connection still goes to loopback. Returns the names it resolved."""
    resolved: list[str] = []
    real = urllib3.util.connection.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host, port = address
        if host == VIRTUAL or host.endswith("." + VIRTUAL):
            resolved.append(host)
            host = "127.0.0.1"
        return real((host, port), *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    return resolved


def test_virtual_host_addressing_is_signed_and_lists_like_path_style(
    strict: S3Server, loopback_names: list[str]
) -> None:
    strict.virtual_host = VIRTUAL
    upload = strict.add_upload("lookups", "big/../file x")
    for n in (1, 2, 3):
        strict.add_part(upload, n, 10 * n)
    endpoint = f"http://{VIRTUAL}:{strict.port}"
    virtual = provider(strict, page_size=2, endpoint=endpoint, addressing_style="virtual")
    path = provider(strict, page_size=2)
    strict.reset_log()
    assert [e.name for e in listing(virtual, virtual.key("buckets"))] == ["lookups"]
    for kind, *args in (("objects", "lookups", ""), ("objects", "lookups", "a/c/"), ("uploads", "lookups"),
                        ("parts", "lookups", "big/../file x", upload)):  # fmt: skip
        assert snapshot(listing(virtual, virtual.key(kind, *args))) == snapshot(
            listing(path, path.key(kind, *args))
        )
    entry = virtual.lookup(virtual.key("objects", "lookups", "a/"), "b")
    assert entry is not None and entry.size == 1
    subtree = virtual.list_subtree(virtual.key("objects", "lookups", ""), limit=1000)
    assert subtree is not None and len(subtree) == 6
    seen = [r for r in strict.requests if r.host.endswith(f"{VIRTUAL}:{strict.port}")]
    assert all(r.status == 200 and r.code == "" for r in seen)
    buckets = [r for r in seen if r.op == "list_buckets"]
    bucket_level = [r for r in seen if r.op != "list_buckets"]
    assert buckets and all(r.host == f"{VIRTUAL}:{strict.port}" for r in buckets)
    assert {r.op for r in bucket_level} == {"list_objects", "list_uploads", "list_parts"}
    # The bucket is in the Host, never in the path: `/` for the bucket, `/<key>` for ListParts.
    assert all(r.host == f"lookups.{VIRTUAL}:{strict.port}" for r in bucket_level)
    assert all(r.path == "/" for r in bucket_level if r.op != "list_parts")
    assert {r.path for r in bucket_level if r.op == "list_parts"} == {"/big/../file%20x"}
    assert set(loopback_names) == {VIRTUAL, f"lookups.{VIRTUAL}"}
    wrong = provider(strict, endpoint=endpoint, addressing_style="virtual", secret_access_key="wrong")
    with pytest.raises(AccessDenied, match="SignatureDoesNotMatch"):
        wrong.list_page(wrong.key("objects", "lookups", ""), None)


def test_a_bucket_name_unfit_for_a_host_label_stays_path_style(
    strict: S3Server, loopback_names: list[str]
) -> None:
    strict.virtual_host = VIRTUAL
    strict.add_bucket("dotted.name")
    strict.add_object("dotted.name", "k", 4)
    virtual = provider(strict, endpoint=f"http://{VIRTUAL}:{strict.port}", addressing_style="virtual")
    strict.reset_log()
    assert [e.name for e in listing(virtual, virtual.key("objects", "dotted.name", ""))] == ["k"]
    [request] = strict.requests
    assert (request.host, request.path, request.status) == (f"{VIRTUAL}:{strict.port}", "/dotted.name/", 200)
