"""Server errors the retry budget absorbs: 5xx bursts and Retry-After, honoured but bounded."""

from __future__ import annotations

import pytest

from tests.faults.conftest import MountFactory
from tests.faults.tooling import Backend, timed

HTTP = {"retries": 3, "backoff": 0.01, "backoff_max": 0.05}


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_burst_within_the_retry_budget_loses_and_repeats_nothing(
    backend: Backend, mounts: MountFactory, status: int
) -> None:
    m = mounts({f"{backend.provider}.main": backend.table(), "http": HTTP})
    backend.prime(m)
    # A burst on the first page, and another one three pages later.
    backend.proxy.fail_next(status, times=2)
    backend.proxy.fail_next(status, times=2, after=3)
    result = timed(["ls", str(backend.listing(m))], timeout=60)
    assert result.returncode == 0, result.stderr
    listed = result.stdout.splitlines()
    assert sorted(listed) == backend.names(), "entries missing or repeated"
    assert len(listed) == len(set(listed))
    assert backend.proxy.failures_pending == 0, "both bursts must have been met (and retried)"
    answered = [r.status for r in backend.proxy.requests if not r.forwarded]
    assert answered == [status] * 4
    assert m.alive


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(backend: Backend, mounts: MountFactory, status: int) -> None:
    m = mounts({f"{backend.provider}.main": backend.table(), "http": HTTP})
    backend.prime(m)
    backend.proxy.fail_next(status, times=1, headers={"Retry-After": "1"})
    result = timed(["ls", str(backend.listing(m))], timeout=60)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == backend.names()
    assert result.seconds >= 0.9, f"Retry-After: 1 ignored (ls took {result.seconds:.2f}s)"
    assert result.seconds < 8


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_capped_by_retry_after_max(
    backend: Backend, mounts: MountFactory, status: int
) -> None:
    m = mounts({f"{backend.provider}.main": backend.table(), "http": {**HTTP, "retry_after_max": 1.0}})
    backend.prime(m)
    backend.proxy.fail_next(status, times=1, headers={"Retry-After": "3600"})
    result = timed(["ls", str(backend.listing(m))], timeout=60)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == backend.names()
    assert result.seconds < 6, f"Retry-After: 3600 not capped at retry_after_max = 1 ({result.seconds:.1f}s)"
    assert result.seconds >= 0.9, "Retry-After is honoured up to the cap"
