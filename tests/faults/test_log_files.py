"""Log files hold account, bucket and key names: other local users must not read them. The default
log (XDG state directory) and `--log-file` are created 0600 in directories created 0700."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import MountFactory
from tests.faults.hostile_server import BUCKETS, HostileServer
from tests.faults.tooling import STORFS, register
from tests.harness import fusermount, run, write_config


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield register(hostile)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def tables(server: HostileServer) -> dict[str, dict[str, object]]:
    return {"qingstor.main": {"access_key_id": "AK", "secret_access_key": "SK", "endpoint": server.url}}


def mount_processes(mountpoint: Path) -> list[int]:
    """PIDs of storfs processes serving `mountpoint` (a background mount's child)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"storfs" in argv and str(mountpoint).encode() in argv:
                pids.append(int(entry.name))
    return pids


def test_a_background_mount_logs_0600_into_a_0700_xdg_directory(
    server: HostileServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.toml", tables(server))
    config.chmod(0o600)
    state = tmp_path / "state"  # does not exist yet: storfs creates it
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    old = os.umask(0o022)  # the usual umask, which would give 0644 files and 0755 directories
    try:
        result = run([*STORFS, "mount", "--config", str(config), str(mnt)], env=env)
    finally:
        os.umask(old)
    pids = mount_processes(mnt)
    try:
        assert result.returncode == 0, result.stderr
        assert run(["ls", str(mnt / "qingstor" / "main" / "buckets")]).stdout.split() == BUCKETS
        log = state / "storfs" / "log" / "storfs.log"
        assert log.exists(), sorted(str(p) for p in state.rglob("*"))
        assert mode(log) == 0o600
        for directory in (state, state / "storfs", state / "storfs" / "log"):
            assert mode(directory) == 0o700, (directory, oct(mode(directory)))
    finally:
        if run([*STORFS, "unmount", str(mnt)]).returncode != 0:
            run([fusermount(), "-uz", str(mnt)])
        for pid in pids:
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.05)
            else:
                os.kill(pid, 9)


def test_an_existing_log_and_the_default_directory_are_made_private(tmp_path: Path) -> None:
    from storfs.commands.common import private_log_file

    directory = tmp_path / "storfs" / "log"
    directory.mkdir(parents=True, mode=0o755)
    directory.chmod(0o755)
    log = directory / "storfs.log"
    log.write_text("old lines\n")
    log.chmod(0o644)
    private_log_file(log, own_directory=True)
    assert mode(log) == 0o600 and mode(directory) == 0o700
    assert log.read_text() == "old lines\n", "appended to, never truncated"
    # A --log-file in a directory of the user's own choosing: only the file is storfs's.
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    private_log_file(shared / "x.log")
    assert mode(shared / "x.log") == 0o600 and mode(shared) == 0o755


def test_a_foreground_log_file_is_0600_in_new_0700_directories(
    server: HostileServer, mounts: MountFactory, tmp_path: Path
) -> None:
    log = tmp_path / "new" / "deeper" / "mount.log"
    old = os.umask(0o022)
    try:
        m = mounts(tables(server), args=("--log-file", str(log)))
    finally:
        os.umask(old)
    assert run(["ls", str(m.path("qingstor", "main", "buckets"))]).stdout.split() == BUCKETS
    assert mode(log) == 0o600
    assert mode(log.parent) == 0o700 and mode(log.parent.parent) == 0o700
