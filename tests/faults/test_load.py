"""8 threads, 10,000 mixed operations over all three providers of one mount while the TTL expires
under them: no unexpected error, no deadlock, and every answer equals the servers' data."""

from __future__ import annotations

import errno
import os
import random
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.conftest import MakeBackend, MountFactory
from tests.faults.tooling import Backend

THREADS = 8
OPERATIONS = 10_000
BUCKETS, UPLOADS_PER_BUCKET, PARTS_PER_UPLOAD = 6, 3, 4
VAULTS = 23


@dataclass(frozen=True)
class Node:
    path: Path
    is_dir: bool
    size: int
    xattr: tuple[str, str]  # one attribute and its value


@pytest.mark.timeout(150)
def test_eight_threads_ten_thousand_operations_while_the_ttl_expires(
    make: MakeBackend, mounts: MountFactory
) -> None:
    azure: Backend = make("azure")
    qingstor: Backend = make("qingstor")
    oas: Backend = make("oas")
    qs, vaults = qingstor.server, oas.server
    assert qs is not None and vaults is not None
    qs.count_mode = "total"  # GET Service reveals every offset: concurrent page fetches too
    for b in range(BUCKETS):
        qs.add_bucket(f"lb-{b}")
        for u in range(UPLOADS_PER_BUCKET):
            upload = qs.add_upload(f"lb-{b}", f"dir/key-{u}", upload_id=f"lb-{b}-up-{u}")
            for p in range(1, PARTS_PER_UPLOAD + 1):
                qs.add_part(f"lb-{b}", upload, p, size=b * 1000 + u * 100 + p)
    for v in range(VAULTS):
        vaults.add_vault(f"load-{v:02d}", size_in_bytes=4096 * v + 1)

    m = mounts(
        {
            "azure.main": azure.table(page_size=5),
            "qingstor.main": qingstor.table(page_size=2),
            "oas.main": oas.table(page_size=3),
            "cache": {"ttl": 1},
            "http": {"retries": 2, "backoff": 0.01, "deadline": 20.0},
        }
    )

    # The oracle: every directory's names and every entry's expected attributes.
    dirs: dict[Path, set[str]] = {}
    nodes: list[Node] = []
    containers = m.path("azure", "main", "containers")
    dirs[containers] = set(azure.names())
    nodes += [Node(containers / n, True, 0, ("user.azure.lease_state", "available")) for n in azure.names()]
    buckets = m.path("qingstor", "main", "buckets")
    dirs[buckets] = set(qingstor.names()) | {f"lb-{b}" for b in range(BUCKETS)}
    nodes += [Node(buckets / n, True, 0, ("user.qingstor.name", n)) for n in qingstor.names()]
    parts: list[Path] = []
    for b in range(BUCKETS):
        bucket = buckets / f"lb-{b}"
        nodes.append(Node(bucket, True, 0, ("user.qingstor.name", f"lb-{b}")))
        dirs[bucket / "uploads"] = {f"lb-{b}-up-{u}" for u in range(UPLOADS_PER_BUCKET)}
        for u in range(UPLOADS_PER_BUCKET):
            upload = bucket / "uploads" / f"lb-{b}-up-{u}"
            nodes.append(Node(upload, True, 0, ("user.qingstor.upload_id", f"lb-{b}-up-{u}")))
            dirs[upload / "parts"] = {f"{p:05d}" for p in range(1, PARTS_PER_UPLOAD + 1)}
            for p in range(1, PARTS_PER_UPLOAD + 1):
                part = upload / "parts" / f"{p:05d}"
                parts.append(part)
                nodes.append(Node(part, False, b * 1000 + u * 100 + p, ("user.qingstor.part_number", str(p))))
    vault_dir = m.path("oas", "main", "vaults")
    dirs[vault_dir] = set(oas.names()) | {f"load-{v:02d}" for v in range(VAULTS)}
    nodes += [
        Node(vault_dir / n, True, 1000 * i, ("user.oas.vault_name", n)) for i, n in enumerate(oas.names())
    ]
    nodes += [
        Node(vault_dir / f"load-{v:02d}", True, 4096 * v + 1, ("user.oas.vault_name", f"load-{v:02d}"))
        for v in range(VAULTS)
    ]
    directories = sorted(dirs)

    errors: list[str] = []
    done = [0] * THREADS
    counts = {"listdir": 0, "stat": 0, "getxattr": 0, "open_part": 0, "missing": 0}
    lock = threading.Lock()

    def fail(message: str) -> None:
        with lock:
            if len(errors) < 50:
                errors.append(message)

    def work(index: int) -> None:
        rng = random.Random(1000 + index)
        mine = dict.fromkeys(counts, 0)
        for _ in range(OPERATIONS // THREADS):
            roll = rng.random()
            try:
                if roll < 0.30:
                    mine["listdir"] += 1
                    directory = rng.choice(directories)
                    names = os.listdir(directory)
                    if len(names) != len(set(names)) or set(names) != dirs[directory]:
                        fail(f"listdir {directory}: {sorted(set(names) ^ dirs[directory])[:5]} differ")
                elif roll < 0.55:
                    mine["stat"] += 1
                    node = rng.choice(nodes)
                    st = os.stat(node.path)
                    if stat.S_ISDIR(st.st_mode) != node.is_dir or st.st_size != node.size:
                        fail(f"stat {node.path}: mode {st.st_mode:o} size {st.st_size}, expected {node}")
                elif roll < 0.75:
                    mine["getxattr"] += 1
                    node = rng.choice(nodes)
                    value = os.getxattr(node.path, node.xattr[0]).decode()
                    if value != node.xattr[1]:
                        fail(f"getxattr {node.path} {node.xattr[0]} = {value!r}")
                elif roll < 0.85:
                    mine["open_part"] += 1
                    part = rng.choice(parts)
                    try:
                        with open(part, "rb"):
                            fail(f"open {part} succeeded")
                    except OSError as exc:
                        if exc.errno != errno.EOPNOTSUPP:
                            fail(f"open {part}: {exc!r}, expected EOPNOTSUPP")
                else:
                    mine["missing"] += 1
                    directory = rng.choice(directories)
                    try:
                        os.stat(directory / f"missing-{rng.randrange(10**6)}")
                        fail(f"stat of a missing name in {directory} succeeded")
                    except FileNotFoundError:
                        pass
            except OSError as exc:
                fail(f"unexpected {exc!r}")
            done[index] += 1
        with lock:
            for key, value in mine.items():
                counts[key] += value

    t0 = time.monotonic()
    threads = [
        threading.Thread(target=work, args=(i,), daemon=True, name=f"load-{i}") for i in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.1, 100 - (time.monotonic() - t0)))
    elapsed = time.monotonic() - t0
    stuck = [thread.name for thread in threads if thread.is_alive()]
    if stuck:
        m.stop()  # unblocks the stuck threads (their calls fail once the mount is gone)
    assert not stuck, f"deadlock: {stuck} still running after {elapsed:.0f}s ({sum(done)} operations done)"
    assert sum(done) == OPERATIONS
    assert not errors, f"{len(errors)} unexpected results, e.g.:\n" + "\n".join(errors[:20])
    assert elapsed < 60, f"{OPERATIONS} operations took {elapsed:.0f}s"
    assert all(count > 0 for count in counts.values()), counts
    assert m.alive
    # The TTL really expired under the load: listings were fetched again and again.
    pages = -(-len(azure.names()) // 5)
    assert azure.list_requests() >= 2 * pages, "the Azure listing was not refetched as the TTL expired"
