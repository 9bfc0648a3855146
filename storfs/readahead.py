"""A larger kernel readahead for the mount, so a file read in order costs fewer, larger upcalls.

The kernel reads a FUSE file ahead in pieces of the mount's `read_ahead_kb` (128 KiB by
default), each piece one read upcall; a blob streamed at hundreds of MB/s then costs
thousands of upcalls a second. storfs raises its own mount's value once the mount is up (the
file is the kernel's per-device setting, writable by root only; elsewhere nothing changes).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from storfs.mount_table import device_of

log = logging.getLogger(__name__)

READ_AHEAD_KB = 1024  # FUSE's largest request (max_pages 256); 4 MiB measured slower here
BDI = Path("/sys/class/bdi")


def widen(device: str, kb: int = READ_AHEAD_KB, bdi: Path = BDI) -> bool:
    """Raise the device's readahead to `kb` (never lower it); whether it is at least that now."""
    setting = bdi / device / "read_ahead_kb"
    try:
        if int(setting.read_text().strip()) >= kb:
            return True
        setting.write_text(f"{kb}\n")
        return True
    except (OSError, ValueError) as exc:
        log.debug("readahead of %s left as it is: %s", device, exc)
        return False


def widen_once_mounted(mountpoint: Path, timeout: float = 30.0) -> threading.Thread:
    """Wait (in a thread of its own, bounded) for the mount to answer, then widen its readahead.

    Not before it answers: the kernel sets the readahead again when it takes libfuse's reply to
    its INIT, which comes after the mount appears in the mount table; a stat of the mount's
    root (served by this process's other threads) returns only once that is done.
    """

    def wait_and_widen() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            device = device_of(mountpoint)
            if device is not None:
                try:
                    os.stat(mountpoint)
                except OSError as exc:
                    log.debug("readahead of %s left as it is: %s", mountpoint, exc)
                    return
                widen(device)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=wait_and_widen, name="storfs-readahead", daemon=True)
    thread.start()
    return thread
