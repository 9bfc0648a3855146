"""Ending a mount: SIGTERM/SIGINT unmount cleanly, a busy mount is refused with "busy", and a
SIGKILLed storfs leaves a dead mount that `storfs unmount` removes."""

from __future__ import annotations

import signal
import subprocess

import pytest

from tests.faults.conftest import MakeBackend, MountFactory
from tests.faults.tooling import Backend, is_mounted, storfs_unmount
from tests.harness import run


@pytest.fixture
def qingstor(make: MakeBackend) -> Backend:
    return make("qingstor")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_unmounts_cleanly_and_exits_0(qingstor: Backend, mounts: MountFactory, signum: int) -> None:
    m = mounts({"qingstor.main": qingstor.table()})
    listed = run(["ls", str(qingstor.listing(m))])
    assert sorted(listed.stdout.splitlines()) == qingstor.names(), listed.stderr
    m.signal(signum)
    assert m.process is not None
    try:
        code = m.process.wait(15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"storfs still running 15 s after {signal.Signals(signum).name}")
    assert not is_mounted(m.mountpoint), "the mountpoint is still a mount"
    assert code == 0, f"exit status {code}:\n{m.log()[-2000:]}"


def test_unmount_of_a_busy_mount_fails_and_says_busy(qingstor: Backend, mounts: MountFactory) -> None:
    m = mounts({"qingstor.main": qingstor.table()})
    inside = qingstor.listing(m) / "entry-001"
    squatter = subprocess.Popen(["sleep", "60"], cwd=inside)
    try:
        result = storfs_unmount(m.mountpoint)
        assert result.returncode != 0
        assert "busy" in (result.stderr + result.stdout).lower(), result.stderr
        assert is_mounted(m.mountpoint)
        assert run(["ls", str(m.path("qingstor"))]).stdout.split() == ["main"], "still serving"
    finally:
        squatter.kill()
        squatter.wait(5)
    done = storfs_unmount(m.mountpoint)
    assert done.returncode == 0, done.stderr
    assert not is_mounted(m.mountpoint)


def test_unmount_removes_the_dead_mount_of_a_killed_storfs(qingstor: Backend, mounts: MountFactory) -> None:
    m = mounts({"qingstor.main": qingstor.table()})
    assert m.process is not None
    m.process.kill()
    m.process.wait(10)
    assert is_mounted(m.mountpoint), "a SIGKILLed FUSE server leaves its mount behind"
    dead = run(["ls", str(m.mountpoint)])
    assert dead.returncode != 0  # "Transport endpoint is not connected"
    result = storfs_unmount(m.mountpoint)
    assert result.returncode == 0, result.stderr
    assert not is_mounted(m.mountpoint)
