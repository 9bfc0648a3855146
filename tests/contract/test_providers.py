"""One contract, every provider: what `ls`, `stat`, `getfattr` and friends may rely on.

Each backend seeds the same number of top-level entries into its server (Azurite behind a
counting proxy, or a faithful local server) and mounts them with a small page size, so paging
must happen. The tests only speak through the mount and the server's request log.
"""

from __future__ import annotations

import errno
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.fakes.azurite import AZURITE_ACCOUNT, AZURITE_KEY, Azurite
from tests.fakes.counting_proxy import CountingProxy
from tests.fakes.oas_server import OASServer
from tests.fakes.qingstor_server import QingStorServer
from tests.fakes.s3_server import S3Server
from tests.harness import Mount, run, write_config

N = 37
PAGE = 5
PROVIDERS = ["azure", "qingstor", "oas", "s3"]


class Backend(Protocol):
    provider: str
    top: str  # the listed directory under the account

    def table(self, **overrides: Any) -> dict[str, Any]: ...
    def names(self) -> list[str]: ...
    def mtime(self, name: str) -> float: ...
    def list_requests(self) -> int: ...
    def methods(self) -> set[str]: ...
    def reset(self) -> None: ...
    def fail_next(self, status: int, times: int) -> None: ...


@dataclass
class AzureBackend:
    server: Azurite
    proxy: CountingProxy
    provider: str = "azure"
    top: str = "containers"
    wrong_secret: dict[str, Any] = field(default_factory=lambda: {"key": "A" * 86 + "=="})

    def table(self, **overrides: Any) -> dict[str, Any]:
        endpoint = f"{self.proxy.url}/{AZURITE_ACCOUNT}"
        return {"account": AZURITE_ACCOUNT, "key": AZURITE_KEY, "endpoint": endpoint, **overrides}

    def names(self) -> list[str]:
        return sorted(self.server.list_container_names())

    def mtime(self, name: str) -> float:
        props = self.server.service_client().get_container_client(name).get_container_properties()
        return props.last_modified.timestamp()

    def list_requests(self) -> int:
        return self.proxy.count_op("list_containers")

    def methods(self) -> set[str]:
        return {r.method for r in self.proxy.requests}

    def reset(self) -> None:
        self.proxy.reset()

    def fail_next(self, status: int, times: int) -> None:
        self.proxy.fail_next(status, times=times)


@dataclass
class QingStorBackend:
    server: QingStorServer
    provider: str = "qingstor"
    top: str = "buckets"
    wrong_secret: dict[str, Any] = field(default_factory=lambda: {"secret_access_key": "wrong"})

    def table(self, **overrides: Any) -> dict[str, Any]:
        keys = {
            "access_key_id": self.server.access_key_id,
            "secret_access_key": self.server.secret_access_key,
        }
        return {**keys, "endpoint": self.server.url, **overrides}

    def names(self) -> list[str]:
        return seed_names()

    def mtime(self, name: str) -> float:
        return 1436589957.0 + self.names().index(name) * 86400

    def list_requests(self) -> int:
        return self.server.count("list_buckets")

    def methods(self) -> set[str]:
        return {r.method for r in self.server.requests}

    def reset(self) -> None:
        self.server.reset_log()

    def fail_next(self, status: int, times: int) -> None:
        self.server.fail_next(status, "service_unavailable", times=times)


@dataclass
class OASBackend:
    server: OASServer
    provider: str = "oas"
    top: str = "vaults"
    wrong_secret: dict[str, Any] = field(default_factory=lambda: {"access_key_secret": "wrong"})

    def table(self, **overrides: Any) -> dict[str, Any]:
        keys = {
            "access_key_id": self.server.access_key_id,
            "access_key_secret": self.server.access_key_secret,
        }
        return {**keys, "endpoint": self.server.url, **overrides}

    def names(self) -> list[str]:
        return seed_names()

    def mtime(self, name: str) -> float:
        return 1395144000.0 + self.names().index(name) * 3600

    def list_requests(self) -> int:
        return self.server.count("list_vaults")

    def methods(self) -> set[str]:
        return {r.method for r in self.server.requests}

    def reset(self) -> None:
        self.server.reset_log()

    def fail_next(self, status: int, times: int) -> None:
        self.server.fail_next(status, "ServiceUnavailable", times=times)


@dataclass
class S3Backend:
    server: S3Server
    provider: str = "s3"
    top: str = "buckets"
    wrong_secret: dict[str, Any] = field(default_factory=lambda: {"secret_access_key": "wrong"})

    def table(self, **overrides: Any) -> dict[str, Any]:
        keys = {"access_key_id": self.server.access_key_id, "secret_access_key": self.server.secret}
        return {**keys, "endpoint": self.server.url, **overrides}

    def names(self) -> list[str]:
        return seed_names()

    def mtime(self, name: str) -> float:
        return 1_600_000_000.0 + self.names().index(name) * 86400

    def list_requests(self) -> int:
        return self.server.count("list_buckets")

    def methods(self) -> set[str]:
        return {r.method for r in self.server.requests}

    def reset(self) -> None:
        self.server.reset_log()

    def fail_next(self, status: int, times: int) -> None:
        self.server.fail_next(status, "SlowDown" if status == 503 else "InternalError", times=times)


def seed_names() -> list[str]:
    return [f"entry-{i:03d}" for i in range(N)]


@pytest.fixture(scope="module", params=PROVIDERS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    names = seed_names()
    if request.param == "azure":
        server = Azurite(tmp_path_factory.mktemp("azurite")).start()
        try:
            server.create_containers(names, metadata={names[0]: {"owner": "ops"}})
            with CountingProxy(f"http://127.0.0.1:{server.port}") as proxy:
                yield AzureBackend(server, proxy)
        finally:
            server.stop()
    elif request.param == "qingstor":
        with QingStorServer() as qs:
            for i, name in enumerate(names):
                qs.add_bucket(name, created=format_iso(1436589957.0 + i * 86400))
            yield QingStorBackend(qs)
    elif request.param == "s3":
        with S3Server() as s3:
            for i, name in enumerate(names):
                s3.add_bucket(name, created=1_600_000_000.0 + i * 86400)
            yield S3Backend(s3)
    else:
        with OASServer() as oas:
            for i, name in enumerate(names):
                oas.add_vault(
                    name,
                    size_in_bytes=1000 * i,
                    number_of_archives=i,
                    last_inventory_date=formatdate(1395144000.0 + i * 3600, usegmt=True),
                )
            yield OASBackend(oas)


def format_iso(timestamp: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def mounted(backend: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:
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


def top(m: Mount, backend: Any, account: str = "main") -> Path:
    return m.path(backend.provider, account, backend.top)


def test_listing_equals_the_server_in_ceil_n_over_page_requests(mounted: Mount, backend: Any) -> None:
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


def test_absent_names_are_enoent_without_a_request(mounted: Mount, backend: Any) -> None:
    run(["ls", str(top(mounted, backend))])
    backend.reset()
    for name in ("nope", "entry-999", "ENTRY-000"):
        result = run(["stat", str(top(mounted, backend) / name)])
        assert "No such file or directory" in result.stderr
    assert backend.list_requests() == 0


def test_mtime_follows_the_provider(mounted: Mount, backend: Any) -> None:
    name = backend.names()[7]
    assert int(os.stat(top(mounted, backend) / name).st_mtime) == int(backend.mtime(name))


def test_xattrs_are_namespaced_and_missing_ones_are_enodata(mounted: Mount, backend: Any) -> None:
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
    mounted: Mount, backend: Any, command: str
) -> None:
    run(["ls", str(top(mounted, backend))])
    backend.reset()
    result = run(command.format(d=top(mounted, backend)))
    assert "Read-only file system" in result.stderr
    assert backend.methods() <= {"GET", "HEAD"}


def test_wrong_secret_is_permission_denied(mounted: Mount, backend: Any) -> None:
    result = run(["ls", str(top(mounted, backend, "wrong"))], timeout=30)
    assert result.returncode != 0 and "Permission denied" in result.stderr


def test_a_5xx_burst_within_the_retry_budget_loses_nothing(mounted: Mount, backend: Any) -> None:
    backend.reset()
    backend.fail_next(503, times=2)
    result = run(["ls", str(top(mounted, backend, "retry"))], timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == backend.names()


def read_stats(m: Mount) -> dict[str, Any]:
    import json

    return json.loads(m.path(".storfs", "stats").read_text())


def test_stats_count_requests_and_ls_l_needs_no_per_entry_getattr(mounted: Mount, backend: Any) -> None:
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
