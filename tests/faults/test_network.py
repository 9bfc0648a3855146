"""A network that refuses, resets, cuts bodies short or never answers: a clear errno within the
deadline, other paths of the mount answer meanwhile, and the next call works once it is back."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.faults.conftest import MountFactory
from tests.faults.tooling import EIO_TEXT, ETIMEDOUT_TEXT, Backend, LogWatch, timed
from tests.harness import run

DEADLINE = 3.0
SLACK = 3.0  # process start-up, kernel round trips, a loaded machine
HTTP = {
    "deadline": DEADLINE,
    "retries": 1,
    "read_timeout": 1.0,
    "connect_timeout": 1.0,
    "backoff": 0.01,
    "backoff_max": 0.05,
}

FAULTS = {
    # fault: what `ls` must say
    "refused": EIO_TEXT,
    "reset_mid_body": EIO_TEXT,
    "truncated_body": EIO_TEXT,
    "closed_without_answer": EIO_TEXT,
    "slow_past_read_timeout": ETIMEDOUT_TEXT,
}


def inject(backend: Backend, fault: str) -> None:
    proxy = backend.proxy
    if fault == "refused":
        proxy.stop()  # nothing listens on the port any more
    elif fault == "reset_mid_body":
        proxy.fail_next(0, times=1000, mode="reset")  # the server's real answer, cut in half + RST
    elif fault == "truncated_body":
        proxy.fail_next(0, times=1000, mode="truncate")  # Content-Length larger than what is sent
    elif fault == "closed_without_answer":
        proxy.fail_next(0, times=1000, mode="close")
    elif fault == "slow_past_read_timeout":
        proxy.delay = 5.0
    else:
        raise ValueError(fault)


def heal(backend: Backend) -> None:
    proxy = backend.proxy
    proxy.clear_failures()
    proxy.delay = 0.0
    proxy.start()  # a no-op unless stopped: then it listens on the same port again


@pytest.mark.parametrize("fault", list(FAULTS))
def test_network_fault_is_a_clear_errno_within_the_deadline(
    backend: Backend, mounts: MountFactory, fault: str
) -> None:
    other = backend.extra_proxy()
    m = mounts(
        {
            f"{backend.provider}.main": backend.table(),
            f"{backend.provider}.other": backend.table(endpoint=other.url),
            "http": HTTP,
        }
    )
    backend.prime(m)
    backend.prime(m, "other")
    watch = LogWatch(m)
    inject(backend, fault)

    t0 = time.monotonic()
    failing = subprocess.Popen(
        ["ls", str(backend.listing(m))], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(0.3)
        # Meanwhile another account of the same mount answers at once.
        healthy = timed(["ls", str(backend.listing(m, "other"))], timeout=30)
        assert healthy.returncode == 0, healthy.stderr
        assert sorted(healthy.stdout.splitlines()) == backend.names()
        assert healthy.seconds < 2.5, f"another path waited {healthy.seconds:.1f}s behind the fault"
        out, err = failing.communicate(timeout=DEADLINE + 30)
    finally:
        if failing.poll() is None:
            failing.kill()
            failing.wait()
    elapsed = time.monotonic() - t0
    assert failing.returncode != 0, f"ls succeeded through {fault}: {out!r}"
    assert FAULTS[fault] in err, f"{fault}: expected {FAULTS[fault]!r}, got {err.strip()!r}"
    assert elapsed < DEADLINE + SLACK, f"{fault}: ls took {elapsed:.1f}s (deadline {DEADLINE}s)"
    assert "Traceback" not in watch.text()

    # The mount is alive, and the next call works once the server is back.
    assert m.alive
    assert run(["ls", str(m.path(backend.provider))]).stdout.split() == ["main", "other"]
    heal(backend)
    again = timed(["ls", str(backend.listing(m))], timeout=30)
    assert again.returncode == 0, again.stderr
    assert sorted(again.stdout.splitlines()) == backend.names()


def test_the_deadline_bounds_a_call_whatever_the_retry_budget(backend: Backend, mounts: MountFactory) -> None:
    """retries = 5 with a 1 s read timeout would wait 6 s or more: the 3 s deadline wins."""
    m = mounts({f"{backend.provider}.main": backend.table(), "http": {**HTTP, "retries": 5}})
    backend.prime(m)
    backend.proxy.delay = 5.0
    result = timed(["ls", str(backend.listing(m))], timeout=60)
    assert result.returncode != 0
    assert ETIMEDOUT_TEXT in result.stderr or EIO_TEXT in result.stderr, result.stderr
    assert result.seconds < DEADLINE + 2, f"ls took {result.seconds:.1f}s with a {DEADLINE}s deadline"
    backend.proxy.delay = 0.0
    again = timed(["ls", str(backend.listing(m))], timeout=30)
    assert again.returncode == 0, again.stderr
    assert sorted(again.stdout.splitlines()) == backend.names()
