"""S3 through a real mount: the strict local fake (signatures, paging, regions) and moto + boto3.

The strict fake (tests/fakes/s3_server.py) proves what moto cannot: SigV4 is checked, ListBuckets
continuation and `max-uploads` paging happen, buckets live in regions. moto (an independent S3
implementation) proves the listings equal boto3's, field by field.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.backends import S3
from tests.fakes.moto_server import MotoServer
from tests.fakes.s3_server import S3Server
from tests.harness import Mount, run, write_config

N_BUCKETS = 23
PAGE = 5
AWKWARD_KEYS = ["dir/sub dir/ü file=50%.bin", "a/../b/./c", "..", "x" * 900, "sp ace+plus&amp=%2F", "a//b"]
SECRET_WRONG = "not-the-secret-at-all"


class Seed:
    def __init__(self) -> None:
        self.parts: dict[str, dict[str, int]] = {}  # upload id -> {part name: size}
        self.keys: dict[str, str] = {}  # upload id -> object key
        self.objects: dict[str, int] = {}  # top-level object name -> size


@pytest.fixture(scope="module")
def strict() -> Iterator[tuple[S3Server, Seed]]:
    rng = random.Random(15)
    seed = Seed()
    with S3Server() as s3:
        for i in range(N_BUCKETS):
            s3.add_bucket(f"bucket-{i:03d}", region="us-east-1", created=1_700_000_000 + i * 86400)
        s3.add_bucket("media", region="eu-west-1", created=1_600_000_000)
        for u in range(13):
            key = AWKWARD_KEYS[u] if u < len(AWKWARD_KEYS) else f"videos/{u:02d}/take {u}.mp4"
            upload_id = s3.add_upload("media", key, initiated=1_790_000_000 + u * 3600)
            seed.keys[upload_id] = key
            seed.parts[upload_id] = {}
            for n in sorted(rng.sample(range(1, 40), rng.randint(1, 12))):
                size = rng.choice([5 * 1024 * 1024, 5 * 1024 * 1024 + 1, rng.randint(1, 10**6)])
                s3.add_part(upload_id, n, size, mtime=1_790_000_000 + n)
                seed.parts[upload_id][f"{n:05d}"] = size
        for i in range(12):
            name = f"file-{i:02d}.bin"
            s3.add_object("media", name, i * 1000)
            seed.objects[name] = i * 1000
        for key in ("photos/2026/a.jpg", "photos/b.jpg", "logs/x.log", "dirmark/"):
            s3.add_object("media", key, 77)
        yield s3, seed


@pytest.fixture(scope="module")
def mounted(strict: tuple[S3Server, Seed], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:
    s3, _ = strict
    root = tmp_path_factory.mktemp("s3")
    config = write_config(
        root / "config.toml",
        {
            "s3.main": S3.table(s3, page_size=PAGE),
            "s3.walk": S3.table(s3, page_size=PAGE),
            "s3.pages": S3.table(s3, page_size=PAGE),
            "s3.big": S3.table(s3),
            "s3.wrong": S3.table(s3, secret_access_key=SECRET_WRONG),
            "cache": {"ttl": 300},
            "http": {"backoff": 0.01},
        },
    )
    with Mount(config, root / "mnt") as m:
        yield m


def buckets(m: Mount, account: str = "main") -> Path:
    return m.path("s3", account, "buckets")


def uploads(m: Mount, account: str = "main") -> Path:
    return buckets(m, account) / "media" / "uploads"


def test_buckets_page_by_continuation_token(mounted: Mount, strict) -> None:
    s3, _ = strict
    s3.reset_log()
    result = run(["ls", "-l", "--time-style=+%s", str(buckets(mounted))])
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert [row[-1] for row in rows] == sorted([f"bucket-{i:03d}" for i in range(N_BUCKETS)] + ["media"])
    assert all(row[0] == "dr-xr-xr-x" for row in rows)
    assert int(rows[0][-2]) == 1_700_000_000
    assert s3.count("list_buckets") == s3.count() == math.ceil((N_BUCKETS + 1) / PAGE)
    tokens = [dict(r.query).get("continuation-token") for r in s3.requests]
    assert tokens[0] is None and all(tokens[1:])
    assert all(dict(r.query).get("max-buckets") == str(PAGE) for r in s3.requests)
    s3.reset_log()
    run(["ls", "-l", str(buckets(mounted))])
    assert s3.requests == []


def test_bucket_xattrs(mounted: Mount) -> None:
    media = buckets(mounted) / "media"
    assert sorted(os.listxattr(media)) == ["user.s3.bucket_region", "user.s3.creation_date", "user.s3.name"]
    assert os.getxattr(media, "user.s3.bucket_region") == b"eu-west-1"
    assert os.getxattr(media, "user.s3.creation_date") == b"2020-09-13T12:26:40.000Z"
    assert sorted(os.listdir(media)) == ["objects", "uploads"]


def test_requests_go_to_the_bucket_region(mounted: Mount, strict) -> None:
    s3, seed = strict
    s3.reset_log()
    assert sorted(os.listdir(uploads(mounted))) == sorted(seed.parts)
    listed = [r for r in s3.requests if r.op == "list_uploads"]
    assert listed and all(r.region == "eu-west-1" and r.status == 200 for r in listed)


def test_uploads_page_by_key_and_upload_id_markers(mounted: Mount, strict) -> None:
    s3, seed = strict
    s3.reset_log()
    assert sorted(os.listdir(uploads(mounted, "walk"))) == sorted(seed.parts)
    listed = [r for r in s3.requests if r.op == "list_uploads"]
    assert len(listed) == math.ceil(len(seed.parts) / PAGE)
    assert all(dict(r.query)["max-uploads"] == str(PAGE) for r in listed)
    assert all("key-marker" in dict(r.query) and "upload-id-marker" in dict(r.query) for r in listed[1:])


@pytest.mark.parametrize("account", ["main", "big"])
def test_every_part_with_sizes_and_du(mounted: Mount, strict, account: str) -> None:
    _, seed = strict
    for upload_id, parts in seed.parts.items():
        listing = run(["ls", "-l", str(uploads(mounted, account) / upload_id / "parts")])
        rows = [line.split() for line in listing.stdout.splitlines()[1:]]
        assert {row[-1]: int(row[4]) for row in rows} == parts
        assert all(row[0] == "-r--r--r--" for row in rows)
        du = run(["du", "-cb", str(uploads(mounted, account) / upload_id / "parts")])
        assert int(du.stdout.splitlines()[-1].split()[0]) == sum(parts.values())


def test_parts_page_by_part_number_marker(mounted: Mount, strict) -> None:
    s3, seed = strict
    upload_id = max(seed.parts, key=lambda u: len(seed.parts[u]))
    s3.reset_log()
    assert len(os.listdir(uploads(mounted, "walk") / upload_id / "parts")) == len(seed.parts[upload_id])
    listed = [r for r in s3.requests if r.op == "list_parts"]
    assert len(listed) == math.ceil(len(seed.parts[upload_id]) / PAGE)


def test_upload_xattrs_keep_awkward_keys(mounted: Mount, strict) -> None:
    _, seed = strict
    for upload_id, key in seed.keys.items():
        upload = uploads(mounted) / upload_id
        assert os.getxattr(upload, "user.s3.key").decode() == key
        assert os.getxattr(upload, "user.s3.upload_id").decode() == upload_id
        assert os.getxattr(upload, "user.s3.initiator.display_name") == b"tests"


def test_find_mtime_finds_abandoned_uploads_in_every_bucket(mounted: Mount, strict) -> None:
    _, seed = strict
    pattern = str(buckets(mounted)) + "/*/uploads"
    old = run(f"find {pattern} -mindepth 1 -maxdepth 1 -mtime +7")
    assert len(old.stdout.splitlines()) == len(seed.parts)


def test_top_level_objects_and_prefixes(mounted: Mount, strict) -> None:
    s3, seed = strict
    # An account of its own: sibling prefetch in other tests' walks may have read `main`'s.
    objects = buckets(mounted, "pages") / "media" / "objects"
    assert run(["ls", str(buckets(mounted, "pages"))]).returncode == 0
    s3.reset_log()
    listing = run(["ls", "-l", str(objects)])
    rows = {row.split()[-1]: row.split() for row in listing.stdout.splitlines()[1:]}
    assert set(rows) == set(seed.objects) | {"photos", "logs", "dirmark"}
    assert {name: int(rows[name][4]) for name in seed.objects} == seed.objects
    assert rows["photos"][0].startswith("d") and rows["file-00.bin"][0] == "-r--r--r--"
    file = objects / "file-03.bin"
    assert os.getxattr(file, "user.s3.key") == b"file-03.bin"
    assert os.getxattr(file, "user.s3.storage_class") == b"STANDARD"
    assert os.getxattr(objects / "photos", "user.s3.prefix") == b"photos/"
    assert abs(os.stat(objects / "photos").st_mtime - time.time()) < 3600  # the mount's start
    requests = [dict(r.query) for r in s3.requests if r.op == "list_objects"]
    # The delimiter pages alone: an object at a page end is decided by the next page, which
    # the listing fetches anyway (README "Names"), so 15 names in pages of 5 cost 3 requests.
    assert [(q["list-type"], q["delimiter"], q["max-keys"]) for q in requests] == [("2", "/", str(PAGE))] * 3
    assert [q.get("continuation-token") is None for q in requests] == [True, False, False]


WALK_KEYS = {f"d{i // 30}/f{(i // 10) % 3}/obj-{i:03d}": i % 7 for i in range(300)}
WALK_DIRS = 10 + 10 * 3  # d0..d9, each with f0..f2
WALK_PAGE = 100


@pytest.fixture(scope="module")
def walk_server() -> Iterator[S3Server]:
    with S3Server() as s3:
        s3.add_bucket("tree")
        for key, size in WALK_KEYS.items():
            s3.add_object("tree", key, size)
        yield s3


@contextmanager
def walk_mount(s3: S3Server, root: Path) -> Iterator[Mount]:
    """A fresh mount of the walk bucket whose bucket listing is read, the request log reset."""
    config = write_config(root / "c.toml", {"s3.x": S3.table(s3, page_size=WALK_PAGE), "cache": {"ttl": 300}})
    with Mount(config, root / "mnt") as m:
        assert run(["ls", str(m.path("s3", "x", "buckets"))]).returncode == 0
        s3.reset_log()
        yield m


def listed_prefixes(s3: S3Server) -> list[tuple[str | None, str | None]]:
    """(prefix, delimiter) of each ListObjectsV2 request so far."""
    return [
        (dict(r.query).get("prefix"), dict(r.query).get("delimiter"))
        for r in s3.requests
        if r.op == "list_objects"
    ]


def test_a_walk_lists_the_bucket_flat_in_few_requests(walk_server: S3Server, tmp_path: Path) -> None:
    s3 = walk_server
    with walk_mount(s3, tmp_path) as m:
        objects = m.path("s3", "x", "buckets", "tree", "objects")
        found = run(["find", str(objects), "-type", "f", "-printf", "%P %s\n"], timeout=120)
        assert found.returncode == 0, found.stderr
        assert sorted(found.stdout.splitlines()) == sorted(f"{k} {v}" for k, v in WALK_KEYS.items())
        listed = [r for r in s3.requests if r.op == "list_objects"]
        flat = math.ceil(len(WALK_KEYS) / WALK_PAGE)
        # Directory by directory this walk costs one listing per directory (1 + 40); here the
        # top listing, then (when `find` enters `d0`, having read the top whole) the flat
        # listing of the bucket without a delimiter: ceil(300 / 100) pages. Nothing else.
        print(f"find over {len(WALK_KEYS)} objects in {WALK_DIRS} dirs: {len(listed)} ListObjectsV2")
        assert listed_prefixes(s3) == [(None, "/")] + [(None, None)] * flat
        assert len(listed) == 1 + flat < WALK_DIRS
        assert all(r.status == 200 and dict(r.query)["max-keys"] == str(WALK_PAGE) for r in listed)
        s3.reset_log()
        du = run(["du", "-sb", str(objects)])
        assert int(du.stdout.split()[0]) == sum(WALK_KEYS.values())
        assert s3.count() == 0  # every directory was filled by the flat listing


def test_a_lone_ls_of_a_small_directory_costs_one_request(walk_server: S3Server, tmp_path: Path) -> None:
    s3 = walk_server
    with walk_mount(s3, tmp_path) as m:
        objects = m.path("s3", "x", "buckets", "tree", "objects")
        lone = run(["ls", "-l", str(objects / "d0")])
        assert lone.returncode == 0, lone.stderr
        assert [line.split()[-1] for line in lone.stdout.splitlines()[1:]] == ["f0", "f1", "f2"]
        # Looking `d0` up in the bucket's top listing (not read yet) asks for `d0/`'s own first
        # page: that answer says it is a directory and is its listing, so `ls -l` costs 1.
        assert listed_prefixes(s3) == [("d0/", "/")]
        assert s3.count() == 1
        s3.reset_log()
        deeper = run(["ls", "-l", str(objects / "d0" / "f1")])
        assert len(deeper.stdout.splitlines()[1:]) == 10
        assert listed_prefixes(s3) == [("d0/f1/", "/")]
        # The top listing was probed once already: names in it now cost its own first page,
        # once, however many are asked for.
        s3.reset_log()
        for name in ("d3", "d4", "nothing-here"):
            run(["stat", str(objects / name)])
        assert listed_prefixes(s3) == [(None, "/")]


def test_separate_ls_of_a_directory_and_its_subdirectories_never_walk(
    walk_server: S3Server, tmp_path: Path
) -> None:
    s3 = walk_server
    with walk_mount(s3, tmp_path) as m:
        objects = m.path("s3", "x", "buckets", "tree", "objects")
        for path in (objects, objects / "d0", objects / "d1"):  # three processes: no walk shows
            result = run(["ls", str(path)])
            assert result.returncode == 0, result.stderr
        assert listed_prefixes(s3) == [(None, "/"), ("d0/", "/"), ("d1/", "/")]


def test_wrong_secret_is_permission_denied_fast_without_the_secret(mounted: Mount) -> None:
    started = time.monotonic()
    result = run(["ls", str(buckets(mounted, "wrong"))], timeout=30)
    assert time.monotonic() - started < 10  # no retries for a 403
    assert result.returncode != 0 and "Permission denied" in result.stderr
    log = mounted.log()
    assert "s3/wrong ListBuckets: HTTP 403 SignatureDoesNotMatch" in log
    assert log.count("s3/wrong ListBuckets: HTTP 403") == 1
    assert SECRET_WRONG not in log


def test_unknown_upload_and_bucket_are_enoent(mounted: Mount) -> None:
    result = run(["ls", str(uploads(mounted) / "no-such-upload")])
    assert "No such file or directory" in result.stderr
    result = run(["ls", str(buckets(mounted) / "no-such-bucket" / "uploads")])
    assert "No such file or directory" in result.stderr


def test_only_get_was_sent_and_every_request_was_signed_right(strict) -> None:
    s3, _ = strict
    assert all(r.method in ("GET", "HEAD") for r in s3.requests)
    assert {r.code for r in s3.requests} <= {"", "SignatureDoesNotMatch", "AuthorizationHeaderMalformed"}


# -- ListBuckets paging where a server lacks it ---------------------------------------------------


@pytest.mark.parametrize("mode", ["refuse", "silent"])
def test_buckets_without_paging_take_one_unpaged_call(mode: str, tmp_path: Path) -> None:
    with S3Server() as s3:
        s3.buckets_paging = mode
        for i in range(12):
            s3.add_bucket(f"b-{i:02d}")
        config = write_config(tmp_path / "c.toml", {"s3.x": S3.table(s3, page_size=5)})
        with Mount(config, tmp_path / "mnt") as m:
            assert run(["ls", str(m.path("s3", "x", "buckets"))]).stdout.split() == [
                f"b-{i:02d}" for i in range(12)
            ]
            assert s3.count("list_buckets") == 2  # the paged try, then the one that lists all
            assert "max-buckets" not in dict(s3.requests[-1].query)


def test_a_bucket_region_learnt_from_the_answer_is_followed_once(tmp_path: Path) -> None:
    with S3Server() as s3:
        s3.send_regions = False
        s3.add_bucket("far", region="ap-southeast-2")
        s3.add_upload("far", "k")
        config = write_config(tmp_path / "c.toml", {"s3.x": S3.table(s3), "cache": {"ttl": 0.5}})
        with Mount(config, tmp_path / "mnt") as m:
            far = m.path("s3", "x", "buckets", "far")
            assert len(os.listdir(far / "uploads")) == 1
            answers = [(r.region, r.status) for r in s3.requests if r.op == "list_uploads"]
            assert answers == [("us-east-1", 400), ("ap-southeast-2", 200)]
            time.sleep(0.6)
            s3.reset_log()
            assert len(os.listdir(far / "uploads")) == 1
            assert [(r.region, r.status) for r in s3.requests if r.op == "list_uploads"] == [
                ("ap-southeast-2", 200)
            ]


# -- moto + boto3: the listings equal the SDK's ---------------------------------------------------


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MotoServer, Mount]]:
    rng = random.Random(14)
    with MotoServer() as server:
        client = server.client()
        for name in ("alpha", "beta-logs", "gamma"):
            client.create_bucket(Bucket=name)
        for i in range(30):
            client.put_object(Bucket="alpha", Key=f"obj-{i:02d}", Body=os.urandom(rng.randint(0, 3000)))
        for i in range(60):
            key = f"tree/{i % 6}/{'deep/' * (i % 3)}leaf-{i:02d}.dat"
            client.put_object(Bucket="beta-logs", Key=key, Body=b"x" * i)
        for key in [
            "marker/",
            "marker/inside",
            "both",
            "both/hidden",
            "a//b",
            "a/./c",
            "a/../d",
            "sp ace/=50%/ü",
        ]:
            client.put_object(Bucket="beta-logs", Key=key, Body=b"awkward")
        for u, key in enumerate(["movie.mp4", "dir/sub dir/ü=50%.bin", "a/../b/./c", "movie.mp4"]):
            upload = client.create_multipart_upload(Bucket="gamma", Key=key)
            for n in sorted(rng.sample(range(1, 20), 2 + u)):
                body = b"p" * (5 * 1024 * 1024 if n % 2 else rng.randint(1, 5000))
                client.upload_part(
                    Bucket="gamma", Key=key, UploadId=upload["UploadId"], PartNumber=n, Body=body
                )
        root = tmp_path_factory.mktemp("moto")
        config = write_config(
            root / "config.toml", {"s3.moto": server.table(page_size=7), "s3.whole": server.table()}
        )
        with Mount(config, root / "mnt") as m:
            yield server, m


def walk(path: Path, *extra: str) -> dict[str, tuple[str, int, int]]:
    """`find` over the mount: relative path -> (type, size, mtime)."""
    result = run(["find", str(path), "-mindepth", "1", *extra, "-printf", r"%P\t%y\t%s\t%T@\n"], timeout=120)
    assert result.returncode == 0, result.stderr
    rows = (line.split("\t") for line in result.stdout.splitlines())
    return {p: (t, int(s), int(float(m))) for p, t, s, m in rows}


def epoch(value: Any) -> int:
    assert isinstance(value, datetime)
    return int(value.timestamp())


def usable(name: str) -> bool:
    return name not in ("", ".", "..") and len(name.encode()) <= 255


def boto_objects(
    client: Any, bucket: str, prefix: str, base: str, into: dict[str, tuple[str, int, int]]
) -> None:
    """The objects tree as the README's names rules say the mount shows it, from boto3's listings."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
    files: dict[str, tuple[str, int, int]] = {}
    dirs: list[str] = []
    for page in pages:
        for item in page.get("Contents", []):
            name = item["Key"][len(prefix) :]
            if name and usable(name):  # the key equal to the prefix is the directory's own marker
                files[name] = ("f", item["Size"], epoch(item["LastModified"]))
        dirs += [c["Prefix"][len(prefix) : -1] for c in page.get("CommonPrefixes", [])]
    for name, row in files.items():
        if name not in dirs:  # an object and a prefix of one name: the directory shows
            into[f"{base}/{name}"] = row
    for name in dirs:
        if usable(name):
            into[f"{base}/{name}"] = ("d", 0, -1)  # the mount's start, like a fixed directory
            boto_objects(client, bucket, f"{prefix}{name}/", f"{base}/{name}", into)


def boto_tree(client: Any) -> dict[str, tuple[str, int, int]]:
    """What the mount must show under buckets/, from boto3."""
    expected: dict[str, tuple[str, int, int]] = {}
    for bucket in client.list_buckets()["Buckets"]:
        name = bucket["Name"]
        expected[name] = ("d", 0, epoch(bucket["CreationDate"]))
        for fixed in ("objects", "uploads"):
            expected[f"{name}/{fixed}"] = ("d", 0, -1)
        boto_objects(client, name, "", f"{name}/objects", expected)
        for upload in client.list_multipart_uploads(Bucket=name).get("Uploads", []):
            base = f"{name}/uploads/{upload['UploadId']}"
            expected[base] = ("d", 0, epoch(upload["Initiated"]))
            expected[f"{base}/parts"] = ("d", 0, -1)
            parts = client.list_parts(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])["Parts"]
            for part in parts:
                row = ("f", part["Size"], epoch(part["LastModified"]))
                expected[f"{base}/parts/{part['PartNumber']:05d}"] = row
    return expected


@pytest.mark.parametrize("account", ["moto", "whole"])
def test_find_over_s3_equals_boto3(moto, account: str) -> None:
    server, m = moto
    expected = boto_tree(server.client())
    assert "beta-logs/objects/tree/2/deep/deep/leaf-02.dat" in expected
    assert "beta-logs/objects/sp ace/=50%/ü" in expected and "beta-logs/objects/marker/inside" in expected
    assert expected["beta-logs/objects/both"][0] == "d" and "beta-logs/objects/both/hidden" in expected
    assert "beta-logs/objects/a" in expected
    assert len(expected) > 120
    found = walk(m.path("s3", account, "buckets"))
    # Fixed directories carry the mount time, which boto3 cannot know.
    found = {p: (row if expected.get(p, ("", 0, 0))[2] != -1 else (*row[:2], -1)) for p, row in found.items()}
    assert found == expected


def test_du_and_getfattr_equal_boto3(moto) -> None:
    server, m = moto
    client = server.client()
    uploads_dir = m.path("s3", "moto", "buckets", "gamma", "uploads")
    for upload in client.list_multipart_uploads(Bucket="gamma")["Uploads"]:
        parts = client.list_parts(Bucket="gamma", Key=upload["Key"], UploadId=upload["UploadId"])["Parts"]
        du = run(["du", "-cb", str(uploads_dir / upload["UploadId"] / "parts")])
        assert int(du.stdout.splitlines()[-1].split()[0]) == sum(p["Size"] for p in parts)
        dumped = run(["getfattr", "-d", "--absolute-names", str(uploads_dir / upload["UploadId"])]).stdout
        assert f'user.s3.upload_id="{upload["UploadId"]}"' in dumped
        assert os.getxattr(uploads_dir / upload["UploadId"], "user.s3.key").decode() == upload["Key"]
        first = parts[0]
        part = uploads_dir / upload["UploadId"] / "parts" / f"{first['PartNumber']:05d}"
        assert os.getxattr(part, "user.s3.etag").decode() == first["ETag"].strip('"')
        assert os.getxattr(part, "user.s3.size").decode() == str(first["Size"])
    obj = client.list_objects_v2(Bucket="alpha", Delimiter="/")["Contents"][3]
    path = m.path("s3", "moto", "buckets", "alpha", "objects", obj["Key"])
    assert os.getxattr(path, "user.s3.etag").decode() == obj["ETag"].strip('"')
    assert os.getxattr(path, "user.s3.storage_class").decode() == obj["StorageClass"]
