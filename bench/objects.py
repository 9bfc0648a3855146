"""Scenarios B1-B3: walking and reading blobs, storfs beside rclone mount and curl on one Azurite.

B1 `find` over one container of N blobs in D directories (wall s, List Blobs requests)
B2 `du -sb` over the same container, cold (wall s, List Blobs requests)
B3 read throughput of one 256 MiB blob: `cat` through the mount beside `curl` of the same URL,
   each into /dev/null

`python3 -m bench.objects [--blobs N] [--dirs D] [--reps R]` runs only these.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.mounts import RcloneMount, StorfsMount, rclone_available
from bench.report import Measure, Results, Row
from tests.fakes.azurite import AZURITE_ACCOUNT, AZURITE_KEY, Azurite
from tests.fakes.counting_proxy import CountingProxy

CONTAINER = "walk"
BIG_CONTAINER = "reads"
BIG_BLOB = "big.bin"
BIG_SIZE = 256 * 1024 * 1024
BACKEND = "Azurite 3.35.0, blobs uploaded with the SDK"
REMOTE = "benchobj"


def say(message: str) -> None:
    print(f"[objects] {message}", file=sys.stderr, flush=True)


def blob_names(n: int, dirs: int) -> list[str]:
    """N blobs spread over D directories of two levels (`d017/f003/blob-00042.log`)."""
    per_dir = math.ceil(n / dirs)
    return [f"d{(i // per_dir) // 10:03d}/f{(i // per_dir) % 10:03d}/blob-{i:05d}.log" for i in range(n)]


def seed(azurite: Azurite, n: int, dirs: int) -> dict[str, int]:
    rng = random.Random(8)
    blobs = {name: rng.randbytes(rng.randint(0, 2000)) for name in blob_names(n, dirs)}
    blobs |= {f"small/{name}": b"three entries" for name in ("a.txt", "b.txt", "c.txt")}
    azurite.upload_blobs(CONTAINER, blobs, workers=32)
    return {name: len(data) for name, data in blobs.items()}


def directories(names: list[str]) -> set[str]:
    return {name.rsplit("/", i)[0] for name in names for i in range(1, name.count("/") + 1)}


def timed(command: list[str] | str, timeout: float = 900) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    start = time.perf_counter()
    done = subprocess.run(command, shell=isinstance(command, str), capture_output=True, timeout=timeout)
    return time.perf_counter() - start, done


def sas_url(endpoint: str, container: str | None = None, blob: str | None = None) -> str:
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    sas = generate_account_sas(
        AZURITE_ACCOUNT,
        AZURITE_KEY,
        ResourceTypes(service=True, container=True, object=True),
        AccountSasPermissions(read=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=12),
    )
    path = "/".join(p for p in (container, blob) if p)
    return f"{endpoint}{'/' + path if path else ''}?{sas}"


def objects_bench(results: Results, workdir: Path, reps: int, n: int = 20_000, dirs: int = 200) -> None:
    has_rclone = rclone_available()
    find_s = results.row("B1", f"find over {n:,} blobs in {dirs} dirs, wall s", "s", "rclone", n, BACKEND)
    find_r = results.row(
        "8", f"find over {n:,} blobs in {dirs} dirs, List Blobs", "requests", "rclone", n, BACKEND
    )
    du_s = results.row("B2", f"du -sb over {n:,} blobs, cold, wall s", "s", "rclone", n, BACKEND)
    du_r = results.row("B2", f"du -sb over {n:,} blobs, cold, List Blobs", "requests", "rclone", n, BACKEND)
    lone_label = "lone ls -l of a 3-entry directory, List Blobs"
    lone = results.row("B2", lone_label, "requests", "target", n, BACKEND)
    lone.other.add(1)
    read = results.row("B3", "read a 256 MiB blob, MB/s (higher is better)", "MB/s", "curl", 1, BACKEND)
    if not has_rclone:
        for row in (find_s, find_r, du_s, du_r):
            row.other.na = "n/a (no rclone)"
    with contextlib.ExitStack() as stack:
        azurite = stack.enter_context(Azurite(workdir / "azurite", in_memory=True))
        started = time.monotonic()
        sizes = seed(azurite, n, dirs)
        say(f"seeded {len(sizes):,} blobs in {time.monotonic() - started:.1f}s")
        proxy = stack.enter_context(CountingProxy(f"http://127.0.0.1:{azurite.port}"))
        expect_lines = 1 + len(sizes) + len(directories(list(sizes)))
        expect_bytes = sum(sizes.values())
        table = {
            "account": AZURITE_ACCOUNT,
            "key": AZURITE_KEY,
            "endpoint": f"{proxy.url}/{AZURITE_ACCOUNT}",
        }
        tables = {"azure.bench": table, "cache": {"ttl": 300, "max_entries": 200_000}}
        rclone_env = {
            f"RCLONE_CONFIG_{REMOTE.upper()}_TYPE": "azureblob",
            f"RCLONE_CONFIG_{REMOTE.upper()}_SAS_URL": sas_url(f"{proxy.url}/{AZURITE_ACCOUNT}"),
        }
        for rep in range(reps):
            with StorfsMount(workdir, f"storfs-walk-{rep}", tables) as mount:
                root = mount.mountpoint / "azure" / "bench" / "containers" / CONTAINER / "blobs"
                proxy.reset()
                lone_done = timed(["ls", "-l", str(root / "small")])[1]
                lone.storfs.add(proxy.count_op("list_blobs") if lone_done.returncode == 0 else None)
            walk(
                lambda name, rep=rep: StorfsMount(workdir, f"storfs-{name}-{rep}", tables),
                ("azure", "bench", "containers", CONTAINER, "blobs"),
                proxy, expect_lines, expect_bytes, (find_s.storfs, find_r.storfs, du_s.storfs, du_r.storfs),
            )  # fmt: skip
            if has_rclone:
                walk(
                    lambda name, rep=rep: RcloneMount(workdir, f"rclone-{name}-{rep}", rclone_env, REMOTE),
                    (CONTAINER,),
                    proxy, expect_lines, expect_bytes, (find_s.other, find_r.other, du_s.other, du_r.other),
                )  # fmt: skip
        throughput(azurite, workdir, reps, read)


def walk(
    make: Callable[[str], StorfsMount | RcloneMount],
    below: tuple[str, ...],
    proxy: CountingProxy,
    expect_lines: int,
    expect_bytes: int,
    measures: tuple[Measure, Measure, Measure, Measure],
) -> None:
    """`find` on one fresh mount, `du -sb` on another: each cold, each checked complete first."""
    find_s, find_r, du_s, du_r = measures
    with make("find") as mount:
        root = mount.mountpoint.joinpath(*below)
        proxy.reset()
        seconds, done = timed(["find", str(root)])
        lines = done.stdout.count(b"\n")
        problem = None
        if done.returncode != 0 or lines != expect_lines:
            problem = f"find: exit {done.returncode}, {lines} lines, want {expect_lines}"
        find_s.add(None if problem else seconds, problem)
        find_r.add(None if problem else proxy.count_op("list_blobs"), problem)
        say(f"{mount.mountpoint.name}: {seconds:.2f}s, {proxy.count_op('list_blobs')} List Blobs, {problem}")
    with make("du") as mount:
        root = mount.mountpoint.joinpath(*below)
        proxy.reset()
        seconds, done = timed(["du", "-sb", str(root)])
        total = int(done.stdout.split()[0]) if done.returncode == 0 and done.stdout else -1
        problem = None if total == expect_bytes else f"du -sb: {total}, want {expect_bytes}"
        du_s.add(None if problem else seconds, problem)
        du_r.add(None if problem else proxy.count_op("list_blobs"), problem)
        say(f"{mount.mountpoint.name}: {seconds:.2f}s, {proxy.count_op('list_blobs')} List Blobs, {problem}")


def throughput(azurite: Azurite, workdir: Path, reps: int, row: Row) -> None:
    """`cat` of a 256 MiB blob through a mount (direct to Azurite) beside `curl` of its URL."""
    data = random.Random(10).randbytes(1 << 20) * (BIG_SIZE >> 20)
    azurite.upload_blobs(BIG_CONTAINER, {BIG_BLOB: data}, workers=1)
    del data
    url = sas_url(azurite.endpoint, BIG_CONTAINER, BIG_BLOB)
    tables = {"azure.bench": {"account": AZURITE_ACCOUNT, "key": AZURITE_KEY, "endpoint": azurite.endpoint}}
    mb = BIG_SIZE / 1e6
    for rep in range(reps):
        seconds, done = timed(["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}", url])
        ok = done.returncode == 0 and done.stdout.strip() == str(BIG_SIZE).encode()
        row.other.add(mb / seconds if ok else None, None if ok else f"curl: {done.stderr[:200]!r}")
        with StorfsMount(workdir, f"storfs-read-{rep}", tables) as mount:
            path = mount.mountpoint / "azure" / "bench" / "containers" / BIG_CONTAINER / "blobs" / BIG_BLOB
            path.stat()  # the listing is not what is timed
            # Into /dev/null as curl's, so both pay the same sink; the bytes are counted after.
            seconds_storfs, done = timed(f"cat '{path}' > /dev/null")
            _, counted = timed(f"wc -c < '{path}'")
            ok = done.returncode == 0 and counted.stdout.strip() == str(BIG_SIZE).encode()
            row.storfs.add(mb / seconds_storfs if ok else None, None if ok else f"cat: {done.stderr[:200]!r}")
        say(f"read rep {rep + 1}: curl {mb / seconds:.0f} MB/s, storfs {mb / seconds_storfs:.0f} MB/s")


def main(argv: list[str] | None = None) -> int:
    import tempfile

    parser = argparse.ArgumentParser(prog="python3 -m bench.objects", description=__doc__)
    parser.add_argument("--blobs", type=int, default=20_000)
    parser.add_argument("--dirs", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    results = Results()
    with tempfile.TemporaryDirectory(prefix="storfs-bench-objects-") as tmp:
        objects_bench(results, Path(tmp), args.reps, args.blobs, args.dirs)
    print(results.table([]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
