"""Timed shell tools (ls -l, find | head, find), each bounded by a timeout; /proc memory figures."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

#: Same environment for every tool run: C locale, so sorting costs the same everywhere.
TOOL_ENV = {**os.environ, "LC_ALL": "C"}


def _count_lines(data: bytes) -> int:
    return data.count(b"\n")


def ls_l(path: Path, expect: int, timeout: float) -> tuple[float | None, str | None]:
    """Wall time of `ls -l path`; a problem unless it exits 0 with `total` + `expect` lines."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            ["ls", "-l", str(path)], capture_output=True, env=TOOL_ENV, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return None, f"ls -l timed out after {timeout:.0f}s"
    elapsed = time.perf_counter() - start
    lines = _count_lines(done.stdout)
    if done.returncode != 0 or lines != expect + 1:
        err = done.stderr.decode(errors="replace").strip().splitlines()[:1]
        return None, f"ls -l: exit {done.returncode}, {lines} lines, want {expect + 1} {err}"
    return elapsed, None


def first_entry(path: Path, timeout: float) -> tuple[float | None, str | None]:
    """Seconds until `find path -maxdepth 1 | head -n 2` has printed its two lines and exited."""
    start = time.perf_counter()
    find = subprocess.Popen(
        ["find", str(path), "-maxdepth", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=TOOL_ENV,
    )
    head = None
    try:
        assert find.stdout is not None
        head = subprocess.Popen(["head", "-n", "2"], stdin=find.stdout, stdout=subprocess.PIPE, env=TOOL_ENV)
        find.stdout.close()  # head owns the read end now: find gets SIGPIPE once head exits
        try:
            out, _ = head.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, f"find | head timed out after {timeout:.0f}s"
        elapsed = time.perf_counter() - start
        lines = out.decode(errors="replace").splitlines()
        if head.returncode != 0 or len(lines) != 2 or lines[0] != str(path):
            return None, f"find | head printed {len(lines)} lines (want the dir and one entry)"
        return elapsed, None
    finally:
        for proc in (head, find):
            if proc is None:
                continue
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)


_FIRST_GETDENTS = """
import os, sys, time
start = time.perf_counter()
with os.scandir(sys.argv[1]) as entries:
    first = next(entries, None)
print(time.perf_counter() - start, "" if first is None else first.name)
"""


def first_getdents(path: Path, timeout: float) -> tuple[float | None, str | None]:
    """Seconds from opendir to the first entry of the first getdents (os.scandir in a child
    process, timed inside it). GNU find reads a whole directory (gnulib fts, up to 100,000
    entries) before it prints anything, so `find | head` cannot show streaming; this can."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _FIRST_GETDENTS, str(path)],
            capture_output=True, text=True, env=TOOL_ENV, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return None, f"first getdents timed out after {timeout:.0f}s"
    fields = done.stdout.split()
    if done.returncode != 0 or len(fields) != 2:
        return None, f"first getdents: exit {done.returncode}, {done.stderr.strip()[-200:]!r}"
    return float(fields[0]), None


def concurrent_ls_l(
    path: Path, expect: int, clients: int, scratch: Path, timeout: float
) -> tuple[float | None, str | None]:
    """Wall time of `clients` simultaneous `ls -l path`, each checked for `expect` entries."""
    scratch.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    outputs = [scratch / f"ls-{i}.out" for i in range(clients)]
    problem = None
    start = time.perf_counter()
    try:
        for out in outputs:
            with open(out, "wb") as f:
                procs.append(
                    subprocess.Popen(
                        ["ls", "-l", str(path)], stdout=f, stderr=subprocess.DEVNULL, env=TOOL_ENV
                    )
                )
        deadline = start + timeout
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.perf_counter()))
            except subprocess.TimeoutExpired:
                return None, f"{clients} x ls -l timed out after {timeout:.0f}s"
        elapsed = time.perf_counter() - start
        for proc, out in zip(procs, outputs, strict=True):
            lines = _count_lines(out.read_bytes())
            if proc.returncode != 0 or lines != expect + 1:
                problem = f"one ls -l: exit {proc.returncode}, {lines} lines, want {expect + 1}"
                break
        return (None, problem) if problem else (elapsed, None)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        for out in outputs:
            out.unlink(missing_ok=True)


def find_all(path: Path, expect: int, timeout: float) -> tuple[float | None, str | None]:
    """Wall time of `find path`; a problem unless it prints exactly `expect` lines."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            ["find", str(path)], capture_output=True, env=TOOL_ENV, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return None, f"find timed out after {timeout:.0f}s"
    elapsed = time.perf_counter() - start
    lines = _count_lines(done.stdout)
    if done.returncode != 0 or lines != expect:
        err = done.stderr.decode(errors="replace").strip().splitlines()[:1]
        return None, f"find: exit {done.returncode}, {lines} lines, want {expect} {err}"
    return elapsed, None


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes (empty if it is gone)."""
    figures = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(rest.split()[0]) * 1024
    return figures


def read_stats(mountpoint: Path) -> dict | None:
    """storfs's `<mnt>/.storfs/stats` as JSON, or None if there is no such file (yet)."""
    try:
        text = (mountpoint / ".storfs" / "stats").read_text()
        data = json.loads(text)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("upcalls"), dict) else None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (all its threads); None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # after the command name: state is field 3, utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
