"""A local QingStor (native API 2016-01-06) listing server for tests. Standard library only.

Written from the project notes on provider protocols (``providers.md``) section 1 and the API doc pages (seeds 000 and
003). It must never import ``storfs``: it is the independent oracle storfs is tested against.

Served on ``127.0.0.1`` (port 0) by a ``ThreadingHTTPServer`` in a daemon thread, path style only:

* ``GET /``                                   -> GET Service (op ``list_buckets``)
* ``GET /<bucket>?uploads``                   -> List Multipart Uploads (op ``list_uploads``)
* ``GET /<bucket>/<key>?upload_id=<id>``      -> List Multipart, the parts (op ``list_parts``)
* ``GET /<bucket>`` (no ``uploads``)          -> GET Bucket, List Objects (op ``list_objects``)
* ``GET /<bucket>/<key>`` (no ``upload_id``)  -> GET Object, with ``Range`` (op ``get_object``)
* anything else                               -> op ``other``

Order of checks for each request (the first failing check answers):

1. ``fail_next`` queue (injected errors, before anything else);
2. ``Authorization`` missing, not of the form ``QS <akid>:<sig>``, or an unknown key id
   -> 401 ``invalid_access_key_id`` (the doc has no code for anonymous requests; GET Service
   "does not accept anonymous requests" and every bucket here is private, so an unsigned
   request is treated like one with an unknown key);
3. no usable date: ``x-qs-date`` (when present and non-empty) else ``Date``, missing or not in
   the RFC 1123 GMT form ``Sun, 16 Aug 2015 09:05:00 GMT`` -> 400 ``invalid_request`` (the doc
   table has no dedicated code; ``invalid_request`` is its generic "malformed request" 400);
4. signature (providers.md 1.2) -> 401 ``signature_not_matched``; the error message quotes the
   server's string_to_sign (repr) to help debug clients;
5. date more than 15 minutes away from ``clock()`` -> 403 ``request_expired`` (checked after
   the signature, so a ``request_expired`` answer also proves the signature was right);
6. method other than GET/HEAD -> 405 ``method_not_allowed``;
7. the operation itself (400 ``invalid_argument`` / ``invalid_location``, 404 ``*_not_exists``).

Decisions where the docs are silent or ambiguous:

* Canonical resource = the request-target path exactly as on the request line (read from the raw
  request line, so even the ``//`` collapsing of ``http.server`` does not apply; empty -> ``/``)
  plus the sub-resource parameters present, each rendered from its *raw* (still percent-encoded)
  query text as ``name=value``, or bare ``name`` when the value is empty (``uploads`` and
  ``uploads=`` both sign as ``uploads``, like the Go v4 signer), sorted and joined by ``&``.
  Sub-resource names are the union from providers.md 1.2 (including Go-only ``version*``).
* Content-Type / Content-MD5 / x-qs-* headers are taken from what the client sent.
* Query values are decoded like ``parse_qsl`` (so a raw ``+`` means a space, as in Go's
  ``url.Query``); when a parameter is repeated, the first occurrence counts.
* Integer parameters must be plain decimal digits; an empty value is invalid, not "default".
  ``limit`` must be 1..1000 everywhere (GET Service has no documented maximum: 1000 was chosen);
  ``offset`` >= 0; ``part_number_marker`` may be any integer (``-1`` lists from part 0).
* List Multipart (parts) ``limit`` defaults to 1000 (the doc only gives the maximum); ``count``
  is the number of parts on the returned page.
* GET Service ``count`` follows ``count_mode`` ("page" or "total"; the doc just says "bucket
  count"). ``Location`` must match ``^[a-z0-9]+$`` (else 400 ``invalid_location``, also when
  empty); a well-formed zone without buckets gives an empty list.
* List Multipart Uploads: ``upload_id_marker`` is ignored without ``key_marker``; an
  ``upload_id_marker`` that is not an upload of ``key_marker`` skips that key entirely. With a
  delimiter, each common prefix counts as one entry towards ``limit``, and a ``key_marker``
  equal to a common prefix skips the whole group. ``common_prefixes`` is present only when a
  delimiter was given; the spec's ``marker`` echo is not sent (the doc example's
  ``key_marker``/``upload_id_marker`` echoes are).
* ``upload_not_exists`` is answered with 404 (the List Multipart page), not the 400 of the table.
* ``Host`` is ignored (zone hosts and the bare host all reach the same data); virtual-host style
  is not supported. HEAD is routed like GET and answered without a body.
* Other GETs: unknown bucket -> 404 ``bucket_not_exists``, else 404 ``object_not_exists``.
* List Objects, written from the GET Bucket page (``api/bucket/basic_opt/get.md``): ``prefix``,
  ``delimiter``, ``marker``, ``limit``; keys in byte order of their UTF-8 (the page says
  "internal storage order", so clients must not rely on any); each common prefix counts as
  one entry towards ``limit``; ``next_marker`` is the last key or common prefix returned and
  ``marker`` echoes it (the page: "same as next_marker, kept for compatibility"); ``has_more``.
  The page gives a default and maximum of 100 and says larger values are served as the maximum:
  the default is 100 and ``objects_limit_max`` (default 1000, the issue's contract) clamps, never
  rejects. A marker inside a common prefix skips the rest of that group. Items carry ``key``,
  ``size``, ``etag`` (quoted MD5 hex, as documented), ``mime_type``, ``created``, ``modified``
  (epoch seconds), ``encrypted``, ``storage_class``.
* GET Object: the object's bytes, ``ETag`` (quoted), ``Content-Type``, ``Last-Modified``;
  ``Range: bytes=a-b`` / ``a-`` / ``-n`` -> 206 with ``Content-Range``; an unsatisfiable range
  -> 416 ``invalid_range``; ``If-Match`` not matching -> 412 ``precondition_failed`` (codes
  inferred: the error table has no entry for these statuses).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qsl, unquote

ERROR_DOC_URL = "https://docs.qingcloud.com/object_storage/api/error_code.html"
MAX_SKEW_SECONDS = 15 * 60
MAX_LIMIT = 1000

# providers.md 1.2: union of the docs, the Python SDK 2.6.0 and the Go v4 SDK.
SUB_RESOURCES = frozenset(
    {
        "acl",
        "append",
        "cname",
        "cors",
        "delete",
        "image",
        "lifecycle",
        "logging",
        "mirror",
        "notification",
        "part_number",
        "policy",
        "position",
        "replication",
        "stats",
        "upload_id",
        "uploads",
        "versioning",
        "version_id",
        "versions",
        "response-expires",
        "response-cache-control",
        "response-content-type",
        "response-content-language",
        "response-content-encoding",
        "response-content-disposition",
    }
)

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HTTP_DATE_RE = re.compile(
    r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) ("
    + "|".join(_MONTHS)
    + r") (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZONE_RE = re.compile(r"^[a-z0-9]+$")
_DIGITS_RE = re.compile(r"^[0-9]+$")
_SIGNED_INT_RE = re.compile(r"^-?[0-9]+$")
_AUTH_RE = re.compile(r"^QS ([^\s:]+):(\S+)$")
# Default "created" stamps: this base plus one second per seeded item, in seeding order.
_DEFAULT_CREATED_BASE = datetime(2016, 12, 25, 16, 2, 5, tzinfo=UTC)

OPS = ("list_buckets", "list_uploads", "list_parts", "list_objects", "get_object", "other")


def parse_http_date(value: str) -> float | None:
    """Seconds since the epoch for an RFC 1123 GMT date, or None when malformed."""
    m = _HTTP_DATE_RE.match(value.strip())
    if not m:
        return None
    day, mon, year, hh, mm, ss = m.groups()
    try:
        month = _MONTHS.index(mon) + 1
        dt = datetime(int(year), month, int(day), int(hh), int(mm), int(ss), tzinfo=UTC)
    except ValueError:
        return None
    return (dt - _EPOCH).total_seconds()


def format_http_date(ts: float) -> str:
    """RFC 1123 GMT form of a timestamp (works for any year 1..9999)."""
    try:
        dt = _EPOCH + timedelta(seconds=int(ts))
    except OverflowError:
        dt = _EPOCH + timedelta(seconds=int(time.time()))
    return (
        f"{_WEEKDAYS[dt.weekday()]}, {dt.day:02d} {_MONTHS[dt.month - 1]} {dt.year:04d} "
        f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d} GMT"
    )


def _iso_ms(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _created_key(created: str) -> tuple:
    try:
        return (0, datetime.fromisoformat(created).timestamp(), "")
    except ValueError:
        return (1, 0.0, created)


@dataclass
class RecordedRequest:
    method: str
    raw_path: str  # request-target path as received (still percent-encoded), no query
    path: str  # percent-decoded path, no query
    query: list[tuple[str, str]]  # decoded, blank values kept
    headers: dict[str, str]  # lower-cased names
    op: str  # "list_buckets" | "list_uploads" | "list_parts" | "other"
    status: int
    error_code: str | None


@dataclass
class _Bucket:
    name: str
    location: str
    created: str


@dataclass
class _Part:
    part_number: int
    size: int
    created: str
    etag: str


@dataclass
class _Object:
    key: str
    data: bytes
    mime_type: str
    created: str
    storage_class: str
    etag: str
    modified: int


_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass
class _Upload:
    bucket: str
    key: str
    upload_id: str
    created: str
    parts: dict[int, _Part] = field(default_factory=dict)

    def order(self) -> tuple:
        return (self.key, _created_key(self.created), self.upload_id)


class _QSError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls
    server_version = "QingStor"

    def version_string(self) -> str:
        return "QingStor"

    def date_time_string(self, timestamp=None) -> str:
        return format_http_date(self.server.qs._clock())

    def log_message(self, format, *args) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.qs._track_connection(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.qs._track_connection(self.connection, False)

    def __getattr__(self, name: str):
        # Every method (GET, PUT, DELETE, PROPFIND, ...) goes through _dispatch.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _raw_target(self) -> str:
        # self.path has "//" collapsed by http.server; the request line has the exact bytes.
        words = self.requestline.split()
        target = words[1] if len(words) >= 2 else self.path
        for scheme in ("http://", "https://"):  # absolute-form: keep path and query only
            if target.lower().startswith(scheme):
                rest = target[len(scheme) :]
                cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=-1)
                target = rest[cut:] if cut >= 0 else "/"
        return target

    def _dispatch(self) -> None:
        qs: QingStorServer = self.server.qs
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True  # body not drained; do not reuse the connection
        else:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
                self.close_connection = True
            if length > 0:
                self.rfile.read(length)
        status, body, request_id, extra = qs._process(self.command, self._raw_target(), self.headers)
        if qs.delay > 0:
            time.sleep(qs.delay)
        self.send_response(status)
        if "Content-Type" not in extra:
            self.send_header("Content-Type", "application/json")
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-qs-request-id", request_id)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        cut = qs._take_cut(self.command, self.headers, status)
        if self.command != "HEAD":
            self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()
        if cut is not None:
            self.close_connection = True  # the rest of the announced body never comes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    qs: QingStorServer

    def handle_error(self, request, client_address) -> None:
        # A client that timed out or hung up (e.g. while `delay` sleeps) is not an error here.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class QingStorServer:
    """Local QingStor listing server; see the module docstring for the behaviour."""

    def __init__(
        self,
        access_key_id: str = "EXAMPLEAKID0000000001",
        secret_access_key: str = "EXAMPLEsecretKEY0000000000000000000000001",
        *,
        clock: Callable[[], float] = time.time,
    ):
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self._clock = clock
        self.url = ""
        self.port = 0
        self.count_mode = "page"
        self.objects_limit_max = 1000
        self.delay = 0.0
        self.requests: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._buckets: dict[str, _Bucket] = {}
        self._uploads: dict[tuple[str, str], _Upload] = {}
        self._objects: dict[str, dict[str, _Object]] = {}
        self._seq = 0
        self._failures: deque[tuple[int, str, bytes | None]] = deque()
        self._cuts: deque[tuple[int, bool]] = deque()  # (bytes sent, open-ended ranges only)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> QingStorServer:
        if self._httpd is not None:
            return self
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.qs = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
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
        with self._lock:
            conns = list(self._connections)
        for conn in conns:  # unblock handler threads waiting on idle keep-alive connections
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _track_connection(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # ----------------------------------------------------------------- log
    def count(self, op: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if op is None or r.op == op)

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # ----------------------------------------------------------------- seeding
    def _next_created(self) -> str:
        with self._lock:
            self._seq += 1
            return _iso_ms(_DEFAULT_CREATED_BASE + timedelta(seconds=self._seq))

    def add_bucket(self, name: str, location: str = "pek3a", created: str = "2015-07-11T04:45:57Z"):
        with self._lock:
            self._buckets[name] = _Bucket(name, location, created)

    def add_upload(
        self, bucket: str, key: str, upload_id: str | None = None, created: str | None = None
    ) -> str:
        with self._lock:
            if bucket not in self._buckets:
                raise KeyError(f"unknown bucket {bucket!r}: call add_bucket first")
            upload_id = upload_id or uuid.uuid4().hex
            if (bucket, upload_id) in self._uploads:
                raise ValueError(f"duplicate upload id {upload_id!r}")
            created = created or self._next_created()
            self._uploads[(bucket, upload_id)] = _Upload(bucket, key, upload_id, created)
            return upload_id

    def add_part(
        self,
        bucket: str,
        upload_id: str,
        part_number: int,
        size: int,
        etag: str | None = None,
        created: str | None = None,
    ) -> None:
        with self._lock:
            upload = self._uploads.get((bucket, upload_id))
            if upload is None:
                raise KeyError(f"unknown upload {upload_id!r} in bucket {bucket!r}")
            if etag is None:
                etag = hashlib.md5(f"{upload_id}:{part_number}:{size}".encode()).hexdigest()
            created = created or self._next_created()
            upload.parts[int(part_number)] = _Part(int(part_number), int(size), created, etag)

    def add_object(
        self,
        bucket: str,
        key: str,
        data: bytes = b"",
        *,
        mime_type: str = "application/octet-stream",
        storage_class: str = "STANDARD",
        created: str | None = None,
    ) -> None:
        """Store (or replace) object `key`; its ETag is the MD5 of `data`, as for a simple upload."""
        with self._lock:
            if bucket not in self._buckets:
                raise KeyError(f"unknown bucket {bucket!r}: call add_bucket first")
            created = created or self._next_created()
            modified = int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())
            etag = hashlib.md5(data).hexdigest()
            obj = _Object(key, data, mime_type, created, storage_class, etag, modified)
            self._objects.setdefault(bucket, {})[key] = obj

    # ----------------------------------------------------------------- knobs
    def fail_next(
        self, status: int, code: str = "internal_error", times: int = 1, body: bytes | None = None
    ) -> None:
        with self._lock:
            for _ in range(times):
                self._failures.append((status, code, body))

    def cut_next_bodies(self, after: int, times: int = 1, *, open_ended_only: bool = False) -> None:
        """The next `times` successful GET Object answers (with `open_ended_only`, only those of a
        `Range: bytes=<n>-`) announce their whole length but send only `after` bytes of the body,
        then close the connection: a body broken part-way."""
        with self._lock:
            self._cuts.extend([(after, open_ended_only)] * times)

    def stop_cutting(self) -> None:
        with self._lock:
            self._cuts.clear()

    def _take_cut(self, method: str, headers, status: int) -> int | None:
        wanted = (headers.get("Range") or "").strip()
        with self._lock:
            if not self._cuts or method != "GET" or status not in (200, 206) or not wanted:
                return None  # (headers.get is case-insensitive: an email.message.Message)
            after, open_ended_only = self._cuts[0]
            if open_ended_only and not wanted.endswith("-"):
                return None
            self._cuts.popleft()
            return after

    # ----------------------------------------------------------------- signing
    def string_to_sign(self, method: str, target: str, headers) -> str:
        """The QS string_to_sign for a request as received (providers.md 1.2)."""
        raw_path, _, raw_query = target.partition("?")
        date = "" if _header(headers, "x-qs-date") else _header(headers, "date")
        xqs: dict[str, str] = {}
        for name, value in headers.items():
            lname = name.strip().lower()
            if lname.startswith("x-qs-") and lname not in xqs:
                xqs[lname] = _utf8(value).strip()
        canonical_headers = "".join(f"{k}:{xqs[k]}\n" for k in sorted(xqs))
        subs = []
        for piece in raw_query.split("&"):
            name, _, value = piece.partition("=")
            if name in SUB_RESOURCES:
                subs.append(f"{name}={value}" if value else name)
        resource = (raw_path or "/") + ("?" + "&".join(sorted(subs)) if subs else "")
        return (
            f"{method}\n{_header(headers, 'content-md5')}\n{_header(headers, 'content-type')}\n"
            f"{date}\n{canonical_headers}{resource}"
        )

    def _sign(self, string_to_sign: str) -> str:
        mac = hmac.new(self.secret_access_key.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256)
        return base64.b64encode(mac.digest()).decode("ascii")

    def _authenticate(self, method: str, target: str, headers) -> None:
        m = _AUTH_RE.match(_header(headers, "authorization").strip())
        if not m or m.group(1) != self.access_key_id:
            raise _QSError(401, "invalid_access_key_id", "The access key id you provided does not exist.")
        date_text = _header(headers, "x-qs-date") or _header(headers, "date")
        when = parse_http_date(date_text) if date_text else None
        if when is None:
            raise _QSError(400, "invalid_request", "Date or x-qs-date header missing or malformed.")
        sts = self.string_to_sign(method, target, headers)
        if not hmac.compare_digest(m.group(2).encode(), self._sign(sts).encode()):
            raise _QSError(
                401,
                "signature_not_matched",
                f"The signature does not match. Server string_to_sign: {sts!r}",
            )
        if abs(self._clock() - when) > MAX_SKEW_SECONDS:
            raise _QSError(403, "request_expired", "The request date is too far from server time.")

    # ----------------------------------------------------------------- request processing
    def _process(self, method: str, target: str, headers) -> tuple[int, bytes, str, dict[str, str]]:
        request_id = uuid.uuid4().hex
        raw_path, _, raw_query = target.partition("?")
        query = parse_qsl(raw_query, keep_blank_values=True)
        recorded_headers: dict[str, str] = {}
        for name, value in headers.items():
            recorded_headers.setdefault(name.lower(), value)
        op, bucket, key = _route(method, raw_path, query)
        error_code: str | None = None
        extra: dict[str, str] = {}
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
            try:
                if failure is not None:
                    status, error_code, custom = failure
                    if custom is None:
                        custom = _error_body(error_code, "Injected failure.", request_id)
                    body = custom
                else:
                    self._authenticate(method, target, headers)
                    if method not in ("GET", "HEAD"):
                        raise _QSError(405, "method_not_allowed", f"Method {method} not allowed.")
                    status = 200
                    if op == "get_object":
                        status, body, extra = self._get_object(bucket, key, headers)
                    else:
                        body = json.dumps(
                            self._operation(op, bucket, key, query, headers), ensure_ascii=False
                        ).encode("utf-8")
            except _QSError as err:
                status, error_code = err.status, err.code
                body = _error_body(err.code, err.message, request_id)
            self.requests.append(
                RecordedRequest(
                    method=method,
                    raw_path=raw_path,
                    path=unquote(raw_path),
                    query=query,
                    headers=recorded_headers,
                    op=op,
                    status=status,
                    error_code=error_code,
                )
            )
        return status, body, request_id, extra

    def _operation(self, op, bucket, key, query, headers) -> dict:
        params: dict[str, str] = {}
        for name, value in query:
            params.setdefault(name, value)
        if op == "list_buckets":
            return self._list_buckets(params, headers)
        if bucket not in self._buckets:
            raise _QSError(404, "bucket_not_exists", f"The bucket {bucket!r} does not exist.")
        if op == "list_uploads":
            return self._list_uploads(bucket, params)
        if op == "list_parts":
            return self._list_parts(bucket, key, params)
        if op == "list_objects":
            return self._list_objects(bucket, params)
        raise _QSError(404, "object_not_exists", f"The object {key!r} does not exist.")

    def _list_objects(self, bucket: str, params: dict[str, str]) -> dict:
        prefix = params.get("prefix", "")
        delimiter = params.get("delimiter", "")
        marker = params.get("marker", "")
        limit = min(_int_param(params, "limit", 100, 1, None), self.objects_limit_max)
        keys = sorted(self._objects.get(bucket, {}), key=lambda k: k.encode("utf-8"))
        items: list[tuple[str, str]] = []  # ("key" | "prefix", value)
        has_more = False
        for k in keys:
            if not k.startswith(prefix) or (marker and k.encode() <= marker.encode()):
                continue
            entry = ("key", k)
            if delimiter:
                idx = k.find(delimiter, len(prefix))
                if idx >= 0:
                    cp = k[: idx + len(delimiter)]
                    if (marker and marker.startswith(cp)) or (items and items[-1] == ("prefix", cp)):
                        continue
                    entry = ("prefix", cp)
            if len(items) == limit:
                has_more = True
                break
            items.append(entry)
        next_marker = items[-1][1] if has_more else ""
        objects = self._objects.get(bucket, {})
        body = {
            "name": bucket,
            "keys": [_object_item(objects[k]) for kind, k in items if kind == "key"],
            "prefix": prefix,
            "owner": {"id": "usr-fake0001", "name": "storfs-tests"},
            "delimiter": delimiter,
            "limit": limit,
            "marker": next_marker,
            "next_marker": next_marker,
            "has_more": has_more,
        }
        if delimiter:
            body["common_prefixes"] = [cp for kind, cp in items if kind == "prefix"]
        return body

    def _get_object(self, bucket: str, key: str, headers) -> tuple[int, bytes, dict[str, str]]:
        if bucket not in self._buckets:
            raise _QSError(404, "bucket_not_exists", f"The bucket {bucket!r} does not exist.")
        obj = self._objects.get(bucket, {}).get(key)
        if obj is None:
            raise _QSError(404, "object_not_exists", f"The object {key!r} does not exist.")
        etag = f'"{obj.etag}"'
        if_match = headers.get("If-Match")
        if if_match is not None and if_match.strip() not in (etag, obj.etag, "*"):
            raise _QSError(412, "precondition_failed", "If-Match does not match the object's ETag.")
        extra = {
            "Content-Type": obj.mime_type,
            "ETag": etag,
            "Last-Modified": format_http_date(obj.modified),
            "x-qs-storage-class": obj.storage_class,
        }
        size = len(obj.data)
        wanted = headers.get("Range")
        if wanted is None:
            return 200, obj.data, extra
        m = _RANGE_RE.match(wanted.strip())
        if not m or not (m.group(1) or m.group(2)):
            return 200, obj.data, extra  # an unparsable Range is ignored, as HTTP says
        first, last = m.groups()
        if first:
            start, end = int(first), min(size - 1, int(last)) if last else size - 1
        else:
            start, end = max(0, size - int(last)), size - 1
        if start >= size or start > end:
            raise _QSError(416, "invalid_range", f"Range {wanted!r} is outside the object.")
        extra["Content-Range"] = f"bytes {start}-{end}/{size}"
        return 206, obj.data[start : end + 1], extra

    def _list_buckets(self, params: dict[str, str], headers) -> dict:
        location = headers.get("Location")
        if location is not None and not _ZONE_RE.match(location):
            raise _QSError(400, "invalid_location", f"Invalid location {location!r}.")
        offset = _int_param(params, "offset", 0, 0, None)
        limit = _int_param(params, "limit", 200, 1, MAX_LIMIT)
        buckets = sorted(
            (b for b in self._buckets.values() if location is None or b.location == location),
            key=lambda b: b.name,
        )
        page = buckets[offset : offset + limit]
        return {
            "count": len(page) if self.count_mode == "page" else len(buckets),
            "buckets": [
                {
                    "name": b.name,
                    "location": b.location,
                    "url": f"https://{b.name}.{b.location}.qingstor.com",
                    "created": b.created,
                }
                for b in page
            ],
        }

    def _list_uploads(self, bucket: str, params: dict[str, str]) -> dict:
        prefix = params.get("prefix", "")
        delimiter = params.get("delimiter", "")
        key_marker = params.get("key_marker", "")
        upload_id_marker = params.get("upload_id_marker", "")
        limit = _int_param(params, "limit", 200, 1, MAX_LIMIT)
        uploads = sorted((u for u in self._uploads.values() if u.bucket == bucket), key=_Upload.order)
        marker_order = None
        if key_marker and upload_id_marker:
            marker = self._uploads.get((bucket, upload_id_marker))
            if marker is not None and marker.key == key_marker:
                marker_order = marker.order()
        items: list[tuple[str, object]] = []
        has_more = False
        for u in uploads:
            if key_marker:
                if u.key < key_marker:
                    continue
                if u.key == key_marker and (marker_order is None or u.order() <= marker_order):
                    continue
            if not u.key.startswith(prefix):
                continue
            entry: tuple[str, object] = ("upload", u)
            if delimiter:
                idx = u.key.find(delimiter, len(prefix))
                if idx >= 0:
                    cp = u.key[: idx + len(delimiter)]
                    if (key_marker and cp <= key_marker) or (items and items[-1] == ("prefix", cp)):
                        continue
                    entry = ("prefix", cp)
            if len(items) == limit:
                has_more = True
                break
            items.append(entry)
        next_key = next_id = ""
        if has_more:
            kind, last = items[-1]
            if kind == "upload":
                next_key, next_id = last.key, last.upload_id
            else:
                next_key = last
        body = {
            "name": bucket,
            "prefix": prefix,
            "delimiter": delimiter,
            "limit": limit,
            "key_marker": key_marker,
            "upload_id_marker": upload_id_marker,
            "uploads": [
                {"key": u.key, "upload_id": u.upload_id, "created": u.created}
                for kind, u in items
                if kind == "upload"
            ],
            "next_key_marker": next_key,
            "next_upload_id_marker": next_id,
            "has_more": has_more,
        }
        if delimiter:
            body["common_prefixes"] = [cp for kind, cp in items if kind == "prefix"]
        return body

    def _list_parts(self, bucket: str, key: str, params: dict[str, str]) -> dict:
        marker = _int_param(params, "part_number_marker", None, None, None, signed=True)
        limit = _int_param(params, "limit", MAX_LIMIT, 1, MAX_LIMIT)
        upload = self._uploads.get((bucket, params.get("upload_id", "")))
        if upload is None or upload.key != key:
            raise _QSError(404, "upload_not_exists", "The upload id does not exist.")
        numbers = sorted(n for n in upload.parts if marker is None or n > marker)
        parts = [upload.parts[n] for n in numbers[:limit]]
        return {
            "count": len(parts),
            "object_parts": [
                {"part_number": p.part_number, "size": p.size, "created": p.created, "etag": p.etag}
                for p in parts
            ],
        }


def _object_item(obj: _Object) -> dict:
    return {
        "key": obj.key,
        "size": len(obj.data),
        "etag": f'"{obj.etag}"',
        "mime_type": obj.mime_type,
        "created": obj.created,
        "modified": obj.modified,
        "encrypted": False,
        "storage_class": obj.storage_class,
    }


def _header(headers, name: str) -> str:
    value = headers.get(name)
    return "" if value is None else _utf8(value)


def _utf8(value: str) -> str:
    # http.server decodes header bytes as latin-1; clients sign UTF-8 text.
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _route(method: str, raw_path: str, query: list[tuple[str, str]]) -> tuple[str, str, str]:
    """(op, bucket, key) from the raw path; op is "other" for non-GET/HEAD methods."""
    names = {name for name, _ in query}
    if raw_path in ("", "/"):
        op, bucket, key = "list_buckets", "", ""
    elif not raw_path.startswith("/"):
        op, bucket, key = "other", "", ""
    else:
        bucket_raw, _, key_raw = raw_path[1:].partition("/")
        bucket, key = unquote(bucket_raw), unquote(key_raw)
        if key_raw == "":
            op = "list_uploads" if "uploads" in names else "list_objects"
        else:
            op = "list_parts" if "upload_id" in names else "get_object"
    if method not in ("GET", "HEAD"):
        op = "other"
    return op, bucket, key


def _int_param(params, name, default, lo, hi, *, signed: bool = False):
    if name not in params:
        return default
    text = params[name]
    if not (_SIGNED_INT_RE if signed else _DIGITS_RE).match(text):
        raise _QSError(400, "invalid_argument", f"Invalid value for {name}: {text!r}.")
    value = int(text)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _QSError(400, "invalid_argument", f"Value of {name} out of range: {value}.")
    return value


def _error_body(code: str, message: str, request_id: str) -> bytes:
    return json.dumps(
        {"code": code, "message": message, "request_id": request_id, "url": ERROR_DOC_URL}
    ).encode("utf-8")


__all__ = [
    "OPS",
    "SUB_RESOURCES",
    "QingStorServer",
    "RecordedRequest",
    "format_http_date",
    "parse_http_date",
]
