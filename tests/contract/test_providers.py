"""One contract, every provider: what `ls`, `stat`, `getfattr` and friends may rely on.

Each backend of the registry (`tests/backends.py`) seeds the same top-level entries into its
server (Azurite, or a faithful local server, behind a counting proxy) and mounts them with a
small page size, so paging must happen. The tests only speak through the mount and the proxy's
request log.
"""

from __future__ import annotations

import errno
import math
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.backends import BACKENDS, PAGE, Backend, N, seed_azurite, start_backend
from tests.harness import Mount, run, write_config


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    with ExitStack() as stack:
        yield start_backend(request.param, stack, lambda: seed_azurite(request.getfixturevalue("azurite")))


@pytest.fixture(scope="module")
def mounted(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:
    root = tmp_path_factory.mktemp(f"contract-{backend.provider}")
    config = write_config(
        root / "config.toml",
        {
            f"{backend.provider}.main": backend.table(page_size=PAGE),
            f"{backend.provider}.retry": backend.table(page_size=PAGE),
            f"{backend.provider}.fresh": backend.table(page_size=PAGE),
            f"{backend.provider}.wrong": backend.table(**backend.wrong_secret),
            "cache": {"ttl": 300},
            "http": {"backoff": 0.01},
        },
    )
    with Mount(config, root / "mnt") as m:
        yield m


def top(m: Mount, backend: Backend, account: str = "main") -> Path:
    return m.path(backend.provider, account, backend.top)


def test_listing_equals_the_server_in_ceil_n_over_page_requests(mounted: Mount, backend: Backend) -> None:
    backend.reset()
    result = run(["ls", "-l", str(top(mounted, backend))])
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[1:]
    assert [row.split()[-1] for row in rows] == backend.names()
    assert all(row.startswith("dr-xr-xr-x") for row in rows)
    assert backend.list_requests() == math.ceil(N / PAGE)
    backend.reset()
    assert run(["ls", "-l", str(top(mounted, backend))]).stdout == result.stdout
    assert backend.list_requests() == 0


def test_absent_names_are_enoent_without_a_request(mounted: Mount, backend: Backend) -> None:
    run(["ls", str(top(mounted, backend))])
    backend.reset()
    for name in ("nope", "entry-999", "ENTRY-000"):
        result = run(["stat", str(top(mounted, backend) / name)])
        assert "No such file or directory" in result.stderr
    assert backend.list_requests() == 0


def test_mtime_follows_the_provider(mounted: Mount, backend: Backend) -> None:
    name = backend.names()[7]
    assert int(os.stat(top(mounted, backend) / name).st_mtime) == int(backend.mtime(name))


def test_xattrs_are_namespaced_and_missing_ones_are_enodata(mounted: Mount, backend: Backend) -> None:
    entry = top(mounted, backend) / backend.names()[0]
    names = os.listxattr(entry)
    assert names and all(n.startswith(f"user.{backend.provider}.") for n in names)
    dumped = run(["getfattr", "-d", "--absolute-names", str(entry)])
    assert all(f"{n}=" in dumped.stdout for n in names)
    with pytest.raises(OSError) as missing:
        os.getxattr(entry, f"user.{backend.provider}.no_such_field")
    assert missing.value.errno == errno.ENODATA


@pytest.mark.parametrize(
    "command",
    [
        "touch {d}/new",
        "mkdir {d}/new",
        "rmdir {d}/entry-001",
        "mv {d}/entry-001 {d}/x",
        "setfattr -n user.x -v 1 {d}/entry-001",
    ],
)
def test_mutations_are_read_only_and_never_reach_the_server(
    mounted: Mount, backend: Backend, command: str
) -> None:
    run(["ls", str(top(mounted, backend))])
    backend.reset()
    result = run(command.format(d=top(mounted, backend)))
    assert "Read-only file system" in result.stderr
    assert backend.methods() <= {"GET", "HEAD"}


def test_wrong_secret_is_permission_denied(mounted: Mount, backend: Backend) -> None:
    result = run(["ls", str(top(mounted, backend, "wrong"))], timeout=30)
    assert result.returncode != 0 and "Permission denied" in result.stderr


def test_a_5xx_burst_within_the_retry_budget_loses_nothing(mounted: Mount, backend: Backend) -> None:
    backend.reset()
    backend.fail_next(503, times=2)
    result = run(["ls", str(top(mounted, backend, "retry"))], timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == backend.names()


def read_stats(m: Mount) -> dict[str, Any]:
    import json

    return json.loads(m.path(".storfs", "stats").read_text())


def test_stats_count_requests_and_ls_l_needs_no_per_entry_getattr(mounted: Mount, backend: Backend) -> None:
    from storfs.binding import LIBFUSE_MAJOR

    before = read_stats(mounted)
    backend.reset()
    result = run(["ls", "-l", str(top(mounted, backend, "fresh"))])
    assert result.returncode == 0 and len(result.stdout.splitlines()) == N + 1
    after = read_stats(mounted)
    server_requests = backend.list_requests()
    assert server_requests == math.ceil(N / PAGE)
    assert after["requests_total"] - before["requests_total"] == server_requests
    getattrs = after["upcalls"].get("getattr", 0) - before["upcalls"].get("getattr", 0)
    if LIBFUSE_MAJOR == 3:
        assert getattrs <= 3, "readdirplus hands the kernel every entry's attributes"
    assert after["upcalls"]["readdir"] > before["upcalls"].get("readdir", 0)
    assert set(after) >= {"uptime_seconds", "upcalls", "requests", "retries", "cache", "errors"}
