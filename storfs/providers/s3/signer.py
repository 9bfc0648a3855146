"""AWS Signature Version 4 (S3 flavour) over the request exactly as it is sent.

The string to sign is a pure function of the method, the URL, the headers and the time; the
`requests` auth object only adds the headers and the `Authorization` line.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from urllib.parse import quote, unquote, urlsplit

import requests

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "s3"
#: The SHA-256 of an empty body: every request storfs sends is a body-less GET.
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#: Headers a signature covers when present (host and the x-amz-* ones always are).
_SIGNED_PLAIN = frozenset({"host", "content-md5", "content-type", "range"})


def amz_date(timestamp: float) -> str:
    """`20130524T000000Z` for a POSIX time."""
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def uri_encode(text: str, *, keep_slash: bool = False) -> str:
    """RFC 3986 percent-encoding as SigV4 wants it: only `A-Za-z0-9-_.~` stay as they are."""
    return quote(text, safe="/~" if keep_slash else "~")


def canonical_query(query: str) -> str:
    """Each name and value percent-decoded once, encoded as SigV4 wants, sorted, joined by `&`.

    A bare flag (`?uploads`) signs as `uploads=`. `+` is taken literally (S3 does not read it as a
    space), so a client must send spaces as `%20`.
    """
    pairs = []
    for item in query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((uri_encode(unquote(name)), uri_encode(unquote(value))))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def host_header(url: str) -> str:
    """The Host a client sends for `url`: lower-case, without the scheme's default port."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def signed_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The (lower-case name, trimmed value) pairs a signature covers, sorted by name."""
    chosen: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in _SIGNED_PLAIN or lowered.startswith("x-amz-"):
            chosen[lowered] = " ".join(str(value).split())
    return sorted(chosen.items())


def canonical_request(method: str, url: str, headers: Mapping[str, str]) -> str:
    """The canonical request for a URL whose path is already percent-encoded once (as S3 wants).

    The path is signed as it is sent: S3 neither normalises `.`/`..` segments nor double-encodes.
    """
    parts = urlsplit(url)
    pairs = signed_headers(headers)
    payload = dict(pairs).get("x-amz-content-sha256", EMPTY_SHA256)
    return "\n".join(
        [
            method.upper(),
            parts.path or "/",
            canonical_query(parts.query),
            "".join(f"{name}:{value}\n" for name, value in pairs),
            ";".join(name for name, _ in pairs),
            payload,
        ]
    )


def scope(date: str, region: str, service: str = SERVICE) -> str:
    """`20130524/us-east-1/s3/aws4_request`."""
    return f"{date[:8]}/{region}/{service}/aws4_request"


def string_to_sign(
    method: str, url: str, headers: Mapping[str, str], region: str, service: str = SERVICE
) -> str:
    """What the signature covers; `headers` must hold `x-amz-date` (and `host`)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    date = lowered["x-amz-date"]
    digest = hashlib.sha256(canonical_request(method, url, headers).encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{date}\n{scope(date, region, service)}\n{digest}"


def signing_key(secret: str, date: str, region: str, service: str = SERVICE) -> bytes:
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def signature(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


class SigV4Auth(requests.auth.AuthBase):
    """Adds `Host`, `x-amz-date`, `x-amz-content-sha256` (and the session token) and signs.

    One object per region; signing keys are derived once a day and region.
    """

    def __init__(
        self,
        access_key_id: str,
        secret: str,
        region: str,
        *,
        session_token: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.access_key_id = access_key_id
        self.region = region
        self._secret = secret
        self._session_token = session_token
        self._clock = clock
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def for_region(self, region: str) -> SigV4Auth:
        """The same credentials, signing for another region."""
        if region == self.region:
            return self
        return SigV4Auth(
            self.access_key_id, self._secret, region, session_token=self._session_token, clock=self._clock
        )

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = request.url or ""
        date = amz_date(self._clock())
        request.headers["Host"] = host_header(url)
        request.headers["x-amz-date"] = date
        request.headers["x-amz-content-sha256"] = EMPTY_SHA256
        if self._session_token:
            request.headers["x-amz-security-token"] = self._session_token
        method = request.method or "GET"
        message = string_to_sign(method, url, request.headers, self.region)
        names = ";".join(name for name, _ in signed_headers(request.headers))
        request.headers["Authorization"] = (
            f"{ALGORITHM} Credential={self.access_key_id}/{scope(date, self.region)}, "
            f"SignedHeaders={names}, Signature={signature(self._key(date), message)}"
        )
        return request

    def _key(self, date: str) -> bytes:
        with self._lock:
            key = self._keys.get(date[:8])
            if key is None:
                key = signing_key(self._secret, date, self.region)
                self._keys = {date[:8]: key}
            return key

    def __repr__(self) -> str:
        return f"SigV4Auth({self.access_key_id!r}, {self.region!r})"
