"""A listing is complete or an error: failures after the first page, directories larger than the
cache, and calls that wait on slow servers, each seen through a real mount with `ls`/`find`/`stat`."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

from tests.backends import PAGE
from tests.faults.conftest import MakeBackend, MountFactory
from tests.faults.tooling import EIO_TEXT, ETIMEDOUT_TEXT, KINDS, LogWatch, timed
from tests.harness import run

CACHE = {"ttl": 300}
HTTP = {"retries": 1, "backoff": 0.01, "deadline": 10.0}
LISTINGS = (*KINDS, "qingstor-uploads")


@pytest.mark.parametrize("kind", LISTINGS)
def test_not_found_on_page_2_is_eio_never_a_short_listing(
    make: MakeBackend, mounts: MountFactory, kind: str
) -> None:
    """glibc's readdir takes ENOENT for the end of a directory: a 404 (or QingStor's
    `*_not_exists`) after the first page must reach `ls` as an error, and `du` must not sum a part."""
    backend = make(kind)
    m = mounts({f"{backend.provider}.main": backend.table(), "cache": CACHE, "http": HTTP})
    backend.prime(m)
    watch = LogWatch(m)
    body = b'{"code": "upload_not_exists", "message": "gone"}' if "qingstor" in kind else b""
    # Page 1 passes, page 2 is "not found" (also for the reader that retries a failed read-ahead).
    backend.proxy.fail_next(404, body=body, after=1, times=3)
    result = timed(["ls", str(backend.listing(m))], timeout=60)
    assert result.returncode != 0, f"listed {len(result.stdout.split())} of {len(backend.names())} names"
    assert EIO_TEXT in result.stderr, result.stderr
    assert len(result.stdout.split()) <= PAGE
    assert any("mid-listing" in line for line in watch.problems()), watch.text()
    backend.proxy.clear_failures()
    again = timed(["ls", str(backend.listing(m))], timeout=60)
    assert again.returncode == 0, again.stderr
    assert sorted(again.stdout.split()) == backend.names()


def test_a_directory_that_vanished_before_its_first_page_is_enoent(
    make: MakeBackend, mounts: MountFactory
) -> None:
    backend = make("qingstor-uploads")
    m = mounts({"qingstor.main": backend.table(), "cache": CACHE, "http": HTTP})
    backend.prime(m)
    backend.proxy.fail_next(404, body=b'{"code": "bucket_not_exists", "message": "gone"}')
    result = timed(["ls", str(backend.listing(m))], timeout=60)
    assert result.returncode != 0
    assert "No such file or directory" in result.stderr, result.stderr


def test_a_directory_larger_than_the_cache_streams_once_per_reader_and_names_cost_one_small_request(
    make: MakeBackend, mounts: MountFactory
) -> None:
    """37 containers in pages of 5 with room for 8 entries: every `ls` streams the 8 pages itself,
    each `stat` of a name costs at most one small request (Azure's `prefix`), `find` finishes."""
    backend = make("azure")
    m = mounts(
        {"azure.main": backend.table(), "cache": {"ttl": 300, "max_entries": 8}, "http": HTTP},
        options=("attr_timeout=0", "entry_timeout=0", "negative_timeout=0"),
    )
    backend.prime(m)
    pages = -(-len(backend.names()) // PAGE)
    for _ in range(2):
        before = backend.list_requests()
        result = timed(["ls", str(backend.listing(m))], timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == backend.names()
        assert backend.list_requests() - before == pages
    names = backend.names()[:20]
    before = backend.list_requests()
    stat = timed(["stat", "-c", "%n %F", *(str(backend.listing(m) / n) for n in names)], timeout=60)
    assert stat.returncode == 0, stat.stderr
    assert len(stat.stdout.splitlines()) == 20
    assert backend.list_requests() - before <= 20
    assert backend.proxy.count(prefix=names[0]) >= 1, "a name is asked for with `prefix`"
    before = backend.list_requests()
    find = timed(["find", str(backend.listing(m))], timeout=60)
    assert find.returncode == 0, find.stderr
    # Each container holds `blobs/` and `uploads/` (empty here).
    assert len(find.stdout.splitlines()) == 3 * len(backend.names()) + 1
    assert backend.list_requests() - before <= pages + len(backend.names())
    missing = run(["stat", str(backend.listing(m) / "no-such-container")])
    assert missing.returncode != 0 and "No such file" in missing.stderr


def test_one_getdents_waits_for_one_slow_page_so_ctrl_c_stops_ls_at_once(
    make: MakeBackend, mounts: MountFactory
) -> None:
    """Pages that each take a second: `ls` gets each page as it comes, and SIGINT ends it within
    about a page, not after the whole directory."""
    backend = make("qingstor")
    m = mounts({"qingstor.main": backend.table(), "cache": CACHE, "http": {**HTTP, "deadline": 3.0}})
    backend.prime(m)
    backend.proxy.delay = 1.0
    ls = None
    try:
        ls = subprocess.Popen(
            ["ls", str(backend.listing(m))], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(2.5)
        ls.send_signal(signal.SIGINT)
        started = time.monotonic()
        ls.wait(15)
        assert time.monotonic() - started < 2.5, "ls ignored Ctrl-C while storfs waited on pages"
    finally:
        backend.proxy.delay = 0.0
        if ls is not None and ls.poll() is None:
            ls.kill()
            ls.wait(5)


def test_eight_readers_of_a_hung_directory_share_one_failure(make: MakeBackend, mounts: MountFactory) -> None:
    backend = make("oas")
    m = mounts({"oas.main": backend.table(), "cache": CACHE, "http": {"retries": 0, "deadline": 2.0}})
    backend.prime(m)
    before = backend.list_requests()
    backend.proxy.delay = 8.0
    results: list[subprocess.CompletedProcess[str]] = []
    try:
        started = time.monotonic()
        threads = [
            threading.Thread(target=lambda: results.append(run(["ls", str(backend.listing(m))], timeout=40)))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(40)
        elapsed = time.monotonic() - started
    finally:
        backend.proxy.delay = 0.0
    assert len(results) == 8 and all(r.returncode != 0 for r in results)
    assert all(ETIMEDOUT_TEXT in r.stderr for r in results), [r.stderr for r in results]
    assert elapsed < 7, f"the readers failed one after another ({elapsed:.1f}s)"
    assert backend.list_requests() - before <= 3, "they shared one fetch"
    time.sleep(8)  # the hung request ends; then the account answers again at once
    again = timed(["ls", str(backend.listing(m))], timeout=30)
    assert again.returncode == 0 and sorted(again.stdout.split()) == backend.names()


def test_one_accounts_hung_pages_never_slow_another_account(make: MakeBackend, mounts: MountFactory) -> None:
    hung, healthy = make("qingstor"), make("oas")
    m = mounts(
        {
            "qingstor.main": hung.table(),
            "oas.main": healthy.table(),
            "cache": {"ttl": 0.5},
            "http": {"retries": 0, "deadline": 6.0, "parallel_pages": 2},
        }
    )
    hung.prime(m)
    healthy.prime(m)
    hung.proxy.delay = 5.0
    try:
        readers = [
            subprocess.Popen(
                ["ls", str(hung.listing(m))], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            for _ in range(4)
        ]
        time.sleep(1.0)
        result = timed(["ls", str(healthy.listing(m))], timeout=30)
        assert result.returncode == 0, result.stderr
        assert result.seconds < 2.0, f"a healthy account took {result.seconds:.2f}s beside a hung one"
    finally:
        hung.proxy.delay = 0.0
        for reader in readers:
            reader.wait(30)


def test_ls_l_of_the_control_directory_agrees_with_stat_and_keeps_the_files_usable(
    make: MakeBackend, mounts: MountFactory
) -> None:
    backend = make("oas")
    m = mounts({"oas.main": backend.table(), "cache": CACHE, "http": HTTP})
    control = m.path(".storfs")
    listing = run(["ls", "-l", str(control)])
    assert listing.returncode == 0, listing.stderr
    kinds = {line.split()[-1]: line[0] for line in listing.stdout.splitlines()[1:]}
    assert kinds == {"socket": "-", "stats": "-"}, listing.stdout
    for name in kinds:
        assert not os.path.isdir(control / name)
    stats = run(["cat", str(control / "stats")])
    assert stats.returncode == 0 and '"requests"' in stats.stdout, stats.stderr
    assert run(["python3", "-m", "storfs", "stats", str(m.mountpoint)]).returncode == 0
