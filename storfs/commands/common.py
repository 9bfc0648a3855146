"""What several subcommands share: the config option, logging, loading accounts."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from storfs import config
from storfs.redact import REDACTOR

LOG_FORMAT = "%(asctime)s storfs %(levelname)s %(name)s: %(message)s"


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        help="config file (default: $STORFS_CONFIG, else storfs/config.toml in the XDG config directory)",
    )


def add_logging_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="one log line per HTTP request")
    parser.add_argument("--debug", action="store_true", help="log everything, FUSE calls included")


def setup_logging(args: argparse.Namespace, log_file: Path | None = None) -> None:
    """Log to stderr (or `log_file`) at WARNING, INFO with -v, DEBUG with --debug; never a secret."""
    level = logging.DEBUG if getattr(args, "debug", False) else logging.WARNING
    if getattr(args, "verbose", False) and level > logging.INFO:
        level = logging.INFO
    handler: logging.Handler
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file)
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(REDACTOR)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if level > logging.DEBUG:
        logging.getLogger("urllib3").setLevel(logging.WARNING)


def load_config(args: argparse.Namespace) -> config.Config:
    return config.load(getattr(args, "config", None))
