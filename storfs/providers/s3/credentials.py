"""Where S3 settings come from besides a storfs table: AWS_* variables and the AWS CLI's files."""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from storfs.errors import ConfigError

#: AWS CLI file keys -> storfs keys.
_FILE_KEYS = {
    "aws_access_key_id": "access_key_id",
    "aws_secret_access_key": "secret_access_key",
    "aws_session_token": "session_token",
    "region": "region",
    "endpoint_url": "endpoint",
}


def profile_settings(
    profile: str, credentials_file: str | None, config_file: str | None, where: str
) -> dict[str, Any]:
    """A profile's keys, region, endpoint and addressing style from the AWS CLI's two files.

    The credentials file names sections `[name]`, the config file `[profile name]` (`[default]`
    for the default profile); the credentials file wins where both set a key.
    """
    result: dict[str, Any] = {}
    sections = [f"profile {profile}", profile] if profile != "default" else ["default"]
    for path, names in ((config_file, sections), (credentials_file, [profile])):
        if not path:
            continue
        section = _section(Path(path).expanduser(), names, where)
        for key, value in section.items():
            if key in _FILE_KEYS and value.strip():
                result[_FILE_KEYS[key]] = value.strip()
            elif key == "s3":  # a nested `s3 =` block: addressing_style, endpoint_url
                nested = dict(line.split("=", 1) for line in value.splitlines() if "=" in line)
                nested = {k.strip(): v.strip() for k, v in nested.items()}
                if nested.get("addressing_style") in ("path", "virtual"):
                    result["addressing_style"] = nested["addressing_style"]
                if nested.get("endpoint_url"):
                    result["endpoint"] = nested["endpoint_url"]
    if (credentials_file or config_file) and not result.get("access_key_id"):
        files = " or ".join(str(p) for p in (credentials_file, config_file) if p)
        raise ConfigError(f"{where}: profile {profile!r} has no aws_access_key_id in {files}")
    return result


def _section(path: Path, names: list[str], where: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, default_section="\0none")
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{where}: {path}: {exc.strerror}") from None
    except configparser.Error:
        raise ConfigError(f"{where}: {path} is not an INI file the AWS CLI could read") from None
    for name in names:
        if parser.has_section(name):
            return dict(parser.items(name))
    return {}


def discover(env: Mapping[str, str], home: Path) -> list[tuple[dict[str, Any], str]]:
    """The `s3/default` table from AWS_* variables, else from the profile in ~/.aws."""
    extra: dict[str, Any] = {}
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        extra["region"] = region
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        extra["endpoint"] = endpoint
    pair = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    if any(env.get(name) for name in pair):
        for given, missing in (pair, pair[::-1]):
            if not env.get(missing):
                raise ConfigError(f"s3/default: {given} is set: set {missing} too")
        table: dict[str, Any] = {
            "access_key_id": env["AWS_ACCESS_KEY_ID"],
            "secret_access_key_env": "AWS_SECRET_ACCESS_KEY",
            **extra,
        }
        names = list(pair)
        if env.get("AWS_SESSION_TOKEN"):
            table["session_token_env"] = "AWS_SESSION_TOKEN"
            names.append("AWS_SESSION_TOKEN")
        return [(table, "environment: " + ", ".join(names))]
    profile = env.get("AWS_PROFILE") or "default"
    credentials = Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials")
    config = Path(env.get("AWS_CONFIG_FILE") or home / ".aws" / "config")
    if not credentials.is_file() and not config.is_file():
        return []
    try:
        found = profile_settings(profile, str(credentials), str(config), "s3/default")
    except ConfigError:
        if env.get("AWS_PROFILE"):  # asked for by name: say it is not there
            raise
        return []  # a config file with settings but no default keys: nothing to mount
    if not found.get("secret_access_key"):
        raise ConfigError(f"s3/default: profile {profile!r} has no aws_secret_access_key")
    table = {"profile": profile, "credentials_file": str(credentials), "config_file": str(config), **extra}
    files = ", ".join(str(p) for p in (credentials, config) if p.is_file())
    return [(table, f"file: {files} (profile {profile})")]
