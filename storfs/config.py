"""Configuration: TOML tables `[<provider>.<account>]`, `[cache]` and `[http]`, validated up front."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from storfs.errors import ConfigError
from storfs.names import unusable_reason
from storfs.providers import PROVIDERS, Provider
from storfs.redact import REDACTOR
from storfs.transport import HttpSettings

log = logging.getLogger(__name__)

#: The source of an account given by a table of the config file.
CONFIG_FILE = "config file"
#: The account name of accounts found without a config table (`azure/default`).
DISCOVERED = "default"


@dataclass(frozen=True)
class CacheSettings:
    ttl: float = 60.0
    max_entries: int = 100_000
    max_pages: int = 10_000  # no listing may take more pages (a cursor that never ends)
    stale_if_error: bool = False  # serve an expired listing, with a warning, when refetching fails


@dataclass(frozen=True)
class AccountConfig:
    provider: str
    account: str
    settings: Mapping[str, Any]  # secrets already resolved from `<key>_env`
    source: str = CONFIG_FILE  # where the account came from, for `storfs accounts`


@dataclass(frozen=True)
class Config:
    accounts: list[AccountConfig]
    cache: CacheSettings = field(default_factory=CacheSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    path: Path | None = None

    def providers(self) -> list[Provider]:
        """Instantiate every account's provider; ConfigError names what is wrong, and where."""
        return [self.provider(account) for account in self.accounts]

    def provider(self, account: AccountConfig, http: HttpSettings | None = None) -> Provider:
        """One account's provider (with other HTTP settings if given); ConfigError names where."""
        try:
            return PROVIDERS[account.provider](account.account, account.settings, http or self.http)
        except ConfigError as exc:
            raise ConfigError(f"{self.origin(account)}: {exc}") from None

    def origin(self, account: AccountConfig) -> str:
        """Where an account came from, for messages: the config file, or the variables/files found."""
        if account.source == CONFIG_FILE:
            return str(self.path)
        return f"{account.provider}/{account.account} ({account.source})"


def default_path(env: Mapping[str, str] = os.environ) -> Path:
    """`$STORFS_CONFIG`, else `storfs/config.toml` in the user's XDG config directory."""
    if env.get("STORFS_CONFIG"):
        return Path(env["STORFS_CONFIG"])
    return platformdirs.user_config_path("storfs") / "config.toml"


def load(
    path: Path | None = None,
    env: Mapping[str, str] = os.environ,
    *,
    discover: bool = True,
    home: Path | None = None,
) -> Config:
    """Read and validate the config, plus accounts the providers find in the environment.

    `path` (from --config) or `$STORFS_CONFIG` must exist; the default path may be absent when
    the environment provides accounts. A config table of the same name wins over a found account.
    Every account's provider is built once here, so every command refuses what the mount would;
    every error names the file (or the variables) it comes from.
    """
    from_variable = path is None and bool(env.get("STORFS_CONFIG"))
    explicit = path is not None or from_variable
    path = path or default_path(env)
    data: dict[str, Any] = {}
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        if explicit or not discover:
            raise ConfigError(
                f"config file {path}{_named(from_variable)} does not exist (give one with --config)"
            ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}{_named(from_variable)}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        config = parse(data, env, path if data else None, require_accounts=False)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    problems: list[str] = []
    if discover:
        named = {(a.provider, a.account) for a in config.accounts}
        found, problems = discovered_accounts(env, home)
        found = [a for a in found if (a.provider, a.account) not in named]
        config = Config(config.accounts + found, config.cache, config.http, config.path)
    if not config.accounts:
        why = "".join(f"{problem}; " for problem in problems)
        raise ConfigError(
            f"no accounts configured: {why}add a table such as [azure.dev] to {path}, "
            "or set AZURE_STORAGE_CONNECTION_STRING (see `storfs accounts --help`)"
        )
    for problem in problems:
        log.warning("ignoring the environment: %s", problem)
    config.providers()  # every ConfigError a provider raises, named by where its account came from
    for account in config.accounts:
        maximum = PROVIDERS[account.provider].max_page_size
        size = account.settings.get("page_size")
        if isinstance(size, int) and size > maximum:
            where = f"{config.origin(account)}: [{account.provider}.{account.account}]"
            log.warning("%s: page_size %d is more than the API serves; using %d", where, size, maximum)
    return config


def _named(from_variable: bool) -> str:
    return " (named by $STORFS_CONFIG)" if from_variable else ""


def discovered_accounts(
    env: Mapping[str, str], home: Path | None = None
) -> tuple[list[AccountConfig], list[str]]:
    """`<provider>/default` for each provider whose usual settings exist, and what is incomplete."""
    home = home or Path(env.get("HOME") or Path.home())
    accounts: list[AccountConfig] = []
    problems: list[str] = []
    for name, cls in PROVIDERS.items():
        try:
            found = cls.discover(env, home)
        except ConfigError as exc:
            problems.append(str(exc))
            continue
        for table, source in found:
            where = f"{name}/{DISCOVERED} ({source})"
            accounts.append(AccountConfig(name, DISCOVERED, account_settings(cls, where, table, env), source))
    return accounts, problems


def exposed(config: Config) -> str | None:
    """Like ssh: what to say when the config file holds secrets and others may read it."""
    if config.path is None:
        return None
    path = config.path
    try:
        mode = os.stat(path).st_mode & 0o777
        if not mode & 0o077:
            return None
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        return None
    holds_secret = any(
        key in PROVIDERS[provider].secret_keys
        for provider, tables in data.items()
        if provider in PROVIDERS and isinstance(tables, dict)
        for table in tables.values()
        if isinstance(table, dict)
        for key in table
    )
    if not holds_secret:
        return None
    return (
        f"config file {path} holds secrets and is readable by others (mode {mode:04o}): run chmod 600 {path}"
    )


def parse(
    data: Mapping[str, Any],
    env: Mapping[str, str] = os.environ,
    path: Path | None = None,
    *,
    require_accounts: bool = True,
) -> Config:
    """Validate parsed TOML; every unknown key is an error that names it."""
    accounts: list[AccountConfig] = []
    cache = CacheSettings()
    http = HttpSettings()
    for name, value in data.items():
        if name == "cache":
            cache = _dataclass_table(CacheSettings, "cache", value)
        elif name == "http":
            http = _dataclass_table(HttpSettings, "http", value)
        elif name in PROVIDERS:
            accounts += _provider_tables(name, value, env)
        elif isinstance(value, dict):
            known = ", ".join(sorted(PROVIDERS))
            raise ConfigError(f"[{name}]: unknown provider {name!r} (known: {known})")
        else:
            raise ConfigError(f"unknown top-level key {name!r}")
    if require_accounts and not accounts:
        raise ConfigError("no accounts configured: add a table such as [azure.dev]")
    return Config(accounts, cache, http, path)


def _provider_tables(provider: str, tables: Any, env: Mapping[str, str]) -> list[AccountConfig]:
    if not isinstance(tables, dict):
        raise ConfigError(f"{provider!r} must hold account tables such as [{provider}.myaccount]")
    cls = PROVIDERS[provider]
    result = []
    for account, table in tables.items():
        where = f"[{provider}.{account}]"
        if not isinstance(table, dict):
            raise ConfigError(
                f"[{provider}] needs an account name: write [{provider}.<name>] (it becomes "
                f"/{provider}/<name>/), not [{provider}] ({account} = ... is not an account table)"
            )
        reason = unusable_reason(account)
        if reason:
            raise ConfigError(f"{where}: account name cannot be a directory name ({reason})")
        settings = account_settings(cls, where, table, env)
        result.append(AccountConfig(provider, account, settings))
    return result


def account_settings(
    cls: type[Provider], where: str, table: Mapping[str, Any], env: Mapping[str, str]
) -> dict[str, Any]:
    allowed = cls.config_keys | {"page_size"} | {f"{key}_env" for key in cls.secret_keys}
    settings: dict[str, Any] = {}
    for key, value in table.items():
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")
        if key.endswith("_env") and key[:-4] in cls.secret_keys:
            if not isinstance(value, str) or value not in env:
                # The value is not echoed: it may be a secret written here by mistake.
                raise ConfigError(f"{where}: {key} names an environment variable that is not set")
            settings[key[:-4]] = env[value]
        else:
            settings[key] = value
        if key in cls.secret_keys or key.endswith("_env"):
            secret = settings.get(key.removesuffix("_env"))
            if isinstance(secret, str):
                REDACTOR.add(secret)
    return settings


#: How messages name the type a setting needs.
_KIND = {bool: "true or false", int: "an integer", float: "a number"}

#: Settings that would break storfs below these values.
_MINIMUM = {
    "max_entries": 1,
    "max_pages": 1,
    "parallel_pages": 1,
    "deadline": 0.1,
    "connect_timeout": 0.1,
    "read_timeout": 0.1,
}


def _dataclass_table(cls: type, name: str, table: Any) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    values = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"[{name}]: unknown key {key!r} (allowed: {', '.join(sorted(known))})")
        default: Any = known[key].default
        if isinstance(default, bool) != isinstance(value, bool) or not isinstance(value, type(default) | int):
            raise ConfigError(f"[{name}]: {key} must be {_KIND[type(default)]}, got {value!r}")
        minimum = _MINIMUM.get(key, 0)
        if not isinstance(value, bool) and value < minimum:
            raise ConfigError(f"[{name}]: {key} must be at least {minimum}, got {value!r}")
        values[key] = type(default)(value)
    return cls(**values)


def with_overrides(config: Config, options: Mapping[str, str | bool]) -> Config:
    """Apply `-o key=value` overrides of `[cache]` and `[http]` keys (`-o ttl=5,deadline=10`)."""
    tables: dict[str, dict[str, Any]] = {"cache": {}, "http": {}}
    for key, text in options.items():
        table = "cache" if key in CACHE_OPTIONS else "http"
        default = getattr(config.cache if table == "cache" else config.http, key)
        tables[table][key] = _option_value(key, text, default)
    try:
        cache = _dataclass_table(CacheSettings, "cache", {**asdict(config.cache), **tables["cache"]})
        http = _dataclass_table(HttpSettings, "http", {**asdict(config.http), **tables["http"]})
    except ConfigError as exc:
        raise ConfigError(f"-o: {exc}") from None
    return replace(config, cache=cache, http=http)


def _option_value(key: str, text: str | bool, default: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(text, bool):
            return text
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"-o {key}={text}: expected true or false")
    if isinstance(text, bool):
        raise ConfigError(f"-o {key} needs a value ({key}=...)")
    try:
        return type(default)(text)
    except ValueError:
        raise ConfigError(f"-o {key}={text}: not a number") from None


CACHE_OPTIONS = frozenset(f.name for f in fields(CacheSettings))
HTTP_OPTIONS = frozenset(f.name for f in fields(HttpSettings))
#: `-o` names that set storfs keys rather than FUSE options.
OPTIONS = CACHE_OPTIONS | HTTP_OPTIONS
