"""`storfs doctor`: check FUSE, the config and every account, and say how to fix what fails."""

from __future__ import annotations

import argparse
import ctypes.util
import errno
import importlib.util
import logging
import os
import re
import shutil
import stat as statmod
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from storfs import config
from storfs.commands.common import add_config_argument, add_logging_arguments, load_config, setup_logging
from storfs.config import AccountConfig, Config
from storfs.errors import ConfigError, StorfsError
from storfs.probe import probe_http
from storfs.redact import REDACTOR
from storfs.transport import HttpSettings
from storfs.tree_walk import fix_for, where

NAME = "doctor"
HELP = "check libfuse, /dev/fuse, fusermount, the config and one listing per account"
EXAMPLES = """examples:
  storfs doctor
  storfs doctor --config team.toml

Prints one line per check, ✔ or ✘, and under every ✘ the fix. Each account costs one
authenticated request: the first page of each of its top-level listings, with a short
deadline. Exit status: 0 if every check passed, 1 otherwise. No secret is ever printed.
"""

OK = "✔"
FAIL = "✘"
#: The most a single account check waits, retries included.
DEADLINE = 10.0
FUSE_PACKAGES = "apt-get install fuse3 (Debian/Ubuntu), dnf install fuse3 (Fedora), apk add fuse3 (Alpine)"


class Check(NamedTuple):
    ok: bool
    what: str
    fix: str = ""


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    add_logging_arguments(parser)


def run(args: argparse.Namespace) -> int:
    setup_logging(args)
    if not (args.verbose or args.debug):
        logging.getLogger("storfs").setLevel(logging.CRITICAL)  # every failure is a ✘ line instead
    checks = [check_libfuse(), check_mfusepy(), check_dev_fuse(), check_fusermount()]
    for check in checks:
        show(check)
    try:
        cfg = load_config(args)
    except ConfigError as exc:
        checks.append(
            Check(False, f"config: {exc}", "change what the message names, or give a file with --config")
        )
        show(checks[-1], keep=[str(args.config)] if args.config else [])
        return 1
    files = [str(cfg.path)] if cfg.path is not None else []
    files += [str(a.settings["config_file"]) for a in cfg.accounts if a.settings.get("config_file")]
    source = f"config: {cfg.path}" if cfg.path is not None else "config: no file"
    checks.append(Check(True, f"{source} ({len(cfg.accounts)} account(s))"))
    warning = config.exposed(cfg)
    if warning:
        checks.append(Check(False, warning.replace(": run chmod", ""), f"chmod 600 {cfg.path}"))
    for check in checks[4:]:
        show(check, keep=files)
    for check in check_accounts(cfg):
        checks.append(check)
        show(check, keep=files)
    return 0 if all(check.ok for check in checks) else 1


def show(check: Check, keep: Sequence[str] = ()) -> None:
    """One ✔/✘ line, and the fix under a ✘; through the redactor, so no secret gets out.

    The file names in `keep` are printed whole even where a short secret happens to occur in them.
    """
    lines = [f"{OK if check.ok else FAIL} {check.what}"]
    if not check.ok and check.fix:
        lines.append(f"    fix: {check.fix}")
    text = "\n".join(lines)
    names = sorted({name for name in keep if name}, key=len, reverse=True)
    if not names:
        print(REDACTOR.redact(text), flush=True)
        return
    pieces = re.split("(" + "|".join(map(re.escape, names)) + ")", text)
    print("".join(p if p in names else REDACTOR.redact(p) for p in pieces), flush=True)


# -- FUSE ----------------------------------------------------------------------------------------


def check_libfuse() -> Check:
    fuse3 = ctypes.util.find_library("fuse3")
    if fuse3:
        return Check(True, f"libfuse 3: {fuse3}")
    fuse2 = ctypes.util.find_library("fuse")
    if fuse2:
        return Check(True, f"libfuse 2: {fuse2} (works; libfuse 3 makes `ls -l` cheaper: {FUSE_PACKAGES})")
    return Check(False, "libfuse: neither libfuse3 nor libfuse found", FUSE_PACKAGES)


def check_mfusepy() -> Check:
    if importlib.util.find_spec("mfusepy") is not None:
        return Check(True, "mfusepy: installed")
    return Check(False, "mfusepy: not installed", f"{sys.executable} -m pip install mfusepy")


def check_dev_fuse(path: str = "/dev/fuse") -> Check:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return Check(
            False,
            f"{path}: missing",
            "modprobe fuse; in a container, run it with --device /dev/fuse --cap-add SYS_ADMIN",
        )
    except OSError as exc:
        return Check(False, f"{path}: {exc.strerror}", f"check the permissions of {Path(path).parent}")
    if not statmod.S_ISCHR(mode):
        return Check(False, f"{path}: not a character device", f"rm {path}; mknod -m 0666 {path} c 10 229")
    try:
        os.close(os.open(path, os.O_RDWR))
    except OSError as exc:
        fix = (
            f"chmod 0666 {path}, or add yourself to the group that owns it"
            if exc.errno in (errno.EACCES, errno.EPERM)
            else "modprobe fuse; in a container, run it with --device /dev/fuse --cap-add SYS_ADMIN"
        )
        return Check(False, f"{path}: cannot open: {exc.strerror}", fix)
    return Check(True, f"{path}: a character device, opens read-write")


def check_fusermount() -> Check:
    for tool in ("fusermount3", "fusermount"):
        found = shutil.which(tool)
        if found:
            return Check(True, f"{tool}: {found}")
    return Check(False, "fusermount3 / fusermount: not on PATH", FUSE_PACKAGES)


# -- accounts ------------------------------------------------------------------------------------


def check_accounts(cfg: Config) -> list[Check]:
    """One cheap authenticated call per top-level listing of each account, all at once."""
    http = probe_http(cfg.http, DEADLINE)
    if not cfg.accounts:
        return []
    with ThreadPoolExecutor(min(8, len(cfg.accounts)), thread_name_prefix="storfs-doctor") as pool:
        results = pool.map(lambda account: check_account(cfg, account, http), cfg.accounts)
        return [check for checks in results for check in checks]


def check_account(cfg: Config, account: AccountConfig, http: HttpSettings) -> list[Check]:
    config_path = cfg.path
    label = f"{account.provider}/{account.account}"
    source = f"{account.source} {config_path}" if account.source == config.CONFIG_FILE else account.source
    try:
        provider = cfg.provider(account, http)
    except ConfigError as exc:
        return [Check(False, f"{label} (from {source}): {exc}", f"edit {where(account, config_path)}")]
    checks = []
    for name, key in provider.top_level().items():
        started = time.monotonic()
        try:
            page = provider.list_page(key, None)
        except StorfsError as exc:
            fix = fix_for(exc, account, config_path)
            checks.append(Check(False, f"{label}/{name} (from {source}): {exc}", fix))
            continue
        except Exception as exc:  # a bug, not the account: still one line, and the other checks run
            fix = "run with --debug and report this as a storfs bug"
            checks.append(Check(False, f"{label}/{name} (from {source}): {type(exc).__name__}: {exc}", fix))
            continue
        elapsed = time.monotonic() - started
        more = ", more pages follow" if page.next_cursor is not None else ""
        checks.append(
            Check(
                True,
                f"{label}/{name} (from {source}): listed, {len(page.entries)} entries "
                f"on the first page{more} ({elapsed:.2f}s)",
            )
        )
    return checks
