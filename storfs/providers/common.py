"""Small helpers every provider shares: sizes, endpoints, required settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from storfs.errors import ConfigError

#: The largest size a `struct stat` can hold (a signed 64-bit off_t).
MAX_SIZE = 2**63 - 1


def size_or_zero(value: Any) -> int:
    """A size a server sent, if it is a non-negative integer that fits `st_size`; else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SIZE else 0


def required_string(settings: Mapping[str, Any], key: str, where: str, secret: bool = False) -> str:
    value = settings.get(key)
    if not value:
        hint = f" (or `{key}_env`)" if secret else ""
        raise ConfigError(f"{where}: set `{key}`{hint}")
    if not isinstance(value, str):
        raise ConfigError(f"{where}: `{key}` must be a string")
    return value


def endpoint(value: Any, where: str, key: str, example: str, *, allow_path: bool = False) -> str:
    """`scheme://host[:port]` (plus a path where the service needs one), without a trailing slash."""
    if not isinstance(value, str):
        raise ConfigError(f"{where}: `{key}` must be a string such as {example!r}")
    parts = urlsplit(value.strip())
    bad_path = parts.path.strip("/") and not allow_path
    if parts.scheme not in ("http", "https") or not parts.netloc or bad_path or parts.query or parts.fragment:
        raise ConfigError(f"{where}: `{key}` must look like {example!r}, got {value!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/') if allow_path else ''}"
