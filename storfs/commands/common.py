"""What several subcommands share: the config option, logging, loading accounts, reporting."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import threading
from pathlib import Path

from storfs import config
from storfs.errors import ConfigError, NotADirectory, NotFound, StorfsError
from storfs.redact import REDACTOR
from storfs.tree_walk import Session, advice
from storfs.untrusted import escape, escape_char

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
        private_log_file(log_file)
        handler = logging.FileHandler(log_file)
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(REDACTOR)
    handler.setLevel(level)  # also for records a filter demoted after their logger let them through
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Uncaught exceptions in threads go through logging too, and so through the redactor.
    threading.excepthook = lambda hook: logging.getLogger("storfs").error(
        "uncaught exception in thread %s",
        hook.thread.name if hook.thread else "?",
        exc_info=(hook.exc_type, hook.exc_value, hook.exc_traceback),  # type: ignore[arg-type]
    )
    if level > logging.DEBUG:
        logging.getLogger("urllib3").setLevel(logging.WARNING)
    pool_logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, RetryNotice) for f in pool_logger.filters):
        pool_logger.addFilter(RetryNotice())


class RetryNotice(logging.Filter):
    """urllib3's "Retrying (...)" WARNING is routine (retries are counted in the stats): show it
    as an INFO line, i.e. only with -v, never on a user's terminal by default."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and str(record.msg).startswith("Retrying"):
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def private_log_file(path: Path, *, own_directory: bool = False) -> None:
    """Create `path` 0600 (and its missing directories 0700), or make an existing one 0600:
    a log names accounts, buckets and keys, which other local users should not read.
    `own_directory` (storfs's default log directory) makes an existing directory 0700 too."""
    missing = [parent for parent in (path.parent, *path.parent.parents) if not parent.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
    if own_directory and path.parent.stat().st_mode & 0o077:
        path.parent.chmod(0o700)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def load_config(args: argparse.Namespace) -> config.Config:
    return config.load(getattr(args, "config", None))


def quiet_logging(args: argparse.Namespace) -> None:
    """Log to stderr, but leave request failures to the command's own error lines unless -v."""
    setup_logging(args)
    if not (args.verbose or args.debug):
        logging.getLogger("storfs.transport").setLevel(logging.ERROR)


def open_session(args: argparse.Namespace) -> Session | int:
    """Logging as `quiet_logging` sets it, and a session over the configured accounts,
    or exit status 2 after saying what is wrong."""
    quiet_logging(args)
    try:
        return Session(load_config(args))
    except ConfigError as exc:
        print(f"storfs: {exc}", file=sys.stderr)
        return 2


def report(session: Session, path: str, error: StorfsError, *, given: str | None = None) -> None:
    """`storfs: <path>: <what went wrong> (<setting to check>)` on stderr, names escaped."""
    if isinstance(error, NotFound | NotADirectory) and given is not None:
        message = os.strerror(error.errno_code)
        path = given
    else:
        message = str(error)
    hint = advice(error, session.account(path), session.config.path)
    print(f"storfs: {escape(path)}: {escape(message)}" + (f" ({hint})" if hint else ""), file=sys.stderr)


# -- names from servers, made safe for a terminal --------------------------------------------------

#: How `escape` shows names, for each command's --help.
ESCAPES_HELP = r"""Names are shown as `ls -b` shows them: a backslash as \\, a control character
as \n, \t, \r, \a, \b, \f, \v or else in octal: ESC as \033, DEL as \177, U+009B as \233.
--json shows them unchanged, as JSON strings.
"""
_UNSAFE_QUOTED = re.compile('[\\\\"\x00-\x1f\x7f-\x9f\ud800-\udfff]')
_JSON_UNSAFE = re.compile("[\x7f-\x9f]")


def quoted(text: str) -> str:
    """`"text"`, escaped as by `escape` and with `\\"` for a double quote (getfattr -d style)."""
    return '"' + _UNSAFE_QUOTED.sub(lambda m: '\\"' if m.group() == '"' else escape_char(m), text) + '"'


def to_json(value: object, indent: int | None = None) -> str:
    """`json.dumps` keeping non-ASCII text; DEL and C1 controls \\u-escaped too (the same JSON value)."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
