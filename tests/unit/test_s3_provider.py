"""The S3 provider without FUSE: XML parsing, errors, config and discovery, lookups and regions."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from storfs.config import discovered_accounts
from storfs.errors import AccessDenied, BadResponse, ConfigError, NotFound, RemoteError
from storfs.providers.s3 import S3Provider, parse
from storfs.providers.s3.credentials import discover, profile_settings
from storfs.providers.s3.errors import Unsupported, WrongRegion, decode_error
from storfs.redact import REDACTOR
from storfs.transport import HttpSettings
from tests.fakes.s3_server import S3Server

HTTP = HttpSettings(connect_timeout=2, read_timeout=5, retries=0, deadline=10)
NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def provider(server: S3Server | None = None, **settings: Any) -> S3Provider:
    base: dict[str, Any] = {"access_key_id": "AKID", "secret_access_key": "secret-for-tests"}
    if server is not None:
        base = {
            "access_key_id": server.access_key_id,
            "secret_access_key": server.secret,
            "endpoint": server.url,
        }
    return S3Provider("t", {**base, **settings}, HTTP)


# -- parsing -------------------------------------------------------------------------------------


def test_buckets_parse_namespaced_xml_with_regions() -> None:
    body = (
        f"<ListAllMyBucketsResult {NS}><Owner><ID>o</ID></Owner><Buckets>"
        "<Bucket><Name>a</Name><CreationDate>2019-12-11T23:32:47.000Z</CreationDate>"
        "<BucketRegion>eu-west-1</BucketRegion></Bucket>"
        "<Bucket><Name>b</Name></Bucket>"
        "</Buckets><ContinuationToken>tok</ContinuationToken></ListAllMyBucketsResult>"
    ).encode()
    page = parse.buckets(body, "t")
    assert [e.name for e in page.entries] == ["a", "b"]
    assert page.entries[0].mtime == 1576107167.0 and page.entries[1].mtime == 0.0  # none sent
    assert page.regions == {"a": "eu-west-1"} and page.continuation == "tok"
    dated = body.replace(b"<Name>b</Name>", b"<Name>b</Name><CreationDate>yesterday</CreationDate>")
    with pytest.raises(BadResponse, match="`CreationDate` that is not a time: yesterday"):
        parse.buckets(dated, "t")  # not a made-up 1970


def test_objects_page_as_sent_with_marker_and_fields() -> None:
    body = (
        f"<ListBucketResult {NS}><Name>b</Name><Prefix>p/</Prefix><IsTruncated>true</IsTruncated>"
        "<NextContinuationToken>next</NextContinuationToken>"
        "<Contents><Key>p/</Key><Size>0</Size></Contents>"
        '<Contents><Key>p/a</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified><ETag>"e1"</ETag>'
        "<Size>12</Size><Owner><ID>id1</ID><DisplayName>me</DisplayName></Owner>"
        "<ChecksumAlgorithm>CRC32</ChecksumAlgorithm><ChecksumAlgorithm>SHA256</ChecksumAlgorithm></Contents>"
        "<Contents><Key>p/a.txt</Key><Size>3</Size></Contents>"
        "<CommonPrefixes><Prefix>p/a/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>p/0/</Prefix></CommonPrefixes>"
        "</ListBucketResult>"
    ).encode()
    page = parse.objects(body, "p/", "t", dir_mtime=7.0)
    # As sent: which of these a directory shows is names.decide's (tests/unit/test_s3_walk.py).
    assert [(k, e.name) for k, e in page.objects] == [("p/", ""), ("p/a", "a"), ("p/a.txt", "a.txt")]
    assert [(k, e.name, e.is_dir, e.mtime) for k, e in page.prefixes] == [
        ("p/a/", "a", True, 7.0),
        ("p/0/", "0", True, 7.0),
    ]
    assert page.next_token == "next"
    a = page.objects[1][1]
    assert (a.size, a.mtime) == (12, 1255369830.0)
    assert dict(a.xattrs()) == {
        "user.s3.key": "p/a",
        "user.s3.last_modified": "2009-10-12T17:50:30.000Z",
        "user.s3.etag": "e1",
        "user.s3.size": "12",
        "user.s3.owner.id": "id1",
        "user.s3.owner.display_name": "me",
        "user.s3.checksum_algorithm": "CRC32,SHA256",
    }
    assert page.objects[2][1].size == 3
    for size in (b"-3", b"3.5", b"9" * 19, b"\xd9\xa3"):  # the last: an Arabic-Indic digit
        odd = body.replace(b"<Size>3</Size>", b"<Size>" + size + b"</Size>")
        with pytest.raises(BadResponse, match="`Size` that is not a size"):
            parse.objects(odd, "p/", "t", dir_mtime=7.0)  # not a made-up 0
    directory = page.prefixes[0][1]
    assert directory.ref == ("p/a/",) and directory.xattr("user.s3.prefix") == "p/a/"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<!DOCTYPE x><ListBucketResult/>", "DTD"),
        (b"<ListBucketResult><Contents>", "malformed"),
        (b"<Error><Code>InternalError</Code></Error>", "success status"),
        (b"<Other/>", "not <ListBucketResult>"),
        (b"<ListBucketResult><Contents><Key>q/x</Key></Contents></ListBucketResult>", "outside prefix"),
        (
            b"<ListBucketResult><CommonPrefixes><Prefix>p/x</Prefix></CommonPrefixes></ListBucketResult>",
            "outside",
        ),
        (
            b"<ListBucketResult><CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes></ListBucketResult>",
            "outside",
        ),
        (b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", "NextContinuationToken"),
        (b"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>", "without <Key>"),
    ],
)
def test_objects_refuse_what_is_not_a_listing(body: bytes, message: str) -> None:
    with pytest.raises(BadResponse, match=message):
        parse.objects(body, "p/", "t")


def test_uploads_and_parts_paging_fields() -> None:
    uploads = parse.uploads(
        b"<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>k</NextKeyMarker>"
        b"<NextUploadIdMarker>u</NextUploadIdMarker><Upload><Key>a/../b</Key><UploadId>id1</UploadId>"
        b"<Initiated>2010-11-10T20:48:33.000Z</Initiated></Upload></ListMultipartUploadsResult>",
        "t",
    )
    assert uploads.next_markers == ("k", "u") and uploads.entries[0].ref == ("a/../b",)
    with pytest.raises(BadResponse, match="NextKeyMarker"):
        parse.uploads(
            b"<ListMultipartUploadsResult><IsTruncated>true</IsTruncated></ListMultipartUploadsResult>", "t"
        )
    parts = parse.parts(
        b"<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>7</NextPartNumberMarker>"
        b"<Part><PartNumber>7</PartNumber><Size>5242880</Size></Part></ListPartsResult>",
        "t",
    )
    assert parts.next_marker == "7" and [(e.name, e.size) for e in parts.entries] == [("00007", 5242880)]
    with pytest.raises(BadResponse, match="PartNumber"):
        parse.parts(b"<ListPartsResult><Part><PartNumber>x</PartNumber></Part></ListPartsResult>", "t")


# -- errors --------------------------------------------------------------------------------------


def response(status: int, body: str = "", headers: dict[str, str] | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = body.encode()
    r.headers.update(headers or {})
    return r


def error(code: str, extra: str = "") -> str:
    return f"<Error><Code>{code}</Code><Message>m</Message>{extra}</Error>"


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "errno_code"),
    [
        (404, error("NoSuchBucket"), {}, NotFound, errno.ENOENT),
        (404, error("NoSuchUpload"), {}, NotFound, errno.ENOENT),
        (404, "", {}, NotFound, errno.ENOENT),
        (403, error("AccessDenied"), {}, AccessDenied, errno.EACCES),
        (403, error("InvalidAccessKeyId"), {}, AccessDenied, errno.EACCES),
        (403, error("SignatureDoesNotMatch"), {}, AccessDenied, errno.EACCES),
        (400, error("ExpiredToken"), {}, AccessDenied, errno.EACCES),
        (403, error("RequestTimeTooSkewed"), {}, AccessDenied, errno.EACCES),
        (403, "<html>nope</html>", {}, AccessDenied, errno.EACCES),
        (503, error("SlowDown"), {}, RemoteError, errno.EIO),
        (400, error("InvalidArgument"), {}, Unsupported, errno.EIO),
        (301, error("PermanentRedirect"), {"x-amz-bucket-region": "eu-west-1"}, WrongRegion, errno.EIO),
        (
            400,
            error("AuthorizationHeaderMalformed", "<Region>ap-south-1</Region>"),
            {},
            WrongRegion,
            errno.EIO,
        ),
        (400, error("AuthorizationHeaderMalformed"), {}, RemoteError, errno.EIO),
    ],
)
def test_error_table(status: int, body: str, headers: dict[str, str], kind: type, errno_code: int) -> None:
    result = decode_error(response(status, body, headers))
    assert type(result) is kind and result.errno == errno_code
    assert "m" not in str(result).split()  # the server's message is not repeated


def test_wrong_region_names_the_region() -> None:
    result = decode_error(response(301, error("PermanentRedirect"), {"x-amz-bucket-region": "eu-west-1"}))
    assert isinstance(result, WrongRegion) and result.region == "eu-west-1"


# -- config, addressing, discovery ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"secret_access_key": None}, "secret_access_key"),
        ({"region": "EU WEST"}, "region"),
        ({"addressing_style": "dns"}, "addressing_style"),
        ({"endpoint": "ftp://x"}, "endpoint"),
    ],
)
def test_config_errors_name_the_key(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        provider(**settings)


def test_addressing_styles_and_the_aws_default_endpoint() -> None:
    aws = provider(region="eu-west-1")
    assert aws._bucket_base("media", "eu-west-1") == "https://media.s3.eu-west-1.amazonaws.com"
    assert (
        aws._bucket_base("my.dotted.bucket", "eu-west-1")
        == "https://s3.eu-west-1.amazonaws.com/my.dotted.bucket"
    )
    assert aws._service_origin("us-east-1") == "https://s3.us-east-1.amazonaws.com"
    custom = provider(endpoint="http://minio:9000")
    assert custom._bucket_base("media", "us-east-1") == "http://minio:9000/media"
    virtual = provider(endpoint="https://storage.example.com", addressing_style="virtual")
    assert virtual._bucket_base("media", "x") == "https://media.storage.example.com"


def test_secret_and_token_are_redacted() -> None:
    provider(session_token="TOKEN-for-redaction-test")
    assert "secret-for-tests" not in REDACTOR.redact("key secret-for-tests here")
    assert "TOKEN-for-redaction-test" not in REDACTOR.redact("x TOKEN-for-redaction-test")
    line = "Authorization: AWS4-HMAC-SHA256 Credential=AKID/..., Signature=" + "ab" * 32
    assert "ab" * 32 not in REDACTOR.redact(line)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_discover_from_environment(tmp_path: Path) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "AKIDENV",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_SESSION_TOKEN": "t",
        "AWS_REGION": "eu-central-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    [(table, source)] = discover(env, tmp_path)
    assert table == {
        "access_key_id": "AKIDENV",
        "secret_access_key_env": "AWS_SECRET_ACCESS_KEY",
        "session_token_env": "AWS_SESSION_TOKEN",
        "region": "eu-central-1",
        "endpoint": "http://127.0.0.1:9",
    }
    assert source == "environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN"
    [account] = [a for a in discovered_accounts(env, tmp_path)[0] if a.provider == "s3"]
    assert account.account == "default" and account.settings["secret_access_key"] == "s"


def test_discover_from_the_aws_cli_files(tmp_path: Path) -> None:
    write(tmp_path / ".aws" / "credentials", "[default]\naws_access_key_id = AK1\naws_secret_access_key = SK1\n"
          "[work]\naws_access_key_id = AK2\naws_secret_access_key = SK2\n")  # fmt: skip
    write(tmp_path / ".aws" / "config", "[default]\nregion = us-west-2\n[profile work]\nregion = eu-west-3\n"
          "s3 =\n  addressing_style = path\n  endpoint_url = http://127.0.0.1:4566\n")  # fmt: skip
    [(table, source)] = discover({}, tmp_path)
    assert table["profile"] == "default" and "(profile default)" in source
    settings = profile_settings("work", table["credentials_file"], table["config_file"], "w")
    assert settings == {
        "access_key_id": "AK2",
        "secret_access_key": "SK2",
        "region": "eu-west-3",
        "addressing_style": "path",
        "endpoint": "http://127.0.0.1:4566",
    }
    [(work, _)] = discover({"AWS_PROFILE": "work"}, tmp_path)
    p = S3Provider("default", work, HTTP)
    assert (p.region, p.endpoint, p.addressing_style) == ("eu-west-3", "http://127.0.0.1:4566", "path")
    with pytest.raises(ConfigError, match="profile 'absent' has no aws_access_key_id"):
        discover({"AWS_PROFILE": "absent"}, tmp_path)
    assert discover({}, tmp_path / "elsewhere") == []


def test_half_an_environment_pair_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="set AWS_SECRET_ACCESS_KEY too"):
        discover({"AWS_ACCESS_KEY_ID": "AK"}, tmp_path)
    with pytest.raises(ConfigError, match="set AWS_ACCESS_KEY_ID too"):
        discover({"AWS_SECRET_ACCESS_KEY": "SK"}, tmp_path)


def test_a_table_naming_a_profile_without_keys_is_a_config_error(tmp_path: Path) -> None:
    creds = write(tmp_path / "credentials", "[other]\naws_access_key_id = A\n")
    with pytest.raises(ConfigError, match="profile 'prod' has no aws_access_key_id"):
        S3Provider("x", {"profile": "prod", "credentials_file": str(creds)}, HTTP)


# -- against the strict fake ---------------------------------------------------------------------


@pytest.fixture
def strict() -> Iterator[S3Server]:
    with S3Server() as s3:
        s3.add_bucket("b")
        s3.add_bucket("eu", region="eu-west-1")
        for key in ("file", "name", "name.txt", "name-2", "name/inner", "only/", "deep/a/b", "x"):
            s3.add_object("b", key, 3)
        yield s3


def test_lookup_objects_answers_exactly_the_listing_entry(strict: S3Server) -> None:
    p = provider(strict, page_size=1000)
    root = p.key("objects", "b", "")
    listing = {e.name: e for e in p.list_page(root, None).entries}
    strict.reset_log()
    found = p.lookup(root, "file")
    assert found is not None and (found.name, found.size, found.fields) == ("file", 3, listing["file"].fields)
    assert strict.count() == 1
    strict.reset_log()
    # `name` is both an object and a prefix: the directory, as the listing shows it (README "Names").
    name = p.lookup(root, "name")
    assert name is not None and name.is_dir and name.fields == listing["name"].fields
    assert ("name", "object shadowed by a directory of the same name") in p.not_shown(root)
    deep = p.lookup(root, "deep")
    assert (
        deep is not None and deep.is_dir and deep.fields == listing["deep"].fields and deep.ref == ("deep/",)
    )
    only = p.lookup(root, "only")
    assert only is not None and only.is_dir  # a directory made only of its `only/` marker
    assert p.lookup(root, "nam") is None and p.lookup(root, "absent") is None
    assert p.lookup(root, "a/b") is None


def test_lookup_of_a_prefix_behind_siblings_costs_two_requests(strict: S3Server) -> None:
    strict.add_object("b", "sib!", 1)
    strict.add_object("b", "sib.a", 1)
    strict.add_object("b", "sib.b", 1)
    strict.add_object("b", "sib/child", 1)
    p = provider(strict)
    strict.reset_log()
    entry = p.lookup(p.key("objects", "b", ""), "sib")
    assert entry is not None and entry.is_dir and strict.count("list_objects") == 2


def test_lookup_buckets_and_no_cheap_lookup_elsewhere(strict: S3Server) -> None:
    p = provider(strict)
    assert p.lookup(p.key("buckets"), "eu") is not None and p.bucket_region("eu") == "eu-west-1"
    assert p.lookup(p.key("buckets"), "e") is None
    with pytest.raises(NotImplementedError):
        p.lookup(p.key("uploads", "b"), "some-id")


def test_contents_of_a_prefix_is_its_own_listing(strict: S3Server) -> None:
    p = provider(strict)
    root = p.key("objects", "b", "")
    deep = next(e for e in p.list_page(root, None).entries if e.name == "deep")
    inner = p.contents(root, deep)
    assert inner == p.key("objects", "b", "deep/")
    [a] = p.list_page(inner, None).entries
    assert a.name == "a" and a.is_dir and p.contents(inner, a) == p.key("objects", "b", "deep/a/")
    file = next(e for e in p.list_page(root, None).entries if e.name == "file")
    assert p.contents(root, file) is None


def test_a_bucket_gone_is_not_found_on_any_page(strict: S3Server) -> None:
    # The engine turns a NotFound after the first page into EIO (tests/faults/test_listing_trust.py).
    p = provider(strict, page_size=2)
    key = p.key("objects", "b", "")
    first = p.list_page(key, None)
    del strict.buckets["b"]
    with pytest.raises(NotFound):
        p.list_page(key, first.next_cursor)
    with pytest.raises(NotFound):
        p.list_page(key, None)


def test_wrong_region_is_followed_once_never_looped(
    strict: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = provider(strict)
    calls: list[str] = []

    def always_elsewhere(op: str, base: str, path: str, query: Any, region: str, what: str, *_: Any) -> bytes:
        calls.append(region)
        raise WrongRegion("HTTP 301 PermanentRedirect", "eu-west-1" if region != "eu-west-1" else "us-west-2")

    monkeypatch.setattr(p, "_send", always_elsewhere)
    with pytest.raises(BadResponse, match="after following"):
        p.list_page(p.key("uploads", "b"), None)
    assert calls == ["us-east-1", "eu-west-1"]


def test_redirect_mode_301_is_followed_too(strict: S3Server) -> None:
    strict.redirect_mode = "301"
    strict.send_regions = False
    p = provider(strict)
    assert p.list_page(p.key("objects", "eu", ""), None).entries == []
    assert [(r.status, r.region) for r in strict.requests] == [(301, "us-east-1"), (200, "eu-west-1")]


def test_session_token_is_sent_and_checked(strict: S3Server) -> None:
    strict.session_token = "FQoGZXIvYXdzEXAMPLE"
    assert provider(strict, session_token="FQoGZXIvYXdzEXAMPLE").list_page(
        provider(strict).key("buckets"), None
    )
    with pytest.raises(AccessDenied, match="InvalidToken"):
        provider(strict, session_token="other").list_page(provider(strict).key("buckets"), None)


def test_a_server_ignoring_the_buckets_prefix_has_no_cheap_lookup(
    strict: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = provider(strict)
    ignoring = parse.BucketsPage([parse.buckets(b"<ListAllMyBucketsResult><Buckets><Bucket><Name>a</Name>"
                                                 b"</Bucket></Buckets></ListAllMyBucketsResult>", "t").entries[0]], {}, None)  # fmt: skip
    monkeypatch.setattr(p, "_buckets_request", lambda query, op: ignoring)
    with pytest.raises(NotImplementedError):
        p.lookup(p.key("buckets"), "b")


def test_fetch_page_names_the_next_token_before_parsing(strict: S3Server) -> None:
    p = provider(strict, page_size=2)
    key = p.key("objects", "b", "")
    fetched = p.fetch_page(key, None)
    assert fetched.hint is not None and fetched.hint == fetched.page().next_cursor
    names, cursor = [], None
    while True:
        page = p.fetch_page(key, cursor).page()
        names += [e.name for e in page.entries]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert names == ["deep", "file", "name-2", "name", "name.txt", "only", "x"]  # each page by name
    truncated = b"<IsTruncated>true</IsTruncated><NextContinuationToken> a&amp;b </NextContinuationToken>"
    assert parse.next_token_hint(truncated) == "a&b"
    assert parse.next_token_hint(b"<ListBucketResult/>") is None


def test_uploads_and_parts_hint_their_next_cursor_only_when_truncated(strict: S3Server) -> None:
    ids = [strict.add_upload("b", f"k/{i}") for i in range(5)]
    for n in (1, 2, 3, 7):
        strict.add_part(ids[0], n, 10)
    p = provider(strict, page_size=2)
    uploads = p.key("uploads", "b")
    seen, cursor = [], None
    while True:
        fetched = p.fetch_page(uploads, cursor)
        page = fetched.page()
        assert fetched.hint == page.next_cursor
        seen += [e.name for e in page.entries]
        if (cursor := page.next_cursor) is None:
            break
    assert sorted(seen) == sorted(ids)
    parts = p.key("parts", "b", "k/0", ids[0])
    first = p.fetch_page(parts, None)
    assert first.hint == first.page().next_cursor == "2"
    last = p.fetch_page(parts, "2")
    assert [e.name for e in last.page().entries] == ["00003", "00007"] and last.hint is None
    # AWS sends NextKeyMarker on the last page too: no hint then, or every listing would cost one more.
    body = b"<ListMultipartUploadsResult><NextKeyMarker>k</NextKeyMarker><IsTruncated>false</IsTruncated>"
    assert parse.next_uploads_hint(body + b"</ListMultipartUploadsResult>") is None
