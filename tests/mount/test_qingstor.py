"""QingStor buckets, uploads and parts through a real mount, against the faithful local server."""

from __future__ import annotations

import errno
import math
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import QINGSTOR
from tests.fakes.qingstor_server import QingStorServer
from tests.harness import Mount, run, write_config

N_BUCKETS = 450
PAGE = 200
AWKWARD_KEYS = ["dir/sub dir/ü file=50%.bin", "a/../b/./c", "..", "x" * 900, "tab\tand\nnewline"]


class Seed:
    """What the server holds, as the tests expect to see it."""

    def __init__(self) -> None:
        self.parts: dict[str, dict[str, int]] = {}  # upload id -> {part name: size}
        self.keys: dict[str, str] = {}  # upload id -> object key


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[QingStorServer, Seed]]:
    rng = random.Random(7)
    seed = Seed()
    with QingStorServer() as qs:
        for i in range(N_BUCKETS):
            qs.add_bucket(f"bucket-{i:04d}", location="pek3a" if i % 3 else "sh1a")
        for u in range(25):
            key = f"videos/{u:02d}/take {u}.mp4" if u >= len(AWKWARD_KEYS) else AWKWARD_KEYS[u]
            upload_id = qs.add_upload("bucket-0001", key, created=f"2026-10-{u + 1:02d}T10:00:00.000Z")
            seed.keys[upload_id] = key
            numbers = sorted(rng.sample(range(0, 40), rng.randint(1, 30)))
            seed.parts[upload_id] = {}
            for n in numbers:
                size = rng.choice([10 * 1024 * 1024, 5 * 1024 * 1024 + 1, rng.randint(1, 10**6)])
                qs.add_part("bucket-0001", upload_id, n, size)
                seed.parts[upload_id][f"{n:05d}"] = size
        yield qs, seed


@pytest.fixture(scope="module")
def mounted(server: tuple[QingStorServer, Seed], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:
    qs, _ = server
    root = tmp_path_factory.mktemp("qingstor")
    account = QINGSTOR.table(qs)
    config = write_config(
        root / "config.toml",
        {
            "qingstor.main": {**account, "page_size": PAGE},
            "qingstor.small": {**account, "page_size": 3},
            "qingstor.paging": {**account, "page_size": 3},
            "qingstor.walk": {**account, "page_size": PAGE},
            "qingstor.wrong": {**account, "secret_access_key": "not-the-secret"},
            "cache": {"ttl": 300},
        },
    )
    with Mount(config, root / "mnt") as m:
        yield m


def uploads_dir(m: Mount, account: str = "main") -> Path:
    return m.path("qingstor", account, "buckets", "bucket-0001", "uploads")


def test_450_buckets_in_3_requests(mounted: Mount, server) -> None:
    qs, _ = server
    qs.reset_log()
    result = run(["ls", "-l", str(mounted.path("qingstor", "main", "buckets"))])
    names = [line.split()[-1] for line in result.stdout.splitlines()[1:]]
    assert names == [f"bucket-{i:04d}" for i in range(N_BUCKETS)]
    assert all(line.startswith("dr-xr-xr-x 2 ") for line in result.stdout.splitlines()[1:])
    assert qs.count("list_buckets") == math.ceil(N_BUCKETS / PAGE) == 3
    assert len(qs.requests) == 3
    qs.reset_log()
    run(["ls", "-l", str(mounted.path("qingstor", "main", "buckets"))])
    assert qs.requests == []


def test_bucket_attributes(mounted: Mount) -> None:
    bucket = mounted.path("qingstor", "main", "buckets", "bucket-0000")
    assert os.getxattr(bucket, "user.qingstor.location") == b"sh1a"
    assert os.getxattr(bucket, "user.qingstor.url") == b"https://bucket-0000.sh1a.qingstor.com"
    assert os.getxattr(bucket, "user.qingstor.created") == b"2015-07-11T04:45:57Z"
    assert int(run(["stat", "-c", "%Y", str(bucket)]).stdout) == 1436589957


@pytest.mark.parametrize("account", ["main", "small"])
def test_every_upload_and_part_with_sizes(mounted: Mount, server, account: str) -> None:
    _, seed = server
    uploads = uploads_dir(mounted, account)
    assert sorted(os.listdir(uploads)) == sorted(seed.parts)
    for upload_id, parts in seed.parts.items():
        listing = run(["ls", "-l", str(uploads / upload_id / "parts")])
        rows = [line.split() for line in listing.stdout.splitlines()[1:]]
        assert {row[-1]: int(row[4]) for row in rows} == parts
        assert all(row[0] == "-r--r--r--" for row in rows)
        du = run(["du", "-cb", str(uploads / upload_id / "parts")])
        assert int(du.stdout.splitlines()[-1].split()[0]) == sum(parts.values())


def test_small_pages_cost_exactly_the_pages_the_listing_needs(mounted: Mount, server) -> None:
    qs, seed = server
    uploads = uploads_dir(mounted, "paging")
    qs.reset_log()
    assert sorted(os.listdir(uploads)) == sorted(seed.parts)
    # The bucket is on the first GET Service page; 25 uploads at 3 a page take 9 pages.
    assert (qs.count("list_buckets"), qs.count("list_uploads"), qs.count()) == (1, 9, 10)
    upload_id = max(seed.parts, key=lambda u: len(seed.parts[u]))
    qs.reset_log()
    run(["ls", "-l", str(uploads / upload_id / "parts")])
    # No next marker is documented, so a full last page costs one more (empty) request.
    assert qs.count("list_parts") == qs.count() == len(seed.parts[upload_id]) // 3 + 1
    markers = [dict(r.query).get("part_number_marker") for r in qs.requests]
    assert markers[0] is None and all(m is not None for m in markers[1:])


def test_find_counts_every_part_and_size_filter(mounted: Mount, server) -> None:
    _, seed = server
    total = sum(len(p) for p in seed.parts.values())
    found = run(["find", str(mounted.path("qingstor", "main")), "-type", "f"], timeout=120)
    assert found.returncode == 0, found.stderr
    assert len(found.stdout.splitlines()) == total
    big = run(["find", str(uploads_dir(mounted)), "-path", "*/parts/*", "-size", "+5M"])
    expected_big = sum(1 for p in seed.parts.values() for s in p.values() if s > 5 * 1024 * 1024)
    assert len(big.stdout.splitlines()) == expected_big


def test_upload_xattrs_keep_awkward_keys(mounted: Mount, server) -> None:
    _, seed = server
    for upload_id, key in seed.keys.items():
        upload = uploads_dir(mounted) / upload_id
        assert os.getxattr(upload, "user.qingstor.key").decode() == key
        assert os.getxattr(upload, "user.qingstor.upload_id").decode() == upload_id


def test_part_xattrs_and_mtime(mounted: Mount, server) -> None:
    _, seed = server
    upload_id = next(iter(seed.parts))
    part = next(iter(seed.parts[upload_id]))
    path = uploads_dir(mounted) / upload_id / "parts" / part
    assert sorted(os.listxattr(path)) == [
        "user.qingstor.created",
        "user.qingstor.etag",
        "user.qingstor.part_number",
        "user.qingstor.size",
    ]
    assert os.getxattr(path, "user.qingstor.part_number") == str(int(part)).encode()
    assert os.getxattr(path, "user.qingstor.size") == str(seed.parts[upload_id][part]).encode()
    stat = os.stat(path)
    assert stat.st_blocks == math.ceil(stat.st_size / 512)


def test_find_mtime_finds_old_uploads(mounted: Mount) -> None:
    old = run(["find", str(uploads_dir(mounted)), "-mindepth", "1", "-maxdepth", "1", "-mtime", "+7"])
    assert len(old.stdout.splitlines()) == 25  # every seeded upload is from October 2026


def test_reading_a_part_fails_at_once(mounted: Mount, server) -> None:
    _, seed = server
    upload_id = next(iter(seed.parts))
    part = next(iter(seed.parts[upload_id]))
    with pytest.raises(OSError) as raised:
        open(uploads_dir(mounted) / upload_id / "parts" / part, "rb")  # noqa: SIM115
    assert raised.value.errno == errno.EOPNOTSUPP
    cat = run(["cat", str(uploads_dir(mounted) / upload_id / "parts" / part)])
    assert "Operation not supported" in cat.stderr


def test_unknown_upload_id_and_bucket_are_enoent(mounted: Mount, server) -> None:
    result = run(["ls", str(uploads_dir(mounted) / "0123456789abcdef0123456789abcdef")])
    assert "No such file or directory" in result.stderr
    result = run(["ls", str(mounted.path("qingstor", "main", "buckets", "no-such-bucket", "uploads"))])
    assert "No such file or directory" in result.stderr


def test_wrong_secret_is_permission_denied_and_logged_once_without_secret(mounted: Mount, server) -> None:
    result = run(["ls", str(mounted.path("qingstor", "wrong", "buckets"))], timeout=30)
    assert result.returncode != 0
    assert "Permission denied" in result.stderr
    log = mounted.log()
    assert "qingstor/wrong GET Service: HTTP 401 signature_not_matched" in log
    assert "not-the-secret" not in log and server[0].secret_access_key not in log


def test_nothing_mutating_was_sent(mounted: Mount, server) -> None:
    qs, _ = server
    assert run(["ls", str(mounted.path("qingstor", "main", "buckets"))]).returncode == 0
    assert qs.requests, "the server recorded nothing: the check below would pass vacuously"
    assert all(r.method in ("GET", "HEAD") for r in qs.requests)


def test_find_prefetches_siblings_without_extra_requests(mounted: Mount, server) -> None:
    qs, seed = server
    account = mounted.path("qingstor", "walk")
    qs.reset_log()
    single = run(["ls", str(account / "buckets" / "bucket-0007" / "uploads")])
    assert single.returncode == 0
    # One lone `ls`: the buckets pages up to bucket-0007 and its uploads, no sibling prefetch.
    assert (qs.count("list_buckets"), qs.count("list_uploads")) == (1, 1)
    qs.reset_log()
    found = run(["find", str(account)], timeout=120)
    assert found.returncode == 0, found.stderr
    # Every bucket's uploads listed exactly once (bucket-0007's is cached), every upload's parts once.
    assert qs.count("list_uploads") == N_BUCKETS - 1
    assert qs.count("list_parts") == len(seed.parts)
    assert qs.count("list_buckets") == math.ceil(N_BUCKETS / PAGE) - 1
