"""Blobs and uncommitted blocks inside Azure containers through a real mount, against Azurite.

Every listing, size and byte is compared with what the official SDK says about the same Azurite.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storfs.names import segment_reason
from tests.backends import AZURE
from tests.fakes.azurite import Azurite
from tests.fakes.counting_proxy import CountingProxy
from tests.harness import Mount, run, write_config

LOGS = "logs"
BACKUPS = "backups"
RANDOM = random.Random(14)
BIG = RANDOM.randbytes(9 * 1024 * 1024 + 123)  # three read chunks, the last one short
CHANGING = RANDOM.randbytes(40 * 1024 * 1024 + 5)  # more chunks than the read-ahead reaches

BLOBS: dict[str, bytes] = {
    "2026/11/app-30.log": b"line\n" * 9000,
    "2026/11/archive/old-1.log": b"old one\n",
    "2026/11/archive/old-2.log": b"old two\n" * 3,
    "2026/12/app-01.log": b"december\n",
    "big.bin": BIG,
    "empty.txt": b"",
    "with space & (parens).txt": b"spaces",
    "ünï/cödé-日本.txt": "ünïcode".encode(),
    "percent%2Fnot-a-slash.txt": b"percent",
    "dir.with.dots/.hidden": b"hidden",
    "marker/": b"",
    "marker/inside.txt": b"inside",
    "lonely-marker/": b"",
    "both": b"object named like a prefix",
    "both/inner.txt": b"inner",
    # keys that cannot be paths
    "bad//double": b"double slash",
    # (`.` and `..` segments: the SDK and Azurite normalise them away; see tests/unit/test_names.py)
    "long/" + "x" * 300: b"long",
    "fat-marker/": b"marker with bytes",
    "fat-marker/ok.txt": b"ok",
}
METADATA = {"2026/11/app-30.log": {"host": "web-3", "team": "ops"}}
CONTENT_TYPES = {"2026/11/app-30.log": "text/plain"}
BLOCKS = {"YmxvY2stMDAx": b"12345", "YmxvY2stMDAy": b"1234567890"}


def shown(names: dict[str, int]) -> dict[str, int]:
    """The blobs the mount must show, by the README's rules, written independently of storfs."""
    prefixes = {name[: i + 1] for name in names for i, c in enumerate(name) if c == "/"}
    result = {}
    for name, size in names.items():
        segments = name.split("/")
        if name.endswith("/"):
            continue  # a directory marker
        if any(segment_reason(s) for s in segments) or name + "/" in prefixes:
            continue
        result[name] = size
    return result


@pytest.fixture(scope="module")
def seeded(azurite: Azurite) -> Azurite:
    azurite.upload_blobs(LOGS, BLOBS, metadata=METADATA, content_types=CONTENT_TYPES)
    azurite.upload_blobs(LOGS, {"changing.bin": CHANGING})  # overwritten by a test; not in BLOBS
    azurite.upload_blobs(BACKUPS, {"done.bin": b"done"})
    azurite.stage_blocks(BACKUPS, "db/dump.sql", BLOCKS)
    return azurite


@pytest.fixture(scope="module")
def proxy(seeded: Azurite) -> Iterator[CountingProxy]:
    with CountingProxy(AZURE.url(seeded)) as p:
        yield p


def mount(root: Path, seeded: Azurite, proxy: CountingProxy, page_size: int = 5000) -> Mount:
    """A mount of `seeded` through `proxy` (start it with `with`)."""
    tables = {"azure.dev": AZURE.table(seeded, proxy.url, page_size=page_size), "cache": {"ttl": 300}}
    return Mount(write_config(root / "config.toml", tables), root / "mnt")


@pytest.fixture(scope="module")
def mounted(
    seeded: Azurite, proxy: CountingProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mount]:
    # A small page, so directories span pages and the shadowing check crosses page ends.
    with mount(tmp_path_factory.mktemp("objects-azure"), seeded, proxy, page_size=3) as m:
        yield m


@pytest.fixture
def blobs(mounted: Mount) -> Path:
    return mounted.path("azure", "dev", "containers", LOGS, "blobs")


def test_container_has_blobs_and_uploads(mounted: Mount) -> None:
    result = run(["ls", str(mounted.path("azure", "dev", "containers", LOGS))])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["blobs", "uploads"]


def test_find_lists_exactly_the_sdk_blobs_with_their_sizes(blobs: Path, seeded: Azurite) -> None:
    result = run(["find", str(blobs), "-type", "f", "-printf", "%P\\t%s\\n"], timeout=120)
    assert result.returncode == 0, result.stderr
    found = dict(line.rsplit("\t", 1) for line in result.stdout.splitlines())
    expected = shown(seeded.list_blobs(LOGS))
    assert {k: int(v) for k, v in found.items()} == expected
    assert "both/inner.txt" in expected and "both" not in expected  # the directory wins


def test_directories_are_the_prefixes(blobs: Path) -> None:
    result = run(["find", str(blobs), "-mindepth", "1", "-type", "d", "-printf", "%P\\n"])
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split("\n")[:-1]) == sorted(
        [
            "2026", "2026/11", "2026/11/archive", "2026/12", "both", "dir.with.dots",
            "fat-marker", "lonely-marker", "marker", "ünï",
            "bad", "long",  # shown, but empty: what is inside them cannot be a path
        ]
    )  # fmt: skip


def test_ls_of_one_directory_equals_the_sdk_walk(blobs: Path, seeded: Azurite) -> None:
    result = run(["ls", "-A", "-p", str(blobs / "2026" / "11")])
    assert result.returncode == 0, result.stderr
    sdk = seeded.walk_blobs(LOGS, "2026/11/")
    expected = sorted(name.removeprefix("2026/11/") for name, _ in sdk)  # prefixes keep their `/`
    assert sorted(result.stdout.split("\n")[:-1]) == expected == ["app-30.log", "archive/"]


def test_du_sb_equals_the_sdk_total(blobs: Path, seeded: Azurite) -> None:
    result = run(["du", "-sb", str(blobs)], timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[0]) == sum(shown(seeded.list_blobs(LOGS)).values())


def test_ls_lr_shows_every_directory(blobs: Path, seeded: Azurite) -> None:
    result = run(["ls", "-lRA", str(blobs)], timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"{blobs}/2026/11/archive:" in result.stdout
    files = [line for line in result.stdout.splitlines() if line.startswith("-r--r--r--")]
    assert len(files) == len(shown(seeded.list_blobs(LOGS)))


def test_xattrs_carry_properties_and_metadata(blobs: Path) -> None:
    path = blobs / "2026" / "11" / "app-30.log"
    result = run(["getfattr", "-d", "--absolute-names", str(path)])
    assert result.returncode == 0, result.stderr
    for line in [
        'user.azure.content_type="text/plain"',
        'user.azure.blob_type="BlockBlob"',
        'user.azure.access_tier="Hot"',
        'user.azure.meta.host="web-3"',
        'user.azure.name="2026/11/app-30.log"',
    ]:
        assert line in result.stdout


def test_stat_times_are_the_blob_properties(blobs: Path, seeded: Azurite) -> None:
    with seeded.service_client() as client:
        props = client.get_blob_client(LOGS, "2026/11/app-30.log").get_blob_properties()
    st = os.stat(blobs / "2026" / "11" / "app-30.log")
    assert st.st_size == len(BLOBS["2026/11/app-30.log"])
    assert st.st_mtime == props.last_modified.timestamp()
    assert st.st_ctime == props.creation_time.timestamp()
    # A prefix has no time of its own: it shows the mount's start, the same in `ls` and a walk.
    dirs = [os.stat(blobs / "2026"), os.stat(blobs / "2026" / "11")]
    assert {d.st_mtime for d in dirs} == {d.st_ctime for d in dirs} == {os.stat(blobs / "marker").st_mtime}
    assert time.time() - 3600 < dirs[0].st_mtime <= time.time()


def test_md5sum_of_every_blob_equals_the_sdk_download(blobs: Path, seeded: Azurite) -> None:
    names = sorted(shown(seeded.list_blobs(LOGS)))
    result = run(["md5sum", *[str(blobs / n) for n in names]], timeout=120)
    assert result.returncode == 0, result.stderr
    sums = [line.split()[0] for line in result.stdout.splitlines()]
    assert sums == [hashlib.md5(seeded.download(LOGS, n)).hexdigest() for n in names]


def test_head_tail_and_cp_give_the_sdk_bytes(blobs: Path, tmp_path: Path, seeded: Azurite) -> None:
    big = blobs / "big.bin"
    assert run(f"head -c 200 '{big}' | md5sum").stdout.split()[0] == hashlib.md5(BIG[:200]).hexdigest()
    assert run(f"tail -c 5000 '{big}' | md5sum").stdout.split()[0] == hashlib.md5(BIG[-5000:]).hexdigest()
    copy = tmp_path / "copy.bin"
    assert run(["cp", str(big), str(copy)]).returncode == 0
    assert copy.read_bytes() == seeded.download(LOGS, "big.bin")
    with open(big, "rb") as handle:  # reads at odd offsets across chunk ends
        handle.seek(4 * 1024 * 1024 - 7)
        assert handle.read(20) == BIG[4 * 1024 * 1024 - 7 : 4 * 1024 * 1024 + 13]


def test_cat_streams_a_large_blob_in_one_get_after_the_first_chunk(blobs: Path, proxy: CountingProxy) -> None:
    assert run(["ls", "-l", str(blobs)]).returncode == 0
    proxy.reset()
    result = subprocess.run(["cat", str(blobs / "changing.bin")], capture_output=True, timeout=120)
    assert result.returncode == 0 and hashlib.md5(result.stdout).digest() == hashlib.md5(CHANGING).digest()
    ranges = [{k.lower(): v for k, v in r.headers.items()}.get("x-ms-range") for r in proxy.requests]
    gets = [r for r in ranges if r is not None]
    # The first read's 16 MiB chunk, then one open-ended GET for the rest (not one per chunk).
    assert gets == ["bytes=0-16777215", "bytes=16777216-"], gets


def test_a_blob_read_in_order_costs_one_upcall_a_mib_not_one_per_128_kib(mounted: Mount, blobs: Path) -> None:
    from storfs.mount_table import device_of
    from storfs.readahead import READ_AHEAD_KB

    if os.geteuid() != 0:
        pytest.skip("the kernel's readahead setting is root's to change")
    device = device_of(mounted.mountpoint)
    assert device is not None
    assert int(Path("/sys/class/bdi", device, "read_ahead_kb").read_text()) == READ_AHEAD_KB

    def reads() -> int:
        return json.loads(run(["cat", str(mounted.path(".storfs", "stats"))]).stdout)["upcalls"]["read"]

    before = reads()
    result = subprocess.run(["cat", str(blobs / "changing.bin")], capture_output=True, timeout=120)
    assert result.returncode == 0 and len(result.stdout) == len(CHANGING)
    upcalls = reads() - before
    assert 0 < upcalls <= len(CHANGING) // (512 * 1024), upcalls  # 1 MiB each, with slack


def test_a_blob_that_changed_since_listing_is_eio_never_mixed(
    mounted: Mount, blobs: Path, seeded: Azurite, tmp_path: Path
) -> None:
    path = blobs / "changing.bin"
    assert run(["ls", "-l", str(blobs)]).returncode == 0  # listed: the mount knows its ETag now
    with open(path, "rb", buffering=0) as handle:
        assert handle.read(10) == CHANGING[:10]
        seeded.upload_blobs(LOGS, {"changing.bin": bytes(len(CHANGING))})  # same size, other bytes
        handle.seek(len(CHANGING) - 10)
        with pytest.raises(OSError) as raised:
            handle.read(10)
        assert raised.value.errno == 5
    result = run(["cat", str(path)])
    assert result.returncode != 0 and "Input/output error" in result.stderr


def test_unmappable_keys_are_counted_and_warned_once(mounted: Mount, blobs: Path) -> None:
    assert run(["find", str(blobs)]).returncode == 0
    log = mounted.log()
    assert "cannot be shown as paths" in log
    stats = run(["cat", str(mounted.path(".storfs", "stats"))]).stdout
    for reason in ("empty path segment", "segment longer than 255 bytes"):
        assert f"keys_not_shown {reason}" in stats
    assert "object shadowed by a directory of the same name" in stats
    assert "directory marker holding bytes" in stats


def test_uploads_show_uncommitted_blocks(mounted: Mount, seeded: Azurite) -> None:
    uploads = mounted.path("azure", "dev", "containers", BACKUPS, "uploads")
    result = run(["ls", str(uploads)])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["db%2Fdump.sql"]  # done.bin is committed: not an upload
    blocks = uploads / "db%2Fdump.sql" / "blocks"
    listed = run(["find", str(blocks), "-type", "f", "-printf", "%f %s\\n"])
    assert listed.returncode == 0, listed.stderr
    expected = seeded.uncommitted_blocks(BACKUPS, "db/dump.sql")
    assert sorted(listed.stdout.splitlines()) == [f"{i:05d} {size}" for i, (_, size) in enumerate(expected)]
    ids = run(["getfattr", "-n", "user.azure.block_id", "--only-values", str(blocks / "00000")]).stdout
    # The id as the service sends it: the SDK base64-encodes ids when it stages and decodes them.
    assert ids == base64.b64encode(expected[0][0].encode()).decode()
    cat = run(["cat", str(blocks / "00000")])
    assert cat.returncode != 0 and "Operation not supported" in cat.stderr


def test_lone_ls_of_a_small_directory_costs_one_request(
    seeded: Azurite, proxy: CountingProxy, tmp_path: Path
) -> None:
    with mount(tmp_path, seeded, proxy) as m:
        blobs = m.path("azure", "dev", "containers", LOGS, "blobs")
        assert run(["ls", str(m.path("azure", "dev", "containers"))]).returncode == 0
        proxy.reset()
        result = run(["ls", "-l", str(blobs / "2026")])
        assert result.returncode == 0, result.stderr
        assert [line.split()[-1] for line in result.stdout.splitlines()[1:]] == ["11", "12"]
        # Looking `2026` up in the container's top listing (not read yet) asks for `2026/`'s own
        # first page: that answer says it is a directory and is its listing, so `ls` costs 1.
        assert [dict(r.query).get("prefix") for r in proxy.requests if r.op == "list_blobs"] == ["2026/"]
        proxy.reset()
        result = run(["ls", "-l", str(blobs / "2026" / "11")])
        assert result.returncode == 0, result.stderr
        assert [dict(r.query).get("prefix") for r in proxy.requests if r.op == "list_blobs"] == ["2026/11/"]
        # The top listing was probed once already: names in it now cost its own first page,
        # once, however many are asked for (a probe per name would cost one each).
        proxy.reset()
        for name in ("big.bin", "empty.txt", "nothing-here", "marker"):
            run(["stat", str(blobs / name)])
        prefixes = [dict(r.query).get("prefix") for r in proxy.requests if r.op == "list_blobs"]
        assert prefixes == [None], prefixes


def test_a_file_in_a_directory_not_listed_yet(seeded: Azurite, proxy: CountingProxy, tmp_path: Path) -> None:
    with mount(tmp_path, seeded, proxy) as m:
        blobs = m.path("azure", "dev", "containers", LOGS, "blobs")
        assert run(["ls", str(m.path("azure", "dev", "containers"))]).returncode == 0
        proxy.reset()
        # No blob name starts with `empty.txt/`: the directory's own listing answers then.
        assert run(["stat", "-c", "%s", str(blobs / "empty.txt")]).stdout.strip() == "0"
        assert run(["stat", str(blobs / "nothing-here")]).returncode != 0
        prefixes = [dict(r.query).get("prefix") for r in proxy.requests if r.op == "list_blobs"]
        assert prefixes == ["empty.txt/", None], prefixes
        # `both` is a prefix and an object: the directory is shown, as the listing shows it.
        assert run(["stat", "-c", "%F", str(blobs / "both")]).stdout.strip() == "directory"


WALK = "walk"
WALK_BLOBS = {f"d{i // 60:02d}/f{(i // 6) % 10}/blob-{i:04d}.log": b"w" * (i % 7) for i in range(600)}
WALK_DIRS = 10 + 10 * 10  # d00..d09, each with f0..f9


@pytest.fixture(scope="module")
def walk_seeded(seeded: Azurite) -> Azurite:
    seeded.upload_blobs(WALK, WALK_BLOBS, workers=16)
    return seeded


def test_a_walk_lists_the_subtree_flat_in_few_requests(
    walk_seeded: Azurite, proxy: CountingProxy, tmp_path: Path
) -> None:
    with mount(tmp_path, walk_seeded, proxy, page_size=100) as m:
        blobs = m.path("azure", "dev", "containers", WALK, "blobs")
        assert run(["ls", str(m.path("azure", "dev", "containers"))]).returncode == 0
        proxy.reset()
        result = run(["find", str(blobs), "-type", "f", "-printf", "%P %s\\n"], timeout=120)
        assert result.returncode == 0, result.stderr
        found = dict(line.rsplit(" ", 1) for line in result.stdout.splitlines())
        assert {k: int(v) for k, v in found.items()} == walk_seeded.list_blobs(WALK)
        listed = proxy.count_op("list_blobs")
        flat = math.ceil(len(WALK_BLOBS) / 100)
        # The directory-by-directory walk costs one request per directory (111 here).
        print(f"find over {len(WALK_BLOBS)} blobs in {WALK_DIRS} dirs: {listed} List Blobs")
        # The top listing, then (when `find` enters `d00`, having read the top listing whole) the
        # flat listing of the rest; nothing else.
        assert listed == 1 + flat < WALK_DIRS
        proxy.reset()
        du = run(["du", "-sb", str(blobs)])
        assert int(du.stdout.split()[0]) == sum(len(v) for v in WALK_BLOBS.values())
        assert proxy.count_op("list_blobs") == 0  # all cached
        # `storfs refresh` reaches the listings the flat walk filled, though no one opened them.
        walk_seeded.upload_blobs(WALK, {"d03/f1/new.log": b"new"})
        deep = blobs / "d03" / "f1"
        refresh = run([sys.executable, "-m", "storfs", "refresh", str(blobs / "d03")])
        assert refresh.returncode == 0, refresh.stderr
        assert "new.log" in run(["ls", str(deep)]).stdout.split()


def test_separate_ls_of_a_directory_and_its_subdirectories_never_walk(
    walk_seeded: Azurite, proxy: CountingProxy, tmp_path: Path
) -> None:
    with mount(tmp_path, walk_seeded, proxy, page_size=100) as m:
        blobs = m.path("azure", "dev", "containers", WALK, "blobs")
        assert run(["ls", str(m.path("azure", "dev", "containers"))]).returncode == 0
        proxy.reset()
        for path in (blobs, blobs / "d00", blobs / "d01"):  # three processes: no walk shows
            assert run(["ls", str(path)]).returncode == 0
        queries = [dict(r.query) for r in proxy.requests if r.op == "list_blobs"]
        assert [(q.get("prefix"), q.get("delimiter")) for q in queries] == [
            (None, "/"),
            ("d00/", "/"),
            ("d01/", "/"),
        ]
