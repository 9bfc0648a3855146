"""QingStor objects inside buckets through a real mount, against the local server; the oracle
for listings and bytes is the official qingstor-sdk talking to the same server."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storfs.names import segment_reason
from tests.backends import QINGSTOR
from tests.fakes.qingstor_server import QingStorServer
from tests.fakes.test_qingstor_server import make_sdk
from tests.harness import Mount, run, write_config

BUCKET = "mybucket"
RANDOM = random.Random(1414)
BIG = RANDOM.randbytes(6 * 1024 * 1024 + 7)
CHANGING = RANDOM.randbytes(40 * 1024 * 1024 + 1)  # more chunks than the read-ahead reaches

OBJECTS: dict[str, bytes] = {
    **{
        f"logs/2026/{d:02d}/app-{i}.log": f"{d}-{i}\n".encode() * (i + 1)
        for d in range(1, 8)
        for i in range(5)
    },
    "api.txt": b"api" * 100,
    "big.bin": BIG,
    "changing.bin": CHANGING,
    "empty": b"",
    "sp ace/ü file=50%.bin": b"awkward",
    "marker/": b"",
    "marker/in.txt": b"in",
    "both": b"object and prefix",
    "both/x": b"x",
    "a//b": b"empty segment",
    "a/../b": b"dotdot",
    "c/./d": b"dot",
    "x" * 300 + "/y": b"long",
}


def sdk_bucket(server: QingStorServer):  # type: ignore[no-untyped-def]
    return make_sdk(server, server.access_key_id, server.secret_access_key).Bucket(BUCKET, "pek3a")


def sdk_objects(server: QingStorServer) -> dict[str, int]:
    """Every key and size, flat, paged with the SDK."""
    bucket, result, marker = sdk_bucket(server), {}, None
    for _ in range(1000):
        out = bucket.list_objects(limit="100", marker=marker) if marker else bucket.list_objects(limit="100")
        result.update({item["key"]: item["size"] for item in out["keys"]})
        if not out["has_more"]:
            return result
        marker = out["next_marker"]
    raise AssertionError("the SDK listing did not end")


def shown(keys: dict[str, int]) -> dict[str, int]:
    prefixes = {key[: i + 1] for key in keys for i, c in enumerate(key) if c == "/"}
    return {
        key: size
        for key, size in keys.items()
        if not key.endswith("/")
        and key + "/" not in prefixes
        and not any(segment_reason(s) for s in key.split("/"))
    }


@pytest.fixture(scope="module")
def server() -> Iterator[QingStorServer]:
    with QingStorServer() as qs:
        qs.add_bucket(BUCKET, location="pek3a")
        qs.add_bucket("emptybucket", location="sh1a")
        for key, data in OBJECTS.items():
            qs.add_object(
                BUCKET,
                key,
                data,
                mime_type="text/plain" if key.endswith(".log") else "application/octet-stream",
            )
        yield qs


@pytest.fixture(scope="module")
def mounted(server: QingStorServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:
    root = tmp_path_factory.mktemp("objects-qingstor")
    tables = {"qingstor.main": QINGSTOR.table(server, page_size=4), "cache": {"ttl": 300}}
    with Mount(write_config(root / "config.toml", tables), root / "mnt") as m:
        yield m


@pytest.fixture
def objects(mounted: Mount) -> Path:
    return mounted.path("qingstor", "main", "buckets", BUCKET, "objects")


def test_bucket_has_objects_and_uploads(mounted: Mount) -> None:
    result = run(["ls", str(mounted.path("qingstor", "main", "buckets", BUCKET))])
    assert result.stdout.split() == ["objects", "uploads"], result.stderr
    empty = run(["ls", str(mounted.path("qingstor", "main", "buckets", "emptybucket", "objects"))])
    assert (empty.returncode, empty.stdout) == (0, "")


def test_find_equals_the_sdk_listing_and_sizes(objects: Path, server: QingStorServer) -> None:
    result = run(["find", str(objects), "-type", "f", "-printf", "%P\\t%s\\n"], timeout=120)
    assert result.returncode == 0, result.stderr
    found = {k: int(v) for k, v in (line.rsplit("\t", 1) for line in result.stdout.splitlines())}
    assert found == shown(sdk_objects(server))
    assert len(found) == 35 + 7  # nothing lost beyond the documented rules


def test_du_sb_and_ls_lr(objects: Path, server: QingStorServer) -> None:
    du = run(["du", "-sb", str(objects)], timeout=120)
    assert du.returncode == 0, du.stderr
    assert int(du.stdout.split()[0]) == sum(shown(sdk_objects(server)).values())
    lr = run(["ls", "-lR", str(objects)], timeout=120)
    assert lr.returncode == 0, lr.stderr
    files = [line for line in lr.stdout.splitlines() if line.startswith("-r--r--r--")]
    assert len(files) == len(shown(sdk_objects(server)))


def test_xattrs_and_times(objects: Path, server: QingStorServer) -> None:
    path = objects / "logs" / "2026" / "03" / "app-2.log"
    item = next(i for i in sdk_bucket(server).list_objects(prefix="logs/2026/03/app-2")["keys"])
    result = run(["getfattr", "-d", "--absolute-names", str(path)])
    assert result.returncode == 0, result.stderr
    assert 'user.qingstor.mime_type="text/plain"' in result.stdout
    assert 'user.qingstor.storage_class="STANDARD"' in result.stdout
    assert 'user.qingstor.key="logs/2026/03/app-2.log"' in result.stdout
    assert f'user.qingstor.etag="{item["etag"].strip(chr(34))}"' in result.stdout
    st = path.stat()
    assert (st.st_size, st.st_mtime) == (item["size"], item["modified"])
    # A prefix has no time of its own: it shows the mount's start.
    dirs = {objects.joinpath(*parts).stat().st_mtime for parts in (("logs",), ("logs", "2026"))}
    assert len(dirs) == 1 and time.time() - 3600 < dirs.pop() <= time.time()


def test_md5sum_of_every_object_equals_the_sdk_download(objects: Path, server: QingStorServer) -> None:
    names = sorted(shown(sdk_objects(server)))
    result = run(["md5sum", *[str(objects / n) for n in names]], timeout=120)
    assert result.returncode == 0, result.stderr
    bucket = sdk_bucket(server)
    assert [line.split()[0] for line in result.stdout.splitlines()] == [
        hashlib.md5(bucket.get_object(n).content).hexdigest() for n in names
    ]


def test_head_and_tail_read_ranges(objects: Path, server: QingStorServer) -> None:
    big = objects / "big.bin"
    assert run(f"head -c 100 '{big}' | md5sum").stdout.split()[0] == hashlib.md5(BIG[:100]).hexdigest()
    before = server.count("get_object")
    assert run(f"tail -c 10 '{big}' | md5sum").stdout.split()[0] == hashlib.md5(BIG[-10:]).hexdigest()
    ranged = [r for r in server.requests if r.op == "get_object"][before:]
    assert ranged and all("range" in r.headers and "if-match" in r.headers for r in ranged)


def test_cat_streams_a_large_object_in_one_get_after_the_first_chunk(
    objects: Path, server: QingStorServer
) -> None:
    assert (objects / "changing.bin").stat().st_size == len(CHANGING)
    server.reset_log()
    result = subprocess.run(["cat", str(objects / "changing.bin")], capture_output=True, timeout=120)
    assert result.returncode == 0 and hashlib.md5(result.stdout).digest() == hashlib.md5(CHANGING).digest()
    ranges = [r.headers.get("range") for r in server.requests if r.op == "get_object"]
    assert ranges == ["bytes=0-16777215", "bytes=16777216-"], ranges


def test_changed_object_is_eio(objects: Path, server: QingStorServer) -> None:
    path = objects / "changing.bin"
    assert path.stat().st_size == len(CHANGING)
    with open(path, "rb", buffering=0) as handle:
        assert handle.read(8) == CHANGING[:8]
        server.add_object(BUCKET, "changing.bin", bytes(len(CHANGING)))
        handle.seek(len(CHANGING) - 8)
        with pytest.raises(OSError) as raised:
            handle.read(8)
        assert raised.value.errno == 5


def test_storfs_ls_json_shows_the_keys_it_cannot_show(server: QingStorServer, tmp_path: Path) -> None:
    config = write_config(tmp_path / "config.toml", {"qingstor.main": QINGSTOR.table(server, page_size=4)})
    ls = [sys.executable, "-m", "storfs", "ls", "-R", "--json", "--config", str(config)]
    result = run([*ls, f"qingstor/main/buckets/{BUCKET}"], timeout=120)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    not_shown = {(r["key"], r["reason"]) for r in records if r["type"] == "not_shown"}
    # A prefix that cannot be a directory stands for every key below it.
    assert not_shown == {
        ("a//", "empty path segment"),
        ("a/../", "reserved name"),
        ("c/./", "reserved name"),
        ("x" * 300 + "/", "segment longer than 255 bytes"),
        ("both", "object shadowed by a directory of the same name"),
    }
    files = {r["path"] for r in records if r["type"] == "file"}
    prefix = f"qingstor/main/buckets/{BUCKET}/objects/"
    assert files == {prefix + k for k in shown(sdk_objects(server))}


WALK_BUCKET = "walkbucket"
WALK_OBJECTS = {f"d{i // 10}/f{(i % 10) // 4}/o-{i:03d}": b"w" * (i % 5) for i in range(40)}


def test_walks_and_lone_ls_cost_the_fewest_list_objects(server: QingStorServer, tmp_path: Path) -> None:
    server.add_bucket(WALK_BUCKET)
    for key, data in WALK_OBJECTS.items():
        server.add_object(WALK_BUCKET, key, data)
    tables = {"qingstor.main": QINGSTOR.table(server, page_size=10), "cache": {"ttl": 300}}
    config = write_config(tmp_path / "config.toml", tables)
    with Mount(config, tmp_path / "mnt") as m:
        objects = m.path("qingstor", "main", "buckets", WALK_BUCKET, "objects")
        assert run(["ls", str(m.path("qingstor", "main", "buckets"))]).returncode == 0
        server.reset_log()
        # A lone `ls -l` of `d0`: the lookup of `d0` is its own listing's first (and only) page.
        lone = run(["ls", "-l", str(objects / "d0")])
        assert [line.split()[-1] for line in lone.stdout.splitlines()[1:]] == ["f0", "f1", "f2"]
        assert server.count("list_objects") == 1
        server.reset_log()
        found = run(["find", str(objects), "-type", "f", "-printf", "%P %s\\n"], timeout=120)
        assert found.returncode == 0, found.stderr
        sizes = {k: int(v) for k, v in (line.rsplit(" ", 1) for line in found.stdout.splitlines())}
        assert sizes == {k: len(v) for k, v in WALK_OBJECTS.items()}
        # The top listing, then the flat listing (40 keys, 4 pages) when `find` enters `d0`
        # having read the top whole; directory by directory it would be 1 + 4 + 12 = 17.
        assert server.count("list_objects") == 1 + 4
