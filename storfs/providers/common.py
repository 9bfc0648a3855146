"""Small helpers every provider shares: sizes, endpoints, required settings."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from storfs.errors import (
    AccessDenied,
    BadResponse,
    ChangedSinceListing,
    ConfigError,
    NotFound,
    RemoteError,
    StorfsError,
)
from storfs.untrusted import server_text

#: The largest size a `struct stat` can hold (a signed 64-bit off_t).
MAX_SIZE = 2**63 - 1


def sent_size(value: Any, what: str, field: str) -> int:
    """The size a server sent in `field`, 0 if it sent none; BadResponse if what it sent is not a
    non-negative integer that fits `st_size` (a size made up instead would make `du` lie)."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SIZE:
        return value
    raise BadResponse(f"{what} answered a `{field}` that is not a size: {server_text(value, 64)}")


def decimal(text: str) -> int | str:
    """The number a decimal text writes, else the text itself (for `sent_size` to refuse)."""
    return int(text) if text.isascii() and text.isdigit() else text


def sent_time(value: Any, parse: Callable[[str], int | None], what: str, field: str) -> int:
    """The time a server sent in `field` as nanoseconds, 0 if it sent none; BadResponse if what it
    sent is not a time `parse` reads (a date made up instead would make `find -mtime` lie)."""
    if value is None:
        return 0
    ns = parse(value) if isinstance(value, str) else None
    if ns is None:
        raise BadResponse(f"{what} answered a `{field}` that is not a time: {server_text(value, 64)}")
    return ns


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


#: Keys credential fingerprints: a fixed label, so equal secrets give equal fingerprints anywhere.
_FINGERPRINT_LABEL = b"storfs credential fingerprint v1"


def credential_fingerprint(secret: str) -> str:
    """HMAC-SHA256 of `secret` keyed by a fixed storfs label (hex): names a credential, reveals none."""
    return hmac.new(_FINGERPRINT_LABEL, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


#: What an HTTP status alone means, for every provider.
STATUS_ERRORS: Mapping[int, type[StorfsError]] = {
    401: AccessDenied,
    403: AccessDenied,
    404: NotFound,
    412: ChangedSinceListing,  # only reads send If-Match (the ETag listed): the object changed since
}


@dataclass(frozen=True)
class ErrorTable:
    """Which error a service's error answer means, as data: its error code first; a body without
    a code by `codeless`, then by `statuses`; anything else is EIO (RemoteError). The message
    holds the status and the code (escaped and capped: it is the server's text), never its prose.
    """

    codes: Mapping[str, type[StorfsError]] = field(default_factory=dict)
    statuses: Mapping[int, type[StorfsError]] = field(default_factory=lambda: STATUS_ERRORS)
    codeless: Mapping[int, type[StorfsError]] = field(default_factory=dict)

    def error(self, status: int, code: str | None) -> StorfsError:
        kind = self.codes.get(code) if code else self.codeless.get(status)
        if kind is None:
            kind = self.statuses.get(status, RemoteError)
        return kind(f"HTTP {status} {server_text(code or '') or 'no error code'}")
