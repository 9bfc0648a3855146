"""QingStor "QS" header signature (API 2016-01-06): HMAC-SHA256 over the request as sent."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from email.utils import formatdate
from urllib.parse import urlsplit

import requests

#: Query parameters that are signed; every other one (limit, offset, markers...) is a plain filter.
SUB_RESOURCES = frozenset(
    {
        "acl", "append", "cname", "cors", "delete", "image", "lifecycle", "logging", "mirror",
        "notification", "part_number", "policy", "position", "replication", "stats", "upload_id",
        "uploads", "response-expires", "response-cache-control", "response-content-type",
        "response-content-language", "response-content-encoding", "response-content-disposition",
        "versioning", "version_id", "versions",
    }
)  # fmt: skip


def string_to_sign(method: str, url: str, headers: Mapping[str, str]) -> str:
    """The string a QS signature covers, for a path-style request exactly as it is sent."""
    lowered = {name.lower(): value for name, value in headers.items()}
    qs_headers = sorted((n, v.strip()) for n, v in lowered.items() if n.startswith("x-qs-"))
    date = "" if "x-qs-date" in lowered else lowered.get("date", "")
    lines = [method.upper(), lowered.get("content-md5", ""), lowered.get("content-type", ""), date]
    signed_headers = "".join(f"{name}:{value}\n" for name, value in qs_headers)
    return "\n".join(lines) + "\n" + signed_headers + canonical_resource(url)


def canonical_resource(url: str) -> str:
    """The path as sent (still percent-encoded) plus the sub-resources, sorted, as sent."""
    parts = urlsplit(url)
    resource = parts.path or "/"
    signed = sorted(
        param for param in parts.query.split("&") if param and param.partition("=")[0] in SUB_RESOURCES
    )
    return resource + ("?" + "&".join(signed) if signed else "")


def sign(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class QSAuth(requests.auth.AuthBase):
    """Adds `Date` (if the request has no date) and `Authorization: QS <key id>:<signature>`."""

    def __init__(self, access_key_id: str, secret: str, clock: Callable[[], float] = time.time) -> None:
        self.access_key_id = access_key_id
        self._secret = secret
        self._clock = clock

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if "Date" not in request.headers and "x-qs-date" not in request.headers:
            request.headers["Date"] = formatdate(self._clock(), usegmt=True)
        message = string_to_sign(request.method or "GET", request.url or "", request.headers)
        request.headers["Authorization"] = f"QS {self.access_key_id}:{sign(self._secret, message)}"
        return request

    def __repr__(self) -> str:
        return f"QSAuth({self.access_key_id!r})"
