"""Mount lifecycle: check the mountpoint, serve in the foreground, daemonise, unmount."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storfs import gc_policy
from storfs.attrs import StatMaker
from storfs.config import Config
from storfs.control import Control, json_file
from storfs.control_socket import PUBLISHED, ControlServer
from storfs.errors import ConfigError
from storfs.flat_walk import FlatWalker, WalkingPrefetcher
from storfs.mount_table import mount_type
from storfs.readahead import widen_once_mounted
from storfs.stats import STATS
from storfs.tree import Tree
from storfs.wiring import build_tree

if TYPE_CHECKING:
    from storfs.binding import KernelCache

log = logging.getLogger(__name__)

READY_TIMEOUT = 20.0
#: The type the mount table shows for a storfs mount (`fsname`/`subtype` in fuse_options).
FSTYPE = "fuse.storfs"
LIBFUSE_LOOP_ENDED = 8


class MountError(Exception):
    """libfuse refused to mount or to serve."""


def check_mountpoint(path: str) -> Path:
    """An existing, empty directory that is not already a mount; ConfigError otherwise."""
    mountpoint = Path(path).absolute()
    if not mountpoint.exists():
        raise ConfigError(f"mountpoint {mountpoint} does not exist")
    if not mountpoint.is_dir():
        raise ConfigError(f"mountpoint {mountpoint} is not a directory")
    if os.path.ismount(mountpoint):
        raise ConfigError(f"{mountpoint} is already a mount point (storfs unmount {mountpoint})")
    if any(mountpoint.iterdir()):
        raise ConfigError(f"mountpoint {mountpoint} is not empty")
    return mountpoint


def fuse_options(config: Config, extra: dict[str, str | bool]) -> dict[str, str | bool]:
    """Mount options: read-only, kernel caches tied to the listing TTL, then the user's `-o`."""
    ttl = config.cache.ttl
    options: dict[str, str | bool] = {
        "fsname": "storfs",
        "subtype": "storfs",
        "ro": True,
        "default_permissions": True,
        "attr_timeout": f"{ttl:g}",
        "entry_timeout": f"{ttl:g}",
        "negative_timeout": f"{ttl:g}",
    }
    options.update(extra)
    return options


def serve(
    config: Config, mountpoint: Path, extra_options: dict[str, str | bool], debug: bool = False
) -> None:
    """Mount and serve until unmounted or signalled (blocks)."""
    from storfs.binding import LIBFUSE_MAJOR, LIBFUSE_VERSION, KernelCache, PlusFUSE
    from storfs.fuse_ops import StorfsOperations

    # Before any thread starts, so that every thread inherits the block (see _refresh_on_hangup).
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    tree = build_tree(config, STATS)
    providers, cache = tree.providers, tree.cache
    kernel = KernelCache(str(mountpoint))
    control_server = ControlServer(lambda request: _control(tree, kernel, request))
    stats = json_file(lambda: STATS.snapshot(entries_cached=cache.entries))
    control = Control({"stats": stats, PUBLISHED: control_server.published})
    attrs = StatMaker(os.getuid(), os.getgid(), time.time())
    flat = FlatWalker(tree, config.cache.max_entries, config.cache.ttl)
    prefetcher = WalkingPrefetcher(tree, config.http.parallel_pages, flat)
    operations = StorfsOperations(tree, attrs, STATS, control, prefetcher, wait=config.http.deadline)
    options = fuse_options(config, extra_options)
    if LIBFUSE_VERSION >= (3, 12):
        # libfuse 3.12+ warns about its own default (UINT_MAX, "unlimited"); 10 was the default
        # before and is no fewer than its default max_threads, so nothing changes but the warning.
        options.setdefault("max_idle_threads", "10")
    log.info(
        "mounting %d account(s) at %s (libfuse %d, ttl %gs)",
        len(providers),
        mountpoint,
        LIBFUSE_MAJOR,
        config.cache.ttl,
    )
    try:
        control_server.start()
    except OSError as exc:
        log.warning("no control socket (storfs refresh will not reach this mount): %s", exc)
    _refresh_on_hangup(tree, kernel)
    widen_once_mounted(mountpoint)
    gc_policy.after_start_up()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # mfusepy's note about utimens ns
            PlusFUSE(operations, str(mountpoint), kernel=kernel, foreground=True, debug=debug, **options)
    except RuntimeError as exc:
        # fuse_main answers 8 when its loop ended by a signal (SIGTERM, SIGINT): a clean stop.
        if exc.args != (LIBFUSE_LOOP_ENDED,):
            code = exc.args[0] if exc.args else "?"
            raise MountError(f"libfuse could not mount {mountpoint} (fuse_main returned {code})") from None
    finally:
        control_server.stop()
        tree.close()
    log.info("unmounted %s", mountpoint)


def _control(tree: Tree, kernel: KernelCache, request: dict[str, Any]) -> dict[str, Any]:
    if request.get("op") == "refresh" and isinstance(request.get("path"), str):
        dropped = _refresh(tree, kernel, request["path"])
        log.info("refresh %s: dropped %d cached listing(s)", request["path"], dropped)
        return {"dropped": dropped}
    return {"error": f"unknown request {request.get('op')!r}"}


def _refresh(tree: Tree, kernel: KernelCache, path: str) -> int:
    """Drop storfs's cached listings at or below `path`, then what the kernel cached there."""
    dropped = tree.refresh(path)
    kernel.forget(path, sorted({provider.name for provider in tree.providers}))
    return dropped


def _refresh_on_hangup(tree: Tree, kernel: KernelCache) -> None:
    """`kill -HUP` drops every cached listing, and the kernel's cached names and attributes.

    libfuse would treat SIGHUP as "exit", and Python handlers cannot run while the main thread
    sits in libfuse, so `serve` blocks SIGHUP before starting any thread and a watcher thread
    takes it with sigwait.
    """

    def watch() -> None:
        while True:
            signal.sigwait({signal.SIGHUP})
            dropped = _refresh(tree, kernel, "/")
            log.warning("SIGHUP: dropped %d cached listing(s)", dropped)

    threading.Thread(target=watch, name="storfs-sighup", daemon=True).start()


def spawn(argv: Sequence[str], mountpoint: Path, log_file: Path) -> int:
    """Run `argv` (a foreground mount) detached, and return once the mount answers.

    Returns 0 when mounted; otherwise prints why on stderr and returns 2, leaving nothing behind.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log_handle:
        start = log_handle.tell()
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_handle,
            stderr=log_handle,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if os.path.ismount(mountpoint):
            os.stat(mountpoint)  # answered by storfs itself
            return 0
        if child.poll() is not None:
            print(f"storfs: {_failure(log_file, start)}", file=sys.stderr)
            return 2
        time.sleep(0.02)
    child.kill()
    child.wait(5)
    unmount(mountpoint, quiet=True)
    print(f"storfs: mount did not become ready within {READY_TIMEOUT:g}s; see {log_file}", file=sys.stderr)
    return 2


def unmount(mountpoint: Path | str, quiet: bool = False) -> int:
    """Unmount with fusermount3/fusermount (or umount); 0 on success, 1 with a message otherwise."""
    if mount_type(mountpoint) not in (FSTYPE, None):
        if not quiet:
            print(f"storfs: {mountpoint} is not a storfs mount", file=sys.stderr)
        return 1
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    command = [tool, "-u", str(mountpoint)] if tool else ["umount", str(mountpoint)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return 0
    if not quiet:
        detail = result.stderr.strip() or f"{command[0]} exited with {result.returncode}"
        if "busy" in detail.lower():
            detail = f"{mountpoint} is busy: a process still uses it (see `fuser -vm {mountpoint}`)"
        print(f"storfs: cannot unmount: {detail}", file=sys.stderr)
    return 1


#: What libfuse and its mount helpers write to stderr when they refuse (`fuse: unknown option(s)`).
_LIBFUSE_REASON = re.compile(r"(fuse|fusermount3?|mount\.fuse3?): ")


def _failure(log_file: Path, start: int) -> str:
    """Why the mount process ended, from what it wrote: its last line, with libfuse's own reason.

    libfuse and fusermount write their reason (`fuse: unknown option(s): ...`) straight to stderr,
    before storfs's last line says that mounting failed.
    """
    with open(log_file, "rb") as handle:
        handle.seek(start)
        lines = [line.strip() for line in handle.read().decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return "mount failed: the mount process exited"
    last = lines[-1].removeprefix("storfs: ")
    causes = [line for line in lines[:-1] if _LIBFUSE_REASON.match(line)]
    return f"mount failed: {last}" + "".join(f": {cause}" for cause in causes[-3:])
