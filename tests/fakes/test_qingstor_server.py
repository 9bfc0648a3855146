"""Tests for the fake QingStor listing server (tests/fakes/qingstor_server.py).

The client is the OFFICIAL `qingstor-sdk` 2.6.0 wherever it can express the request; hand-built
requests use `requests` (or `http.client` where the exact bytes of the path matter), signed by
`qs_sign` below, a few lines written from providers.md 1.2 independently of the server and
pinned to the documented vectors of providers.md 1.3.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import http.client
import json
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from qingstor.sdk.config import Config
from qingstor.sdk.service.qingstor import QingStor
from requests.adapters import HTTPAdapter

from tests.fakes.qingstor_server import QingStorServer

AK = "EXAMPLEAKID0000000001"
SK = "EXAMPLEsecretKEY0000000000000000000000001"
ERROR_URL = "https://docs.qingcloud.com/object_storage/api/error_code.html"
DATE_0905 = "Sun, 16 Aug 2015 09:05:00 GMT"
DATE_1325 = "Sun, 16 Aug 2015 13:25:10 GMT"
TS_0905 = 1439715900.0  # DATE_0905 as a Unix timestamp
TS_1325 = TS_0905 + 4 * 3600 + 20 * 60 + 10
UPLOAD_ID = "4d26b37a469230619604ecdc0e314782"  # the doc's example upload id
SUB_RESOURCES = {"acl", "cname", "part_number", "upload_id", "uploads"}  # those used here


def qs_sign(secret, verb, target, date="", content_type="", xqs=None, content_md5=""):
    """QS signature of a request (providers.md 1.2), path style."""
    path, _, query = target.partition("?")
    subs = sorted(p.rstrip("=") for p in query.split("&") if p.split("=")[0] in SUB_RESOURCES)
    headers = "".join(f"{k.lower()}:{v.strip()}\n" for k, v in sorted((xqs or {}).items()))
    resource = (path or "/") + ("?" + "&".join(subs) if subs else "")
    sts = f"{verb}\n{content_md5}\n{content_type}\n{date}\n{headers}{resource}"
    mac = hmac.new(secret.encode(), sts.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def now_date(offset: float = 0.0) -> str:
    return email.utils.formatdate(time.time() + offset, usegmt=True)


def signed_get(server, target, *, date=None, secret=SK, akid=AK, method="GET", headers=None):
    """Signed request built by hand with `requests` (no Content-Type, like storfs)."""
    date = now_date() if date is None else date
    hdrs = {"Date": date, **(headers or {})}
    xqs = {k: v for k, v in hdrs.items() if k.lower().startswith("x-qs-")}
    sts_date = "" if any(k.lower() == "x-qs-date" for k in xqs) else date
    sig = qs_sign(secret, method, target, sts_date, hdrs.get("Content-Type", ""), xqs)
    hdrs["Authorization"] = f"QS {akid}:{sig}"
    return requests.request(method, server.url + target, headers=hdrs, timeout=5)


def raw_get(server, target, headers):
    """GET with the request-target sent byte for byte (requests/urllib3 would normalise it)."""
    conn = http.client.HTTPConnection("127.0.0.1", urlsplit(server.url).port, timeout=5)
    try:
        conn.request("GET", target, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def assert_error(resp, status, code):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == code
    assert body["url"] == ERROR_URL
    assert body["request_id"] == resp.headers["x-qs-request-id"]
    assert body["message"]


@pytest.fixture
def server():
    srv = QingStorServer().start()
    try:
        yield srv
    finally:
        srv.stop()


def make_server(**kwargs):
    return QingStorServer(**kwargs).start()


class _ZoneHostToLoopback(HTTPAdapter):
    """Points the SDK at the local server.

    Config host/port/protocol = 127.0.0.1/<port>/http is enough for ListBuckets (SDK 2.6.0
    sends it to the bare host), but bucket calls get the zone prepended
    (`build.py parse_request_host`: `<zone>.127.0.0.1:<port>`), which does not resolve. This
    adapter, mounted on the SDK's own `requests` session, rewrites only the URL authority just
    before sending. The QS signature covers neither Host nor the authority, so signing is
    untouched, and the `Host: pek3a.127.0.0.1:<port>` header still goes out as in production.
    max_retries=0 replaces the SDK's urllib3 retries (backoff 1 s) to keep tests fast.
    """

    def __init__(self, netloc: str):
        super().__init__(max_retries=0)
        self.netloc = netloc

    def send(self, request, **kwargs):
        request.url = urlunsplit(urlsplit(request.url)._replace(netloc=self.netloc))
        return super().send(request, **kwargs)


def make_sdk(server, akid=AK, secret=SK):
    cfg = Config(akid, secret)
    cfg.host, cfg.port, cfg.protocol = "127.0.0.1", urlsplit(server.url).port, "http"
    cfg.timeout = 5
    qs = QingStor(cfg)
    qs.client.mount("http://", _ZoneHostToLoopback(f"127.0.0.1:{cfg.port}"))
    return qs


# --------------------------------------------------------------------------- signing vectors


def seed_doc_example(srv):
    srv.add_bucket("mybucket")
    srv.add_upload("mybucket", "photos/a.jpg")
    srv.add_upload("mybucket", "large-object", upload_id=UPLOAD_ID)
    for n, size in ((1, 10485760), (2, 10485760), (3, 61440)):
        srv.add_part("mybucket", UPLOAD_ID, n, size)


# (id, target, headers, documented Authorization, server clock, expected op)
QS_VECTORS = [
    (
        "QS-M1",
        "/?limit=200&offset=0",
        {"Date": DATE_0905},
        "QS EXAMPLEAKID0000000001:FPjU0EUcD8xjdAR4euKzL4nocqC154OW7SzOZkkH+7s=",
        TS_0905,
        "list_buckets",
    ),
    (
        "QS-M2",
        "/mybucket?key_marker=a/b.bin&limit=100&upload_id_marker=x&uploads",
        {"Date": DATE_0905},
        "QS EXAMPLEAKID0000000001:03Ra66uwWnBKPzn/gg8OTvT2o4NqjfpMkrzgMTfq8V8=",
        TS_0905,
        "list_uploads",
    ),
    (
        "QS-M3",
        f"/mybucket/large-object?limit=2&part_number_marker=1&upload_id={UPLOAD_ID}",
        {"Date": DATE_1325},
        "QS EXAMPLEAKID0000000001:OY+1Yo04d2Dii9swS5r3n0iPdSc4WTbjSvzRyzPwjGk=",
        TS_1325,
        "list_parts",
    ),
    (
        "QS-M4",
        "/",
        {"x-qs-date": DATE_0905},
        "QS EXAMPLEAKID0000000001:rtV0edLNMbbjq+2qmOhOwrw+DxrspxOof12+t2VlSuc=",
        TS_0905,
        "list_buckets",
    ),
    (
        "QS-P1",
        "/?limit=10&offset=20",
        {"Date": DATE_0905, "Content-Type": "application/octet-stream", "Location": "pek3a"},
        "QS EXAMPLEAKID0000000001:qHQIHLgcFtWeEqiLBSi9Pxcuv7Pmun8L+1FhXB/CKDw=",
        TS_0905,
        "list_buckets",
    ),
    (
        "QS-P2",
        "/mybucket?limit=100&prefix=photos/&uploads",
        {"Date": DATE_0905, "Content-Type": "application/octet-stream"},
        "QS EXAMPLEAKID0000000001:mS+xBwzpJ5GsSTl2t9iKWPhHeeAcxP8J+6ywPpwQtMo=",
        TS_0905,
        "list_uploads",
    ),
    (
        "QS-P4",
        f"/mybucket/large-object?limit=2&part_number_marker=1&upload_id={UPLOAD_ID}",
        {"Date": DATE_1325, "Content-Type": "application/octet-stream"},
        "QS EXAMPLEAKID0000000001:ucbkniMJwluNNa8JtEG0kDIF+q9UadK0KvOT4cQk0xs=",
        TS_1325,
        "list_parts",
    ),
    (
        "QS-P6",
        "/",
        {"Date": DATE_0905, "x-qs-date": DATE_0905, "Content-Type": "application/octet-stream"},
        "QS EXAMPLEAKID0000000001:jvw28vXRZqHTyeDWD9uBCQOQKsxP4kD8zRXT4eKGW0k=",
        TS_0905,
        "list_buckets",
    ),
]


@pytest.mark.parametrize("vid,target,headers,auth,clock,op", QS_VECTORS, ids=[v[0] for v in QS_VECTORS])
def test_server_accepts_documented_vectors(vid, target, headers, auth, clock, op):
    # The test signer must reproduce the documented value, or the other tests prove nothing.
    xqs = {k: v for k, v in headers.items() if k.startswith("x-qs-")}
    date = "" if xqs else headers["Date"]
    assert f"QS {AK}:" + qs_sign(SK, "GET", target, date, headers.get("Content-Type", ""), xqs) == (auth), vid
    srv = make_server(clock=lambda: clock + 60)
    try:
        seed_doc_example(srv)
        resp = requests.get(srv.url + target, headers={**headers, "Authorization": auth}, timeout=5)
        assert resp.status_code == 200, (vid, resp.text)
        assert srv.requests[-1].op == op
        if vid in ("QS-M3", "QS-P4"):
            assert [p["part_number"] for p in resp.json()["object_parts"]] == [2, 3]
        # The same request with one signature byte changed is refused...
        bad = auth[:-2] + ("A" if auth[-2] != "A" else "B") + auth[-1]
        resp = requests.get(srv.url + target, headers={**headers, "Authorization": bad}, timeout=5)
        assert_error(resp, 401, "signature_not_matched")
    finally:
        srv.stop()
    # ...and the untouched request is stale for a server on the real clock.
    with QingStorServer() as srv:
        seed_doc_example(srv)
        resp = requests.get(srv.url + target, headers={**headers, "Authorization": auth}, timeout=5)
        assert_error(resp, 403, "request_expired")


def test_go_sdk_vector_unicode_path_year_one():
    # Go v4 signer vector: GET /bucket-name/中文, Date "Mon, 01 Jan 0001 00:00:00 GMT".
    target = "/bucket-name/%E4%B8%AD%E6%96%87"
    headers = {
        "Date": "Mon, 01 Jan 0001 00:00:00 GMT",
        "Authorization": "QS ENV_ACCESS_KEY_ID:XsTXX50kzqBf92zLG1aIUIJmZ0hqIHoaHgkumwnV3fs=",
    }
    year_one = -62135596800.0
    with QingStorServer("ENV_ACCESS_KEY_ID", "ENV_SECRET_ACCESS_KEY", clock=lambda: year_one) as srv:
        resp = requests.get(srv.url + target, headers=headers, timeout=5)
        assert_error(resp, 404, "bucket_not_exists")  # authenticated, then routed
        assert srv.requests[-1].path == "/bucket-name/中文"
        headers["Date"] = "Mon, 01 Jan 0001 00:00:01 GMT"  # Date is signed
        assert_error(
            requests.get(srv.url + target, headers=headers, timeout=5),
            401,
            ("signature_not_matched"),
        )


def test_sub_resources_are_signed_filters_are_not(server):
    server.add_bucket("mybucket")
    target = "/mybucket?limit=5&uploads"
    date = now_date()
    auth = f"QS {AK}:" + qs_sign(SK, "GET", target, date)
    ok = requests.get(server.url + target, headers={"Date": date, "Authorization": auth}, timeout=5)
    assert ok.status_code == 200
    # Changing an unsigned filter keeps the signature valid.
    url = server.url + "/mybucket?limit=7&prefix=zz&uploads"
    resp = requests.get(url, headers={"Date": date, "Authorization": auth}, timeout=5)
    assert resp.status_code == 200 and resp.json()["limit"] == 7
    # Dropping the signed sub-resource invalidates it (and would be another operation).
    url = server.url + "/mybucket?limit=5"
    resp = requests.get(url, headers={"Date": date, "Authorization": auth}, timeout=5)
    assert_error(resp, 401, "signature_not_matched")


# --------------------------------------------------------------------------- SDK: list buckets


def seed_buckets(srv):
    for name, zone in [
        ("bucket-g", "pek3a"),
        ("bucket-a", "sh1a"),
        ("bucket-e", "pek3a"),
        ("bucket-c", "pek3b"),
        ("bucket-b", "pek3a"),
        ("bucket-f", "sh1a"),
        ("bucket-d", "pek3a"),
    ]:
        srv.add_bucket(name, location=zone)


def test_sdk_list_buckets_paging(server):
    seed_buckets(server)
    qs = make_sdk(server)
    names, counts, offset = [], [], 0
    while True:
        out = qs.list_buckets(limit="3", offset=str(offset))  # ints crash the SDK (1.8 #2)
        assert out.status_code == 200
        names += [b["name"] for b in out["buckets"]]
        counts.append(out["count"])
        offset += len(out["buckets"])
        if len(out["buckets"]) < 3:
            break
    assert names == [f"bucket-{c}" for c in "abcdefg"]
    assert counts == [3, 3, 1]
    assert server.count("list_buckets") == 3
    req = server.requests[0]
    assert req.query == [("limit", "3"), ("offset", "0")]
    assert req.headers["authorization"].startswith(f"QS {AK}:")
    first = qs.list_buckets()["buckets"][0]
    assert first == {
        "name": "bucket-a",
        "location": "sh1a",
        "url": "https://bucket-a.sh1a.qingstor.com",
        "created": "2015-07-11T04:45:57Z",
    }
    server.count_mode = "total"
    assert qs.list_buckets(limit="2", offset="6")["count"] == 7


def test_sdk_list_buckets_location_and_arguments(server):
    seed_buckets(server)
    qs = make_sdk(server)
    out = qs.list_buckets(location="sh1a")
    assert [b["name"] for b in out["buckets"]] == ["bucket-a", "bucket-f"]
    assert qs.list_buckets(location="gd2")["buckets"] == []
    server.count_mode = "total"
    assert qs.list_buckets(location="pek3a", limit="1")["count"] == 4
    bad = qs.list_buckets(location="PEK3A")
    assert (bad.status_code, bad["code"]) == (400, "invalid_location")
    for limit, offset in [("0", "0"), ("1001", "0"), ("ten", "0"), ("-1", "0"), ("5", "-1")]:
        out = qs.list_buckets(limit=limit, offset=offset)
        assert (out.status_code, out["code"]) == (400, "invalid_argument"), (limit, offset)
    assert qs.list_buckets(limit="1000", offset="100")["buckets"] == []


def test_sdk_wrong_secret_and_unknown_key(server):
    server.add_bucket("mybucket")
    out = make_sdk(server, secret=SK[:-1] + "2").list_buckets()
    assert out.status_code == 401 and out["code"] == "signature_not_matched"
    assert "buckets" not in out
    out = make_sdk(server, akid="EXAMPLEAKID0000000002").list_buckets()
    assert out.status_code == 401 and out["code"] == "invalid_access_key_id"
    assert [(r.op, r.status, r.error_code) for r in server.requests] == [
        ("list_buckets", 401, "signature_not_matched"),
        ("list_buckets", 401, "invalid_access_key_id"),
    ]
    assert make_sdk(server).list_buckets().status_code == 200


# --------------------------------------------------------------------------- SDK: uploads

# created order within "a.bin" differs from both insertion order and upload-id order.
A1, A2, A3 = "0" * 31 + "1", "f" * 32, "8" * 32


def seed_uploads(srv):
    srv.add_bucket("mybucket")
    srv.add_upload("mybucket", "a.bin", A1, created="2016-12-25T16:02:07.000Z")
    srv.add_upload("mybucket", "a.bin", A2, created="2016-12-25T16:02:05.000Z")
    srv.add_upload("mybucket", "a.bin", A3, created="2016-12-25T16:02:06.000Z")
    ids = {
        "z": srv.add_upload("mybucket", "z"),
        "ü.bin": srv.add_upload("mybucket", "ü.bin"),
        "b/c.bin": srv.add_upload("mybucket", "b/c.bin"),
        "b/d e.bin#1": srv.add_upload("mybucket", "b/d e.bin"),
        "b/d e.bin#2": srv.add_upload("mybucket", "b/d e.bin"),
    }
    return ids


def test_sdk_list_multipart_uploads_paging(server):
    ids = seed_uploads(server)
    bucket = make_sdk(server).Bucket("mybucket", "pek3a")
    seen, pages, markers = [], [], {}
    while True:
        out = bucket.list_multipart_uploads(limit="2", **markers)
        assert out.status_code == 200, dict(out)
        assert out["name"] == "mybucket" and out["limit"] == 2
        assert "common_prefixes" not in out
        seen += [(u["key"], u["upload_id"]) for u in out["uploads"]]
        pages.append(out["has_more"])
        if not out["has_more"]:
            assert out["next_key_marker"] == out["next_upload_id_marker"] == ""
            break
        assert out["next_key_marker"] == seen[-1][0]
        assert out["next_upload_id_marker"] == seen[-1][1]
        markers = {
            "key_marker": out["next_key_marker"],
            "upload_id_marker": out["next_upload_id_marker"],
        }
    assert seen == [
        ("a.bin", A2),
        ("a.bin", A3),
        ("a.bin", A1),
        ("b/c.bin", ids["b/c.bin"]),
        ("b/d e.bin", ids["b/d e.bin#1"]),
        ("b/d e.bin", ids["b/d e.bin#2"]),
        ("z", ids["z"]),
        ("ü.bin", ids["ü.bin"]),
    ]
    assert pages == [True, True, True, False]
    # The zone host went out unchanged (the adapter only rewrote the URL authority).
    req = server.requests[1]
    assert req.headers["host"] == f"pek3a.127.0.0.1:{urlsplit(server.url).port}"
    assert req.raw_path == "/mybucket"
    assert ("key_marker", "a.bin") in req.query and ("upload_id_marker", A3) in req.query
    assert server.count("list_uploads") == 4


def test_sdk_list_multipart_uploads_prefix_delimiter(server):
    ids = seed_uploads(server)
    bucket = make_sdk(server).Bucket("mybucket", "pek3a")
    out = bucket.list_multipart_uploads(prefix="b/")
    assert [u["key"] for u in out["uploads"]] == ["b/c.bin", "b/d e.bin", "b/d e.bin"]
    assert out["prefix"] == "b/" and out["has_more"] is False
    out = bucket.list_multipart_uploads(prefix="b/d ", limit="1")
    assert [u["upload_id"] for u in out["uploads"]] == [ids["b/d e.bin#1"]]
    assert out["has_more"] is True
    # delimiter: one common prefix counts as one entry toward limit
    pages, markers = [], {}
    while True:
        out = bucket.list_multipart_uploads(delimiter="/", limit="2", **markers)
        pages.append(([u["key"] for u in out["uploads"]], out["common_prefixes"]))
        if not out["has_more"]:
            break
        markers = {
            "key_marker": out["next_key_marker"],
            "upload_id_marker": out["next_upload_id_marker"],
        }
    assert pages == [
        (["a.bin", "a.bin"], []),
        (["a.bin"], ["b/"]),
        (["z", "ü.bin"], []),
    ]
    assert server.requests[-1].query[:2] == [("delimiter", "/"), ("key_marker", "b/")]


def test_list_uploads_errors(server):
    seed_uploads(server)
    bucket = make_sdk(server).Bucket("nosuchbucket", "pek3a")
    out = bucket.list_multipart_uploads()
    assert (out.status_code, out["code"]) == (404, "bucket_not_exists")
    bucket = make_sdk(server).Bucket("mybucket", "pek3a")
    for limit in ("1001", "0", "x"):
        out = bucket.list_multipart_uploads(limit=limit)
        assert (out.status_code, out["code"]) == (400, "invalid_argument")
    assert len(bucket.list_multipart_uploads(limit="1000")["uploads"]) == 8
    assert len(bucket.list_multipart_uploads()["uploads"]) == 8


# --------------------------------------------------------------------------- SDK: parts

ODD_KEY = "dir/sub dir/ü file=50%.jpg"


def test_sdk_list_multipart_parts_paging(server):
    server.add_bucket("mybucket")
    uid = server.add_upload("mybucket", ODD_KEY)
    sizes = {0: 100, 1: 101, 2: 102, 5: 105, 7: 107}
    for n in (7, 0, 5, 1, 2):  # seeded out of order; numbers start at 0 and have gaps
        server.add_part("mybucket", uid, n, sizes[n])
    bucket = make_sdk(server).Bucket("mybucket", "pek3a")
    got, counts, marker = [], [], None
    while True:
        out = bucket.list_multipart(ODD_KEY, upload_id=uid, limit="2", part_number_marker=marker)
        assert out.status_code == 200, dict(out)
        parts = out["object_parts"]
        got += [(p["part_number"], p["size"]) for p in parts]
        counts.append(out["count"])
        if len(parts) < 2:
            break
        marker = str(parts[-1]["part_number"])
    assert got == sorted(sizes.items())
    assert counts == [2, 2, 1]
    assert all(len(p["etag"]) == 32 and p["created"].endswith("Z") for p in parts)
    req = server.requests[0]
    assert req.op == "list_parts"
    assert req.raw_path == "/mybucket/dir/sub%20dir/%C3%BC%20file%3D50%25.jpg"
    assert req.path == "/mybucket/" + ODD_KEY
    assert req.headers["content-type"] == "image/jpeg"  # SDK quirk 1.8 #1, verified anyway
    out = bucket.list_multipart(ODD_KEY, upload_id=uid)
    assert out["count"] == 5  # default limit is generous (1000)


def test_list_parts_errors(server):
    server.add_bucket("mybucket")
    uid = server.add_upload("mybucket", "k1")
    other = server.add_upload("mybucket", "k2")
    server.add_part("mybucket", uid, 1, 10)
    bucket = make_sdk(server).Bucket("mybucket", "pek3a")
    assert bucket.list_multipart("k1", upload_id=uid)["count"] == 1
    for key, upload_id in [("k1", other), ("k1", "0" * 32), ("k1/", uid)]:
        out = bucket.list_multipart(key, upload_id=upload_id)
        assert (out.status_code, out["code"]) == (404, "upload_not_exists"), key
    for limit in ("1001", "0", "two"):
        out = bucket.list_multipart("k1", upload_id=uid, limit=limit)
        assert (out.status_code, out["code"]) == (400, "invalid_argument")
    out = bucket.list_multipart("k1", upload_id=uid, part_number_marker="1.5")
    assert (out.status_code, out["code"]) == (400, "invalid_argument")
    out = make_sdk(server).Bucket("otherbucket", "pek3a").list_multipart("k1", upload_id=uid)
    assert (out.status_code, out["code"]) == (404, "bucket_not_exists")
    out = bucket.list_multipart("k1")  # SDK quirk 1.8 #3: becomes GET Object
    assert (out.status_code, out["code"]) == (404, "object_not_exists")
    assert server.requests[-1].op == "get_object"


def test_raw_path_is_not_normalised(server):
    server.add_bucket("mybucket")
    key = "a/./b/../c d%=.bin"
    uid = server.add_upload("mybucket", key)
    server.add_part("mybucket", uid, 0, 42)
    server.add_upload("mybucket", "/lead", upload_id="1" * 32)

    def get(target):
        date = now_date()
        auth = f"QS {AK}:" + qs_sign(SK, "GET", target, date)
        return raw_get(server, target, {"Date": date, "Authorization": auth})

    status, body = get(f"/mybucket/a/./b/../c%20d%25%3D.bin?upload_id={uid}")
    assert (status, body["count"]) == (200, 1)
    assert server.requests[-1].raw_path == "/mybucket/a/./b/../c%20d%25%3D.bin"
    status, body = get(f"/mybucket/a/c%20d%25%3D.bin?upload_id={uid}")  # the normalised path
    assert (status, body["code"]) == (404, "upload_not_exists")
    status, body = get("/mybucket//lead?upload_id=" + "1" * 32)  # "//" kept: key "/lead"
    assert (status, body["count"]) == (200, 0)


# --------------------------------------------------------------------------- auth edge cases


def test_request_expired_and_clock_window(server):
    assert signed_get(server, "/", date=now_date(-14 * 60)).status_code == 200
    assert_error(signed_get(server, "/", date=now_date(-16 * 60)), 403, "request_expired")
    assert_error(signed_get(server, "/", date=now_date(+16 * 60)), 403, "request_expired")
    # x-qs-date wins over Date: a stale x-qs-date with a fresh Date is expired...
    stale = {"x-qs-date": now_date(-3600)}
    assert_error(signed_get(server, "/", headers=stale), 403, "request_expired")
    # ...and a fresh x-qs-date rescues a stale Date (Date line then signed empty).
    fresh = {"x-qs-date": now_date()}
    assert signed_get(server, "/", date=now_date(-3600), headers=fresh).status_code == 200
    assert [r.error_code for r in server.requests] == [
        None,
        "request_expired",
        "request_expired",
        "request_expired",
        None,
    ]


def test_server_clock_parameter_is_used():
    with QingStorServer(clock=lambda: time.time() + 3600) as srv:
        out = make_sdk(srv).list_buckets()
        assert (out.status_code, out["code"]) == (403, "request_expired")
        served = email.utils.parsedate_to_datetime(requests.get(srv.url, timeout=5).headers["Date"])
        assert abs(served.timestamp() - (time.time() + 3600)) < 5  # response Date uses clock()


def test_missing_or_garbled_credentials(server):
    url = server.url + "/"
    assert_error(requests.get(url, headers={"Date": now_date()}, timeout=5), 401, ("invalid_access_key_id"))
    for auth in (f"QS {AK}", f"AWS {AK}:abc=", f"QS {AK}:", "QS :abc"):
        resp = requests.get(url, headers={"Date": now_date(), "Authorization": auth}, timeout=5)
        assert_error(resp, 401, "invalid_access_key_id")
    sig = qs_sign(SK, "GET", "/", "")
    resp = requests.get(url, headers={"Authorization": f"QS {AK}:{sig}"}, timeout=5)
    assert_error(resp, 400, "invalid_request")  # no Date at all
    date = "16 Aug 2015 09:05:00 +0000"
    sig = qs_sign(SK, "GET", "/", date)
    resp = requests.get(url, headers={"Date": date, "Authorization": f"QS {AK}:{sig}"}, timeout=5)
    assert_error(resp, 400, "invalid_request")  # not RFC 1123 GMT


def test_mutating_methods_are_refused_but_recorded(server):
    server.add_bucket("mybucket")
    resp = signed_get(server, "/mybucket/k?upload_id=" + "a" * 32, method="DELETE")
    assert_error(resp, 405, "method_not_allowed")
    resp = signed_get(server, "/mybucket?cname", method="PUT")
    assert_error(resp, 405, "method_not_allowed")
    resp = requests.post(server.url + "/mybucket?uploads", data=b"x" * 10, timeout=5)
    assert_error(resp, 401, "invalid_access_key_id")
    assert [(r.method, r.op) for r in server.requests] == [
        ("DELETE", "other"),
        ("PUT", "other"),
        ("POST", "other"),
    ]
    assert signed_get(server, "/mybucket?uploads").status_code == 200  # connection still sane


# --------------------------------------------------------------------------- knobs and headers


def test_fail_next_and_custom_body(server):
    server.fail_next(503, "service_unavailable", times=2)
    server.fail_next(502, body=b"<html>bad gateway</html>")
    for _ in range(2):
        assert_error(signed_get(server, "/"), 503, "service_unavailable")
    resp = signed_get(server, "/")
    assert resp.status_code == 502 and resp.content == b"<html>bad gateway</html>"
    assert resp.headers["Content-Length"] == str(len(resp.content))
    assert signed_get(server, "/").status_code == 200
    assert [(r.status, r.error_code) for r in server.requests] == [
        (503, "service_unavailable"),
        (503, "service_unavailable"),
        (502, "internal_error"),
        (200, None),
    ]
    server.reset_log()
    assert server.count() == 0 and server.requests == []


def test_delay_and_log_before_answer(server):
    server.delay = 0.4
    with pytest.raises(requests.exceptions.ReadTimeout):
        date = now_date()
        auth = f"QS {AK}:" + qs_sign(SK, "GET", "/", date)
        requests.get(server.url + "/", headers={"Date": date, "Authorization": auth}, timeout=0.15)
    assert server.count("list_buckets") == 1  # logged although never answered in time
    server.delay = 0.0
    for i in range(10):
        signed_get(server, "/")
        assert server.count() == i + 2  # visible as soon as the reply is


def test_common_headers_on_every_answer(server):
    server.add_bucket("mybucket")
    answers = [
        signed_get(server, "/"),
        signed_get(server, "/mybucket?uploads"),
        signed_get(server, "/nosuch?uploads"),
        signed_get(server, "/mybucket/k"),
        signed_get(server, "/", secret="wrong"),
        signed_get(server, "/", method="PUT"),
        signed_get(server, "/", method="HEAD"),
    ]
    assert [r.status_code for r in answers] == [200, 200, 404, 404, 401, 405, 200]
    ids = set()
    for resp in answers:
        assert resp.headers["Server"] == "QingStor"
        assert resp.headers["Content-Type"] == "application/json"
        assert email.utils.parsedate_to_datetime(resp.headers["Date"]).tzname() == "UTC"
        assert len(resp.headers["x-qs-request-id"]) == 32
        ids.add(resp.headers["x-qs-request-id"])
    assert len(ids) == len(answers)
    for resp in answers[:-1]:
        assert int(resp.headers["Content-Length"]) == len(resp.content) > 0
    assert answers[-1].content == b""
    assert answers[-1].headers["Content-Length"] == answers[0].headers["Content-Length"]


def test_recorded_request_fields(server):
    server.add_bucket("mybucket")
    resp = signed_get(
        server,
        "/mybucket?prefix=b%2Fd%20e&uploads&delimiter=",
        headers={"X-QS-Meta-Thing": "v  x "},
    )
    assert resp.status_code == 200
    req = server.requests[0]
    assert req.method == "GET" and req.op == "list_uploads" and req.status == 200
    assert req.raw_path == req.path == "/mybucket"
    assert req.query == [("prefix", "b/d e"), ("uploads", ""), ("delimiter", "")]
    assert req.headers["x-qs-meta-thing"] == "v  x "  # signed as "v  x" (ends trimmed only)
    assert all(k == k.lower() for k in req.headers)
    assert req.error_code is None


# --------------------------------------------------------------------------- List Objects, GET Object

OBJECT_KEYS = ["QCI/a.txt", "QCI/b/c.txt", "Screenshot/s.png", "api.txt", "bigtable-osdi06.pdf", "z/"]


def seed_objects(srv):
    srv.add_bucket("mybucket")
    for key in OBJECT_KEYS:
        srv.add_object("mybucket", key, key.encode() * 3, mime_type="text/plain")


def test_sdk_list_objects_matches_the_documented_example(server):
    seed_objects(server)
    bucket = make_sdk(server).Bucket("mybucket", "pek3a")
    out = bucket.list_objects(delimiter="/", limit="4")
    assert out.status_code == 200
    # The doc's example answer: 2 keys and 2 common prefixes fill a limit of 4.
    assert [k["key"] for k in out["keys"]] == ["api.txt", "bigtable-osdi06.pdf"]
    assert out["common_prefixes"] == ["QCI/", "Screenshot/"]
    assert (out["has_more"], out["next_marker"], out["marker"]) == (
        True,
        "bigtable-osdi06.pdf",
        "bigtable-osdi06.pdf",
    )
    item = out["keys"][0]
    assert set(item) == {
        "key",
        "size",
        "etag",
        "mime_type",
        "created",
        "modified",
        "encrypted",
        "storage_class",
    }
    assert item["etag"].startswith('"') and item["size"] == len(b"api.txt") * 3
    rest = bucket.list_objects(delimiter="/", limit="4", marker=out["next_marker"])
    assert (rest["common_prefixes"], rest["has_more"], rest["next_marker"]) == (["z/"], False, "")
    assert rest["keys"] == []


def test_sdk_list_objects_flat_paging_and_prefix(server):
    seed_objects(server)
    bucket = make_sdk(server).Bucket("mybucket", "pek3a")
    seen, marker = [], None
    for _ in range(10):
        out = bucket.list_objects(limit="2", marker=marker) if marker else bucket.list_objects(limit="2")
        seen += [k["key"] for k in out["keys"]]
        if not out["has_more"]:
            break
        marker = out["next_marker"]
    assert seen == sorted(OBJECT_KEYS)
    assert "common_prefixes" not in out  # only with a delimiter
    out = bucket.list_objects(prefix="QCI/", delimiter="/")
    assert ([k["key"] for k in out["keys"]], out["common_prefixes"]) == (["QCI/a.txt"], ["QCI/b/"])
    server.objects_limit_max = 100
    assert bucket.list_objects(limit="5000")["limit"] == 100  # clamped, as the page says
    assert bucket.list_objects()["limit"] == 100  # the documented default


def test_sdk_get_object_ranges_and_if_match(server):
    seed_objects(server)
    bucket = make_sdk(server).Bucket("mybucket", "pek3a")
    data = b"api.txt" * 3
    whole = bucket.get_object("api.txt")
    assert (whole.status_code, whole.content) == (200, data)
    etag = whole.headers["ETag"]
    assert etag == f'"{hashlib.md5(data).hexdigest()}"'
    part = bucket.get_object("api.txt", range="bytes=2-5")
    assert (part.status_code, part.content, part.headers["Content-Range"]) == (206, data[2:6], "bytes 2-5/21")
    assert bucket.get_object("api.txt", range="bytes=-3").content == data[-3:]
    assert bucket.get_object("api.txt", range="bytes=19-100").content == data[19:]
    assert bucket.get_object("api.txt", range="bytes=21-").status_code == 416
    assert bucket.get_object("api.txt", if_match=etag).status_code == 200
    changed = bucket.get_object("api.txt", if_match='"0123"')
    assert (changed.status_code, changed["code"]) == (412, "precondition_failed")
    missing = bucket.get_object("nope.txt")
    assert (missing.status_code, missing["code"]) == (404, "object_not_exists")
    assert server.requests[-1].op == "get_object"
