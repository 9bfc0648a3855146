"""The mount's readahead: found through the mount table, raised, never lowered."""

from __future__ import annotations

from pathlib import Path

from storfs.mount_table import device_of
from storfs.readahead import READ_AHEAD_KB, widen

MOUNTINFO = """\
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
91 22 0:52 / /tmp/a\\040b rw,nosuid,nodev,relatime - fuse.storfs storfs ro,user_id=0
92 22 0:53 / /tmp/c rw - fuse.storfs storfs ro
93 22 0:54 / /tmp/c rw - fuse.storfs storfs ro
"""


def test_the_device_of_a_mount_comes_from_the_mount_table(tmp_path: Path) -> None:
    table = tmp_path / "mountinfo"
    table.write_text(MOUNTINFO)
    assert device_of("/tmp/a b", str(table)) == "0:52"  # octal escapes undone
    assert device_of("/tmp/c", str(table)) == "0:54"  # the last mount at a path is the visible one
    assert device_of("/tmp/none", str(table)) is None
    assert device_of("/tmp/c", str(tmp_path / "missing")) is None


def test_widen_raises_the_setting_and_never_lowers_it(tmp_path: Path) -> None:
    setting = tmp_path / "0:52" / "read_ahead_kb"
    setting.parent.mkdir()
    setting.write_text("128\n")
    assert widen("0:52", bdi=tmp_path) and setting.read_text().strip() == str(READ_AHEAD_KB)
    setting.write_text("8192\n")
    assert widen("0:52", bdi=tmp_path) and setting.read_text().strip() == "8192"
    assert not widen("0:99", bdi=tmp_path)  # no such device: left alone, no error
