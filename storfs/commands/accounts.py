"""`storfs accounts`: which accounts storfs would mount, and where each comes from."""

from __future__ import annotations

import argparse
import sys
import textwrap

from storfs.commands.common import add_config_argument, load_config, setup_logging
from storfs.config import CONFIG_FILE, DISCOVERED
from storfs.errors import ConfigError
from storfs.providers import PROVIDERS

NAME = "accounts"
HELP = "list the accounts found in the config and the environment"
_FOUND = [
    (f"{name}/{DISCOVERED}", cls.discovery_help) for name, cls in PROVIDERS.items() if cls.discovery_help
]
_WIDTH = max((len(label) for label, _ in _FOUND), default=0)
EXAMPLES = (
    """examples:
  storfs accounts
  AZURE_STORAGE_CONNECTION_STRING="..." storfs accounts     shows azure/default

Every table is checked as `storfs mount` checks it: exit status 2 and one line naming the file
and the key if any account would be refused.

accounts found without any storfs config:
"""
    + "".join(
        textwrap.fill(
            text, 96, initial_indent=f"  {label.ljust(_WIDTH)}  ", subsequent_indent=" " * (_WIDTH + 4)
        )
        + "\n"
        for label, text in _FOUND
    )
    + "A config table of the same name wins.\n"
)


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    setup_logging(args)
    try:
        cfg = load_config(args)
    except ConfigError as exc:
        print(f"storfs: {exc}", file=sys.stderr)
        return 2
    width = max(len(f"{a.provider}/{a.account}") for a in cfg.accounts)
    for account in cfg.accounts:
        source = f"{account.source} ({cfg.path})" if account.source == CONFIG_FILE else account.source
        print(f"{account.provider}/{account.account}".ljust(width), " from", source)
    return 0
