"""The provider-level contract, without FUSE: every listing kind of every provider, read through
the engine (tree, cache, listing) exactly as the mount reads it, against servers that check
signatures and paging: the listing equals the server's, costs ceil(n / page) requests, a wrong
secret is EACCES, a 503 on one page is retried, and a one-name lookup equals the listed entry.

A new provider or listing kind adds one entry to `KINDS` (a function that seeds a server and
returns a `Kind`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from storfs.cache import ListingCache
from storfs.entry import Entry
from storfs.errors import AccessDenied
from storfs.providers import PROVIDERS
from storfs.transport import HttpSettings
from storfs.tree import Tree
from tests.fakes.azurite import AZURITE_ACCOUNT, AZURITE_KEY, Azurite
from tests.fakes.counting_proxy import CountingProxy
from tests.fakes.oas_server import OASServer
from tests.fakes.qingstor_server import QingStorServer
from tests.fakes.s3_server import S3Server

PAGE = 4
N = 11  # entries of every listing: three pages


@dataclass
class Kind:
    """One listing of one provider account, seeded with N entries."""

    provider: str
    table: dict[str, Any]
    path: str  # under /<provider>/main/
    expected: dict[str, int]  # name -> size
    requests: Callable[[], int]  # list requests of this listing so far
    fail_once: Callable[[int], None]  # the next request answers this status
    wrong_secret: dict[str, Any]
    lookup: bool = False  # whether the provider answers one name with one small request
    #: Object listings: resolving the directory's name (a prefix) already asks for its listing's
    #: first page (`Provider.lookup_directory`), so their cost counts from before it. The
    #: object-and-prefix rule at page boundaries is told by the next page, which the listing
    #: fetches anyway (no request of its own).
    first_page_with_lookup: bool = False


def azure_containers(stack: ExitStack, azurite: Azurite) -> Kind:
    names = [f"kind-c{i:02d}" for i in range(N)]
    azurite.create_containers(names)
    proxy = stack.enter_context(CountingProxy(f"http://127.0.0.1:{azurite.port}"))
    table = {"account": AZURITE_ACCOUNT, "key": AZURITE_KEY, "endpoint": f"{proxy.url}/{AZURITE_ACCOUNT}"}
    # Azurite is shared with other modules: compare with everything it holds.
    expected = dict.fromkeys(azurite.list_container_names(), 0)
    return Kind(
        "azure",
        table,
        "containers",
        expected,
        lambda: proxy.count_op("list_containers"),
        lambda status: proxy.fail_next(status),
        {"key": "A" * 86 + "=="},
        lookup=True,
    )


def azure_blobs(stack: ExitStack, azurite: Azurite) -> Kind:
    names = {f"dir/blob {i:02d}.log": b"x" * (10 * i) for i in range(N)}
    names["dir/sub/deeper.bin"] = b"y"  # a prefix directory inside the listing
    azurite.upload_blobs("kind-blobs", names)
    proxy = stack.enter_context(CountingProxy(f"http://127.0.0.1:{azurite.port}"))
    table = {"account": AZURITE_ACCOUNT, "key": AZURITE_KEY, "endpoint": f"{proxy.url}/{AZURITE_ACCOUNT}"}
    expected = {f"blob {i:02d}.log": 10 * i for i in range(N)} | {"sub": 0}
    return Kind(
        "azure",
        table,
        "containers/kind-blobs/blobs/dir",
        expected,
        lambda: proxy.count_op("list_blobs"),
        lambda status: proxy.fail_next(status),
        {"key": "A" * 86 + "=="},
        lookup=True,
        first_page_with_lookup=True,
    )


def qingstor_objects(stack: ExitStack, azurite: Azurite) -> Kind:
    server = _qingstor(stack)
    expected = {}
    for i in range(N):
        server.add_object("bucket-02", f"dir/obj {i:02d}.bin", b"z" * (7 * i))
        expected[f"obj {i:02d}.bin"] = 7 * i
    server.add_object("bucket-02", "dir/sub/deeper.bin", b"y")
    expected["sub"] = 0
    kind = _qingstor_kind(server, "buckets/bucket-02/objects/dir", expected, "list_objects", lookup=True)
    return dataclasses.replace(kind, first_page_with_lookup=True)


def _qingstor(stack: ExitStack) -> QingStorServer:
    server = stack.enter_context(QingStorServer())
    for i in range(N):
        server.add_bucket(f"bucket-{i:02d}", created=f"2015-07-{i + 1:02d}T04:45:57Z")
    return server


def _qingstor_kind(
    server: QingStorServer, path: str, expected: dict[str, int], op: str, lookup: bool = False
) -> Kind:
    table = {
        "access_key_id": server.access_key_id,
        "secret_access_key": server.secret_access_key,
        "endpoint": server.url,
    }
    return Kind(
        "qingstor",
        table,
        path,
        expected,
        lambda: server.count(op),
        lambda status: server.fail_next(status, "service_unavailable"),
        {"secret_access_key": "wrong"},
        lookup=lookup,
    )


def qingstor_buckets(stack: ExitStack, azurite: Azurite) -> Kind:
    server = _qingstor(stack)
    return _qingstor_kind(server, "buckets", {f"bucket-{i:02d}": 0 for i in range(N)}, "list_buckets")


def qingstor_uploads(stack: ExitStack, azurite: Azurite) -> Kind:
    server = _qingstor(stack)
    ids = [server.add_upload("bucket-00", f"dir/key {i}", upload_id=f"up-{i:02d}") for i in range(N)]
    return _qingstor_kind(server, "buckets/bucket-00/uploads", dict.fromkeys(ids, 0), "list_uploads")


def qingstor_parts(stack: ExitStack, azurite: Azurite) -> Kind:
    server = _qingstor(stack)
    upload = server.add_upload("bucket-01", "big file.bin", upload_id="up-parts")
    sizes = {}
    for number in range(1, N + 1):
        server.add_part("bucket-01", upload, number, size=1000 + number)
        sizes[f"{number:05d}"] = 1000 + number
    return _qingstor_kind(server, "buckets/bucket-01/uploads/up-parts/parts", sizes, "list_parts")


def oas_vaults(stack: ExitStack, azurite: Azurite) -> Kind:
    server = stack.enter_context(OASServer())
    sizes = {}
    for i in range(N):
        server.add_vault(f"vault-{i:02d}", size_in_bytes=100 * i)
        sizes[f"vault-{i:02d}"] = 100 * i
    table = {
        "access_key_id": server.access_key_id,
        "access_key_secret": server.access_key_secret,
        "endpoint": server.url,
    }
    return Kind(
        "oas",
        table,
        "vaults",
        sizes,
        lambda: server.count("list_vaults"),
        lambda status: server.fail_next(status, "ServiceUnavailable"),
        {"access_key_secret": "wrong"},
    )


def _s3(stack: ExitStack) -> S3Server:
    server = stack.enter_context(S3Server())
    for i in range(N):
        server.add_bucket(f"bucket-{i:02d}", region="eu-west-1" if i == 1 else "us-east-1")
    return server


def _s3_kind(server: S3Server, path: str, expected: dict[str, int], op: str, lookup: bool = False) -> Kind:
    table = {
        "access_key_id": server.access_key_id,
        "secret_access_key": server.secret,
        "endpoint": server.url,
    }
    return Kind(
        "s3",
        table,
        path,
        expected,
        lambda: server.count(op),
        lambda status: server.fail_next(status, "SlowDown"),
        {"secret_access_key": "wrong"},
        lookup=lookup,
    )


def s3_buckets(stack: ExitStack, azurite: Azurite) -> Kind:
    server = _s3(stack)
    return _s3_kind(server, "buckets", {f"bucket-{i:02d}": 0 for i in range(N)}, "list_buckets", lookup=True)


def s3_objects(stack: ExitStack, azurite: Azurite) -> Kind:
    server = _s3(stack)
    expected = {}
    for i in range(N - 3):
        server.add_object("bucket-01", f"dir/file {i:02d}=50%.bin", 10 * i)
        expected[f"file {i:02d}=50%.bin"] = 10 * i
    for sub in ("a", "b", "c"):  # subdirectories: common prefixes
        server.add_object("bucket-01", f"dir/{sub}/inner", 1)
        expected[sub] = 0
    return _s3_kind(server, "buckets/bucket-01/objects/dir", expected, "list_objects", lookup=True)


def s3_uploads(stack: ExitStack, azurite: Azurite) -> Kind:
    server = _s3(stack)
    ids = [server.add_upload("bucket-01", f"dir/key {i}") for i in range(N)]
    return _s3_kind(server, "buckets/bucket-01/uploads", dict.fromkeys(ids, 0), "list_uploads")


def s3_parts(stack: ExitStack, azurite: Azurite) -> Kind:
    server = _s3(stack)
    upload = server.add_upload("bucket-01", "a/../big file.bin")
    sizes = {}
    for number in range(1, N + 1):
        server.add_part(upload, number, size=1000 + number)
        sizes[f"{number:05d}"] = 1000 + number
    return _s3_kind(server, f"buckets/bucket-01/uploads/{upload}/parts", sizes, "list_parts")


KINDS: dict[str, Callable[[ExitStack, Azurite], Kind]] = {
    "s3-buckets": s3_buckets,
    "s3-objects": s3_objects,
    "s3-uploads": s3_uploads,
    "s3-parts": s3_parts,
    "azure-containers": azure_containers,
    "azure-blobs": azure_blobs,
    "qingstor-objects": qingstor_objects,
    "qingstor-buckets": qingstor_buckets,
    "qingstor-uploads": qingstor_uploads,
    "qingstor-parts": qingstor_parts,
    "oas-vaults": oas_vaults,
}


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
