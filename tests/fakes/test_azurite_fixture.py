"""Prove the Azurite fake and the counting proxy work (and work together)."""

from __future__ import annotations

import http.client
import time

import pytest
from azure.storage.blob import BlobServiceClient

from tests.fakes.azurite import AZURITE_ACCOUNT, AZURITE_KEY, Azurite, azurite_binary
from tests.fakes.counting_proxy import CountingProxy, op_name

NAMES = [f"cont-{i:02d}" for i in range(12)]
METADATA = {"cont-00": {"owner": "alice"}, "cont-03": {"k1": "v1", "k2": "v2"}}
PUBLIC = {"cont-05": "container"}


@pytest.fixture(scope="module")
def azurite():
    azurite_binary()  # a missing binary must FAIL (RuntimeError), never skip
    az = Azurite()
    try:
        az.start(timeout=60)
        az.create_containers(NAMES, metadata=METADATA, public_access=PUBLIC)
        yield az
    finally:
        az.stop()


@pytest.fixture
def proxy(azurite):
    with CountingProxy(f"http://127.0.0.1:{azurite.port}") as p:
        yield p


def _proxied_client(proxy: CountingProxy) -> BlobServiceClient:
    return BlobServiceClient(
        account_url=f"{proxy.url}/{AZURITE_ACCOUNT}",
        credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY},
        connection_timeout=10,
        read_timeout=30,
        retry_total=0,
    )


def test_azurite_started(azurite):
    assert azurite.endpoint == f"http://127.0.0.1:{azurite.port}/devstoreaccount1"
    assert f"BlobEndpoint={azurite.endpoint};" in azurite.connection_string
    assert sorted(azurite.list_container_names()) == NAMES


def test_create_containers_is_idempotent_and_sets_properties(azurite):
    azurite.create_containers(NAMES[:3], metadata=METADATA)  # already exist: no error
    with azurite.service_client() as svc:
        items = {c.name: c for c in svc.list_containers(include_metadata=True)}
    assert set(items) == set(NAMES)
    assert items["cont-00"].metadata == {"owner": "alice"}
    assert items["cont-03"].metadata == {"k1": "v1", "k2": "v2"}
    assert items["cont-05"].public_access == "container"
    assert items["cont-01"].public_access is None


def test_list_through_proxy_counts_pages(azurite, proxy):
    with _proxied_client(proxy) as svc:
        pages = [[c.name for c in page] for page in svc.list_containers(results_per_page=5).by_page()]
    assert [len(p) for p in pages] == [5, 5, 2]
    assert [n for p in pages for n in p] == sorted(azurite.list_container_names()) == NAMES
    assert proxy.count_op("list_containers") == 3
    assert len(proxy.requests) == 3
    assert all(r.status == 200 and r.forwarded for r in proxy.requests)
    assert proxy.count("GET", comp="list", maxresults=5) == 3
    assert proxy.count(method="GET", path="/nope") == 0
    proxy.reset()
    assert proxy.requests == [] and proxy.count_op("list_containers") == 0


def test_proxy_forwards_bodies_and_head(azurite, proxy):
    with _proxied_client(proxy) as svc:
        blob = svc.get_blob_client("cont-01", "dir/hello.txt")
        blob.upload_blob(b"hello world", overwrite=True)  # PUT with a signed body
        assert blob.get_blob_properties().size == 11  # HEAD: relayed Content-Length
        assert blob.download_blob().readall() == b"hello world"
        svc.get_container_client("cont-01").delete_blob("dir/hello.txt")
    ops = [(r.method, r.path, r.status) for r in proxy.requests]
    ops[2] = (*ops[2][:2], 200 if ops[2][2] == 206 else ops[2][2])  # ranged or not: both fine
    assert ops == [
        ("PUT", "/devstoreaccount1/cont-01/dir/hello.txt", 201),
        ("HEAD", "/devstoreaccount1/cont-01/dir/hello.txt", 200),
        ("GET", "/devstoreaccount1/cont-01/dir/hello.txt", 200),
        ("DELETE", "/devstoreaccount1/cont-01/dir/hello.txt", 202),
    ]


def test_fail_next_answers_without_forwarding(azurite, proxy):
    # Chain: client -> front -> proxy (counts what reaches upstream) -> Azurite.
    with CountingProxy(proxy.url) as front:
        front.fail_next(503, body=b"busy", headers={"Retry-After": "1", "X-Fake": "yes"})
        conn = http.client.HTTPConnection("127.0.0.1", front.port, timeout=10)
        try:
            conn.request("GET", "/devstoreaccount1?comp=list")
            resp = conn.getresponse()
            assert (resp.status, resp.read(), resp.getheader("X-Fake")) == (503, b"busy", "yes")
            # next request on the same keep-alive connection is forwarded (403: unsigned)
            conn.request("GET", "/devstoreaccount1?comp=list")
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 403
        finally:
            conn.close()
        assert [(r.status, r.forwarded) for r in front.requests] == [(503, False), (403, True)]
        assert front.count_op("list_containers") == 2
        assert proxy.count_op("list_containers") == 1  # the 503 never reached upstream


def test_sdk_retries_through_fail_next(azurite, proxy):
    proxy.fail_next(503, times=2)
    svc = BlobServiceClient(
        account_url=f"{proxy.url}/{AZURITE_ACCOUNT}",
        credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY},
        connection_timeout=10,
        read_timeout=30,
        retry_total=3,
        retry_backoff_factor=0.01,
        initial_backoff=0,
        increment_base=0,
    )
    with svc:
        names = [c.name for c in svc.list_containers()]
    assert names == NAMES
    assert [r.status for r in proxy.requests] == [503, 503, 200]
    assert proxy.count_op("list_containers") == 3


def test_op_name():
    assert op_name("GET", "/devstoreaccount1", [("comp", "list")]) == "list_containers"
    assert op_name("GET", "/devstoreaccount1/", [("comp", "list")]) == "list_containers"
    assert op_name("GET", "/", [("comp", "list"), ("maxresults", "5")]) == "list_containers"
    blobs = [("restype", "container"), ("comp", "list")]
    assert op_name("GET", "/devstoreaccount1/c1", blobs) == "list_blobs"
    assert op_name("GET", "/devstoreaccount1/c1/b", [("comp", "blocklist")]) == "get_block_list"
    assert op_name("GET", "/devstoreaccount1/c1/b", []) == "GET /devstoreaccount1/c1/b"
    assert op_name("PUT", "/a/b", []) == "PUT /a/b"


def test_delay_and_stop_idempotent(azurite):
    p = CountingProxy(f"http://127.0.0.1:{azurite.port}", delay=0.2).start()
    try:
        t0 = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
        conn.request("GET", "/")
        conn.getresponse().read()
        conn.close()
        assert time.monotonic() - t0 >= 0.2
    finally:
        p.stop()
        p.stop()


def test_delete_all_containers_on_separate_instance(tmp_path):
    with Azurite(tmp_path, in_memory=False).start(timeout=60) as az:
        az.create_containers(["aa1", "bb2", "cc3"])
        assert az.list_container_names() == ["aa1", "bb2", "cc3"]
        az.delete_all_containers()
        assert az.list_container_names() == []
    assert not az.running
    az.stop()  # idempotent


def test_missing_binary_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("STORFS_AZURITE_BIN", str(tmp_path / "nope"))
    with pytest.raises(RuntimeError, match="scripts/test"):
        azurite_binary()
    with pytest.raises(RuntimeError, match="scripts/test"):
        Azurite().start(timeout=5)


def test_fresh_accounts_of_one_process_see_only_their_own_containers(azurite_process):
    one, two = azurite_process.fresh_account(), azurite_process.fresh_account()
    assert one.account != two.account and one.port == two.port == azurite_process.port
    assert one.list_container_names() == two.list_container_names() == []
    one.create_containers(["mine"])
    two.upload_blobs("theirs", {"a/b": b"x"})
    assert (one.list_container_names(), two.list_container_names()) == (["mine"], ["theirs"])
    assert one.endpoint.endswith(f"/{one.account}") and f"AccountName={one.account};" in one.connection_string
    one.stop()  # a view never stops the process it shares
    assert azurite_process.running and two.list_blobs("theirs") == {"a/b": 1}
