"""The server is down: at mount time, during use, and with `stale_if_error` (an expired listing
served, with a warning, rather than an error)."""

from __future__ import annotations

import os
import time

from tests.faults.conftest import MountFactory
from tests.faults.tooling import EIO_TEXT, Backend, LogWatch, timed
from tests.harness import run

HTTP = {"deadline": 3.0, "retries": 1, "connect_timeout": 1.0, "read_timeout": 1.0, "backoff": 0.01}
FAST = 5.0  # "fails fast": a few seconds with retries = 1


def test_server_down_at_mount_time(backend: Backend, mounts: MountFactory) -> None:
    backend.proxy.stop()
    m = mounts({f"{backend.provider}.main": backend.table(), "http": HTTP})
    assert run(["ls", str(m.path(backend.provider))]).stdout.split() == ["main"]
    down = timed(["ls", str(backend.listing(m))], timeout=30)
    assert down.returncode != 0
    assert EIO_TEXT in down.stderr, down.stderr
    assert down.seconds < FAST, f"ls took {down.seconds:.1f}s against a dead server"
    backend.proxy.start()
    backend.prime(m)
    up = timed(["ls", str(backend.listing(m))], timeout=30)
    assert up.returncode == 0, up.stderr
    assert sorted(up.stdout.splitlines()) == backend.names()


def test_server_down_during_use_fails_fast_without_stale_if_error(
    backend: Backend, mounts: MountFactory
) -> None:
    m = mounts({f"{backend.provider}.main": backend.table(), "cache": {"ttl": 1}, "http": HTTP})
    backend.prime(m)
    first = timed(["ls", str(backend.listing(m))], timeout=30)
    assert sorted(first.stdout.splitlines()) == backend.names(), first.stderr
    time.sleep(1.5)
    backend.proxy.stop()
    down = timed(["ls", str(backend.listing(m))], timeout=30)
    assert down.returncode != 0, "an expired listing was served though stale_if_error is off"
    assert EIO_TEXT in down.stderr, down.stderr
    assert down.seconds < FAST
    assert m.alive
    backend.proxy.start()
    up = timed(["ls", str(backend.listing(m))], timeout=30)
    assert up.returncode == 0, up.stderr
    assert sorted(up.stdout.splitlines()) == backend.names()


def test_stale_if_error_serves_the_expired_listing_with_a_warning(
    backend: Backend, mounts: MountFactory
) -> None:
    m = mounts(
        {
            f"{backend.provider}.main": backend.table(),
            "cache": {"ttl": 1, "stale_if_error": True},
            "http": HTTP,
        }
    )
    backend.prime(m)
    first = timed(["ls", "-l", str(backend.listing(m))], timeout=30)
    assert first.returncode == 0, first.stderr
    time.sleep(1.5)  # older than the TTL
    backend.proxy.stop()
    watch = LogWatch(m)
    stale = timed(["ls", "-l", str(backend.listing(m))], timeout=30)
    assert stale.returncode == 0, stale.stderr
    assert stale.stdout == first.stdout, "the expired listing, unchanged"
    assert stale.seconds < FAST
    problems = watch.problems()
    assert len(problems) >= 1, "serving a stale listing must say so in the log"
    assert any(f"{backend.provider}/main" in line for line in problems), problems
    assert "Traceback" not in watch.text()
    name = backend.names()[3]
    assert os.stat(backend.listing(m) / name).st_mode  # entries of the stale listing resolve
    assert m.alive
    backend.proxy.start()
    time.sleep(1.2)
    fresh = timed(["ls", str(backend.listing(m))], timeout=30)
    assert fresh.returncode == 0, fresh.stderr
    assert sorted(fresh.stdout.splitlines()) == backend.names()
