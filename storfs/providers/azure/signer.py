"""Azure Storage SharedKey signing (Blob service, version 2009-09-19 and later) and SAS tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from email.utils import formatdate
from urllib.parse import parse_qsl, urlsplit

import requests

# The standard headers in string-to-sign order, after the verb.
_STANDARD_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)
_WHITESPACE = re.compile(r"\s+")


def string_to_sign(method: str, url: str, headers: Mapping[str, str], account: str) -> str:
    """The SharedKey string-to-sign for a request exactly as it will be sent."""
    lowered = {name.lower(): value for name, value in headers.items()}
    lines = [method.upper()]
    for name in _STANDARD_HEADERS:
        value = lowered.get(name, "")
        if name == "content-length" and value == "0":
            value = ""  # since 2015-02-21 a zero length is signed as empty
        if name == "date" and "x-ms-date" in lowered:
            value = ""
        lines.append(value)
    canonical_headers = "".join(
        f"{name}:{_WHITESPACE.sub(' ', lowered[name].strip())}\n"
        for name in sorted(n for n in lowered if n.startswith("x-ms-"))
    )
    return "\n".join(lines) + "\n" + canonical_headers + canonical_resource(url, account)


def canonical_resource(url: str, account: str) -> str:
    """`/<account><path as sent>` followed by one `\\nname:value` line per query parameter."""
    parts = urlsplit(url)
    resource = f"/{account}{parts.path or '/'}"
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        params.setdefault(name.lower(), []).append(value)
    for name in sorted(params):
        resource += f"\n{name}:{','.join(sorted(params[name]))}"
    return resource


def sign(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class SharedKeyAuth(requests.auth.AuthBase):
    """Signs each request with `Authorization: SharedKey <account>:<signature>`."""

    def __init__(self, account: str, key: str, clock: Callable[[], float] = time.time) -> None:
        self.account = account
        self._key = base64.b64decode(key)
        self._clock = clock

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if "x-ms-date" not in request.headers and "Date" not in request.headers:
            request.headers["x-ms-date"] = formatdate(self._clock(), usegmt=True)
        message = string_to_sign(request.method or "GET", request.url or "", request.headers, self.account)
        request.headers["Authorization"] = f"SharedKey {self.account}:{sign(self._key, message)}"
        return request

    def __repr__(self) -> str:  # never show the key
        return f"SharedKeyAuth({self.account!r})"


class SasAuth(requests.auth.AuthBase):
    """Appends a shared access signature token to the query of each request."""

    def __init__(self, token: str) -> None:
        self._token = token.lstrip("?")

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = request.url or ""
        request.url = url + ("&" if "?" in url else "?") + self._token
        return request

    def __repr__(self) -> str:
        return "SasAuth(<token>)"
