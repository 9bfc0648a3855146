"""`storfs mount`: mount every configured account, in the background unless told otherwise."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import platformdirs

from storfs import config, mount, probe
from storfs.commands.common import add_config_argument, add_logging_arguments, private_log_file, setup_logging
from storfs.errors import ConfigError
from storfs.tree_walk import advice

NAME = "mount"
HELP = "mount the configured accounts"
EXAMPLES = """examples:
  storfs mount ~/cloud                          every account in the config, in the background
  storfs mount --config team.toml -o ttl=300 ~/cloud
  storfs mount -f -v ~/cloud                    in the foreground, one log line per request
  mount -t fuse.storfs storfs ~/cloud -o config=/etc/storfs/config.toml   (fstab form)
"""

#: fstab/mount options that mean nothing to storfs or FUSE here.
IGNORED_OPTIONS = frozenset({"defaults", "auto", "noauto", "user", "users", "nouser", "nofail", "rw", "ro"})


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("mountpoint", metavar="MOUNTPOINT")
    add_config_argument(parser)
    parser.add_argument("-f", "--foreground", action="store_true", help="serve in this process")
    parser.add_argument(
        "-o",
        dest="options",
        action="append",
        default=[],
        metavar="OPT[,OPT...]",
        help="config=FILE; any [cache] or [http] key (ttl=300, deadline=10, stale_if_error); "
        "anything else is a FUSE option (allow_other)",
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        help="where a background mount logs (default: storfs.log in the XDG log directory)",
    )
    add_logging_arguments(parser)


def run(args: argparse.Namespace) -> int:
    setup_logging(args, args.log_file if args.foreground else None)
    try:
        overrides, fuse_extra, config_path = split_options(args.options)
        cfg = config.with_overrides(config.load(config_path or args.config), overrides)
        mountpoint = mount.check_mountpoint(args.mountpoint)
    except ConfigError as exc:
        print(f"storfs: {exc}", file=sys.stderr)
        return 2
    exposed = config.exposed(cfg)
    if exposed:
        print(f"storfs: warning: {exposed}", file=sys.stderr)
    if args.foreground:
        if sys.stderr.isatty():  # someone watches: say at once which accounts fail (not in a log)
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})  # as serve does, before any thread
            threading.Thread(
                target=lambda: warn_failing(cfg, probe.failing_accounts(cfg)),
                name="storfs-probe",
                daemon=True,
            ).start()
        try:
            mount.serve(cfg, mountpoint, fuse_extra, debug=args.debug)
        except mount.MountError as exc:
            print(f"storfs: {exc}", file=sys.stderr)
            return 1
        return 0
    log_file = args.log_file or platformdirs.user_log_path("storfs") / "storfs.log"
    private_log_file(log_file, own_directory=args.log_file is None)
    if not (args.verbose or args.debug):
        logging.getLogger("storfs.transport").setLevel(logging.ERROR)  # the probe warns below instead
    # While the mount starts, one cheap list call per account says which ones will fail.
    probing = ThreadPoolExecutor(1, thread_name_prefix="storfs-probe")
    failing = probing.submit(probe.failing_accounts, cfg)
    child = [sys.executable, "-m", "storfs", "mount", "--foreground", "--log-file", str(log_file)]
    if cfg.path is not None:
        child += ["--config", str(Path(cfg.path).absolute())]
    for option in args.options:
        child += ["-o", option]
    child += ["--verbose"] if args.verbose else []
    child += ["--debug"] if args.debug else []
    status = mount.spawn([*child, str(mountpoint)], mountpoint, log_file)
    if status == 0:
        warn_failing(cfg, failing.result())
    probing.shutdown(wait=False)
    return status


def warn_failing(cfg: config.Config, failing: list[tuple[config.AccountConfig, Exception]]) -> None:
    """One `storfs: warning:` line per account whose probe failed, with the setting to check."""
    for account, error in failing:
        hint = advice(error, account, cfg.path, top_level=True)
        label = f"{account.provider}/{account.account}"
        said = str(error) if str(error).startswith(label) else f"{label}: {error}"
        print(f"storfs: warning: {said}" + (f" ({hint})" if hint else ""), file=sys.stderr, flush=True)


def split_options(values: list[str]) -> tuple[dict[str, str | bool], dict[str, str | bool], Path | None]:
    """Split `-o` values into storfs overrides, FUSE options and a `config=` path."""
    overrides: dict[str, str | bool] = {}
    fuse: dict[str, str | bool] = {}
    config_path: Path | None = None
    for value in values:
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, sep, text = item.partition("=")
            if name == "config":
                if not text:
                    raise ConfigError("-o config needs a path (config=/etc/storfs/config.toml)")
                config_path = Path(text)
            elif name in config.OPTIONS:
                overrides[name] = text if sep else True
            elif name in IGNORED_OPTIONS or name.startswith(("_", "x-")):
                continue
            else:
                fuse[name] = text if sep else True
    return overrides, fuse, config_path


def fstab_argv(argv: list[str]) -> list[str] | None:
    """`storfs SOURCE MOUNTPOINT [-o OPTS]` (how mount.fuse calls us) as `storfs mount ...`."""
    if len(argv) < 2 or argv[0].startswith("-") or argv[1].startswith("-"):
        return None
    rest = argv[2:]
    return ["mount", argv[1], *rest]
