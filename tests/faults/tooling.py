"""Tooling for the fault tests: mounts that survive their own death, backends behind fault proxies.

Every backend of the registry (tests/backends.py) is reached through a `CountingProxy`
(tests/fakes/counting_proxy.py) in front of its server, so one set of fault knobs serves all:
canned answers, cut bodies, resets, delays, a proxy that is stopped (connection refused) and
started again on the same port (the server is back).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.backends import BACKENDS, Backend, start_backend
from tests.fakes.azurite import Azurite
from tests.fakes.counting_proxy import CountingProxy
from tests.harness import Mount, fusermount, run

STORFS = [sys.executable, "-m", "storfs"]
KINDS = tuple(BACKENDS)  # every provider's seeded listing

EIO_TEXT = "Input/output error"
ETIMEDOUT_TEXT = "Connection timed out"

# -------------------------------------------------------------------------------------------
# Every request any proxy or fake saw, for the session-wide "only GET and HEAD" check.

RECORDERS: list[Any] = []


def register(recorder: Any) -> Any:
    RECORDERS.append(recorder)
    return recorder


def methods_of(recorder: Any) -> dict[str, int]:
    """Methods a proxy (`methods_seen`, never reset) or a fake (`requests`) received."""
    if isinstance(recorder, CountingProxy):
        return dict(recorder.methods_seen)
    counts: dict[str, int] = {}
    for request in list(recorder.requests):
        counts[request.method] = counts.get(request.method, 0) + 1
    return counts


def mutating_requests(recorders: Iterable[Any]) -> dict[str, int]:
    found: dict[str, int] = {}
    for recorder in recorders:
        for method, count in methods_of(recorder).items():
            if method.upper() not in ("GET", "HEAD"):
                found[method] = found.get(method, 0) + count
    return found


# -------------------------------------------------------------------------------------------
# Mounts


def mountinfo() -> list[tuple[str, str, str, str]]:
    """(mountpoint, mount options, fs type, super options) of every mount in this namespace."""
    rows = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        fstype, _source, super_options = [*right.split(), "", "", ""][:3]
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        rows.append((point, fields[5], fstype, super_options))
    return rows


def mount_entry(path: Path) -> tuple[str, str, str, str] | None:
    """The mountinfo row of `path`, also for a dead FUSE mount (where os.path.ismount says no)."""
    target = os.path.abspath(path)
    rows = [row for row in mountinfo() if row[0] == target]
    return rows[-1] if rows else None


def is_mounted(path: Path) -> bool:
    return mount_entry(path) is not None


class FaultMount(Mount):
    """`python -m storfs mount --foreground` with any extra arguments (`--debug`), whose stop()
    also cleans up a mount whose process died or hangs (os.path.ismount is False on those)."""

    def __init__(self, config: Path, mountpoint: Path, *, args: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(config, mountpoint, **kwargs)
        self.args = list(args)

    def command(self) -> list[str]:
        command = [*STORFS, "mount", "--foreground", *self.args, "--config", str(self.config)]
        for option in self.options:
            command += ["-o", option]
        return [*command, str(self.mountpoint)]

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if is_mounted(self.mountpoint):
            for _ in range(30):
                if run([fusermount(), "-u", str(self.mountpoint)], timeout=10).returncode == 0:
                    break
                time.sleep(0.1)
            else:
                run([fusermount(), "-uz", str(self.mountpoint)], timeout=10)
        process = self.process
        if process is not None and process.poll() is None:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)


# -------------------------------------------------------------------------------------------
# Logs


LOG_LEVEL = re.compile(r" storfs (WARNING|ERROR|CRITICAL) ")


class LogWatch:
    """What a mount logged since this object was made."""

    def __init__(self, mount: Mount) -> None:
        self.mount = mount
        self.start = len(mount.log())

    def text(self) -> str:
        return self.mount.log()[self.start :]

    def problems(self, settle: float = 0.3) -> list[str]:
        """New WARNING/ERROR/CRITICAL lines (waits `settle` s: another process writes the log)."""
        time.sleep(settle)
        return [line for line in self.text().splitlines() if LOG_LEVEL.search(line)]


# -------------------------------------------------------------------------------------------
# Commands


@dataclass
class Timed:
    result: subprocess.CompletedProcess[str]
    seconds: float

    @property
    def returncode(self) -> int:
        return self.result.returncode

    @property
    def stdout(self) -> str:
        return self.result.stdout

    @property
    def stderr(self) -> str:
        return self.result.stderr


def timed(command: Sequence[str] | str, timeout: float = 60, **kwargs: Any) -> Timed:
    t0 = time.monotonic()
    result = run(command, timeout=timeout, **kwargs)
    return Timed(result, time.monotonic() - t0)


def ls_names(result: subprocess.CompletedProcess[str] | Timed) -> list[str]:
    return sorted(result.stdout.splitlines())


def storfs_unmount(mountpoint: Path) -> subprocess.CompletedProcess[str]:
    return run([*STORFS, "unmount", str(mountpoint)], timeout=30)


# -------------------------------------------------------------------------------------------
# Backends: the registry's (tests/backends.py), every server and proxy recorded.


def make_backend(kind: str, stack: ExitStack, azurite: Callable[[], Azurite]) -> Backend:
    """A fresh proxy (and, except for Azure, a fresh server) for one test; `stack` stops them."""
    return start_backend(kind, stack, azurite, record=register)
