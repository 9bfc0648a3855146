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


@dataclass(frozen=True)
class CacheSettings:
    ttl: float = 60.0
    max_entries: int = 100_000
    max_pages: int = 10_000  # no listing may take more pages (a cursor that never ends)
    stale_if_error: bool = False  # serve an expired listing, with a warning, when refetching fails
    # Shared listing cache (storfs/shared): a redis:// or rediss:// URL; "" keeps pages to this mount.
    shared: str = ""
    shared_password_env: str = ""  # the variable holding the Redis password, if not in the URL

    def __post_init__(self) -> None:
        if self.shared and not self.shared.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("[cache]: shared must be a redis://, rediss:// or unix:// URL")


@dataclass(frozen=True)
class AccountConfig:
    provider: str
    account: str
    settings: Mapping[str, Any]  # secrets already resolved from `<key>_env`
    source: str = "config file"  # where the account came from, for `storfs accounts`


@dataclass(frozen=True)
class Config:
    accounts: list[AccountConfig]
    cache: CacheSettings = field(default_factory=CacheSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    path: Path | None = None

    def providers(self) -> list[Provider]:
        """Instantiate every account's provider; ConfigError names what is wrong."""
        return [
            PROVIDERS[account.provider](account.account, account.settings, self.http)
            for account in self.accounts
        ]


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
    """Read and validate the config, plus accounts found in the environment (see discovery.py).

    `path` (from --config) or `$STORFS_CONFIG` must exist; the default path may be absent when
    the environment provides accounts. A config table of the same name wins over a found account.
    """
    explicit = path is not None or bool(env.get("STORFS_CONFIG"))
    path = path or default_path(env)
    data: dict[str, Any] = {}
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        if explicit or not discover:
            raise ConfigError(f"config file {path} does not exist (give one with --config)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        config = parse(data, env, path if data else None, require_accounts=False)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if discover:
        from storfs.discovery import discover_accounts

        named = {(a.provider, a.account) for a in config.accounts}
        found = [a for a in discover_accounts(env, home) if (a.provider, a.account) not in named]
        config = Config(config.accounts + found, config.cache, config.http, config.path)
    if not config.accounts:
        raise ConfigError(
            f"no accounts configured: add a table such as [azure.dev] to {path}, "
            "or set AZURE_STORAGE_CONNECTION_STRING (see `storfs accounts --help`)"
        )
    return config


def warn_if_exposed(config: Config) -> None:
    """Like ssh: a config file that holds secrets should be readable by its owner only."""
    if config.path is None:
        return
    path = config.path
    mode = os.stat(path).st_mode & 0o777
    if not mode & 0o077:
        return
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    holds_secret = any(
        key in PROVIDERS[provider].secret_keys
        for provider, tables in data.items()
        if provider in PROVIDERS and isinstance(tables, dict)
        for table in tables.values()
        if isinstance(table, dict)
        for key in table
    )
    if holds_secret:
        log.warning(
            "config file %s holds secrets and is readable by others (mode %04o): run chmod 600 %s",
            path,
            mode,
            path,
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
            raise ConfigError(f"{where}: expected a table, got {type(table).__name__}")
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
        accepted = type(default) | int if isinstance(default, float) else type(default)
        if isinstance(default, bool) != isinstance(value, bool) or not isinstance(value, accepted):
            raise ConfigError(f"[{name}]: {key} must be a {type(default).__name__}, got {value!r}")
        minimum = _MINIMUM.get(key, 0)
        if isinstance(value, int | float) and not isinstance(value, bool) and value < minimum:
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
    cache = _dataclass_table(CacheSettings, "cache", {**asdict(config.cache), **tables["cache"]})
    http = _dataclass_table(HttpSettings, "http", {**asdict(config.http), **tables["http"]})
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
