"""Counters for one storfs process: upcalls, HTTP requests, cache behaviour, errors."""

from __future__ import annotations

import errno
import threading
import time
from collections import Counter
from typing import Any

#: Counters the snapshot always shows, zero until something happens (so `jq` never gets null).
CACHE_EVENTS = ("evictions", "hits", "misses")
UPCALLS = (
    "getattr", "getxattr", "listxattr", "open", "opendir", "read", "readdir", "release", "releasedir",
    "statfs",
)  # fmt: skip


class Stats:
    """Thread-safe counters, read as one JSON-ready snapshot (`<mnt>/.storfs/stats`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self.upcalls: Counter[str] = Counter(dict.fromkeys(UPCALLS, 0))
        self.requests: Counter[tuple[str, str, str]] = Counter()  # (account, op, status)
        self.retries: Counter[tuple[str, str]] = Counter()
        self.cache: Counter[str] = Counter(dict.fromkeys(CACHE_EVENTS, 0))
        self.errors: Counter[str] = Counter()

    def upcall(self, name: str) -> None:
        with self._lock:
            self.upcalls[name] += 1

    def request(self, account: str, op: str, status: int | str, retries: int = 0) -> None:
        with self._lock:
            self.requests[account, op, str(status)] += 1
            if retries:
                self.retries[account, op] += retries

    def cache_event(self, event: str, count: int = 1) -> None:
        with self._lock:
            self.cache[event] += count

    def error(self, code: int) -> None:
        with self._lock:
            self.errors[errno.errorcode.get(code, str(code))] += 1

    def snapshot(self, entries_cached: int = 0) -> dict[str, Any]:
        with self._lock:
            requests: dict[str, dict[str, dict[str, int]]] = {}
            for (account, op, status), n in sorted(self.requests.items()):
                requests.setdefault(account, {}).setdefault(op, {})[status] = n
            return {
                "uptime_seconds": round(time.time() - self.started, 3),
                "upcalls": dict(sorted(self.upcalls.items())),
                "requests": requests,
                "requests_total": sum(self.requests.values()),
                "retries": {f"{a} {o}": n for (a, o), n in sorted(self.retries.items())},
                "retries_total": sum(self.retries.values()),
                "cache": {**dict(sorted(self.cache.items())), "entries": entries_cached},
                "errors": dict(sorted(self.errors.items())),
            }


#: The process's counters: one storfs process serves one mount.
STATS = Stats()
