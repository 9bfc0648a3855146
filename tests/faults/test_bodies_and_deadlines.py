"""Hostile bodies and slow servers against the transport: a gzip bomb, a 600 MB body, a trickled
body or header, a malformed Retry-After, a forged error code. Each ends as a clear errno within
the deadline, with bounded memory, one log line, no thread left behind, and the next request
after the fault works at once. The in-process tests drive a real provider (QingStor GET Service)
through `Provider.get`; the mount tests drive the same faults through `ls` on a FUSE mount, the
last ones for every provider through the fault proxy."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from storfs.errors import StorfsError
from storfs.providers.qingstor import QingStorProvider
from storfs.transport import HttpSettings, body_limit
from tests.fakes.counting_proxy import CountingProxy
from tests.faults.conftest import MountFactory
from tests.faults.hostile_server import BUCKETS, HostileServer, deflate_bomb, gzip_bomb, gzip_bomb_one_stream
from tests.faults.tooling import EIO_TEXT, ETIMEDOUT_TEXT, STORFS, Backend, LogWatch, register, timed
from tests.harness import run, write_config

PAGE = 5
DEADLINE = 2.0
SLACK = 1.5  # a loaded 2-core machine, thread wake-ups
TRICKLE = 0.5  # seconds between bytes: well below read_timeout, so only the deadline can end it
HTTP = HttpSettings(
    connect_timeout=1.0,
    read_timeout=5.0,
    retries=2,
    backoff=0.01,
    backoff_max=0.05,
    retry_after_max=1.0,
    deadline=DEADLINE,
)
MIB = 1024 * 1024


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer(trickle_interval=TRICKLE) as hostile:
        yield register(hostile)


def provider(server: HostileServer, http: HttpSettings = HTTP) -> QingStorProvider:
    settings = {"access_key_id": "AK", "secret_access_key": "SK", "endpoint": server.url, "page_size": PAGE}
    return QingStorProvider("main", settings, http)


def names(p: QingStorProvider) -> list[str]:
    return [entry.name for entry in p.list_page(p.key("buckets"), None).entries]


def fetch_error(p: QingStorProvider) -> tuple[StorfsError, float]:
    t0 = time.monotonic()
    with pytest.raises(StorfsError) as caught:
        names(p)
    return caught.value, time.monotonic() - t0


def status(field: str, pid: str = "self") -> int:
    """A /proc/<pid>/status field in kB (VmRSS, VmHWM) or a count (Threads)."""
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+)", text, re.MULTILINE)
    assert match, field
    return int(match.group(1))


def own_threads(pid: str) -> int:
    """The mount's threads but libfuse's idle workers, once every thread sleeps (within 5 s).

    libfuse starts another worker whenever FUSE requests overlap (up to its max_threads), which
    the kernel and the machine's load decide; storfs's own threads are what a fault may leak.
    """
    deadline = time.monotonic() + 5
    while True:
        chans = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that just ended
                chans.append((task / "wchan").read_text())
        if "0" not in chans or time.monotonic() > deadline:  # "0": running, not asleep
            return sum(chan != "fuse_dev_do_read" for chan in chans)
        time.sleep(0.05)


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS


def transport_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("storfs")
    ]


# -- bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault", ["gzip_bomb", "gzip_bomb_one_stream", "deflate_bomb", "huge", "huge_unsized"]
)
def test_an_oversized_body_is_cut_at_the_cap_with_bounded_memory(
    server: HostileServer, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    gzip_bomb(), gzip_bomb_one_stream(), deflate_bomb()  # built before the peak is measured
    p = provider(server)
    assert names(p) == BUCKETS
    cap = body_limit(HTTP, PAGE)
    assert cap == PAGE * 4096 + MIB
    server.play(fault)
    caplog.clear()
    reset_peak_rss()
    rss_before = status("VmRSS")
    error, seconds = fetch_error(p)
    growth_kb = status("VmHWM") - rss_before
    assert error.errno == errno.EIO, error
    assert "max_body_bytes" in str(error)
    assert seconds < DEADLINE, f"{fault}: {seconds:.2f}s to refuse the body"
    # 1 GiB, 600 MB or 64 MiB unbounded; the cap is about 1 MiB.
    assert growth_kb < 24 * 1024, f"{fault}: peak RSS grew {growth_kb} kB"
    assert len(transport_warnings(caplog)) <= 1, "the listing reports it; the mount test counts lines"
    assert names(p) == BUCKETS, "the next request after the fault"
    # The server saw its answer end (the client hung up) at once, not after 600 MB.
    assert server.ended[fault][0] - server.requests[-2].at < DEADLINE


def test_a_huge_error_body_keeps_its_status_meaning(server: HostileServer) -> None:
    """A 404 with a 600 MB body is still 'no such bucket' (ENOENT), read only as far as needed."""
    p = provider(server)
    server.play("huge_error")
    reset_peak_rss()
    rss_before = status("VmRSS")
    error, seconds = fetch_error(p)
    assert error.errno == errno.ENOENT, error
    assert seconds < DEADLINE
    assert status("VmHWM") - rss_before < 24 * 1024
    assert names(p) == BUCKETS


def test_max_body_bytes_sets_the_cap(server: HostileServer) -> None:
    small = provider(server, HttpSettings(**{**HTTP.__dict__, "max_body_bytes": 100}))
    error, _ = fetch_error(small)
    assert error.errno == errno.EIO and "100 bytes" in str(error)
    roomy = provider(server, HttpSettings(**{**HTTP.__dict__, "max_body_bytes": 10_000}))
    assert names(roomy) == BUCKETS


# -- time ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["trickle", "trickle_headers"])
def test_a_trickling_answer_ends_at_the_deadline_and_frees_its_threads(
    server: HostileServer, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    p = provider(server)
    assert names(p) == BUCKETS  # the pool's first thread exists: the baseline
    workers = 8
    p.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="storfs-test")
    server.play(fault, times=workers)
    caplog.clear()
    baseline = threading.active_count()

    # As many trickles at once as the account has threads: every one of them is held.
    with ThreadPoolExecutor(max_workers=workers) as callers:
        outcomes = list(callers.map(lambda _: fetch_error(p), range(workers)))
    for error, seconds in outcomes:
        assert error.errno == errno.ETIMEDOUT, error
        assert seconds < DEADLINE + SLACK, f"{fault}: {seconds:.2f}s with a {DEADLINE}s deadline"
    assert len(transport_warnings(caplog)) == workers, "one log line per request"

    # The server recovered: the account works at once, so no thread is still held.
    t0 = time.monotonic()
    assert names(p) == BUCKETS
    assert time.monotonic() - t0 < 1.0
    deadline = time.monotonic() + 5
    while len(server.ended.get(fault, ())) < workers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(server.ended.get(fault, ())) == workers, "the server still trickles to a client"
    assert threading.active_count() <= baseline + workers  # the pool's own threads, idle
    # Idle, not held: the pool stops at once, and the thread count is back to the baseline.
    stopper = threading.Thread(target=p.pool.shutdown, kwargs={"wait": True})
    stopper.start()
    stopper.join(3)
    assert not stopper.is_alive(), "a pool thread is still held by a request"
    assert not [t.name for t in threading.enumerate() if t.name.startswith("storfs-test")]
    assert threading.active_count() <= baseline + 1  # + the server's thread for the kept-alive connection


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    result = run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
        ],
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return str(cert), str(key)


def test_a_stalled_tls_answer_ends_at_the_deadline(
    server: HostileServer, self_signed: tuple[str, str]
) -> None:
    """Over TLS the read blocks inside OpenSSL; shutting the socket down ends it all the same."""
    with CountingProxy(server.url, tls=self_signed) as front:
        register(front)
        settings = {
            "access_key_id": "AK",
            "secret_access_key": "SK",
            "endpoint": front.url,
            "page_size": PAGE,
        }
        p = QingStorProvider("main", settings, HttpSettings(**{**HTTP.__dict__, "verify_tls": False}))
        assert names(p) == BUCKETS
        p.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storfs-test")
        server.play("trickle")  # the proxy relays nothing until the whole (trickled) answer is in
        error, seconds = fetch_error(p)
        assert error.errno == errno.ETIMEDOUT, error
        assert seconds < DEADLINE + SLACK
        server.clear()
        t0 = time.monotonic()
        assert names(p) == BUCKETS, "the account's only thread is free again"
        assert time.monotonic() - t0 < 1.0
        p.pool.shutdown(wait=True)


def test_retry_sleeps_never_outlast_the_deadline(server: HostileServer) -> None:
    """Retry-After 1 s, four times, with a 2 s deadline: no retry is sent after the deadline."""
    p = provider(server, HttpSettings(**{**HTTP.__dict__, "retries": 3, "retry_after_max": 5.0}))
    server.play("retry_after:1", times=4)
    t0 = time.monotonic()
    error, seconds = fetch_error(p)
    assert error.errno == errno.ETIMEDOUT, error
    assert seconds < DEADLINE + SLACK
    time.sleep(DEADLINE)  # a pool thread still retrying would send its next attempt meanwhile
    late = [seen.at - t0 for seen in server.requests if seen.at - t0 > DEADLINE + 0.5]
    assert late == [], f"requests sent after the deadline, at {late} s"
    server.clear()
    assert names(p) == BUCKETS


# -- Retry-After -----------------------------------------------------------------------------


MALFORMED_RETRY_AFTER = {
    "fraction": "1.5",
    "words": "soon-ish",
    "negative": "-3",
    "5000-digits": "9" * 5000,
    "bad-date": "Thu, 99 Foo 2026 25:61:61 GMT",
    "empty": "",
}


@pytest.mark.parametrize("value", MALFORMED_RETRY_AFTER.values(), ids=MALFORMED_RETRY_AFTER.keys())
def test_a_malformed_retry_after_falls_back_to_the_normal_backoff(server: HostileServer, value: str) -> None:
    p = provider(server)
    server.play(f"retry_after:{value}", times=2)
    t0 = time.monotonic()
    assert names(p) == BUCKETS, "retries were cancelled"
    assert time.monotonic() - t0 < 1.0, "backoff is 0.01 s"
    assert len(server.requests) == 3
    assert server.pending == 0


@pytest.mark.parametrize("value", ["99999999", "1"])
def test_a_valid_retry_after_is_honoured_up_to_retry_after_max(server: HostileServer, value: str) -> None:
    p = provider(server)
    server.play(f"retry_after:{value}")
    t0 = time.monotonic()
    assert names(p) == BUCKETS
    seconds = time.monotonic() - t0
    assert 0.9 <= seconds < 1.0 + SLACK, f"Retry-After {value[:10]} with retry_after_max 1: {seconds:.2f}s"


# -- server strings in messages and logs -----------------------------------------------------


@pytest.mark.parametrize(
    "code",
    ["evil\n2026-01-01 00:00:00 storfs ERROR forged: line", "\x1b[31mred\x1b[0m\r", "x" * 300_000],
    ids=["newline", "escape-sequence", "300-kB"],
)
def test_a_servers_error_code_is_escaped_and_capped(
    server: HostileServer, caplog: pytest.LogCaptureFixture, code: str
) -> None:
    p = provider(server)
    server.play("error_code:" + json.dumps(code))
    caplog.clear()
    error, _ = fetch_error(p)
    for text in [str(error), *transport_warnings(caplog)]:
        assert not re.search(r"[\x00-\x1f\x7f]", text), repr(text[:300])
        assert len(text) < 400, len(text)
    assert names(p) == BUCKETS


# -- through a mount -------------------------------------------------------------------------


def mount_of(server: HostileServer, mounts: MountFactory, **http: Any) -> Any:
    table = {"access_key_id": "AK", "secret_access_key": "SK", "endpoint": server.url, "page_size": PAGE}
    settings = {**{k: v for k, v in HTTP.__dict__.items() if k != "max_body_bytes"}, **http}
    return mounts({"qingstor.main": table, "http": settings, "cache": {"ttl": 0.3}})


def listing(m: Any) -> Path:
    return m.path("qingstor", "main", "buckets")


def test_a_gzip_bomb_through_a_mount_is_eio_with_bounded_memory(
    server: HostileServer, mounts: MountFactory
) -> None:
    gzip_bomb()
    m = mount_of(server, mounts)
    assert run(["ls", str(listing(m))]).stdout.split() == BUCKETS
    pid = str(m.process.pid)
    peak_before = status("VmHWM", pid)
    time.sleep(0.5)  # the listing's ttl ran out: the next ls fetches it again
    watch = LogWatch(m)
    server.play("gzip_bomb", times=10)  # whatever the retries and look-ahead ask for
    result = timed(["ls", str(listing(m))], timeout=60)
    assert result.returncode != 0 and EIO_TEXT in result.stderr, result.stderr
    assert result.seconds < DEADLINE + SLACK
    growth_kb = status("VmHWM", pid) - peak_before
    assert growth_kb < 64 * 1024, f"the mount's peak RSS grew {growth_kb} kB on a 1 GiB gzip bomb"
    problems = watch.problems()
    assert len([line for line in problems if "max_body_bytes" in line]) == 1, problems
    server.clear()
    again = timed(["ls", str(listing(m))], timeout=30)
    assert again.returncode == 0 and again.stdout.split() == BUCKETS, again.stderr
    assert m.alive


def test_max_body_bytes_as_a_mount_option(server: HostileServer, mounts: MountFactory) -> None:
    table = {"access_key_id": "AK", "secret_access_key": "SK", "endpoint": server.url, "page_size": PAGE}
    m = mounts({"qingstor.main": table, "http": {"retries": 0}}, options=("max_body_bytes=100",))
    result = timed(["ls", str(listing(m))], timeout=60)
    assert result.returncode != 0 and EIO_TEXT in result.stderr, result.stderr
    assert "max_body_bytes" in m.log()


def test_a_trickled_body_through_a_mount_times_out_and_the_account_recovers_at_once(
    server: HostileServer, mounts: MountFactory
) -> None:
    """Each `ls` during the fault starts one more trickling request; once as many have failed as
    the account has pool threads (8), a thread still held would leave the account dead."""
    m = mount_of(server, mounts)
    assert run(["ls", str(listing(m))]).stdout.split() == BUCKETS
    pid = str(m.process.pid)
    time.sleep(0.5)
    started = len(server.requests)
    server.play("trickle", times=100)
    for attempt in range(9):
        result = timed(["ls", str(listing(m))], timeout=60)
        assert result.returncode != 0 and ETIMEDOUT_TEXT in result.stderr, (attempt, result.stderr)
        assert result.seconds < DEADLINE + SLACK + 1.0, f"ls {attempt} took {result.seconds:.1f}s"
    threads_during = own_threads(pid)
    trickled = len(server.requests) - started
    server.clear()
    time.sleep(0.5)
    again = timed(["ls", str(listing(m))], timeout=30)
    assert again.returncode == 0 and again.stdout.split() == BUCKETS, again.stderr
    assert again.seconds < 2.0, f"the account stayed slow after the server recovered ({again.seconds:.1f}s)"
    assert own_threads(pid) <= threads_during, "threads kept starting after the fault"
    deadline = time.monotonic() + 3
    while len(server.ended.get("trickle", ())) < trickled and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(server.ended.get("trickle", ())) == trickled, "the server still trickles to the mount"


# -- urllib3's retry lines -------------------------------------------------------------------


def test_urllib3_retry_lines_stay_off_the_terminal(server: HostileServer, tmp_path: Path) -> None:
    table = {"access_key_id": "AK", "secret_access_key": "SK", "endpoint": server.url, "page_size": PAGE}
    config = write_config(tmp_path / "config.toml", {"qingstor.main": table, "http": {"backoff": 0.01}})
    config.chmod(0o600)
    # Broken connections for the bucket listing only: a child listing fetched ahead by an `ls`
    # can still reach the server after that `ls` exited, and must not take the next one's fault.
    server.play("close", times=2, path="/")  # two broken connections, retried; the third answers
    quiet = run([*STORFS, "ls", "--config", str(config), "qingstor/main/buckets"])
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.split() == BUCKETS
    assert quiet.stderr == "", quiet.stderr
    server.play("close", times=1, path="/")
    verbose = run([*STORFS, "ls", "-v", "--config", str(config), "qingstor/main/buckets"])
    assert verbose.returncode == 0, verbose.stderr
    retry_lines = [line for line in verbose.stderr.splitlines() if "Retrying" in line]
    assert len(retry_lines) == 1 and all(" INFO " in line for line in retry_lines), verbose.stderr
    server.play("close", path="/")  # doctor retries once
    before = len(server.requests)
    doctor = run([*STORFS, "doctor", "--config", str(config)])
    listed = [seen for seen in server.requests[before:] if seen.path == "/"]
    assert len(listed) >= 2 and server.pending == 0, "doctor's list call met the broken connection"
    assert "Retrying" not in doctor.stderr + doctor.stdout, doctor.stderr


# -- every provider, through the fault proxy ---------------------------------------------------


def test_every_provider_refuses_a_gzip_bomb_and_lists_again_after_it(
    backend: Backend, mounts: MountFactory
) -> None:
    bomb = gzip_bomb()
    m = mounts({f"{backend.provider}.main": backend.table(), "http": {"retries": 1, "backoff": 0.01}})
    backend.prime(m)
    pid = str(m.process.pid)
    peak_before = status("VmHWM", pid)
    headers = {"Content-Type": backend.content_type, "Content-Encoding": "gzip"}
    backend.proxy.fail_next(200, times=10, body=bomb, headers=headers)
    result = timed(["ls", str(backend.listing(m))], timeout=60)
    assert result.returncode != 0 and EIO_TEXT in result.stderr, result.stderr
    assert result.seconds < 10
    growth_kb = status("VmHWM", pid) - peak_before
    assert growth_kb < 64 * 1024, f"{backend.kind}: peak RSS grew {growth_kb} kB on a 1 GiB gzip bomb"
    backend.proxy.clear_failures()
    again = timed(["ls", str(backend.listing(m))], timeout=30)
    assert again.returncode == 0, again.stderr
    assert sorted(again.stdout.splitlines()) == backend.names()


@pytest.mark.parametrize("value", ["soon-ish", "1.5"])
def test_every_provider_retries_through_a_malformed_retry_after(
    backend: Backend, mounts: MountFactory, value: str
) -> None:
    m = mounts({f"{backend.provider}.main": backend.table(), "http": {"retries": 3, "backoff": 0.01}})
    backend.prime(m)
    backend.proxy.fail_next(503, times=2, headers={"Retry-After": value})
    result = timed(["ls", str(backend.listing(m))], timeout=60)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == backend.names()
    assert backend.proxy.failures_pending == 0
    assert result.seconds < 5
