"""OASProvider against the fake OAS server (tests/fakes/oas_server.py), without FUSE."""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storfs.config import parse
from storfs.entry import Entry
from storfs.errors import AccessDenied, BadResponse, ConfigError, NotFound, RemoteError
from storfs.providers import PROVIDERS
from storfs.providers.oas import OASProvider
from storfs.providers.oas.parse import parse_vaults
from storfs.transport import HttpSettings
from tests.fakes.oas_server import OASServer

KEY_ID = "EXAMPLEOASACCESSKEY01"
SECRET = "EXAMPLEoasSECRETkey0000000000001"
HTTP = HttpSettings(connect_timeout=2, read_timeout=5, retries=3, backoff=0.01, backoff_max=0.05)
NOW = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
CREATED = "Tue, 18 Mar 2014 22:06:47 GMT"
CREATED_TS = 1395180407.0
INVENTORY = "Tue, 18 Mar 2014 12:00:00 GMT"
INVENTORY_TS = 1395144000.0


@pytest.fixture
def server() -> Iterator[OASServer]:
    with OASServer(KEY_ID, SECRET, clock=lambda: NOW) as fake:
        yield fake


def make_provider(server: OASServer, **settings: Any) -> OASProvider:
    options = {"access_key_id": KEY_ID, "access_key_secret": SECRET, "endpoint": server.url, **settings}
    return OASProvider("main", options, HTTP, clock=lambda: NOW)


def list_all(provider: OASProvider) -> list[Entry]:
    key = provider.top_level()["vaults"]
    entries: list[Entry] = []
    cursor = None
    for _ in range(100):
        page = provider.list_page(key, cursor)
        entries += page.entries
        cursor = page.next_cursor
        if cursor is None:
            return entries
    raise AssertionError("listing did not end")


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    marker=st.text(st.sampled_from(" &=+%?#/~é") | st.characters(), min_size=1, max_size=40),
    page_size=st.integers(1, 10),
)
def test_any_page_request_is_signed_as_the_docs_read_the_uri(
    server: OASServer, marker: str, page_size: int
) -> None:
    """The fake checks the docs' rule (the URI as sent), storfs signs the SDK's (a sorted
    whitelist, raw values): every request storfs sends must satisfy both."""
    if not server.requests:
        server.add_vault("only", vault_id="F" * 32)
    provider = make_provider(server, page_size=page_size)
    try:
        page = provider.list_page(provider.top_level()["vaults"], marker)
    finally:
        provider.close()
    assert [entry.name for entry in page.entries] == (["only"] if marker <= "F" * 32 else [])


def attrs(entry: Entry) -> dict[str, str]:
    return dict(entry.xattrs())


def test_registered_and_top_level(server: OASServer) -> None:
    assert PROVIDERS["oas"] is OASProvider
    provider = make_provider(server)
    assert provider.top_level() == {"vaults": provider.key("vaults")}
    assert provider.key("vaults") == ("oas", "main", "vaults", ())


def test_95_vaults_in_10_pages(server: OASServer) -> None:
    expected = {}
    for i in range(95):
        vault_id = server.add_vault(
            f"vault-{i:03d}",
            number_of_archives=i,
            size_in_bytes=i * 1000 + 7,
            creation_date=CREATED,
            last_inventory_date=INVENTORY,
        )
        expected[f"vault-{i:03d}"] = (vault_id, i)
    entries = list_all(make_provider(server, page_size=10))

    assert server.count("list_vaults") == 10
    assert [r.status for r in server.requests] == [200] * 10
    assert len(entries) == 95
    assert {e.name for e in entries} == set(expected)
    for entry in entries:
        vault_id, i = expected[entry.name]
        assert entry.is_dir
        assert entry.size == i * 1000 + 7
        assert entry.mtime == INVENTORY_TS
        assert entry.ctime == CREATED_TS
        assert attrs(entry) == {
            "user.oas.creation_date": CREATED,
            "user.oas.last_inventory_date": INVENTORY,
            "user.oas.number_of_archives": str(i),
            "user.oas.size_in_bytes": str(i * 1000 + 7),
            "user.oas.vault_id": vault_id,
            "user.oas.vault_name": entry.name,
        }
    # Query written as limit then marker; the marker is the previous page's Marker.
    first, second = server.requests[0], server.requests[1]
    assert first.raw_path == "/vaults?limit=10"
    assert second.raw_path == f"/vaults?limit=10&marker={sorted(v for v, _ in expected.values())[10]}"
    assert first.headers["x-oas-version"] == "2014-01-01"
    assert first.headers["date"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert first.headers["authorization"].startswith(f"OAS {KEY_ID}:")


def test_page_size_is_clamped_to_10(server: OASServer) -> None:
    for i in range(25):
        server.add_vault(f"v{i}")
    provider = make_provider(server, page_size=50)
    assert provider.page_size == 10
    assert len(list_all(provider)) == 25
    assert [r.raw_path.split("&")[0] for r in server.requests] == ["/vaults?limit=10"] * 3


def test_small_page_size_and_empty_account(server: OASServer) -> None:
    provider = make_provider(server, page_size=3)
    assert list_all(provider) == []
    assert server.requests[0].raw_path == "/vaults?limit=3"


def test_wrong_secret_is_access_denied(server: OASServer) -> None:
    server.add_vault("v")
    provider = make_provider(server, access_key_secret="not-the-secret")
    with pytest.raises(AccessDenied) as caught:
        list_all(provider)
    assert caught.value.errno == errno.EACCES
    assert str(caught.value) == "HTTP 403 SignatureDoesNotMatch"
    assert "not-the-secret" not in str(caught.value)
    assert server.count() == 1  # 403 is not retried


def test_unknown_key_id_is_access_denied(server: OASServer) -> None:
    with pytest.raises(AccessDenied, match="HTTP 403 InvalidAccessKeyId"):
        list_all(make_provider(server, access_key_id="SOMEONEELSE"))


def test_clock_skew_is_access_denied(server: OASServer) -> None:
    provider = OASProvider(
        "main",
        {"access_key_id": KEY_ID, "access_key_secret": SECRET, "endpoint": server.url},
        HTTP,
        clock=lambda: NOW + 3600,
    )
    with pytest.raises(AccessDenied, match="RequestTimeTooSkewed"):
        list_all(provider)


def test_503_is_retried(server: OASServer) -> None:
    server.add_vault("v", size_in_bytes=5)
    server.fail_next(503, "ServiceUnavailable", times=2)
    entries = list_all(make_provider(server))
    assert [(e.name, e.size) for e in entries] == [("v", 5)]
    assert [r.status for r in server.requests] == [503, 503, 200]


def test_persistent_500_is_remote_error(server: OASServer) -> None:
    server.fail_next(500, "InternalError", times=10)
    with pytest.raises(RemoteError) as caught:
        list_all(make_provider(server))
    assert type(caught.value) is RemoteError
    assert caught.value.errno == errno.EIO
    assert str(caught.value) == "HTTP 500 InternalError"
    assert server.count() == 1 + HTTP.retries


def test_404_is_not_found(server: OASServer) -> None:
    server.fail_next(404, "ResourceNotFound")
    with pytest.raises(NotFound) as caught:
        list_all(make_provider(server))
    assert caught.value.errno == errno.ENOENT


def test_400_with_unparsable_error_body(server: OASServer) -> None:
    server.fail_next(400, body=b"<html>oops</html>")
    with pytest.raises(RemoteError, match=r"^HTTP 400 no error code$"):
        list_all(make_provider(server))


def test_error_code_that_is_not_a_code_is_not_echoed(server: OASServer) -> None:
    server.fail_next(403, body=json.dumps({"code": f"Bad {SECRET}", "message": SECRET}).encode())
    with pytest.raises(AccessDenied) as caught:
        list_all(make_provider(server))
    assert str(caught.value) == "HTTP 403 no error code"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "malformed JSON"),
        (b"\xff\xfe\x00garbage", "malformed JSON"),
        (b"[" * 100_000, "malformed JSON"),
        (b"[]", "an array instead of a JSON object"),
        (b'{"Marker": ""}', "no `VaultList`"),
        (b'{"Marker": "", "VaultList": {}}', "an object as `VaultList`"),
        (b'{"Marker": 5, "VaultList": []}', "a number as `Marker`"),
        (b'{"Marker": "", "VaultList": [3]}', r"a number as VaultList\[0\]"),
        (b'{"Marker": "", "VaultList": [{"VaultId": "X"}]}', r"no `VaultName` in VaultList\[0\]"),
        (b'{"Marker": "", "VaultList": [{"VaultName": 7}]}', "a number as `VaultName`"),
    ],
)
def test_malformed_body_is_bad_response(server: OASServer, body: bytes, message: str) -> None:
    server.fail_next(200, body=body)
    with pytest.raises(BadResponse, match=message) as caught:
        list_all(make_provider(server))
    assert caught.value.errno == errno.EIO


def test_trailing_space_date_parses(server: OASServer) -> None:
    server.add_vault("myvault2", creation_date=CREATED + " ", last_inventory_date=INVENTORY + " ")
    (entry,) = list_all(make_provider(server))
    assert entry.ctime == CREATED_TS
    assert entry.mtime == INVENTORY_TS
    assert entry.xattr("user.oas.creation_date") == CREATED
    assert entry.xattr("user.oas.last_inventory_date") == INVENTORY


def test_a_vault_never_inventoried_is_dated_by_its_creation(server: OASServer) -> None:
    server.add_vault("no-inventory", creation_date=CREATED, last_inventory_date=None)
    (missing,) = [e for e in list_all(make_provider(server)) if e.name == "no-inventory"]
    assert (missing.mtime, missing.ctime) == (CREATED_TS, CREATED_TS)
    assert missing.xattr("user.oas.last_inventory_date") is None


@pytest.mark.parametrize(
    ("created", "inventoried", "field"),
    [
        ("garbage", "yesterday-ish", "CreationDate"),
        (CREATED, "soon", "LastInventoryDate"),
        ("", None, "CreationDate"),
    ],
)
def test_a_date_that_is_not_a_time_refuses_the_page_not_a_made_up_1970(
    server: OASServer, created: str, inventoried: str | None, field: str
) -> None:
    server.add_vault("bad-date", creation_date=created, last_inventory_date=inventoried)
    with pytest.raises(BadResponse, match=f"`{field}` that is not a time"):
        list_all(make_provider(server))


def test_odd_values_keep_the_entry(server: OASServer) -> None:
    """Undocumented fields may hold anything; documented ones only their type, or null."""
    vault = {
        "CreationDate": None,
        "SizeInBytes": None,
        "NumberOfArchives": 1 + 10**30,
        "VaultId": "AB",
        "VaultName": "odd",
        "ExtraFlag": True,
        "Tags": {"a": [1, "b"]},
        "HTTPStatusText": " ok ",
        "a b": 1.5,
        "a_b": "x",
        "A-B": "y",
    }
    server.fail_next(200, body=json.dumps({"Marker": "", "VaultList": [vault]}).encode())
    (entry,) = list_all(make_provider(server))
    assert (entry.name, entry.size, entry.mtime_ns) == ("odd", 0, 0)
    assert attrs(entry) == {
        "user.oas.number_of_archives": str(1 + 10**30),
        "user.oas.vault_id": "AB",
        "user.oas.vault_name": "odd",
        "user.oas.extra_flag": "true",
        "user.oas.tags": '{"a":[1,"b"]}',
        "user.oas.http_status_text": "ok",
        "user.oas.a%20b": "1.5",
        "user.oas.a_b": "x",
        "user.oas.~A-B": "y",  # A-B reads as a_b, which the key before it took
    }


@pytest.mark.parametrize(
    ("field", "raw", "message"),
    [
        ("SizeInBytes", b'"42"', "a string as `SizeInBytes`"),
        ("SizeInBytes", b"1e3", "a number as `SizeInBytes`"),
        ("SizeInBytes", b"true", "a boolean as `SizeInBytes`"),
        ("NumberOfArchives", b"[1]", "an array as `NumberOfArchives`"),
        ("CreationDate", b"1395180407", "a number as `CreationDate`"),
        ("LastInventoryDate", b'{"a": 1}', "an object as `LastInventoryDate`"),
        ("VaultId", b"7", "a number as `VaultId`"),
    ],
)
def test_a_documented_field_of_another_type_is_malformed(
    server: OASServer, field: str, raw: bytes, message: str
) -> None:
    body = b'{"Marker": "", "VaultList": [{"VaultName": "v", "' + field.encode() + b'": ' + raw + b"}]}"
    server.fail_next(200, body=body)
    with pytest.raises(BadResponse, match=message):
        list_all(make_provider(server))


@pytest.mark.parametrize("marker", [b"", b'"Marker": null, ', b'"Marker": true, ', b'"Marker": ["x"], '])
def test_a_missing_or_odd_marker_is_malformed_not_the_end(server: OASServer, marker: bytes) -> None:
    server.fail_next(200, body=b"{" + marker + b'"VaultList": [{"VaultName": "v"}]}')
    with pytest.raises(BadResponse, match="`Marker`"):
        list_all(make_provider(server))


@pytest.mark.parametrize("raw", [b"42", b"9" * 18])
def test_sizes(server: OASServer, raw: bytes) -> None:
    body = b'{"Marker": "", "VaultList": [{"VaultName": "v", "SizeInBytes": ' + raw + b"}]}"
    server.fail_next(200, body=body)
    (entry,) = list_all(make_provider(server))
    assert entry.size == int(raw)
    assert entry.xattr("user.oas.size_in_bytes") == raw.decode()


@pytest.mark.parametrize("raw", [b"-1", b"1" * 5000, b"9" * 19])
def test_a_size_no_file_can_have_refuses_the_page_not_a_made_up_0(server: OASServer, raw: bytes) -> None:
    body = b'{"Marker": "", "VaultList": [{"VaultName": "v", "SizeInBytes": ' + raw + b"}]}"
    server.fail_next(200, body=body)
    with pytest.raises(BadResponse, match="`SizeInBytes` that is not a size"):
        list_all(make_provider(server))


def test_many_fields_are_linear() -> None:
    """20,000 distinct fields in each of 10 vaults took 51 s when de-duplication was quadratic."""
    import time

    fields = {f"Field{i}": i for i in range(20_000)}
    vaults = [{"VaultName": f"v{n}", "VaultId": f"{n:032X}", **fields} for n in range(10)]
    body = json.dumps({"Marker": "", "VaultList": vaults}).encode()
    started = time.process_time()
    page = parse_vaults(body)
    elapsed = time.process_time() - started
    assert len(page.entries) == 10 and len(page.entries[0].fields) == 2 * 20_002
    assert elapsed < 10, f"{elapsed:.1f} s of CPU for 200,000 fields"


def test_config_through_storfs_config() -> None:
    env = {"OAS_SECRET": SECRET}
    config = parse({"oas": {"prod": {"access_key_id": KEY_ID, "access_key_secret_env": "OAS_SECRET"}}}, env)
    (provider,) = config.providers()
    assert isinstance(provider, OASProvider)
    assert provider.root_url == "https://cn-hangzhou.oas.aliyuncs.com"
    assert provider.page_size == 10
    assert SECRET not in repr(provider._auth)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"access_key_secret": SECRET}, "access_key_id"),
        ({"access_key_id": KEY_ID}, "access_key_secret"),
        ({"access_key_id": KEY_ID, "access_key_secret": 5}, "access_key_secret"),
        ({"access_key_id": KEY_ID, "access_key_secret": SECRET, "endpoint": "oas.example"}, "endpoint"),
        ({"access_key_id": KEY_ID, "access_key_secret": SECRET, "endpoint": "http://h/x"}, "endpoint"),
    ],
)
def test_config_errors(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OASProvider("prod", settings, HTTP)


def test_endpoint_trailing_slash(server: OASServer) -> None:
    server.add_vault("v")
    assert [e.name for e in list_all(make_provider(server, endpoint=server.url + "/"))] == ["v"]
