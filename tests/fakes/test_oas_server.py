"""Tests for the fake OAS ListVaults server (tests/fakes/oas_server.py).

Requests are built by hand with http.client and signed by a tiny helper written from the
formula in providers.md 2.3, independently of the server's own code.
"""

from __future__ import annotations

import ast
import base64
import email.utils
import hashlib
import hmac
import http.client
import json
import urllib.parse
from pathlib import Path

import pytest

from tests.fakes import oas_server
from tests.fakes.oas_server import OASServer

KEY_ID = "EXAMPLEOASACCESSKEY01"
SECRET = "EXAMPLEoasSECRETkey0000000000001"
VECTOR_DATE = "Tue, 25 Mar 2014 12:00:00 GMT"
VECTOR_TS = email.utils.parsedate_to_datetime(VECTOR_DATE).timestamp()

# providers.md 2.4
O4_AUTH = "OAS EXAMPLEOASACCESSKEY01:dXo/Bz6kEGvmY5g8eRFbtIr+3xE="
O5_AUTH = "OAS EXAMPLEOASACCESSKEY01:uS+UgUl8aYAsaQDkvy5JMySIytQ="

# seed 001 vaults
SEED_IDS = [
    "79D2D8F33B7C287037286185863B6823",
    "ADD2D8F33B7C287037286185863B68D3",
    "FDD2D8F33B7C287037286185863B68D3",
]


def sign(secret: str, verb: str, date: str, oas_headers: dict[str, str], resource: str) -> str:
    """Doc formula: Base64(HMAC-SHA1(secret, VERB\\nDate\\nCanonicalizedOASHeaders + Resource))."""
    canon = "".join(f"{k.lower()}:{v}\n" for k, v in sorted(oas_headers.items()))
    sts = f"{verb}\n{date}\n{canon}{resource}"
    return base64.b64encode(hmac.new(secret.encode(), sts.encode(), hashlib.sha1).digest()).decode()


def call(
    server: OASServer,
    method: str,
    target: str,
    *,
    resource: str | None = None,
    date: str | None = VECTOR_DATE,
    version: str | None = "2014-01-01",
    auth: str | None = None,
    key_id: str = KEY_ID,
    secret: str = SECRET,
    body: bytes | None = None,
) -> tuple[int, http.client.HTTPResponse, bytes]:
    """Send one request; sign it over ``resource`` (default: the target) unless ``auth`` given."""
    headers: dict[str, str] = {}
    if date is not None:
        headers["Date"] = date
    oas = {} if version is None else {"x-oas-version": version}
    headers.update(oas)
    if auth is None:
        res = target if resource is None else resource
        auth = f"OAS {key_id}:{sign(secret, method, date or '', oas, res)}"
    headers["Authorization"] = auth
    if body is not None:
        headers["Content-Length"] = str(len(body))
    host = urllib.parse.urlsplit(server.url).netloc
    conn = http.client.HTTPConnection(host, timeout=5)
    try:
        conn.request(method, target, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp, data
    finally:
        conn.close()


@pytest.fixture
def server():
    srv = OASServer(clock=lambda: VECTOR_TS).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def seeded(server):
    server.add_vault("myvault1", vault_id=SEED_IDS[0], number_of_archives=2, size_in_bytes=12334)
    # inserted out of order on purpose: listing must sort by VaultId
    server.add_vault("myvault3", vault_id=SEED_IDS[2], creation_date="Tue, 18 Mar 2014 22:06:47 GMT ")
    server.add_vault("myvault2", vault_id=SEED_IDS[1])
    return server


def test_helper_reproduces_vectors():
    oas = {"x-oas-version": "2014-01-01"}
    assert f"OAS {KEY_ID}:{sign(SECRET, 'GET', VECTOR_DATE, oas, '/vaults')}" == O4_AUTH
    res = f"/vaults?limit=2&marker={SEED_IDS[2]}"
    assert f"OAS {KEY_ID}:{sign(SECRET, 'GET', VECTOR_DATE, oas, res)}" == O5_AUTH


def test_vector_o4_accepted_and_seed_listing(seeded):
    status, resp, data = call(seeded, "GET", "/vaults", auth=O4_AUTH)
    assert status == 200, data
    assert resp.getheader("Content-Type") == "application/json"
    assert resp.getheader("x-oas-request-id")
    assert resp.getheader("Date") == VECTOR_DATE
    doc = json.loads(data)
    assert doc["Marker"] == ""
    assert [v["VaultId"] for v in doc["VaultList"]] == SEED_IDS
    assert doc["VaultList"][0] == {
        "CreationDate": "Tue, 18 Mar 2014 22:06:47 GMT",
        "LastInventoryDate": "Tue, 18 Mar 2014 12:00:00 GMT",
        "NumberOfArchives": 2,
        "SizeInBytes": 12334,
        "VaultId": SEED_IDS[0],
        "VaultName": "myvault1",
    }
    assert doc["VaultList"][2]["CreationDate"] == "Tue, 18 Mar 2014 22:06:47 GMT "
    assert seeded.count("list_vaults") == 1


def test_vector_o5_accepted_marker_inclusive(seeded):
    status, _, data = call(seeded, "GET", f"/vaults?limit=2&marker={SEED_IDS[2]}", auth=O5_AUTH)
    assert status == 200, data
    doc = json.loads(data)
    assert doc["Marker"] == ""
    assert [v["VaultName"] for v in doc["VaultList"]] == ["myvault3"]


def test_seed_limit_2_marker_is_first_id_of_next_page(seeded):
    status, _, data = call(seeded, "GET", "/vaults?limit=2")
    assert status == 200, data
    doc = json.loads(data)
    assert doc["Marker"] == SEED_IDS[2]
    assert [v["VaultId"] for v in doc["VaultList"]] == SEED_IDS[:2]


def test_the_resource_is_the_uri_as_sent_so_wire_order_matters(seeded):
    # The docs sign the URI asked for. The official SDK (vector O-3) sends `marker` first and
    # signs `limit` first; this fake, written from the docs, refuses that: a client passes only
    # by signing exactly what it sends, where the docs' and the SDK's rules agree.
    status, _, data = call(seeded, "GET", f"/vaults?marker={SEED_IDS[2]}&limit=2", auth=O5_AUTH)
    assert status == 403 and json.loads(data)["code"] == "SignatureDoesNotMatch"
    status, _, data = call(seeded, "GET", f"/vaults?marker={SEED_IDS[2]}&limit=2")
    assert status == 200, data


def test_every_query_parameter_is_signed_and_percent_decoded(seeded):
    target = "/vaults?limit=2&x-extra=a%20b"
    status, _, _ = call(seeded, "GET", target, resource="/vaults?limit=2")
    assert status == 403
    status, _, data = call(seeded, "GET", target, resource="/vaults?limit=2&x-extra=a b")
    assert status == 200, data
    assert [v["VaultId"] for v in json.loads(data)["VaultList"]] == SEED_IDS[:2]


def test_the_fake_takes_nothing_from_storfs():
    tree = ast.parse(Path(oas_server.__file__).read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name.split(".")[0] == "storfs" for name in modules), modules


@pytest.mark.parametrize("which", ["O4", "O5"])
def test_one_character_change_in_signature_rejected(seeded, which):
    auth = O4_AUTH if which == "O4" else O5_AUTH
    target = "/vaults" if which == "O4" else f"/vaults?limit=2&marker={SEED_IDS[2]}"
    sig = auth[-28:]
    tampered = auth[:-28] + ("A" if sig[0] != "A" else "B") + sig[1:]
    assert tampered != auth and len(tampered) == len(auth)
    status, resp, data = call(seeded, "GET", target, auth=tampered)
    assert status == 403
    assert resp.getheader("x-oas-request-id")
    assert json.loads(data) == {
        "code": "SignatureDoesNotMatch",
        "message": "signature does not match",
        "type": "client",
    }
    assert seeded.requests[-1].status == 403
    assert seeded.requests[-1].error_code == "SignatureDoesNotMatch"


def test_unsigned_limit_rejected(seeded):
    # signing only the path when limit is present must fail: limit is a signed parameter
    status, _, data = call(seeded, "GET", "/vaults?limit=2", resource="/vaults")
    assert status == 403
    assert json.loads(data)["code"] == "SignatureDoesNotMatch"


def test_unknown_key_and_wrong_secret(server):
    status, _, data = call(server, "GET", "/vaults", key_id="OTHERKEY")
    assert status == 403 and json.loads(data)["code"] == "InvalidAccessKeyId"
    status, _, data = call(server, "GET", "/vaults", secret="wrong-secret")
    assert status == 403 and json.loads(data)["code"] == "SignatureDoesNotMatch"
    status, _, data = call(server, "GET", "/vaults", auth="")
    assert status == 403 and json.loads(data)["code"] == "SignatureDoesNotMatch"


def _list_all(server: OASServer, limit: int) -> list[dict]:
    pages = []
    marker = ""
    for _ in range(10):
        target = f"/vaults?limit={limit}" + (f"&marker={marker}" if marker else "")
        status, _, data = call(server, "GET", target)
        assert status == 200, data
        doc = json.loads(data)
        pages.append(doc)
        marker = doc["Marker"]
        if not marker:
            return pages
    raise AssertionError("paging did not terminate")


def test_paging_25_vaults(server):
    ids = [server.add_vault(f"v{i:02d}") for i in range(25)]
    assert len(set(ids)) == 25
    assert all(len(i) == 32 and i == i.upper() and int(i, 16) >= 0 for i in ids)
    pages = _list_all(server, 10)
    assert [len(p["VaultList"]) for p in pages] == [10, 10, 5]
    got = [v["VaultId"] for p in pages for v in p["VaultList"]]
    assert got == sorted(ids)
    # Marker is the VaultId of the first vault of the next page, "" at the end
    assert pages[0]["Marker"] == pages[1]["VaultList"][0]["VaultId"]
    assert pages[1]["Marker"] == pages[2]["VaultList"][0]["VaultId"]
    assert pages[2]["Marker"] == ""
    assert server.count("list_vaults") == 3


def test_limit_above_10_and_default(server):
    for i in range(25):
        server.add_vault(f"v{i:02d}")
    status, _, data = call(server, "GET", "/vaults?limit=50")
    assert status == 200, data
    assert len(json.loads(data)["VaultList"]) == 10
    status, _, data = call(server, "GET", "/vaults")
    assert status == 200 and len(json.loads(data)["VaultList"]) == 10


@pytest.mark.parametrize("value", ["0", "-1", "abc", ""])
def test_bad_limit_is_400(server, value):
    # signed as sent, `limit=` included (the SDK would sign an empty value as the bare name)
    status, _, data = call(server, "GET", f"/vaults?limit={value}")
    assert status == 400
    assert json.loads(data)["code"] == "InvalidArgument"
    assert json.loads(data)["type"] == "client"


def test_unknown_marker_starts_at_next_id(seeded):
    status, _, data = call(seeded, "GET", "/vaults?marker=AAAA")
    assert status == 200
    assert [v["VaultId"] for v in json.loads(data)["VaultList"]] == SEED_IDS[1:]


def test_missing_or_wrong_version_is_400(server):
    status, _, data = call(server, "GET", "/vaults", version=None)
    assert status == 400 and json.loads(data)["code"] == "InvalidArgument"
    status, _, data = call(server, "GET", "/vaults", version="0.2.5")
    assert status == 400 and json.loads(data)["code"] == "InvalidArgument"


def test_date_skew(server):
    stale = email.utils.formatdate(VECTOR_TS - 16 * 60, usegmt=True)
    status, _, data = call(server, "GET", "/vaults", date=stale)
    assert status == 403 and json.loads(data)["code"] == "RequestTimeTooSkewed"
    future = email.utils.formatdate(VECTOR_TS + 16 * 60, usegmt=True)
    assert call(server, "GET", "/vaults", date=future)[0] == 403
    near = email.utils.formatdate(VECTOR_TS - 14 * 60, usegmt=True)
    assert call(server, "GET", "/vaults", date=near)[0] == 200
    assert call(server, "GET", "/vaults", date="yesterday")[0] == 403
    assert call(server, "GET", "/vaults", date=None)[0] == 403


def test_fail_next(seeded):
    seeded.fail_next(503, "ServiceUnavailable", times=2)
    for _ in range(2):
        status, resp, data = call(seeded, "GET", "/vaults")
        assert status == 503
        assert resp.getheader("Content-Type") == "application/json"
        assert resp.getheader("x-oas-request-id")
        assert json.loads(data)["code"] == "ServiceUnavailable"
        assert json.loads(data)["type"] == "server"
    assert call(seeded, "GET", "/vaults")[0] == 200
    seeded.fail_next(500, body=b"not json")
    status, _, data = call(seeded, "GET", "/vaults")
    assert (status, data) == (500, b"not json")
    assert [r.status for r in seeded.requests] == [503, 503, 200, 500]
    assert seeded.requests[-1].error_code == "InternalError"


def test_post_is_405_and_recorded(server):
    status, _, data = call(server, "POST", "/vaults", body=b"{}")
    assert status == 405
    assert json.loads(data)["type"] == "client"
    assert server.count() == 1 and server.count("list_vaults") == 0
    rec = server.requests[0]
    assert (rec.method, rec.op, rec.status, rec.path) == ("POST", "other", 405, "/vaults")
    assert rec.headers["x-oas-version"] == "2014-01-01"


def test_unknown_path_404_and_log_fields(server):
    server.add_vault("a", last_inventory_date=None)
    status, _, data = call(server, "GET", "/nope")
    assert status == 404 and json.loads(data)["code"] == "ResourceNotFound"
    status, _, data = call(server, "GET", "/vaults?limit=5&foo=bar")
    assert status == 200, data
    assert "LastInventoryDate" not in json.loads(data)["VaultList"][0]
    rec = server.requests[-1]
    assert rec.raw_path == "/vaults?limit=5&foo=bar"
    assert rec.query == [("limit", "5"), ("foo", "bar")]
    assert rec.op == "list_vaults" and rec.error_code is None
    server.reset_log()
    assert server.count() == 0


def test_head_has_no_body(seeded):
    status, resp, data = call(seeded, "HEAD", "/vaults")
    assert status == 200 and data == b""
    assert int(resp.getheader("Content-Length")) > 0
