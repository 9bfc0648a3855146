"""QingStorProvider against the fake QingStor server (tests/fakes/qingstor_server.py), without FUSE."""

from __future__ import annotations

import errno
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

import storfs.providers.base as provider_base
from storfs.config import parse as parse_config
from storfs.entry import Entry, Page
from storfs.errors import AccessDenied, BadResponse, ConfigError, NotFound, RemoteError, StorfsError
from storfs.providers import PROVIDERS
from storfs.providers.base import ListingKey
from storfs.providers.qingstor import QingStorProvider
from storfs.transport import HttpSettings
from tests.fakes.qingstor_server import QingStorServer

AK = "EXAMPLEAKID0000000001"
SK = "EXAMPLEsecretKEY0000000000000000000000001"
HTTP = HttpSettings(connect_timeout=2, read_timeout=5, retries=3, backoff=0.01, backoff_max=0.05)
ZONES = ("pek3a", "pek3b", "sh1a")


@pytest.fixture
def server() -> Iterator[QingStorServer]:
    with QingStorServer(AK, SK) as fake:
        yield fake


def make_provider(server: QingStorServer | None = None, **settings: Any) -> QingStorProvider:
    options: dict[str, Any] = {"access_key_id": AK, "secret_access_key": SK}
    if server is not None:
        options["endpoint"] = server.url
    return QingStorProvider("main", {**options, **settings}, HTTP)


def list_all(provider: QingStorProvider, key: ListingKey) -> list[Entry]:
    """Follow next_cursor to the end; any cursors a page reveals ahead must lie on that chain."""
    entries: list[Entry] = []
    chain: list[str] = []
    ahead: set[str] = set()
    cursor = None
    for _ in range(100):
        page = provider.list_page(key, cursor)
        entries += page.entries
        ahead.update(getattr(page, "lookahead", ()))
        cursor = page.next_cursor
        if cursor is None:
            assert ahead <= set(chain), (ahead, chain)
            return entries
        assert cursor not in chain, f"cursor {cursor!r} repeated"
        chain.append(cursor)
    raise AssertionError("listing did not end")


def assert_empty(page: Page) -> None:
    assert page.entries == [] and page.next_cursor is None


def buckets_key(provider: QingStorProvider) -> ListingKey:
    return provider.top_level()["buckets"]


def uploads_key(provider: QingStorProvider, bucket: str = "mybucket", location: str = "pek3a") -> ListingKey:
    return provider.key("uploads", bucket, location)


def parts_key(provider: QingStorProvider, key: str, upload_id: str, bucket: str = "mybucket") -> ListingKey:
    return provider.key("parts", bucket, "pek3a", key, upload_id)


def attrs(entry: Entry) -> dict[str, str]:
    return dict(entry.xattrs())


def query(server: QingStorServer, index: int) -> dict[str, str]:
    return dict(server.requests[index].query)


# --------------------------------------------------------------------------- registry and tree


def test_registered_top_level_and_children(server: QingStorServer) -> None:
    assert PROVIDERS["qingstor"] is QingStorProvider
    provider = make_provider(server)
    assert provider.top_level() == {"buckets": ("qingstor", "main", "buckets", ())}
    bucket = Entry("mybucket", is_dir=True, ref=("sh1a",))
    assert provider.children(buckets_key(provider), bucket) == {
        "objects": ("qingstor", "main", "objects", ("mybucket", "sh1a", "")),
        "uploads": ("qingstor", "main", "uploads", ("mybucket", "sh1a")),
    }
    upload = Entry("u1", is_dir=True, ref=("dir/k.bin",))
    assert provider.children(uploads_key(provider, "mybucket", "sh1a"), upload) == {
        "parts": ("qingstor", "main", "parts", ("mybucket", "sh1a", "dir/k.bin", "u1"))
    }
    assert provider.children(parts_key(provider, "k", "u1"), Entry("00001", is_dir=False)) == {}
    with pytest.raises(NotFound):
        provider.list_page(provider.key("vaults"), None)
    assert make_provider(server, page_size=5000).page_size == 1000
    assert make_provider(server).page_size == 1000


# --------------------------------------------------------------------------- buckets


@pytest.mark.parametrize("count_mode", ["page", "total"])
def test_450_buckets_in_3_requests(server: QingStorServer, count_mode: str) -> None:
    server.count_mode = count_mode
    expected = {}
    for i in range(450):
        name, zone = f"bucket-{i:03d}", ZONES[i % 3]
        server.add_bucket(name, location=zone, created="2015-07-11T04:45:57Z")
        expected[name] = zone
    provider = make_provider(server, page_size=200)
    entries = list_all(provider, buckets_key(provider))

    assert server.count() == server.count("list_buckets") == 3
    assert [(query(server, i)["limit"], query(server, i)["offset"]) for i in range(3)] == [
        ("200", "0"),
        ("200", "200"),
        ("200", "400"),
    ]
    assert [r.status for r in server.requests] == [200] * 3
    assert "location" not in server.requests[0].headers  # no zone: all zones
    assert "content-type" not in server.requests[0].headers
    assert len(entries) == 450
    assert {e.name: e.ref[0] for e in entries} == expected
    first = entries[0]
    assert first.is_dir and first.mtime == 1436589957.0
    assert attrs(first) == {
        "user.qingstor.name": "bucket-000",
        "user.qingstor.location": "pek3a",
        "user.qingstor.url": "https://bucket-000.pek3a.qingstor.com",
        "user.qingstor.created": "2015-07-11T04:45:57Z",
    }


@pytest.mark.parametrize("count_mode", ["page", "total"])
def test_exact_multiple_costs_one_empty_page(server: QingStorServer, count_mode: str) -> None:
    server.count_mode = count_mode
    for i in range(400):
        server.add_bucket(f"b{i:03d}")
    provider = make_provider(server, page_size=200)
    entries = list_all(provider, buckets_key(provider))
    assert len({e.name for e in entries}) == len(entries) == 400
    assert server.count("list_buckets") == 3
    assert query(server, 2)["offset"] == "400"
    assert_empty(provider.list_page(buckets_key(provider), "400"))


def test_empty_account_and_short_page(server: QingStorServer) -> None:
    provider = make_provider(server, page_size=200)
    assert_empty(provider.list_page(buckets_key(provider), None))
    server.add_bucket("only")
    page = provider.list_page(buckets_key(provider), None)
    assert [e.name for e in page.entries] == ["only"] and page.next_cursor is None


def test_zone_sends_location_header(server: QingStorServer) -> None:
    for i in range(30):
        server.add_bucket(f"b{i:02d}", location=ZONES[i % 3])
    provider = make_provider(server, zone="sh1a", page_size=4)
    entries = list_all(provider, buckets_key(provider))
    assert [e.name for e in entries] == [f"b{i:02d}" for i in range(2, 30, 3)]
    assert {e.ref for e in entries} == {("sh1a",)}
    assert server.count("list_buckets") == 3
    assert all(r.headers["location"] == "sh1a" for r in server.requests)
    assert all(r.raw_path == "/" for r in server.requests)  # GET Service, not a zone path


# --------------------------------------------------------------------------- uploads

DUP = "m/dup.bin"


def seed_uploads(server: QingStorServer) -> list[tuple[str, str]]:
    """25 uploads; DUP has 6 (created order differs from id order) around the first page boundary."""
    server.add_bucket("mybucket")
    expected = []
    for i in range(2):
        key = f"a/{i}.bin"
        expected.append((key, server.add_upload("mybucket", key)))
    dup_ids = ["f" * 32, "0" * 32, "9" * 32, "1" * 32, "e" * 32, "5" * 32]
    for n, upload_id in enumerate(dup_ids):
        # created: 6th, 5th, ... so the server orders them by creation time, reversed here
        server.add_upload("mybucket", DUP, upload_id, created=f"2016-12-25T16:02:{59 - n:02d}.000Z")
    expected += [(DUP, upload_id) for upload_id in reversed(dup_ids)]
    for i in range(17):
        key = f"z/{i:02d} file=50%ü.bin"
        expected.append((key, server.add_upload("mybucket", key)))
    assert len(expected) == 25
    return expected


def test_25_uploads_page_4_same_key_across_pages(server: QingStorServer) -> None:
    expected = seed_uploads(server)
    provider = make_provider(server, page_size=4)
    key = uploads_key(provider)
    entries = list_all(provider, key)

    assert [(e.ref[0], e.name) for e in entries] == expected
    assert len({e.name for e in entries}) == 25
    assert server.count("list_uploads") == 7  # 6 full pages + 1
    assert all(r.status == 200 and r.raw_path == "/mybucket" for r in server.requests)
    assert "key_marker" not in query(server, 0)
    # the first page ends in the middle of DUP's uploads: upload_id_marker resumes inside the key
    assert query(server, 1) == {
        "limit": "4",
        "key_marker": DUP,
        "upload_id_marker": expected[3][1],
        "uploads": "",
    }
    assert query(server, 2)["key_marker"] == DUP
    upload = entries[2]
    assert upload.is_dir and upload.mtime > 0
    assert attrs(upload) == {
        "user.qingstor.key": DUP,
        "user.qingstor.upload_id": expected[2][1],
        "user.qingstor.created": "2016-12-25T16:02:54.000Z",
    }
    assert provider.children(key, upload)["parts"].args == ("mybucket", "pek3a", DUP, expected[2][1])


def test_uploads_exact_multiple_and_empty_bucket(server: QingStorServer) -> None:
    server.add_bucket("mybucket")
    server.add_bucket("empty")
    for i in range(8):
        server.add_upload("mybucket", f"k{i}")
    provider = make_provider(server, page_size=4)
    assert len(list_all(provider, uploads_key(provider))) == 8
    assert server.count("list_uploads") == 2  # has_more is false on the second page
    assert_empty(provider.list_page(uploads_key(provider, "empty"), None))


def upload_body(has_more: Any, next_key: str | None, next_id: str = "") -> bytes:
    body: dict[str, Any] = {"name": "mybucket", "uploads": [{"key": "a", "upload_id": "u1"}]}
    if has_more is not ...:
        body["has_more"] = has_more
    if next_key is not None:
        body |= {"next_key_marker": next_key, "next_upload_id_marker": next_id}
    return json.dumps(body).encode()


def test_has_more_without_next_key_marker_is_bad_response(server: QingStorServer) -> None:
    server.add_bucket("mybucket")
    provider = make_provider(server)
    for next_key in ("", None):
        server.fail_next(200, body=upload_body(True, next_key))
        with pytest.raises(BadResponse) as info:
            provider.list_page(uploads_key(provider), None)
        assert info.value.errno == errno.EIO


def test_has_more_absent_follows_next_key_marker(server: QingStorServer) -> None:
    server.add_bucket("mybucket")
    uid = server.add_upload("mybucket", "b")
    provider = make_provider(server)
    server.fail_next(200, body=upload_body(..., "a", "u1"))
    page = provider.list_page(uploads_key(provider), None)
    assert page.next_cursor is not None
    page = provider.list_page(uploads_key(provider), page.next_cursor)
    assert [e.name for e in page.entries] == [uid] and page.next_cursor is None
    assert query(server, 1)["key_marker"] == "a" and query(server, 1)["upload_id_marker"] == "u1"
    server.fail_next(200, body=upload_body(..., ""))
    assert provider.list_page(uploads_key(provider), None).next_cursor is None
    server.fail_next(200, body=upload_body(False, "a", "u1"))  # has_more wins over a marker
    assert provider.list_page(uploads_key(provider), None).next_cursor is None


# --------------------------------------------------------------------------- parts

PART_SIZES = {0: 100, 1: 101, 2: 102, 5: 105, 7: 107, 8: 108, 12: 112}


def test_parts_with_gaps_from_zero_page_3(server: QingStorServer) -> None:
    server.add_bucket("mybucket")
    key = "dir/sub dir/ü file=50%.jpg"
    uid = server.add_upload("mybucket", key)
    for n in (12, 0, 7, 1, 5, 2, 8):
        server.add_part("mybucket", uid, n, PART_SIZES[n])
    provider = make_provider(server, page_size=3)
    entries = list_all(provider, parts_key(provider, key, uid))

    assert [(e.name, e.size) for e in entries] == [(f"{n:05d}", s) for n, s in sorted(PART_SIZES.items())]
    assert entries[0].name == "00000" and not entries[0].is_dir
    assert server.count("list_parts") == 3
    assert [query(server, i).get("part_number_marker") for i in range(3)] == [None, "2", "8"]
    assert all(query(server, i)["upload_id"] == uid and query(server, i)["limit"] == "3" for i in range(3))
    assert server.requests[0].raw_path == "/mybucket/dir/sub%20dir/%C3%BC%20file%3D50%25.jpg"
    fields = attrs(entries[-1])
    assert fields["user.qingstor.part_number"] == "12" and fields["user.qingstor.size"] == "112"
    assert len(fields["user.qingstor.etag"]) == 32 and entries[-1].mtime > 0


def test_parts_exact_multiple_and_dot_segments(server: QingStorServer) -> None:
    server.add_bucket("mybucket")
    key = "a/./b/../c"  # must reach the server as is, not normalised to a/c
    uid = server.add_upload("mybucket", key)
    for n in range(1, 7):
        server.add_part("mybucket", uid, n, n)
    provider = make_provider(server, page_size=3)
    entries = list_all(provider, parts_key(provider, key, uid))
    assert [e.name for e in entries] == [f"{n:05d}" for n in range(1, 7)]
    assert server.count("list_parts") == 3  # the third page is empty
    assert {r.raw_path for r in server.requests} == {"/mybucket/a/./b/../c"}


def test_unknown_upload_is_not_found(server: QingStorServer) -> None:
    server.add_bucket("mybucket")
    uid = server.add_upload("mybucket", "k1")
    provider = make_provider(server)
    for key, upload_id, bucket in [
        ("k1", "0" * 32, "mybucket"),
        ("k2", uid, "mybucket"),
        ("k1", uid, "nope"),
    ]:
        with pytest.raises(NotFound) as info:
            provider.list_page(parts_key(provider, key, upload_id, bucket), None)
        assert info.value.errno == errno.ENOENT
    with pytest.raises(NotFound):
        provider.list_page(uploads_key(provider, "nope"), None)
    # the error table's 400 for upload_not_exists means the same
    server.fail_next(400, code="upload_not_exists")
    with pytest.raises(NotFound):
        provider.list_page(parts_key(provider, "k1", uid), None)
    assert_empty(provider.list_page(parts_key(provider, "k1", uid), None))


# --------------------------------------------------------------------------- errors


def test_wrong_secret_is_access_denied_and_never_echoed(
    server: QingStorServer, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "WRONGsecretKEY00000000000000000000000009"
    provider = make_provider(server, secret_access_key=wrong)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AccessDenied) as info:
        provider.list_page(buckets_key(provider), None)
    assert info.value.errno == errno.EACCES
    assert server.requests[-1].error_code == "signature_not_matched"
    authorization = server.requests[-1].headers["authorization"]
    signature = authorization.split(":", 1)[1]
    for text in (str(info.value), repr(info.value), repr(info.value.args), caplog.text):
        for secret in (wrong, SK, authorization, signature):
            assert secret not in text
    assert SK not in repr(provider.__dict__)


def test_unknown_key_id_is_access_denied(server: QingStorServer) -> None:
    provider = make_provider(server, access_key_id="EXAMPLEAKID0000000002")
    with pytest.raises(AccessDenied):
        provider.list_page(buckets_key(provider), None)
    assert server.requests[-1].error_code == "invalid_access_key_id"


def test_server_message_with_secrets_is_not_kept(
    server: QingStorServer, caplog: pytest.LogCaptureFixture
) -> None:
    provider = make_provider(server)
    provider.list_page(buckets_key(provider), None)
    authorization = server.requests[-1].headers["authorization"]
    echo = {"code": "permission_denied", "message": f"{SK} {authorization}", "request_id": "r"}
    server.fail_next(403, body=json.dumps(echo).encode())
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AccessDenied) as info:
        provider.list_page(buckets_key(provider), None)
    assert info.value.errno == errno.EACCES
    assert "permission_denied" in str(info.value)
    for text in (str(info.value), caplog.text):
        assert SK not in text and authorization not in text and authorization.split(":")[1] not in text


def test_503_is_retried_then_ok(server: QingStorServer) -> None:
    server.add_bucket("mybucket")
    server.fail_next(503, code="service_unavailable", times=2)
    provider = make_provider(server)
    page = provider.list_page(buckets_key(provider), None)
    assert [e.name for e in page.entries] == ["mybucket"]
    assert [r.status for r in server.requests] == [503, 503, 200]


def test_persistent_500_is_remote_error(server: QingStorServer) -> None:
    server.fail_next(500, code="internal_error", times=10)
    provider = make_provider(server)
    with pytest.raises(RemoteError) as info:
        provider.list_page(buckets_key(provider), None)
    assert type(info.value) is RemoteError and info.value.errno == errno.EIO
    assert "internal_error" in str(info.value)
    assert server.count() == 4  # one try and HTTP.retries=3 retries


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (403, "permission_denied", AccessDenied),
        (400, "access_denied", AccessDenied),
        (403, "request_expired", AccessDenied),
        (402, "delinquent_account", AccessDenied),
        (403, "bucket_not_active", AccessDenied),
        (401, "", AccessDenied),
        (404, "bucket_not_exists", NotFound),
        (404, "object_not_exists", NotFound),
        (404, "", NotFound),
        (400, "invalid_argument", RemoteError),
        (405, "method_not_allowed", RemoteError),
    ],
)
def test_error_codes_map_to_errno(server: QingStorServer, status: int, code: str, expected: type) -> None:
    body = json.dumps({"code": code, "message": "m"}).encode() if code else b"<html>no json</html>"
    server.fail_next(status, body=body)
    provider = make_provider(server)
    with pytest.raises(StorfsError) as info:
        provider.list_page(buckets_key(provider), None)
    assert type(info.value) is expected
    assert info.value.errno == expected.errno_code
    assert str(status) in str(info.value)
    assert server.count() == 1  # 4xx is not retried


BAD_BODIES = [
    ("buckets", b"not json"),
    ("buckets", b"\xff\xfe{}"),
    ("buckets", b"[]"),
    ("buckets", b'[{"buckets": []}]'),
    ("buckets", b'"buckets"'),
    ("buckets", b'{"buckets": {"name": "b"}}'),
    ("buckets", b'{"buckets": "b"}'),
    ("buckets", b'{"buckets": ["b"]}'),
    ("buckets", b'{"buckets": [{"location": "pek3a"}]}'),
    ("buckets", b'{"buckets": [{"name": 7}]}'),
    ("uploads", b'{"uploads": {}}'),
    ("uploads", b'{"uploads": [{"key": "k"}]}'),
    ("parts", b'{"object_parts": [{"part_number": "1"}]}'),
    ("parts", b'{"object_parts": [{"part_number": -1}]}'),
    ("parts", b'{"object_parts": [{"part_number": true}]}'),
    ("parts", b"null"),
]


@pytest.mark.parametrize(("kind", "body"), BAD_BODIES)
def test_malformed_body_is_bad_response(server: QingStorServer, kind: str, body: bytes) -> None:
    provider = make_provider(server)
    key = {
        "buckets": buckets_key(provider),
        "uploads": uploads_key(provider),
        "parts": parts_key(provider, "k", "u"),
    }[kind]
    server.fail_next(200, body=body)
    with pytest.raises(BadResponse) as info:
        provider.list_page(key, None)
    assert info.value.errno == errno.EIO


def test_missing_lists_are_empty(server: QingStorServer) -> None:
    provider = make_provider(server)
    for key in (buckets_key(provider), uploads_key(provider), parts_key(provider, "k", "u")):
        server.fail_next(200, body=b"{}")
        assert_empty(provider.list_page(key, None))


def test_unreachable_server_is_remote_error(server: QingStorServer) -> None:
    url = server.url
    server.stop()
    provider = QingStorProvider(
        "main",
        {"access_key_id": AK, "secret_access_key": SK, "endpoint": url},
        HttpSettings(connect_timeout=0.5, read_timeout=0.5, retries=0),
    )
    with pytest.raises(RemoteError) as info:
        provider.list_page(buckets_key(provider), None)
    assert "cannot reach" in str(info.value)


# --------------------------------------------------------------------------- configuration


def write_yaml(path: Path, **values: Any) -> str:
    lines = [f"{name}: {json.dumps(value)}" for name, value in values.items()]
    path.write_text("# QingStor Services Configuration\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_official_config_file_works(server: QingStorServer, tmp_path: Path) -> None:
    server.add_bucket("mybucket")
    config = write_yaml(
        tmp_path / "config.yaml",
        access_key_id=AK,
        secret_access_key=SK,
        host="127.0.0.1",
        port=server.port,
        protocol="http",
        connection_retries=3,
        log_level="warn",
    )
    provider = QingStorProvider("main", {"config_file": config}, HTTP)
    assert provider.endpoint == server.url
    assert [e.name for e in provider.list_page(buckets_key(provider), None).entries] == ["mybucket"]


def test_table_keys_win_over_config_file(server: QingStorServer, tmp_path: Path) -> None:
    server.add_bucket("mybucket")
    config = write_yaml(
        tmp_path / "config.yaml",
        access_key_id="EXAMPLEAKID0000000002",
        secret_access_key="wrong",
        host="127.0.0.1",
        port=1,
        protocol="http",
    )
    settings = {"config_file": config, "access_key_id": AK, "secret_access_key": SK, "endpoint": server.url}
    provider = QingStorProvider("main", settings, HTTP)
    assert provider.endpoint == server.url
    assert [e.name for e in provider.list_page(buckets_key(provider), None).entries] == ["mybucket"]
    # Only the secret from the table: the rest still comes from the file.
    partial = QingStorProvider("main", {"config_file": config, "secret_access_key": SK}, HTTP)
    assert partial.endpoint == "http://127.0.0.1:1"
    assert partial._auth.access_key_id == "EXAMPLEAKID0000000002"


def test_config_file_through_toml_config(server: QingStorServer, tmp_path: Path) -> None:
    server.add_bucket("mybucket")
    config = write_yaml(
        tmp_path / "c.yaml", access_key_id=AK, host="127.0.0.1", port=server.port, protocol="http"
    )
    parsed = parse_config(
        {"qingstor": {"main": {"config_file": config, "secret_access_key_env": "QS_SECRET", "page_size": 5}}},
        env={"QS_SECRET": SK},
    )
    (account,) = parsed.accounts
    provider = QingStorProvider(account.account, account.settings, HTTP)
    assert provider.page_size == 5
    assert [e.name for e in provider.list_page(buckets_key(provider), None).entries] == ["mybucket"]


@pytest.mark.parametrize(
    ("values", "endpoint"),
    [
        ({"host": "qingstor.com", "port": 443, "protocol": "https"}, "https://qingstor.com"),
        ({"host": "pek3a.qingstor.com"}, "https://pek3a.qingstor.com"),
        ({"host": "example.com", "port": 80, "protocol": "http"}, "http://example.com"),
        ({"host": "example.com", "port": "8443", "protocol": "https"}, "https://example.com:8443"),
        ({"host": "example.com", "port": 443, "protocol": "http"}, "http://example.com:443"),
        ({}, "https://qingstor.com"),
    ],
)
def test_config_file_endpoint(tmp_path: Path, values: dict[str, Any], endpoint: str) -> None:
    config = write_yaml(tmp_path / "c.yaml", access_key_id=AK, secret_access_key=SK, **values)
    assert QingStorProvider("main", {"config_file": config}, HTTP).endpoint == endpoint


@pytest.mark.parametrize(
    "content",
    [
        None,
        "access_key_id: [unclosed\n",
        "- a\n- b\n",
        "access_key_id: 'A'\n",
        "",
        "host: ftp\nprotocol: ftp\n",
    ],
)
def test_bad_config_file_is_config_error(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "c.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        QingStorProvider("main", {"config_file": str(path)}, HTTP)
    assert "[qingstor.main]" in str(info.value)


def test_config_file_with_non_numeric_port_is_config_error(tmp_path: Path) -> None:
    config = write_yaml(tmp_path / "c.yaml", access_key_id=AK, secret_access_key=SK, host="h", port="https")
    with pytest.raises(ConfigError):
        QingStorProvider("main", {"config_file": config}, HTTP)


def test_missing_credentials_are_config_errors() -> None:
    for settings in (
        {},
        {"access_key_id": AK},
        {"secret_access_key": SK},
        {"access_key_id": "", "secret_access_key": SK},
    ):
        with pytest.raises(ConfigError, match=r"\[qingstor\.main\]: set `"):
            QingStorProvider("main", settings, HTTP)


class Captured:
    """Records what the provider would send, answering an empty JSON object."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.headers: list[dict[str, str]] = []

    def __call__(self, session: Any, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        self.urls.append(request.url or "")
        self.headers.append(dict(request.headers))
        return SimpleNamespace(content=b"{}", status_code=200)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Captured:
    capture = Captured()
    monkeypatch.setattr(provider_base, "send", capture)
    return capture


def test_zone_endpoint_template_routes_bucket_calls(captured: Captured) -> None:
    provider = make_provider(zone_endpoint="http://{zone}.invalid")
    assert provider.zone_url("pek3a") == "http://pek3a.invalid"
    assert (
        make_provider(zone_endpoint="https://s3.{zone}.example.com/").zone_url("gd2")
        == "https://s3.gd2.example.com"
    )
    provider.list_page(buckets_key(provider), None)
    provider.list_page(uploads_key(provider, "mybucket", "sh1a"), None)
    provider.list_page(provider.key("parts", "mybucket", "sh1a", "d/k 1", "u1"), None)
    assert captured.urls == [
        "https://qingstor.com/?limit=1000&offset=0",  # GET Service keeps the endpoint
        "http://sh1a.invalid/mybucket?limit=1000&uploads",
        "http://sh1a.invalid/mybucket/d/k%201?limit=1000&upload_id=u1",
    ]


def test_zone_endpoint_template_on_loopback(server: QingStorServer) -> None:
    # A bucket whose location is "localhost" lets the {zone} template reach the fake server.
    server.add_bucket("mybucket", location="localhost")
    uid = server.add_upload("mybucket", "k")
    server.add_part("mybucket", uid, 1, 10)
    provider = make_provider(server, zone_endpoint=f"http://{{zone}}:{server.port}")
    (bucket,) = list_all(provider, buckets_key(provider))
    uploads = provider.children(buckets_key(provider), bucket)["uploads"]
    (upload,) = list_all(provider, uploads)
    parts = provider.children(uploads, upload)["parts"]
    assert [(e.name, e.size) for e in list_all(provider, parts)] == [("00001", 10)]
    assert [r.op for r in server.requests] == ["list_buckets", "list_uploads", "list_parts"]


def test_default_endpoint_routes_bucket_calls_to_zone_hosts(captured: Captured) -> None:
    provider = make_provider()
    assert provider.endpoint == "https://qingstor.com"
    assert provider.zone_url("pek3a") == "https://pek3a.qingstor.com"
    assert provider.zone_url("") == "https://qingstor.com"
    provider.list_page(buckets_key(provider), None)
    provider.list_page(uploads_key(provider, "mybucket", "sh1a"), json.dumps(["a b", "u0"]))
    provider.list_page(provider.key("parts", "mybucket", "ap3", "k", "u1"), "4")
    assert captured.urls == [
        "https://qingstor.com/?limit=1000&offset=0",
        "https://sh1a.qingstor.com/mybucket?limit=1000&key_marker=a%20b&upload_id_marker=u0&uploads",
        "https://ap3.qingstor.com/mybucket/k?limit=1000&part_number_marker=4&upload_id=u1",
    ]
    assert all(h["Authorization"].startswith(f"QS {AK}:") for h in captured.headers)
    assert make_provider(endpoint="https://qingstor.com/").zone_url("sh1a") == "https://sh1a.qingstor.com"


def test_custom_endpoint_without_template_serves_every_zone(captured: Captured) -> None:
    provider = make_provider(endpoint="http://127.0.0.1:9/")
    assert provider.endpoint == "http://127.0.0.1:9"
    assert provider.zone_url("pek3a") == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:1/path",
        "https://qingstor.com/pek3a/",
        "https://qingstor.com/?zone=pek3a",
        "ftp://qingstor.com",
        "qingstor.com",
        "http://",
    ],
)
def test_bad_endpoint_is_config_error(endpoint: str) -> None:
    with pytest.raises(ConfigError, match="endpoint"):
        make_provider(endpoint=endpoint)


def test_zone_endpoint_without_placeholder_is_config_error() -> None:
    with pytest.raises(ConfigError, match="zone_endpoint"):
        make_provider(zone_endpoint="http://127.0.0.1:8080")


@pytest.mark.parametrize(
    "zone_endpoint",
    [
        "http://{zone}.example.com/base",
        "https://{zone}.{domain}",
        "{zone}.example.com",
        "ftp://{zone}.example.com",
    ],
)
def test_bad_zone_endpoint_is_config_error(zone_endpoint: str) -> None:
    with pytest.raises(ConfigError, match="zone_endpoint"):
        make_provider(zone_endpoint=zone_endpoint)


def test_zone_endpoint_with_unknown_field_never_escapes_as_non_storfs_error(captured: Captured) -> None:
    try:
        provider = make_provider(zone_endpoint="https://{zone}.{domain}")
    except ConfigError:
        return  # refusing it up front is fine too
    with pytest.raises(StorfsError):
        provider.list_page(uploads_key(provider), None)


def test_a_location_that_is_not_a_zone_id_never_becomes_a_host(server: QingStorServer) -> None:
    server.add_bucket("mybucket", location="evil.example/x")
    provider = make_provider(server, zone_endpoint="http://{zone}.invalid")
    (bucket,) = list_all(provider, buckets_key(provider))
    uploads = provider.children(buckets_key(provider), bucket)["uploads"]
    with pytest.raises(BadResponse, match="location"):
        provider.list_page(uploads, None)
    assert [r.op for r in server.requests] == ["list_buckets"]
