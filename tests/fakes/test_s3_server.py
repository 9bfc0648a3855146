"""The strict S3 fake, proven with boto3 as its client: what botocore signs, it accepts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.fakes.s3_server import S3Server

KEYS = ["plain", "dir/sub dir/ü=50%.bin", "a/../b/./c", "a//b", "sp ace+plus", "x/y/z", "x/y2", "x0"]


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    with S3Server() as s3:
        for i in range(7):
            s3.add_bucket(f"b-{i}")
        s3.add_bucket("eu", region="eu-west-1")
        for key in KEYS:
            s3.add_object("b-0", key, len(key))
        for i in range(5):
            upload = s3.add_upload("b-0", KEYS[i % 3], initiated=1_700_000_000 + i)
            for n in (1, 2, 5, 9):
                s3.add_part(upload, n, n * 10)
        yield s3


def client(s3: S3Server, secret: str | None = None, region: str = "us-east-1") -> Any:
    return boto3.client(
        "s3",
        endpoint_url=s3.url,
        region_name=region,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key=secret or s3.secret,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_list_buckets_pages_with_continuation_tokens(server: S3Server) -> None:
    pages = client(server).get_paginator("list_buckets").paginate(PaginationConfig={"PageSize": 3})
    names = [b["Name"] for page in pages for b in page["Buckets"]]
    assert names == sorted(server.buckets)
    assert server.count("list_buckets") >= 3


def test_list_objects_v2_with_delimiter_and_pages(server: S3Server) -> None:
    paginator = client(server).get_paginator("list_objects_v2")
    pages = list(paginator.paginate(Bucket="b-0", Delimiter="/", PaginationConfig={"PageSize": 2}))
    keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
    prefixes = [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    assert keys == ["plain", "sp ace+plus", "x0"]
    assert prefixes == ["a/", "dir/", "x/"]
    flat = client(server).list_objects_v2(Bucket="b-0")
    assert [o["Key"] for o in flat["Contents"]] == sorted(KEYS)


def test_uploads_page_by_max_uploads_and_parts_by_marker(server: S3Server) -> None:
    c = client(server)
    server.reset_log()
    pages = list(
        c.get_paginator("list_multipart_uploads").paginate(Bucket="b-0", PaginationConfig={"PageSize": 2})
    )
    uploads = [u for p in pages for u in p.get("Uploads", [])]
    assert len(uploads) == 5 and server.count("list_uploads") == 3
    first = uploads[0]
    parts = c.list_parts(
        Bucket="b-0", Key=first["Key"], UploadId=first["UploadId"], PartNumberMarker=2, MaxParts=1
    )
    assert [p["PartNumber"] for p in parts["Parts"]] == [5] and parts["IsTruncated"]


def test_wrong_secret_and_wrong_region_are_refused(server: S3Server) -> None:
    with pytest.raises(ClientError) as denied:
        client(server, secret="wrong").list_buckets()
    assert denied.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    # botocore understands the wrong-region answer: it re-signs for the region named and retries.
    server.reset_log()
    assert client(server).list_objects_v2(Bucket="eu")["KeyCount"] == 0
    answers = [(r.region, r.status, r.code) for r in server.requests if r.op == "list_objects"]
    assert answers[0] == ("us-east-1", 400, "AuthorizationHeaderMalformed")
    assert answers[-1] == ("eu-west-1", 200, "")


def test_unknown_bucket_and_upload(server: S3Server) -> None:
    with pytest.raises(ClientError) as missing:
        client(server).list_multipart_uploads(Bucket="nope")
    assert missing.value.response["Error"]["Code"] == "NoSuchBucket"
    with pytest.raises(ClientError) as upload:
        client(server).list_parts(Bucket="b-0", Key="plain", UploadId="nope")
    assert upload.value.response["Error"]["Code"] == "NoSuchUpload"


def test_virtual_host_addressing_as_botocore_signs_it(
    server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    import urllib3.util.connection

    real = urllib3.util.connection.create_connection

    def loopback(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        # `*.s3.localhost` does not resolve here: send it to 127.0.0.1, the Host header unchanged.
        host = "127.0.0.1" if address[0].endswith("s3.localhost") else address[0]
        return real((host, address[1]), *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", loopback)
    monkeypatch.setattr(server, "virtual_host", "s3.localhost")
    virtual = boto3.client(
        "s3",
        endpoint_url=f"http://s3.localhost:{server.port}",
        region_name="us-east-1",
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret,
        config=Config(s3={"addressing_style": "virtual"}, retries={"max_attempts": 1}),
    )
    server.reset_log()
    flat = virtual.list_objects_v2(Bucket="b-0")
    assert [o["Key"] for o in flat["Contents"]] == sorted(KEYS)
    upload = virtual.list_multipart_uploads(Bucket="b-0")["Uploads"][0]
    parts = virtual.list_parts(Bucket="b-0", Key=upload["Key"], UploadId=upload["UploadId"])["Parts"]
    assert [p["PartNumber"] for p in parts] == [1, 2, 5, 9]
    assert [(r.op, r.status, r.host, r.path.startswith("/b-0")) for r in server.requests] == [
        (op, 200, f"b-0.s3.localhost:{server.port}", False)
        for op in ("list_objects", "list_uploads", "list_parts")
    ]
