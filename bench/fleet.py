"""Scenario 10: a fleet of mounts listing the same containers at once, sharing pages through Redis.

For each fleet size M, M storfs mounts of one Azurite account start cold, each runs `ls -l` of
`containers/` at the same moment, and the proxy counts List Containers requests. The same M
mounts without `[cache] shared` are the peer; a lone mount without Redis is the yardstick for each
mount's cold time. All mounts share this machine's cores, so a large M also measures CPU contention
that a fleet of separate hosts would not have; the unshared peer has the same contention.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis

from bench.measure import ls_l
from bench.mounts import StorfsMount
from bench.report import Measure, Results
from bench.servers import AZURE_BACKEND, AzureAccount
from tests.fakes.redis_server import RedisServer

FLEET_N = 10_000
FLEET_SIZES = (1, 4, 16)
QUICK_N = 1_000
QUICK_SIZES = (1, 4)
STARTING_AT_ONCE = 4


def _at_once(paths: list[Path], n: int, timeout: float) -> list[tuple[float | None, str | None]]:
    """`ls -l` of every path, all released at the same moment; each one's own wall time."""
    results: list[tuple[float | None, str | None]] = [(None, "not run")] * len(paths)
    gate = threading.Barrier(len(paths))

    def one(i: int) -> None:
        gate.wait()
        results[i] = ls_l(paths[i], n, timeout)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(paths))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 30)
    return results


def _started(mounts: list[StorfsMount]) -> contextlib.ExitStack:
    """Enter every mount, STARTING_AT_ONCE at a time (16 Python start-ups in a row take long;
    16 at once on two cores miss the mount timeout)."""
    stack = contextlib.ExitStack()

    def enter(m: StorfsMount) -> StorfsMount:
        m.__enter__()
        return m

    with ThreadPoolExecutor(max_workers=STARTING_AT_ONCE) as pool:
        futures = [pool.submit(enter, m) for m in mounts]
        for future in futures:
            try:
                started = future.result(timeout=180)
            except BaseException:
                for other in futures:
                    other.cancel()
                    if other.done() and other.exception() is None:
                        other.result().__exit__(None, None, None)
                stack.close()
                raise
            stack.callback(started.__exit__, None, None, None)
    return stack


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fleet_bench(
    results: Results,
    workdir: Path,
    reps: int,
    say: Callable[[str], None],
    *,
    quick: bool = False,
) -> None:
    n, sizes = (QUICK_N, QUICK_SIZES) if quick else (FLEET_N, FLEET_SIZES)
    backend = f"{AZURE_BACKEND}; redis-server (Debian), loopback"
    timeout = 120 + n * 0.004 * max(sizes)
    with AzureAccount(workdir / "azurite", n) as account, RedisServer() as server:
        proxy = account.proxy
        assert proxy is not None
        plain = {"azure.bench": account.storfs_table(), "cache": {"ttl": 60}}
        shared = {"azure.bench": account.storfs_table(), "cache": {"ttl": 60, "shared": server.url}}
        lone = results.row("10", "lone mount, no Redis: cold ls -l, s", "s", "", n, backend)
        lone.other.na = "-"
        lone_cpu = results.row("10", "lone mount, no Redis: storfs CPU s per cold ls -l", "s", "", n, backend)
        lone_cpu.other.na = "-"
        counter = 0

        def fleet(size: int, tables: dict, side: str, rep: int) -> tuple[list[float], int, float]:
            nonlocal counter
            mounts = []
            for _ in range(size):
                counter += 1
                mounts.append(StorfsMount(workdir, f"fleet-{counter}", tables))
            with _started(mounts):
                proxy.reset()
                listings = [m.mountpoint / "azure" / "bench" / "containers" for m in mounts]
                cpu0 = [_cpu_seconds(m.pid) for m in mounts]
                timings = _at_once(listings, n, timeout)
                requests = proxy.count_op("list_containers")
                cpu = [_cpu_seconds(m.pid) - c0 for m, c0 in zip(mounts, cpu0, strict=True)]
            problems = [p for _, p in timings if p]
            if problems:
                raise RuntimeError(f"{size} {side} mounts, rep {rep + 1}: {problems[0]}")
            return [t for t, _ in timings if t is not None], requests, sorted(cpu)[len(cpu) // 2]

        for rep in range(reps):
            (alone,), _, alone_cpu = fleet(1, plain, "lone", rep)
            lone.storfs.add(alone)
            lone_cpu.storfs.add(alone_cpu)
            for size in sizes:

                def row(label: str, unit: str, size: int = size):  # type: ignore[no-untyped-def]
                    return results.row("10", f"{size} mounts at once: {label}", unit, "unshared", n, backend)

                reqs = row("List Containers reqs", "requests")
                slow = row("slowest mount's cold ls -l, s", "s")
                times = row("each mount / lone mount (max)", "x")
                cpus = row("storfs CPU s per mount (median)", "s")
                for side, tables, measure in (("shared", shared, "storfs"), ("unshared", plain, "other")):
                    if side == "shared":
                        redis.Redis.from_url(server.url).flushall()
                    try:
                        seconds, requests, cpu = fleet(size, tables, side, rep)
                    except Exception as exc:
                        for row in (reqs, slow, times, cpus):
                            getattr(row, measure).add(None, str(exc)[:300])
                        say(f"fleet: {exc}")
                        continue
                    target: Measure = getattr(reqs, measure)
                    target.add(requests)
                    getattr(slow, measure).add(max(seconds))
                    getattr(times, measure).add(max(seconds) / alone)
                    getattr(cpus, measure).add(cpu)
                    say(
                        f"fleet N={n:,} rep {rep + 1}: {size} {side} mounts, {requests} list reqs "
                        f"(minimum {math.ceil(n / 5000)}), slowest {max(seconds):.3f}s, "
                        f"median {sorted(seconds)[len(seconds) // 2]:.3f}s, lone {alone:.3f}s; "
                        f"storfs CPU per mount {cpu:.2f}s (lone {alone_cpu:.2f}s)"
                    )
