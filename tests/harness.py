"""Real FUSE mounts for tests: start storfs as a user would, drive it with shell tools, clean up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

MOUNT_TIMEOUT = 20.0


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    raise TypeError(f"cannot write {value!r} as TOML")


def write_config(path: Path, tables: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write `{"azure.dev": {...}, "cache": {...}}` as TOML tables."""
    lines = []
    for table, values in tables.items():
        lines.append(f"[{table}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in values.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def run(command: Sequence[str] | str, timeout: float = 60, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a shell tool the way a user would; never hangs the suite."""
    return subprocess.run(
        command,
        shell=isinstance(command, str),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )


def stop_process(process: subprocess.Popen[Any] | None, grace: float = 10.0) -> None:
    """Stop a process we started: SIGTERM, then SIGKILL if it has not exited within `grace`."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(grace)


def fusermount() -> str:
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    if tool is None:
        raise RuntimeError("fusermount3 is missing: run scripts/test, which installs fuse3")
    return tool


class Mount:
    """`storfs mount --foreground` in a subprocess, unmounted and stopped on exit whatever happens."""

    def __init__(
        self,
        config: Path,
        mountpoint: Path,
        *,
        options: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.mountpoint = mountpoint
        self.options = list(options)
        self.env = {**os.environ, **(env or {})}
        self.log_path = mountpoint.parent / f"{mountpoint.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The `storfs mount --foreground` command line this mount runs."""
        command = [sys.executable, "-m", "storfs", "mount", "--foreground", "--config", str(self.config)]
        for option in self.options:
            command += ["-o", option]
        return [*command, str(self.mountpoint)]

    def start(self) -> Mount:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=self.env
            )
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not os.path.ismount(self.mountpoint):
            if self.process.poll() is not None:
                raise RuntimeError(f"storfs exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mount not ready after {MOUNT_TIMEOUT}s:\n{self.log()}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if os.path.ismount(self.mountpoint):
            for _ in range(50):
                if run([fusermount(), "-u", str(self.mountpoint)]).returncode == 0:
                    break
                time.sleep(0.1)
            else:
                run([fusermount(), "-uz", str(self.mountpoint)])
        if self.process is not None and self.process.poll() is None:
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.listed():  # mounted after all, by a process that was then killed: a dead mount
            run([fusermount(), "-uz", str(self.mountpoint)])

    def listed(self) -> bool:
        """Whether the kernel still lists the mountpoint (a dead mount fails os.path.ismount)."""
        with open("/proc/mounts", encoding="utf-8", errors="replace") as mounts:
            return any(line.split()[1:2] == [str(self.mountpoint)] for line in mounts)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def path(self, *parts: str) -> Path:
        return self.mountpoint.joinpath(*parts)

    def __enter__(self) -> Mount:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
