"""Command line: `storfs mount`, `storfs unmount`, `storfs --version`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import platformdirs

from storfs import __version__, config
from storfs.errors import ConfigError
from storfs.redact import REDACTOR

EXAMPLES = """examples:
  storfs mount ~/cloud                     mount every account in the config, in the background
  ls -l ~/cloud/azure/dev/containers       list containers
  getfattr -d ~/cloud/azure/dev/containers/audio
  storfs unmount ~/cloud
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="storfs",
        description="Mount cloud-storage listings as a read-only directory tree.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"storfs {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    mount = commands.add_parser(
        "mount",
        help="mount the configured accounts",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mount.add_argument("mountpoint", metavar="MOUNTPOINT")
    mount.add_argument(
        "--config",
        type=Path,
        help="config file (default: $STORFS_CONFIG, else storfs/config.toml in the XDG config directory)",
    )
    mount.add_argument("-f", "--foreground", action="store_true", help="serve in this process")
    mount.add_argument(
        "-o",
        dest="options",
        action="append",
        default=[],
        metavar="OPT[,OPT...]",
        help="ttl=SECONDS, max_entries=N, or a FUSE option such as allow_other",
    )
    mount.add_argument(
        "--log-file",
        type=Path,
        help="where a background mount logs (default: storfs.log in the XDG log directory)",
    )
    mount.add_argument("-v", "--verbose", action="store_true", help="log each mount event")
    mount.add_argument("--debug", action="store_true", help="log everything, FUSE calls included")

    unmount = commands.add_parser("unmount", help="unmount a storfs mount")
    unmount.add_argument("mountpoint", metavar="MOUNTPOINT")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "unmount":
        from storfs.mount import unmount

        return unmount(args.mountpoint)
    return _mount(args)


def _mount(args: argparse.Namespace) -> int:
    from storfs import mount

    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s storfs %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(REDACTOR)
    try:
        cache_options, fuse_extra = split_options(args.options)
        cfg = config.with_overrides(config.load(args.config), cache_options)
        mountpoint = mount.check_mountpoint(args.mountpoint)
        cfg.providers()  # fail on bad credentials here, before anything is mounted
    except ConfigError as exc:
        print(f"storfs: {exc}", file=sys.stderr)
        return 2
    config.warn_if_exposed(cfg)
    if args.foreground:
        mount.serve(cfg, mountpoint, fuse_extra, debug=args.debug)
        return 0
    log_file = args.log_file or platformdirs.user_log_path("storfs") / "storfs.log"
    child = [sys.executable, "-m", "storfs", "mount", "--foreground", "--log-file", str(log_file)]
    if cfg.path is not None:
        child += ["--config", str(Path(cfg.path).absolute())]
    for option in args.options:
        child += ["-o", option]
    if args.verbose:
        child.append("--verbose")
    if args.debug:
        child.append("--debug")
    return mount.spawn([*child, str(mountpoint)], mountpoint, log_file)


def split_options(values: Sequence[str]) -> tuple[dict[str, str], dict[str, str | bool]]:
    """Split `-o` values into cache overrides (`ttl`, `max_entries`) and FUSE options."""
    cache: dict[str, str] = {}
    fuse: dict[str, str | bool] = {}
    for value in values:
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, sep, text = item.partition("=")
            if name in config.CACHE_OPTIONS:
                if not sep:
                    raise ConfigError(f"-o {name} needs a value ({name}=...)")
                cache[name] = text
            else:
                fuse[name] = text if sep else True
    return cache, fuse
