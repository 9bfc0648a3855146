"""QingStor "QS" signer: pinned to every vector of providers.md 1.3 and to qingstor-sdk 2.6.0.

Requests are prepared the way storfs prepares them (`QingStorProvider._get`): `prepare()` on the
origin, then the exact URL assigned by hand, so `..` segments and percent-escapes are signed and
sent untouched. storfs is path style only: the documented virtual-host vectors are pinned through
the path-style request whose canonical resource is the same (`/<bucket>/...`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from qingstor.sdk.config import Config
from qingstor.sdk.request import Request as SDKRequest
from qingstor.sdk.service.qingstor import QingStor

import storfs.providers.base as provider_base
from storfs.providers.qingstor import QingStorProvider
from storfs.providers.qingstor.signer import SUB_RESOURCES, QSAuth, canonical_resource, sign, string_to_sign
from storfs.transport import HttpSettings

GO_AK, GO_SK = "ENV_ACCESS_KEY_ID", "ENV_SECRET_ACCESS_KEY"
GO_DATE = "Mon, 01 Jan 0001 00:00:00 GMT"
AK, SK = "EXAMPLEAKID0000000001", "EXAMPLEsecretKEY0000000000000000000000001"
DATE_0905, TS_0905 = "Sun, 16 Aug 2015 09:05:00 GMT", 1439715900.0
DATE_1325, TS_1325 = "Sun, 16 Aug 2015 13:25:10 GMT", 1439731510.0
UPLOAD_ID = "4d26b37a469230619604ecdc0e314782"
OCTET = {"Content-Type": "application/octet-stream"}
GO_TEST_HEADERS = {"X-QS-Test-2": "Test 2", "X-QS-Test-1": "Test 1"}
GO_SUBS = "/?acl&part_number=0&upload_id=fde133b5f6d932cd9c79bac3c7318da1"
HTTP = HttpSettings(connect_timeout=1, read_timeout=1, retries=0)


def prepared(method: str, url: str, headers: Mapping[str, str] = {}) -> requests.PreparedRequest:
    """A request prepared like storfs's `_get`: origin first, then the exact URL by hand."""
    parts = urlsplit(url)
    request = requests.PreparedRequest()
    request.prepare(method=method, url=f"{parts.scheme}://{parts.netloc}/", headers=dict(headers))
    request.url = url
    return request


def nl(text: str) -> str:
    """The vectors show line breaks as a literal backslash-n."""
    return text.replace("\\n", "\n")


# (id, method, url, headers, documented string_to_sign, documented Authorization)
GO_VECTORS = [
    (
        "go-subresources",
        "GET",
        "https://qingstor.com/?acl&upload_id=fde133b5f6d932cd9c79bac3c7318da1&part_number=0&other=abc",
        {**GO_TEST_HEADERS, "Date": GO_DATE},
        f"GET\\n\\n\\n{GO_DATE}\\nx-qs-test-1:Test 1\\nx-qs-test-2:Test 2\\n{GO_SUBS}",
        "QS ENV_ACCESS_KEY_ID:bvglZF9iMOv1RaCTxPYWxexmt1UN2m5WKngYnhDEp2c=",
    ),
    (
        "go-x-qs-date",
        "GET",
        "https://qingstor.com/?acl&upload_id=fde133b5f6d932cd9c79bac3c7318da1&part_number=0&other=abc",
        {**GO_TEST_HEADERS, "Date": GO_DATE, "X-QS-Date": GO_DATE},
        f"GET\\n\\n\\n\\nx-qs-date:{GO_DATE}\\nx-qs-test-1:Test 1\\nx-qs-test-2:Test 2\\n{GO_SUBS}",
        "QS ENV_ACCESS_KEY_ID:qkY+tOMdqfDAVv+ZBtlWeEBxlbyIKaQmj5lQlylENzo=",
    ),
    (
        "go-unicode-path",
        "GET",
        "https://zone.qingstor.com/bucket-name/%E4%B8%AD%E6%96%87",
        {"Date": GO_DATE},
        f"GET\\n\\n\\n{GO_DATE}\\n/bucket-name/%E4%B8%AD%E6%96%87",
        "QS ENV_ACCESS_KEY_ID:XsTXX50kzqBf92zLG1aIUIJmZ0hqIHoaHgkumwnV3fs=",
    ),
    (
        "go-put-cname",
        "PUT",
        "https://qingstor.com/bucket-name?cname",
        {**GO_TEST_HEADERS, "Date": GO_DATE},
        f"PUT\\n\\n\\n{GO_DATE}\\nx-qs-test-1:Test 1\\nx-qs-test-2:Test 2\\n/bucket-name?cname",
        "QS ENV_ACCESS_KEY_ID:Kqc4/+6T7zfSrUPgkvswHbtL4ESch9vOVQP0nPwlkBs=",
    ),
    (
        # documented as vhost `GET https://bucket-name.qingstor.com/?acl`; path-style equivalent
        "go-vhost-acl",
        "GET",
        "https://qingstor.com/bucket-name/?acl",
        {"Date": GO_DATE},
        f"GET\\n\\n\\n{GO_DATE}\\n/bucket-name/?acl",
        "QS ENV_ACCESS_KEY_ID:y0rP8LnEGUiV/JcuCMHZC4OMRZNzKRw9w7AnqehJZW8=",
    ),
]

# (id, url, extra headers, clock, documented string_to_sign, documented Authorization)
STORFS_VECTORS = [
    (
        "QS-M1",
        "https://qingstor.com/?limit=200&offset=0",
        {},
        TS_0905,
        f"GET\\n\\n\\n{DATE_0905}\\n/",
        "QS EXAMPLEAKID0000000001:FPjU0EUcD8xjdAR4euKzL4nocqC154OW7SzOZkkH+7s=",
    ),
    (
        "QS-M2",
        "https://pek3a.qingstor.com/mybucket?key_marker=a/b.bin&limit=100&upload_id_marker=x&uploads",
        {},
        TS_0905,
        f"GET\\n\\n\\n{DATE_0905}\\n/mybucket?uploads",
        "QS EXAMPLEAKID0000000001:03Ra66uwWnBKPzn/gg8OTvT2o4NqjfpMkrzgMTfq8V8=",
    ),
    (
        "QS-M3",
        f"https://pek3a.qingstor.com/mybucket/large-object?limit=2&part_number_marker=1&upload_id={UPLOAD_ID}",
        {},
        TS_1325,
        f"GET\\n\\n\\n{DATE_1325}\\n/mybucket/large-object?upload_id={UPLOAD_ID}",
        "QS EXAMPLEAKID0000000001:OY+1Yo04d2Dii9swS5r3n0iPdSc4WTbjSvzRyzPwjGk=",
    ),
    (
        "QS-M4",
        "https://qingstor.com/",
        {"x-qs-date": DATE_0905},
        0.0,  # never consulted: x-qs-date is the date
        f"GET\\n\\n\\n\\nx-qs-date:{DATE_0905}\\n/",
        "QS EXAMPLEAKID0000000001:rtV0edLNMbbjq+2qmOhOwrw+DxrspxOof12+t2VlSuc=",
    ),
    (
        "QS-P1",
        "https://qingstor.com/",
        OCTET,
        TS_0905,
        f"GET\\n\\napplication/octet-stream\\n{DATE_0905}\\n/",
        "QS EXAMPLEAKID0000000001:qHQIHLgcFtWeEqiLBSi9Pxcuv7Pmun8L+1FhXB/CKDw=",
    ),
    (
        "QS-P1-filters",  # limit/offset/Location change nothing
        "https://qingstor.com/?limit=10&offset=20",
        {**OCTET, "Location": "pek3a"},
        TS_0905,
        f"GET\\n\\napplication/octet-stream\\n{DATE_0905}\\n/",
        "QS EXAMPLEAKID0000000001:qHQIHLgcFtWeEqiLBSi9Pxcuv7Pmun8L+1FhXB/CKDw=",
    ),
    (
        "QS-P2",
        "https://pek3a.qingstor.com/mybucket?limit=100&prefix=photos/&uploads",
        OCTET,
        TS_0905,
        f"GET\\n\\napplication/octet-stream\\n{DATE_0905}\\n/mybucket?uploads",
        "QS EXAMPLEAKID0000000001:mS+xBwzpJ5GsSTl2t9iKWPhHeeAcxP8J+6ywPpwQtMo=",
    ),
    (
        # documented as vhost `https://mybucket.pek3a.qingstor.com/?...`; path-style equivalent
        "QS-P3",
        "https://pek3a.qingstor.com/mybucket/?limit=100&prefix=photos/&uploads",
        OCTET,
        TS_0905,
        f"GET\\n\\napplication/octet-stream\\n{DATE_0905}\\n/mybucket/?uploads",
        "QS EXAMPLEAKID0000000001:HrlFFJVmI+C+vHPTMelIXHY5+yXxMqdZgZXcHXL/p4s=",
    ),
    (
        "QS-P4",
        f"https://pek3a.qingstor.com/mybucket/large-object?limit=2&part_number_marker=1&upload_id={UPLOAD_ID}",
        OCTET,
        TS_1325,
        f"GET\\n\\napplication/octet-stream\\n{DATE_1325}\\n/mybucket/large-object?upload_id={UPLOAD_ID}",
        "QS EXAMPLEAKID0000000001:ucbkniMJwluNNa8JtEG0kDIF+q9UadK0KvOT4cQk0xs=",
    ),
    (
        # documented as vhost; objects sign `/<bucket>/<key>` in both styles
        "QS-P5",
        f"https://pek3a.qingstor.com/mybucket/dir/my%20file.bin?upload_id={UPLOAD_ID}",
        OCTET,
        TS_1325,
        f"GET\\n\\napplication/octet-stream\\n{DATE_1325}\\n/mybucket/dir/my%20file.bin?upload_id={UPLOAD_ID}",
        "QS EXAMPLEAKID0000000001:LyyyodSx4k630VC80ZaEMcU8tBuspwXA3yYkmdpOYKw=",
    ),
    (
        "QS-P6",  # the SDK sends Date too; x-qs-date blanks the Date line
        "https://qingstor.com/",
        {**OCTET, "X-QS-Date": DATE_0905},
        TS_0905,
        f"GET\\n\\napplication/octet-stream\\n\\nx-qs-date:{DATE_0905}\\n/",
        "QS EXAMPLEAKID0000000001:jvw28vXRZqHTyeDWD9uBCQOQKsxP4kD8zRXT4eKGW0k=",
    ),
]


# --------------------------------------------------------------------------- documented vectors


@pytest.mark.parametrize(
    ("vid", "method", "url", "headers", "sts", "auth"), GO_VECTORS, ids=[v[0] for v in GO_VECTORS]
)
def test_go_sdk_vectors(
    vid: str, method: str, url: str, headers: dict[str, str], sts: str, auth: str
) -> None:
    assert string_to_sign(method, url, headers) == nl(sts)
    assert f"QS {GO_AK}:" + sign(GO_SK, nl(sts)) == auth
    # An explicit Date header is kept: the clock (far from year 1) is not consulted.
    request = QSAuth(GO_AK, GO_SK, clock=lambda: TS_0905)(prepared(method, url, headers))
    assert request.headers["Date"] == GO_DATE
    assert request.headers["Authorization"] == auth
    assert request.url == url


@pytest.mark.parametrize(
    ("vid", "url", "headers", "clock", "sts", "auth"), STORFS_VECTORS, ids=[v[0] for v in STORFS_VECTORS]
)
def test_storfs_and_python_sdk_vectors(
    vid: str, url: str, headers: dict[str, str], clock: float, sts: str, auth: str
) -> None:
    request = QSAuth(AK, SK, clock=lambda: clock)(prepared("GET", url, headers))
    assert request.headers["Authorization"] == auth
    assert request.url == url
    if "x-qs-date" in {name.lower() for name in headers}:
        assert "Date" not in request.headers  # x-qs-date is the date: no Date is added
    else:
        assert request.headers["Date"] == (DATE_0905 if clock == TS_0905 else DATE_1325)
    assert string_to_sign("GET", url, request.headers) == nl(sts)
    # The same request with Date given explicitly signs identically.
    explicit = {**headers, "Date": DATE_1325 if clock == TS_1325 else DATE_0905}
    assert string_to_sign("GET", url, explicit) == nl(sts)
    again = QSAuth(AK, SK, clock=lambda: 0.0)(prepared("GET", url, explicit))
    assert again.headers["Authorization"] == auth


def test_storfs_vectors_have_no_content_type() -> None:
    # storfs sends no Content-Type on GET (providers.md 1.2): a plain prepared GET has none.
    request = QSAuth(AK, SK, clock=lambda: TS_0905)(
        prepared("GET", "https://qingstor.com/?limit=200&offset=0")
    )
    assert "Content-Type" not in request.headers and "Content-MD5" not in request.headers
    assert string_to_sign("GET", request.url or "", request.headers).split("\n")[:4] == [
        "GET",
        "",
        "",
        DATE_0905,
    ]


def test_unicode_and_dot_segments_are_signed_as_sent() -> None:
    url = "https://zone.qingstor.com/bucket-name/a/./b/../%E4%B8%AD%E6%96%87?upload_id=x"
    request = QSAuth(GO_AK, GO_SK)(prepared("GET", url, {"Date": GO_DATE}))
    assert request.url == url
    assert string_to_sign("GET", url, request.headers).endswith(
        "\n/bucket-name/a/./b/../%E4%B8%AD%E6%96%87?upload_id=x"
    )
    assert canonical_resource("https://h/b//k") == "/b//k"
    assert canonical_resource("https://h") == "/"


def test_x_qs_headers_are_lowercased_trimmed_and_sorted() -> None:
    headers = {"X-QS-B": "  two  words ", "x-qs-a": "1", "X-Other": "ignored", "Date": DATE_0905}
    assert (
        string_to_sign("get", "https://h/", headers)
        == f"GET\n\n\n{DATE_0905}\nx-qs-a:1\nx-qs-b:two  words\n/"
    )


# --------------------------------------------------------------------------- sub-resources vs filters

FILTERS = (
    "limit",
    "offset",
    "key_marker",
    "upload_id_marker",
    "part_number_marker",
    "prefix",
    "delimiter",
    "marker",
)


@pytest.mark.parametrize("name", FILTERS)
def test_filters_are_not_signed(name: str) -> None:
    assert canonical_resource(f"https://h/b?{name}=x%2Fy&uploads") == "/b?uploads"
    assert canonical_resource(f"https://h/b/k?{name}=1&upload_id=u") == "/b/k?upload_id=u"
    assert canonical_resource(f"https://h/?{name}=1") == "/"
    assert name not in SUB_RESOURCES
    assert not SDKRequest.is_sub_resource(None, name)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(SUB_RESOURCES))
def test_sub_resources_are_signed(name: str) -> None:
    assert canonical_resource(f"https://h/b?limit=1&{name}=v%20w&offset=2") == f"/b?{name}=v%20w"
    assert canonical_resource(f"https://h/b?{name}") == f"/b?{name}"
    # The Python SDK agrees on every name but the Go-only versioning trio (providers.md 1.8 #4).
    assert SDKRequest.is_sub_resource(None, name) is (name not in {"versioning", "version_id", "versions"})  # type: ignore[arg-type]


def test_sub_resources_sorted_as_whole_strings() -> None:
    url = "https://h/b/k?upload_id=9&part_number=3&limit=5&acl"
    assert canonical_resource(url) == "/b/k?acl&part_number=3&upload_id=9"


def test_changing_a_filter_keeps_the_signature_changing_a_sub_resource_does_not() -> None:
    def auth(url: str) -> str:
        return QSAuth(AK, SK, clock=lambda: TS_0905)(prepared("GET", url)).headers["Authorization"]

    base = auth(f"https://h/b/k?limit=2&part_number_marker=1&upload_id={UPLOAD_ID}")
    assert auth(f"https://h/b/k?limit=7&part_number_marker=9&upload_id={UPLOAD_ID}") == base
    assert auth(f"https://h/b/k?upload_id={UPLOAD_ID}") == base
    assert auth(f"https://h/b/k?limit=2&upload_id={UPLOAD_ID[:-1]}3") != base
    assert auth("https://h/b?limit=1&uploads") == auth("https://h/b?key_marker=z&upload_id_marker=q&uploads")


def test_repr_hides_the_secret() -> None:
    assert SK not in repr(QSAuth(AK, SK))


# --------------------------------------------------------------------------- versus the official SDK


@contextmanager
def captured() -> Iterator[list[requests.PreparedRequest]]:
    """Capture the requests storfs sends instead of sending them (answering an empty JSON object)."""
    sent: list[requests.PreparedRequest] = []

    def fake_send(session: Any, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        sent.append(request)
        return SimpleNamespace(content=b"{}", status_code=200)

    with mock.patch.object(provider_base, "send", fake_send):
        yield sent


def storfs_request(kind: str, args: tuple[str, ...], cursor: str | None, *, clock: float, **settings: Any):
    provider = QingStorProvider(
        "main", {"access_key_id": AK, "secret_access_key": SK, **settings}, HTTP, clock=lambda: clock
    )
    with captured() as sent:
        provider.list_page(provider.key(kind, *args), cursor)
    (request,) = sent
    return request


def sdk_authorization(sdk_request: SDKRequest, date: str) -> tuple[str, str]:
    """The SDK's string_to_sign and Authorization with a fixed Date and no Content-Type (1.8 #1)."""
    sdk_request.req.headers["Date"] = date
    del sdk_request.req.headers["Content-Type"]
    return sdk_request.get_string_to_sign(), f"QS {AK}:{sdk_request.get_authorization()}"


def sdk_service() -> QingStor:
    return QingStor(Config(AK, SK))


def assert_same(storfs_req: requests.PreparedRequest, sdk_request: SDKRequest, date: str) -> None:
    sdk_sts, sdk_auth = sdk_authorization(sdk_request, date)
    assert storfs_req.headers["Date"] == date
    assert "Content-Type" not in storfs_req.headers
    assert string_to_sign("GET", storfs_req.url or "", storfs_req.headers) == sdk_sts
    assert storfs_req.headers["Authorization"] == sdk_auth
    # Both put the same path on the request (the SDK's signed URL, before its own prepare()).
    assert urlsplit(storfs_req.url).path == urlsplit(sdk_request.req.url).path


@pytest.mark.parametrize(("page_size", "cursor"), [(200, None), (200, "400"), (1000, "0"), (3, "999")])
@pytest.mark.parametrize("zone", [None, "sh1a"])
def test_list_buckets_matches_sdk(page_size: int, cursor: str | None, zone: str | None) -> None:
    request = storfs_request("buckets", (), cursor, clock=TS_0905, page_size=page_size, zone=zone)
    query = f"limit={page_size}&offset={cursor or 0}"
    assert request.url == f"https://qingstor.com/?{query}"
    assert request.headers.get("Location") == zone
    sdk = sdk_service().list_buckets_request(limit=str(page_size), offset=cursor or "0", location=zone)
    assert_same(request, sdk, DATE_0905)


@pytest.mark.parametrize(
    ("key_marker", "upload_id_marker"),
    [("", ""), ("a/b.bin", "x"), ("dir/my file=1%.bin", UPLOAD_ID), ("ü/中文 ..", "0" * 32)],
)
def test_list_multipart_uploads_matches_sdk(key_marker: str, upload_id_marker: str) -> None:
    cursor = json.dumps([key_marker, upload_id_marker]) if key_marker else None
    request = storfs_request("uploads", ("mybucket", "pek3a"), cursor, clock=TS_0905, page_size=100)
    assert (request.url or "").startswith("https://pek3a.qingstor.com/mybucket?limit=100")
    assert (request.url or "").endswith("&uploads")
    sdk = (
        sdk_service()
        .Bucket("mybucket", "pek3a")
        .list_multipart_uploads_request(
            key_marker=key_marker or None, upload_id_marker=upload_id_marker or None, limit="100"
        )
    )
    assert_same(request, sdk, DATE_0905)


ODD_KEYS = [
    "large-object",
    "dir/my file.bin",
    "a=b=c",
    "50%25 done%",
    "ü/中文 file.jpg",
    "a/./b/../c",
    "../up",
    "x/..",
    "dir/sub dir/ü file=50%.jpg",
    "/lead//double",
    "q?h#s;p+a&e~",
]


@pytest.mark.parametrize("key", ODD_KEYS)
@pytest.mark.parametrize("cursor", [None, "1"])
def test_list_multipart_matches_sdk(key: str, cursor: str | None) -> None:
    request = storfs_request(
        "parts", ("mybucket", "pek3a", key, UPLOAD_ID), cursor, clock=TS_1325, page_size=2
    )
    sdk = (
        sdk_service()
        .Bucket("mybucket", "pek3a")
        .list_multipart_request(key, upload_id=UPLOAD_ID, limit="2", part_number_marker=cursor)
    )
    assert_same(request, sdk, DATE_1325)
    assert string_to_sign("GET", request.url or "", request.headers).endswith(f"?upload_id={UPLOAD_ID}")


def test_documented_m3_request_is_what_storfs_sends() -> None:
    request = storfs_request(
        "parts", ("mybucket", "pek3a", "large-object", UPLOAD_ID), "1", clock=TS_1325, page_size=2
    )
    assert request.url == (
        f"https://pek3a.qingstor.com/mybucket/large-object?limit=2&part_number_marker=1&upload_id={UPLOAD_ID}"
    )
    assert (
        request.headers["Authorization"]
        == "QS EXAMPLEAKID0000000001:OY+1Yo04d2Dii9swS5r3n0iPdSc4WTbjSvzRyzPwjGk="
    )


@settings(max_examples=60, deadline=None)
@given(
    key=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=24),
    upload_id=st.text("0123456789abcdef", min_size=32, max_size=32),
)
def test_any_key_matches_sdk(key: str, upload_id: str) -> None:
    request = storfs_request("parts", ("mybucket", "gd2", key, upload_id), None, clock=TS_1325)
    sdk = sdk_service().Bucket("mybucket", "gd2").list_multipart_request(key, upload_id=upload_id)
    assert_same(request, sdk, DATE_1325)
