"""A local fake of the Aliyun OAS (Open Archive Service) ListVaults API, for tests.

Written from docs/providers.md section 2 (and seed 001, the ListVaults doc page) only; it
imports nothing from ``storfs``. Stdlib only; it listens on 127.0.0.1 with an OS-chosen port.

Order of checks for each request (the first failing one answers):

1. an error queued with :meth:`OASServer.fail_next` (applies to any request, even a POST);
2. method: anything but GET/HEAD -> 405 ``MethodNotAllowed``;
3. ``x-oas-version`` missing or not ``2014-01-01`` -> 400 ``InvalidArgument``;
4. ``Date`` missing, not RFC 1123 (``Tue, 25 Mar 2014 12:00:00 GMT``) or more than 15 minutes
   away from ``clock()`` -> 403 ``RequestTimeTooSkewed``;
5. ``Authorization`` missing or malformed -> 403 ``SignatureDoesNotMatch``; unknown AccessKeyId
   -> 403 ``InvalidAccessKeyId``; wrong signature -> 403 ``SignatureDoesNotMatch``;
6. path other than ``/vaults`` -> 404 ``ResourceNotFound``;
7. ``limit`` not a decimal integer >= 1, or ``limit``/``marker`` given twice -> 400
   ``InvalidArgument``.

ASSUMPTIONS (the docs give no list of error codes; only the HTTP status 403 for bad signatures
and clock skew > 15 min is documented): every error code above, the 400 status for a bad
version or limit, the check order, and the 405/404 statuses are our choices. Also assumed:
an unknown ``marker`` returns the vaults whose VaultId >= marker (string order); an empty
``marker`` means "from the start"; unknown query parameters are signed (they are part of the
URI) and otherwise ignored; the canonical
resource is the request's path and query as sent, percent-decoded (see `canonical_resource`).

Error bodies are JSON ``{"code", "message", "type"}`` with ``type`` ``"client"`` for 4xx and
``"server"`` for 5xx, plus the ``x-oas-request-id`` header (providers.md 2.6).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import json
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

API_VERSION = "2014-01-01"
MAX_SKEW_SECONDS = 15 * 60
DEFAULT_LIMIT = 10
MAX_LIMIT = 10

_RFC1123_RE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT"
)


def canonical_resource(target: str) -> str:
    """The CanonicalizedResource of a request target, as the docs define it: the URI asked for.

    The help page ("用户签名计算", providers.md 2.3 [doc]) says only that the resource is the URI
    the request asks for; seed 001's examples write it `GET /vaults?limit=2&marker=FDD2...`. So
    this is the target's path and query exactly as they arrive, in their order, every parameter
    included, percent-decoded (assumption: the docs show no encoded character). Nothing here is
    taken from a client's rule: the official SDK signs a sorted whitelist of parameters instead,
    which agrees with this on every documented example and on a query sent sorted and unencoded
    (providers.md 2.3); a request whose wire order differs from its signed order is refused.
    """
    split = urllib.parse.urlsplit(target)
    path = urllib.parse.unquote(split.path)
    return f"{path}?{urllib.parse.unquote(split.query)}" if split.query else path


def canonical_oas_headers(headers: list[tuple[str, str]]) -> str:
    """CanonicalizedOASHeaders: ``x-oas-*`` headers, name lower-cased, value as is, sorted."""
    lines = sorted((k.lower(), v) for k, v in headers if k.lower().startswith("x-oas-"))
    return "".join(f"{k}:{v}\n" for k, v in lines)


def compute_signature(
    secret: str, verb: str, date: str, headers: list[tuple[str, str]], resource: str
) -> str:
    string_to_sign = f"{verb}\n{date}\n{canonical_oas_headers(headers)}{resource}"
    digest = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@dataclass
class RecordedRequest:
    method: str
    raw_path: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    op: str  # "list_vaults" | "other"
    status: int
    error_code: str | None


@dataclass
class _Vault:
    vault_id: str
    name: str
    creation_date: str | None
    last_inventory_date: str | None
    number_of_archives: int
    size_in_bytes: int

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"CreationDate": self.creation_date}
        if self.last_inventory_date is not None:
            out["LastInventoryDate"] = self.last_inventory_date
        out["NumberOfArchives"] = self.number_of_archives
        out["SizeInBytes"] = self.size_in_bytes
        out["VaultId"] = self.vault_id
        out["VaultName"] = self.name
        return out


@dataclass
class _Failure:
    status: int
    code: str
    times: int
    body: bytes | None


class _OASError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class OASServer:
    """Fake OAS endpoint serving ``GET /vaults`` (ListVaults). See the module docstring."""

    def __init__(
        self,
        access_key_id: str = "EXAMPLEOASACCESSKEY01",
        access_key_secret: str = "EXAMPLEoasSECRETkey0000000000001",
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.clock = clock
        self.delay: float = 0.0
        self.requests: list[RecordedRequest] = []
        self._vaults: dict[str, _Vault] = {}
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._id_counter = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("OASServer not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"oas": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls -----------------------------------------------------------------------

    def count(self, op: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if op is None or r.op == op)

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def add_vault(
        self,
        name: str,
        *,
        vault_id: str | None = None,
        creation_date: str | None = "Tue, 18 Mar 2014 22:06:47 GMT",
        last_inventory_date: str | None = "Tue, 18 Mar 2014 12:00:00 GMT",
        number_of_archives: int = 0,
        size_in_bytes: int = 0,
    ) -> str:
        """Add a vault; dates are stored and served verbatim (None omits LastInventoryDate).

        Returns the VaultId: ``vault_id`` as given, or 32 uppercase hex derived from the name
        and a counter (deterministic, unique within this server).
        """
        with self._lock:
            if vault_id is None:
                while True:
                    self._id_counter += 1
                    seed = f"{name}\0{self._id_counter}".encode()
                    vault_id = hashlib.md5(seed).hexdigest().upper()
                    if vault_id not in self._vaults:
                        break
            elif vault_id in self._vaults:
                raise ValueError(f"duplicate VaultId {vault_id}")
            self._vaults[vault_id] = _Vault(
                vault_id,
                name,
                creation_date,
                last_inventory_date,
                number_of_archives,
                size_in_bytes,
            )
            return vault_id

    def fail_next(
        self, status: int, code: str = "InternalError", times: int = 1, body: bytes | None = None
    ) -> None:
        """Answer the next ``times`` requests (any method/path) with ``status`` and an error
        body for ``code`` (or ``body`` verbatim if given), before any other check."""
        with self._lock:
            self._failures.append(_Failure(status, code, times, body))

    # -- internals used by the handler -------------------------------------------------------

    def _take_failure(self) -> _Failure | None:
        with self._lock:
            while self._failures:
                f = self._failures[0]
                if f.times <= 0:
                    self._failures.pop(0)
                    continue
                f.times -= 1
                if f.times == 0:
                    self._failures.pop(0)
                return f
            return None

    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(rec)

    def _sorted_vaults(self) -> list[_Vault]:
        with self._lock:
            return [self._vaults[k] for k in sorted(self._vaults)]

    def _check_auth(self, method: str, target: str, header_items, headers) -> None:
        version = headers.get("x-oas-version")
        if version != API_VERSION:
            raise _OASError(400, "InvalidArgument", f"x-oas-version must be {API_VERSION}, got {version!r}")
        date = headers.get("date")
        if date is None or not _RFC1123_RE.fullmatch(date):
            raise _OASError(403, "RequestTimeTooSkewed", "missing or malformed Date header")
        when = email.utils.parsedate_to_datetime(date).timestamp()
        if abs(when - self.clock()) > MAX_SKEW_SECONDS:
            raise _OASError(403, "RequestTimeTooSkewed", "request time too skewed (> 15 min)")
        auth = headers.get("authorization")
        if auth is None or not auth.startswith("OAS "):
            raise _OASError(403, "SignatureDoesNotMatch", "missing or malformed Authorization")
        key_id, sep, signature = auth[4:].partition(":")
        if not sep:
            raise _OASError(403, "SignatureDoesNotMatch", "malformed Authorization")
        if key_id != self.access_key_id:
            raise _OASError(403, "InvalidAccessKeyId", "unknown AccessKeyId")
        expected = compute_signature(
            self.access_key_secret, method, date, header_items, canonical_resource(target)
        )
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise _OASError(403, "SignatureDoesNotMatch", "signature does not match")

    def _list_vaults(self, query: list[tuple[str, str]]) -> dict[str, object]:
        params: dict[str, str] = {}
        for k, v in query:
            if k in ("limit", "marker"):
                if k in params:
                    raise _OASError(400, "InvalidArgument", f"duplicate parameter {k}")
                params[k] = v
        limit = DEFAULT_LIMIT
        if "limit" in params:
            raw = params["limit"]
            if not re.fullmatch(r"[0-9]+", raw) or int(raw) < 1:
                raise _OASError(400, "InvalidArgument", f"invalid limit {raw!r}")
            limit = min(int(raw), MAX_LIMIT)
        vaults = self._sorted_vaults()
        marker = params.get("marker", "")
        if marker:
            # marker = VaultId of the first vault to return (inclusive); an unknown marker
            # starts at the first VaultId >= marker (assumption).
            vaults = [v for v in vaults if v.vault_id >= marker]
        page, rest = vaults[:limit], vaults[limit:]
        return {
            "Marker": rest[0].vault_id if rest else "",
            "VaultList": [v.to_json() for v in page],
        }

    def _handle(self, h: _Handler) -> None:
        method = h.command
        raw_path = h.path
        split = urllib.parse.urlsplit(raw_path)
        path = urllib.parse.unquote(split.path)
        query = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
        header_items = list(h.headers.items())
        headers = {k.lower(): v for k, v in header_items}
        is_list = method in ("GET", "HEAD") and path == "/vaults"
        op = "list_vaults" if is_list else "other"
        h.drain_body()

        status = 200
        code: str | None = None
        extra: dict[str, str] = {}
        failure = self._take_failure()
        try:
            if failure is not None:
                raise _OASError(failure.status, failure.code, "injected failure")
            if method not in ("GET", "HEAD"):
                extra["Allow"] = "GET, HEAD"
                raise _OASError(405, "MethodNotAllowed", f"method {method} not allowed")
            self._check_auth(method, raw_path, header_items, headers)
            if path != "/vaults":
                raise _OASError(404, "ResourceNotFound", f"no such resource {path}")
            body = json.dumps(self._list_vaults(query), indent=4).encode()
        except _OASError as e:
            status, code = e.status, e.code
            if failure is not None and failure.body is not None:
                body = failure.body
            else:
                err = {
                    "code": e.code,
                    "message": e.message,
                    "type": "server" if e.status >= 500 else "client",
                }
                body = json.dumps(err).encode()

        self._record(RecordedRequest(method, raw_path, path, query, headers, op, status, code))
        if self.delay > 0:
            time.sleep(self.delay)
        h.send_response(status)
        h.send_header("x-oas-request-id", uuid.uuid4().hex.upper())
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        for k, v in extra.items():
            h.send_header(k, v)
        h.end_headers()
        if method != "HEAD":
            h.wfile.write(body)


class _Handler(BaseHTTPRequestHandler):
    oas: OASServer  # set on a per-server subclass
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls
    server_version = "FakeOAS/1.0"

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self.oas._handle(self)

    def __getattr__(self, name: str):
        # Route every other method (POST, PUT, DELETE, PROPFIND...) to the same handler so it
        # is recorded and answered 405 instead of http.server's default 501.
        if name.startswith("do_"):
            return self.do_GET
        raise AttributeError(name)

    def drain_body(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            return
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > 0:
            self.rfile.read(int(length))

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date response header follows the server's (possibly fake) clock.
        when = self.oas.clock() if timestamp is None else timestamp
        return email.utils.formatdate(when, usegmt=True)

    def log_message(self, format: str, *args: object) -> None:
        pass
