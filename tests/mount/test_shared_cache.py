"""A fleet of real mounts sharing listings through a real redis-server (issue 16).

Three mounts of the same Azurite account (behind a counting proxy) and the same QingStor test
account, `[cache] shared` pointing at one redis-server on a free loopback port without persistence.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import AZURE, QINGSTOR
from tests.fakes.azurite import AZURITE_KEY, Azurite
from tests.fakes.counting_proxy import CountingProxy
from tests.fakes.qingstor_server import QingStorServer
from tests.fakes.redis_server import RedisServer
from tests.harness import Mount, run, write_config

N_CONTAINERS = 1234
PAGE = 100
PAGES = math.ceil(N_CONTAINERS / PAGE)  # 13
N_BUCKETS = 250
RESUME_AFTER = 2.5  # > storfs.shared.pages.RETRY_AFTER


@pytest.fixture(scope="module")
def seeded(azurite: Azurite) -> Azurite:
    azurite.create_containers(
        [f"c-{i:04d}" for i in range(N_CONTAINERS)], metadata={"c-0001": {"owner": "ops"}}
    )
    return azurite


@pytest.fixture(scope="module")
def proxy(seeded: Azurite) -> Iterator[CountingProxy]:
    with CountingProxy(AZURE.url(seeded)) as p:
        yield p


@pytest.fixture(scope="module")
def qingstor() -> Iterator[QingStorServer]:
    with QingStorServer() as qs:
        for i in range(N_BUCKETS):
            qs.add_bucket(f"bucket-{i:04d}")
        upload = qs.add_upload("bucket-0001", "videos/take.mp4")
        for n in range(1, 8):
            qs.add_part("bucket-0001", upload, n, 1000 + n)
        yield qs


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


class Fleet:
    """Mounts sharing one Redis; each is stopped at the end of its test."""

    def __init__(
        self, root: Path, azurite: Azurite, proxy: CountingProxy, qs: QingStorServer, redis_url: str
    ) -> None:
        self.root, self.azurite, self.proxy, self.qs, self.redis_url = root, azurite, proxy, qs, redis_url
        self.mounts: list[Mount] = []

    def config(self, name: str, azure_key: str = AZURITE_KEY, qs_secret: str | None = None) -> Path:
        secret = qs_secret or self.qs.secret_access_key
        return write_config(
            self.root / f"{name}.toml",
            {
                "azure.dev": AZURE.table(self.azurite, self.proxy.url, page_size=PAGE, key=azure_key),
                "qingstor.main": QINGSTOR.table(self.qs, page_size=PAGE, secret_access_key=secret),
                "cache": {"ttl": 300, "shared": self.redis_url},
                "http": {"retries": 0},
            },
        )

    def start(self, name: str, **keys: str) -> Mount:
        m = Mount(self.config(name, **keys), self.root / name)
        self.mounts.append(m)
        return m.start()

    def stop(self) -> None:
        for m in self.mounts:
            m.stop()


@pytest.fixture
def fleet(
    tmp_path: Path,
    seeded: Azurite,
    proxy: CountingProxy,
    qingstor: QingStorServer,
    redis_server: RedisServer,
) -> Iterator[Fleet]:
    f = Fleet(tmp_path, seeded, proxy, qingstor, redis_server.url)
    try:
        yield f
    finally:
        f.stop()


def containers(m: Mount) -> Path:
    return m.path("azure", "dev", "containers")


def buckets(m: Mount) -> Path:
    return m.path("qingstor", "main", "buckets")


def ls_at_once(
    paths: list[Path], meanwhile: Callable[[], None] = lambda: None
) -> list[subprocess.CompletedProcess[str]]:
    """`ls -l` of every path concurrently (one process each); `meanwhile` runs while they list."""
    procs = [
        subprocess.Popen(["ls", "-l", str(p)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for p in paths
    ]
    meanwhile()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def names(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return [line.split()[-1] for line in result.stdout.splitlines() if not line.startswith("total")]


def stats(m: Mount) -> dict[str, Any]:
    return json.loads(m.path(".storfs", "stats").read_text())


def refresh(path: Path) -> None:
    result = run([sys.executable, "-m", "storfs", "refresh", str(path)])
    assert result.returncode == 0, result.stderr


def test_three_cold_mounts_cost_ceil_n_over_page_requests_in_total(fleet: Fleet) -> None:
    mounts = [fleet.start(f"m{i}") for i in range(3)]
    fleet.proxy.reset()
    fleet.qs.reset_log()
    results = ls_at_once([containers(m) for m in mounts] + [buckets(m) for m in mounts])
    listed = [names(r) for r in results]
    assert listed[0] == [f"c-{i:04d}" for i in range(N_CONTAINERS)]
    assert listed[0] == listed[1] == listed[2]
    assert listed[3] == listed[4] == listed[5] == [f"bucket-{i:04d}" for i in range(N_BUCKETS)]
    # ls -l output (modes, sizes, dates) is the same whoever fetched the page.
    assert results[0].stdout == results[1].stdout == results[2].stdout
    assert fleet.proxy.count_op("list_containers") == PAGES == 13
    assert len(fleet.proxy.requests) == 13
    assert fleet.qs.count("list_buckets") == math.ceil(N_BUCKETS / PAGE)
    hits = sum(stats(m)["cache"].get("shared_hits", 0) for m in mounts)
    assert hits >= 2 * PAGES  # the other two mounts read every page from Redis
    shown = run([sys.executable, "-m", "storfs", "stats", str(mounts[0].mountpoint)])
    assert "shared cache" in shown.stdout and " hits" in shown.stdout
    attrs = run(["getfattr", "-d", "--absolute-names", str(containers(mounts[2]) / "c-0001")])
    assert 'user.azure.meta.owner="ops"' in attrs.stdout


def test_a_wrong_key_is_denied_and_reads_nothing_from_redis(fleet: Fleet) -> None:
    good = fleet.start("good")
    assert len(names(run(["ls", "-l", str(containers(good))]))) == N_CONTAINERS
    assert len(names(run(["ls", "-l", str(buckets(good))]))) == N_BUCKETS
    wrong_key = "A" * 86 + "=="  # well-formed base64, not the account's key
    wrong = fleet.start("wrong", azure_key=wrong_key, qs_secret="not-the-secret")
    fleet.proxy.reset()
    for path in (containers(wrong), buckets(wrong)):
        result = run(["ls", "-l", str(path)])
        assert result.returncode != 0
        assert "Permission denied" in result.stderr
    assert [r.status for r in fleet.proxy.requests] == [403]  # it asked the server, which refused
    counters = stats(wrong)["cache"]
    assert counters.get("shared_hits", 0) == 0 and counters.get("shared_stores", 0) == 0


def test_redis_stopped_mid_run_then_back(fleet: Fleet, redis_server: RedisServer) -> None:
    mounts = [fleet.start(f"m{i}") for i in range(3)]
    fleet.proxy.reset()

    def stop_when_listing_started() -> None:
        deadline = time.monotonic() + 30
        while fleet.proxy.count_op("list_containers") < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        redis_server.stop()

    # Stopped while the three cold listings run: each still comes out whole and in order.
    results = ls_at_once(
        [containers(m) for m in mounts] + [buckets(m) for m in mounts], stop_when_listing_started
    )
    assert all(names(r) == [f"c-{i:04d}" for i in range(N_CONTAINERS)] for r in results[:3])
    assert all(names(r) == [f"bucket-{i:04d}" for i in range(N_BUCKETS)] for r in results[3:])
    assert fleet.proxy.count_op("list_containers") >= PAGES
    for m in mounts:
        refresh(m.path("azure", "dev"))  # drop the local listings: the next ls must fetch
    fleet.proxy.reset()
    results = ls_at_once([containers(m) for m in mounts])
    assert all(names(r) == names(results[0]) and len(names(r)) == N_CONTAINERS for r in results)
    assert fleet.proxy.count_op("list_containers") == 3 * PAGES  # each mount fetched for itself
    for m in mounts:
        assert m.log().count("unavailable") == 1, m.log()  # one warning per outage
        assert stats(m)["cache"]["shared_outages"] == 1
        assert stats(m)["cache"]["shared_bypassed"] >= PAGES

    redis_server.start()
    time.sleep(RESUME_AFTER)
    for m in mounts:
        refresh(m.path("azure", "dev"))
    fleet.proxy.reset()
    results = ls_at_once([containers(m) for m in mounts])
    assert all(len(names(r)) == N_CONTAINERS for r in results)
    assert fleet.proxy.count_op("list_containers") == PAGES  # sharing resumed
    assert any("sharing resumes" in m.log() for m in mounts)


def test_a_mount_restarted_within_the_ttl_lists_without_a_request(fleet: Fleet) -> None:
    first = fleet.start("first")
    fleet.proxy.reset()
    fleet.qs.reset_log()
    before = run(["ls", "-l", str(containers(first))])
    run(["ls", "-lR", str(buckets(first) / "bucket-0001")])
    first.stop()
    again = fleet.start("again")
    fleet.proxy.reset()
    fleet.qs.reset_log()
    after = run(["ls", "-l", str(containers(again))])
    assert names(after) == names(before) and len(names(after)) == N_CONTAINERS
    parts = run(["ls", str(buckets(again) / "bucket-0001" / "uploads")])
    assert parts.returncode == 0 and len(parts.stdout.split()) == 1
    assert fleet.proxy.requests == []
    assert fleet.qs.count() == 0


def test_refresh_and_sighup_drop_the_shared_pages_below_the_path(fleet: Fleet) -> None:
    writer, dropper = fleet.start("writer"), fleet.start("dropper")
    names(run(["ls", "-l", str(containers(writer))]))
    uploads = buckets(writer) / "bucket-0001" / "uploads"
    (upload,) = os.listdir(uploads)
    assert len(os.listdir(uploads / upload / "parts")) == 7

    # The dropper never listed the uploads or parts: the shared descriptions tell it what is below.
    names(run(["ls", str(buckets(dropper))]))
    refresh(buckets(dropper) / "bucket-0001")
    fleet.qs.reset_log()
    fleet.proxy.reset()
    reader = fleet.start("reader")
    assert len(os.listdir(buckets(reader) / "bucket-0001" / "uploads" / upload / "parts")) == 7
    assert fleet.qs.count("list_buckets") == 0  # buckets were not below the path: still shared
    assert fleet.qs.count("list_uploads") == 1 and fleet.qs.count("list_parts") == 1
    assert len(names(run(["ls", "-l", str(containers(reader))]))) == N_CONTAINERS
    assert fleet.proxy.requests == []

    assert dropper.process is not None
    os.kill(dropper.process.pid, signal.SIGHUP)  # everything, on every host's next fetch
    deadline = time.monotonic() + 10
    while "SIGHUP" not in dropper.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    late = fleet.start("late")
    fleet.proxy.reset()
    assert len(names(run(["ls", "-l", str(containers(late))]))) == N_CONTAINERS
    assert fleet.proxy.count_op("list_containers") == PAGES
