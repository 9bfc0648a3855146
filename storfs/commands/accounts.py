"""`storfs accounts`: which accounts storfs would mount, and where each comes from."""

from __future__ import annotations

import argparse
import sys

from storfs.commands.common import add_config_argument, load_config
from storfs.errors import ConfigError

NAME = "accounts"
HELP = "list the accounts found in the config and the environment"
EXAMPLES = """examples:
  storfs accounts
  AZURE_STORAGE_CONNECTION_STRING="..." storfs accounts     shows azure/default

accounts found without any storfs config:
  azure/default     AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with
                    AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN
  qingstor/default  ~/.qingstor/config.yaml (the official tools' file)
  oas/default       ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET and STORFS_OAS_ENDPOINT
A config table of the same name wins.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args)
    except ConfigError as exc:
        print(f"storfs: {exc}", file=sys.stderr)
        return 2
    width = max(len(f"{a.provider}/{a.account}") for a in cfg.accounts)
    for account in cfg.accounts:
        source = f"{account.source} ({cfg.path})" if account.source == "config file" else account.source
        print(f"{account.provider}/{account.account}".ljust(width), " from", source)
    return 0
