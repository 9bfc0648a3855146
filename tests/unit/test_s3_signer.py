"""SigV4 for S3: pinned to the published vectors (providers.md 4.2) and to botocore's S3SigV4Auth.

Requests are prepared the way the provider prepares them (`S3Provider._send`): `prepare()` on
the origin, then the exact URL by hand, so `.`/`..` segments and escapes are signed as sent.
"""

from __future__ import annotations

import datetime
from unittest import mock
from urllib.parse import urlsplit

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from storfs.providers.s3.signer import (
    EMPTY_SHA256,
    SigV4Auth,
    canonical_query,
    canonical_request,
    host_header,
    signature,
    signing_key,
    string_to_sign,
    uri_encode,
)

AK, SK = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
WHEN = 1369353600.0  # 20130524T000000Z
DATE = "20130524T000000Z"

# providers.md 4.2: (url, region, signature); the first is the AWS documentation's own example.
VECTORS = [
    ("https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J", "us-east-1",
     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
    ("https://s3.amazonaws.com/", "us-east-1",
     "57e99900acd37e709c47d4a76162f2295a95eea8aa3c16f501a4794219655d62"),
    ("https://examplebucket.s3.amazonaws.com/?uploads&max-uploads=3&prefix=photos%2F", "us-east-1",
     "2ad42430fe9615dec82b8ddf19b32d27e80327e58661b75f0a7916bdc6bd1fa2"),
    ("https://examplebucket.s3.amazonaws.com/large-object?uploadId=VXBsb2FkIElE&max-parts=2&part-number-marker=1",
     "us-east-1", "d18cc00d4e982e6c180602d585d7653b8725db0b35a8c3a2e195e901154ad68e"),
    ("https://s3.pek3b.qingstor.com/", "pek3b",
     "8ecae7cac3a511982ee6396cbe283f8795d8d0c85e0471061e9e5bc2a7ebbed4"),
]  # fmt: skip

AWKWARD_KEYS = [
    "plain.txt",
    "dir/sub dir/ü file=50%.bin",
    "a/../b/./c",
    "..",
    "./x",
    "a//b",
    "sp ace+plus&amp=%2F",
    "日本語/キー",
    "tilde~and*star'quote(paren)",
    "x" * 900,
]


def prepared(url: str) -> requests.PreparedRequest:
    parts = urlsplit(url)
    request = requests.PreparedRequest()
    request.prepare(method="GET", url=f"{parts.scheme}://{parts.netloc}/")
    request.url = url
    return request


def ours(url: str, region: str = "us-east-1", token: str | None = None) -> requests.PreparedRequest:
    return SigV4Auth(AK, SK, region, session_token=token, clock=lambda: WHEN)(prepared(url))


def botocore_authorization(url: str, region: str = "us-east-1", token: str | None = None) -> str:
    request = AWSRequest(method="GET", url=url, headers={"X-Amz-Content-SHA256": EMPTY_SHA256})
    fixed = datetime.datetime(2013, 5, 24, 0, 0, 0)
    with mock.patch("botocore.auth.get_current_datetime", return_value=fixed):
        S3SigV4Auth(Credentials(AK, SK, token), "s3", region).add_auth(request)
    return str(request.headers["Authorization"])


@pytest.mark.parametrize(("url", "region", "expected"), VECTORS)
def test_published_vectors(url: str, region: str, expected: str) -> None:
    headers = {"host": host_header(url), "x-amz-date": DATE, "x-amz-content-sha256": EMPTY_SHA256}
    message = string_to_sign("GET", url, headers, region)
    assert signature(signing_key(SK, DATE, region), message) == expected
    assert ours(url, region).headers["Authorization"].endswith(f"Signature={expected}")


def test_the_aws_documentation_canonical_request() -> None:
    url = "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J"
    headers = {
        "Host": "examplebucket.s3.amazonaws.com",
        "x-amz-date": DATE,
        "x-amz-content-sha256": EMPTY_SHA256,
    }
    assert canonical_request("GET", url, headers) == (
        "GET\n/\nmax-keys=2&prefix=J\nhost:examplebucket.s3.amazonaws.com\n"
        f"x-amz-content-sha256:{EMPTY_SHA256}\nx-amz-date:{DATE}\n\n"
        f"host;x-amz-content-sha256;x-amz-date\n{EMPTY_SHA256}"
    )


def test_authorization_header_shape_and_added_headers() -> None:
    request = ours("https://s3.amazonaws.com/", token="FwoGZXIvYXdzEXAMPLETOKEN")
    assert request.headers["Host"] == "s3.amazonaws.com"
    assert request.headers["x-amz-date"] == DATE
    assert request.headers["x-amz-security-token"] == "FwoGZXIvYXdzEXAMPLETOKEN"
    assert request.headers["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature="
    )


@pytest.mark.parametrize("key", AWKWARD_KEYS)
@pytest.mark.parametrize(
    "origin", ["https://examplebucket.s3.amazonaws.com", "http://127.0.0.1:9000/examplebucket"]
)
def test_keys_sign_like_botocore(origin: str, key: str) -> None:
    url = f"{origin}/{uri_encode(key, keep_slash=True)}?uploadId=abc%2Bdef%3D&max-parts=1000"
    assert ours(url, "eu-west-1").headers["Authorization"] == botocore_authorization(url, "eu-west-1")


@pytest.mark.parametrize(
    "query",
    [
        "list-type=2&delimiter=%2F&max-keys=1000&prefix=a%20b%2F%3D%25",
        "continuation-token=1%2BabcDEF%2F%3D%3D&list-type=2",
        "uploads&max-uploads=1000&key-marker=%C3%BC%2F..%2F.&upload-id-marker=x~y",
        "max-buckets=1000&continuation-token=eyJhIjoiYiJ9",
        "prefix=%E6%97%A5%E6%9C%AC&list-type=2",
    ],
)
def test_queries_sign_like_botocore(query: str) -> None:
    url = f"http://127.0.0.1:4566/bucket?{query}"
    assert ours(url).headers["Authorization"] == botocore_authorization(url)


def test_session_token_signs_like_botocore() -> None:
    url = "https://s3.eu-west-1.amazonaws.com/media?uploads"
    token = "IQoJb3JpZ2luX2VjEXAMPLE/+="
    assert ours(url, "eu-west-1", token).headers["Authorization"] == botocore_authorization(
        url, "eu-west-1", token
    )


def test_host_drops_only_the_default_port() -> None:
    assert host_header("https://S3.Example.com:443/x") == "s3.example.com"
    assert host_header("http://127.0.0.1:80/") == "127.0.0.1"
    assert host_header("http://127.0.0.1:9000/") == "127.0.0.1:9000"
    assert host_header("https://example.com:80/") == "example.com:80"


def test_canonical_query_encodes_once_and_sorts() -> None:
    assert canonical_query("uploads") == "uploads="
    assert canonical_query("b=2&a=1&a=0") == "a=0&a=1&b=2"
    assert canonical_query("prefix=a b") == "prefix=a%20b"
    assert canonical_query("prefix=a%2Fb") == "prefix=a%2Fb"
    assert canonical_query("prefix=a+b") == "prefix=a%2Bb"
    assert canonical_query("k=%7E~") == "k=~~"


def test_signing_key_changes_with_the_day() -> None:
    auth = SigV4Auth(AK, SK, "us-east-1", clock=lambda: WHEN)
    first = auth(prepared("https://s3.amazonaws.com/")).headers["Authorization"]
    auth._clock = lambda: WHEN + 86400
    second = auth(prepared("https://s3.amazonaws.com/")).headers["Authorization"]
    assert "/20130525/" in second and first.rsplit("=", 1)[1] != second.rsplit("=", 1)[1]


def test_repr_names_no_secret() -> None:
    assert SK not in repr(SigV4Auth(AK, SK, "us-east-1"))


@settings(max_examples=150, deadline=None)
@given(
    key=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1, max_size=40
    ),
    prefix=st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
)
def test_any_key_and_prefix_sign_like_botocore(key: str, prefix: str) -> None:
    query = f"max-parts=5&uploadId=u&prefix={uri_encode(prefix)}"
    url = f"http://127.0.0.1:9000/bucket/{uri_encode(key, keep_slash=True)}?{query}"
    assert ours(url).headers["Authorization"] == botocore_authorization(url)
