"""storfs and rclone mounts, each a foreground process we start, unmount and stop ourselves."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.harness import Mount, fusermount, stop_process, write_config

MOUNT_TIMEOUT = 30.0


class StorfsMount:
    """`storfs mount --foreground` (tests.harness.Mount) with its pid for /proc figures.

    `source`: another checkout whose storfs runs instead (`python -m storfs` started there).
    """

    def __init__(
        self,
        workdir: Path,
        name: str,
        tables: Mapping[str, Mapping[str, Any]],
        source: Path | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = write_config(workdir / f"{name}.toml", tables)
        self.mountpoint = workdir / name
        self._mount = (
            Mount(self.config, self.mountpoint)
            if source is None
            else _MountFrom(source, self.config, self.mountpoint)
        )

    @property
    def pid(self) -> int:
        assert self._mount.process is not None
        return self._mount.process.pid

    def log_tail(self, limit: int = 1500) -> str:
        return self._mount.log()[-limit:]

    def __enter__(self) -> StorfsMount:
        self._mount.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._mount.stop()


class _MountFrom(Mount):
    """A harness Mount whose `python -m storfs` starts in `source` (so that checkout's code runs)."""

    def __init__(self, source: Path, config: Path, mountpoint: Path) -> None:
        super().__init__(config, mountpoint)
        self.source = source

    def command(self) -> list[str]:
        return ["env", "-C", str(self.source), *super().command()]


class RcloneMount:
    """`rclone mount REMOTE: MNT --read-only --config /dev/null`, configured from the environment."""

    def __init__(self, workdir: Path, name: str, remote_env: Mapping[str, str], remote: str) -> None:
        self.mountpoint = workdir / name
        self.log_path = workdir / f"{name}.log"
        # rclone's S3 backend breaks while AWS_CA_BUNDLE is set; unset it for every backend.
        self.env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
        self.env.update(remote_env)
        self.remote = remote
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log_tail(self, limit: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def __enter__(self) -> RcloneMount:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        command = [
            "rclone", "mount", f"{self.remote}:", str(self.mountpoint),
            "--read-only", "--config", "/dev/null",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env
            )
        try:
            deadline = time.monotonic() + MOUNT_TIMEOUT
            while not os.path.ismount(self.mountpoint):
                if self.process.poll() is not None:
                    raise RuntimeError(f"rclone exited with {self.process.returncode}: {self.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"rclone mount not ready after {MOUNT_TIMEOUT:.0f}s")
                time.sleep(0.02)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        proc, self.process = self.process, None
        stop_peer(self.mountpoint, proc)


def stop_peer(mountpoint: Path, process: subprocess.Popen[bytes] | None) -> None:
    """Unmount a peer's mount (lazily if it stays busy for 5 s) and stop its process, ours only."""
    if os.path.ismount(mountpoint):
        for _ in range(50):
            if subprocess.run([fusermount(), "-u", str(mountpoint)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run([fusermount(), "-uz", str(mountpoint)], capture_output=True)
    stop_process(process)


def rclone_available() -> bool:
    return shutil.which("rclone") is not None


@contextlib.contextmanager
def tmpfs_tree(root: Path, names: list[str]):
    """`names` as empty directories under `root` (on /dev/shm), removed afterwards."""
    root.mkdir(parents=True, exist_ok=False)
    try:
        for name in names:
            (root / name).mkdir()
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
