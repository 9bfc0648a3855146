"""Object bytes whose answer breaks part-way, through a real mount: `cat` gives every byte
exactly or fails with EIO; a file cut short is never read as whole."""

from __future__ import annotations

import hashlib
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import QINGSTOR
from tests.fakes.qingstor_server import QingStorServer
from tests.harness import Mount, run, write_config

BUCKET = "bytes"
CHUNK = 16 * 1024 * 1024  # storfs.reader.CHUNK: the first read's ranged GET
BIG = random.Random(77).randbytes(CHUNK + 4 * 1024 * 1024 + 5)  # a first chunk, then a stream


@pytest.fixture(scope="module")
def server() -> Iterator[QingStorServer]:
    with QingStorServer() as qs:
        qs.add_bucket(BUCKET, location="pek3a")
        qs.add_object(BUCKET, "big.bin", BIG)
        yield qs


@pytest.fixture(scope="module")
def big(server: QingStorServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("object-bodies")
    tables = {"qingstor.main": QINGSTOR.table(server), "cache": {"ttl": 300}}
    with Mount(write_config(root / "config.toml", tables), root / "mnt") as m:
        path = m.path("qingstor", "main", "buckets", BUCKET, "objects", "big.bin")
        assert path.stat().st_size == len(BIG)
        yield path


@pytest.fixture(autouse=True)
def no_cuts_left(server: QingStorServer) -> Iterator[None]:
    yield
    server.stop_cutting()


def cat(path: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["cat", str(path)], capture_output=True, timeout=120)


def ranges(server: QingStorServer) -> list[str | None]:
    return [r.headers.get("range") for r in server.requests if r.op == "get_object"]


def test_a_stream_cut_part_way_goes_on_in_chunks_and_every_byte_is_exact(
    server: QingStorServer, big: Path
) -> None:
    server.reset_log()
    server.cut_next_bodies(1024 * 1024 + 3, open_ended_only=True)  # mid-way through a read
    result = cat(big)
    assert result.returncode == 0, result.stderr
    assert hashlib.md5(result.stdout).digest() == hashlib.md5(BIG).digest()
    sent = ranges(server)
    assert sent[:2] == [f"bytes=0-{CHUNK - 1}", f"bytes={CHUNK}-"], sent
    assert len(sent) > 2 and all(r and not r.endswith("-") for r in sent[2:]), sent  # then chunks


def test_bodies_cut_every_time_are_eio_never_a_short_file_and_the_mount_recovers(
    server: QingStorServer, big: Path
) -> None:
    server.cut_next_bodies(1000, times=100)
    result = cat(big)
    assert result.returncode != 0
    assert b"Input/output error" in result.stderr, result.stderr
    assert len(result.stdout) < len(BIG)  # what was read is a prefix the user is told is not whole
    assert result.stdout == BIG[: len(result.stdout)]
    server.stop_cutting()
    again = cat(big)
    assert again.returncode == 0 and again.stdout == BIG
    assert run(["ls", str(big.parent)]).stdout.split() == ["big.bin"]
