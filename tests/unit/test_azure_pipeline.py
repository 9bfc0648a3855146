"""Azure's early NextMarker: while page k is parsed, page k+1 is already on its way."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from storfs.cache import ListingCache
from storfs.providers.azure import AzureProvider, next_marker_hint
from storfs.transport import HttpSettings
from storfs.tree import Tree
from tests.backends import AZURE
from tests.fakes.azurite import Azurite
from tests.fakes.counting_proxy import CountingProxy

NAMES = [f"pipe-{i:03d}" for i in range(23)]


@pytest.fixture(scope="module")
def proxy(azurite: Azurite) -> Iterator[CountingProxy]:
    azurite.create_containers(NAMES)
    with CountingProxy(AZURE.url(azurite)) as p:
        yield p


def provider(azurite: Azurite, proxy: CountingProxy) -> AzureProvider:
    return AzureProvider("dev", AZURE.table(azurite, proxy.url, page_size=5), HttpSettings())


def wait_for(proxy: CountingProxy, count: int) -> None:
    for _ in range(200):
        if proxy.count_op("list_containers") >= count:
            return
        time.sleep(0.01)


def test_streaming_pages_request_the_next_one_early_and_never_twice(
    azurite: Azurite, proxy: CountingProxy
) -> None:
    azure = provider(azurite, proxy)
    tree = Tree([azure], ListingCache(ttl=60, max_entries=1000))
    proxy.reset()
    stream = tree.open_dir(azure.key("containers"))
    names: list[str] = []
    index = 0
    while (entry := stream.entry_at(index)) is not None:
        if index % 5 == 0 and index < 20:
            pages = index // 5 + 1
            wait_for(proxy, pages + 1)
            asked = proxy.count_op("list_containers")
            assert pages + 1 <= asked <= pages + 2, "the next page was asked for already, no further"
        names.append(entry.name)
        index += 1
    assert names == NAMES
    assert proxy.count_op("list_containers") == 5 == len(proxy.requests)
    tree.close()


def test_a_lookup_asks_for_no_page_it_does_not_need(azurite: Azurite, proxy: CountingProxy) -> None:
    azure = provider(azurite, proxy)
    proxy.reset()
    azure.list_page(azure.key("containers"), None)
    time.sleep(0.2)
    assert proxy.count_op("list_containers") == 1


def test_next_marker_hint() -> None:
    assert (
        next_marker_hint(b"<EnumerationResults><NextMarker>a&amp;b</NextMarker></EnumerationResults>")
        == "a&b"
    )
    assert next_marker_hint(b"<EnumerationResults><NextMarker/></EnumerationResults>") is None
    assert next_marker_hint(b"<EnumerationResults><NextMarker></NextMarker></EnumerationResults>") is None
    assert next_marker_hint(b"garbage") is None


def test_the_next_request_is_on_the_wire_before_a_page_is_parsed(
    azurite: Azurite, proxy: CountingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page's parse holds the GIL for tens of milliseconds in one C call: the request for the
    next page must have been handed to the kernel before it starts, not after it. (Counted at
    storfs's socket writes: the proxy serving this test runs in this process, so it could only
    see the request once the parse lets go of the GIL.)"""
    import http.client

    import urllib3.connection

    import storfs.providers.azure as azure_module
    import storfs.source as source_module

    written: list[bytes] = []
    original_send = http.client.HTTPConnection.send

    def send(connection: http.client.HTTPConnection, data: bytes) -> None:
        original_send(connection, data)
        if isinstance(connection, urllib3.connection.HTTPConnection) and bytes(data[:4]) == b"GET ":
            written.append(bytes(data[:40]))

    monkeypatch.setattr(http.client.HTTPConnection, "send", send)
    seen_at_parse: list[int] = []
    parse = azure_module.parse_containers

    def parse_containers(body: bytes, on_part=None):  # type: ignore[no-untyped-def]
        seen_at_parse.append(len(written))
        return parse(body, on_part)

    monkeypatch.setattr(azure_module, "parse_containers", parse_containers)
    monkeypatch.setattr(source_module, "WIRE_WAIT", 10.0)  # the mechanism, not the bound, on a busy machine
    azure = provider(azurite, proxy)
    tree = Tree([azure], ListingCache(ttl=60, max_entries=1000))
    stream = tree.open_dir(azure.key("containers"))
    index = 0
    while stream.entry_at(index) is not None:
        index += 1
    tree.close()
    assert index == len(NAMES)
    assert seen_at_parse == [2, 3, 4, 5, 5]  # page k's parse starts once request k+1 is written
