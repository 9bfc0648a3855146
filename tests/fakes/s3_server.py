"""A strict local S3 listing server for tests. Standard library only; never imports ``storfs``.

Written from the AWS documentation (SigV4 "Create a canonical request" / "Authenticating
requests: using the Authorization header", ListBuckets, ListObjectsV2, ListMultipartUploads,
ListParts and the S3 error table) and providers.md section 4. It proves what moto cannot:
signatures (moto accepts any), ListBuckets continuation paging and ``max-uploads`` (moto
ignores them), regions (moto answers every region alike).

Served on ``127.0.0.1`` (port 0), path style; with ``virtual_host`` set (say ``s3.localhost``), a
request whose ``Host`` is ``<bucket>.s3.localhost[:port]`` names its bucket there instead
(virtual-host addressing: the path is then only the key). ``Host`` is otherwise checked only as
a signed header. Each request records the ``Host`` it came with:

* ``GET /``                                  -> ListBuckets (op ``list_buckets``)
* ``GET /<b>?list-type=2``                   -> ListObjectsV2 (op ``list_objects``)
* ``GET /<b>?uploads``                       -> ListMultipartUploads (op ``list_uploads``)
* ``GET /<b>/<key>?uploadId=<id>``           -> ListParts (op ``list_parts``)
* anything else                              -> op ``other``

Checks, in this order (the first failing one answers, always with an XML ``<Error>`` body):

1. ``fail_next`` queue;
2. ``Authorization`` missing -> 403 ``AccessDenied``; not ``AWS4-HMAC-SHA256 Credential=...,
   SignedHeaders=..., Signature=...`` -> 400 ``AuthorizationHeaderMalformed``; unknown key id ->
   403 ``InvalidAccessKeyId``; scope not ``<date>/<region>/s3/aws4_request`` or its date not
   the ``x-amz-date`` day -> 400 ``AuthorizationHeaderMalformed``;
3. ``host``, ``x-amz-date`` and ``x-amz-content-sha256`` must be signed -> 403 ``AccessDenied``;
4. the signature, recomputed here from the request line and headers as received -> 403
   ``SignatureDoesNotMatch`` (the body quotes the server's canonical request, as S3 does);
5. ``x-amz-date`` more than 15 minutes from ``clock()`` -> 403 ``RequestTimeTooSkewed``;
6. a session token configured on the server: ``x-amz-security-token`` must be signed and equal
   -> 403 ``InvalidToken``;
7. a bucket-level request signed for a region that is not the bucket's -> 400
   ``AuthorizationHeaderMalformed`` with ``<Region>`` and ``x-amz-bucket-region`` (S3's answer on
   the right host); with ``redirect_mode = "301"``: 301 ``PermanentRedirect`` instead;
8. method other than GET/HEAD -> 405 ``MethodNotAllowed``;
9. the operation (400 ``InvalidArgument``, 404 ``NoSuchBucket`` / ``NoSuchUpload`` / ``NoSuchKey``).

Canonical request, as the documentation defines it: the URI path percent-decoded once and each
byte outside ``A-Za-z0-9-_.~/`` encoded (uppercase hex), never normalised (``.``/``..`` stay); the
query split on ``&``, each name and value decoded once and encoded the same way (``/`` too),
sorted by name then value, a bare name as ``name=``; signed headers lower-cased, values trimmed
with inner whitespace runs folded to one space, sorted; the payload hash as sent in
``x-amz-content-sha256``.

Paging, where the documentation leaves freedom:

* ListBuckets filters by ``prefix``; it pages only when ``max-buckets`` or ``continuation-token`` is given (1..10000,
  default 10000 then); the token is opaque (the last name, base64). ``buckets_paging``:
  ``"aws"`` (default), ``"refuse"`` (any paging parameter -> 400 ``InvalidArgument``, an
  S3-compatible store without it), ``"silent"`` (honours ``max-buckets`` but never sends a token:
  moto's behaviour). Every bucket's ``BucketRegion`` is sent unless ``send_regions`` is false.
* ListObjectsV2: ``max-keys`` 0..1000 (more is clamped to 1000, as S3 does); a common prefix
  counts as one key; ``NextContinuationToken`` is opaque; ``start-after`` honoured.
* ListMultipartUploads ``max-uploads`` 1..1000 (more clamped); sorted by key then initiation.
* ListParts ``max-parts`` 1..1000; ``part-number-marker`` is a part number (the next part is the
  first with a larger number); ``NextPartNumberMarker`` is the last number on the page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

ACCESS_KEY_ID = "AKIDSTRICTEXAMPLE0001"
SECRET = "strictSecretExampleKey000000000000000001"
MAX_SKEW = 15 * 60
NS = "http://s3.amazonaws.com/doc/2006-03-01/"
OWNER = "<Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID><DisplayName>storfs-tests</DisplayName></Owner>"
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^/,\s]+)/([^,\s]+),\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$"
)
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def encode(text: str, keep_slash: bool) -> str:
    # RFC 3986 unreserved characters stay; everything else is %XX of its UTF-8 bytes.
    return quote(text.encode("utf-8"), safe="-_.~" + ("/" if keep_slash else ""))


@dataclass
class Bucket:
    name: str
    region: str
    created: float
    objects: dict[str, tuple[int, float, str]] = field(default_factory=dict)  # key -> size, mtime, etag


@dataclass
class Upload:
    bucket: str
    key: str
    upload_id: str
    initiated: float
    parts: dict[int, tuple[int, float, str]] = field(default_factory=dict)  # number -> size, mtime, etag


@dataclass
class Recorded:
    method: str
    path: str  # raw, without the query
    query: list[tuple[str, str]]  # decoded
    op: str
    status: int
    code: str
    region: str  # the region the request was signed for
    host: str = ""  # the Host header as received


class S3Error(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


class S3Server:
    """See the module docstring."""

    def __init__(
        self,
        access_key_id: str = ACCESS_KEY_ID,
        secret: str = SECRET,
        *,
        session_token: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.access_key_id = access_key_id
        self.secret = secret
        self.session_token = session_token
        self.clock = clock
        self.buckets_paging = "aws"
        self.send_regions = True
        self.redirect_mode = "400"
        #: The domain under which `<bucket>.<virtual_host>` addresses a bucket (None: path style only).
        self.virtual_host: str | None = None
        self.requests: list[Recorded] = []
        self.buckets: dict[str, Bucket] = {}
        self.uploads: dict[str, Upload] = {}
        self._failures: deque[tuple[int, str]] = deque()
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._seq = 0
        self.port = 0

    # -- seeding -------------------------------------------------------------------------------

    def add_bucket(self, name: str, region: str = "us-east-1", created: float = 1_700_000_000.0) -> None:
        self.buckets[name] = Bucket(name, region, created)

    def add_object(self, bucket: str, key: str, size: int, mtime: float = 1_700_000_000.0) -> None:
        etag = hashlib.md5(f"{bucket}/{key}/{size}".encode()).hexdigest()
        self.buckets[bucket].objects[key] = (size, mtime, etag)

    def add_upload(self, bucket: str, key: str, initiated: float = 1_700_000_000.0) -> str:
        self._seq += 1
        upload_id = base64.urlsafe_b64encode(uuid.UUID(int=self._seq).bytes * 2).decode().rstrip("=")
        self.uploads[upload_id] = Upload(bucket, key, upload_id, initiated)
        return upload_id

    def add_part(self, upload_id: str, number: int, size: int, mtime: float = 1_700_000_000.0) -> None:
        self.uploads[upload_id].parts[number] = (
            size,
            mtime,
            hashlib.md5(f"{upload_id}{number}".encode()).hexdigest(),
        )

    # -- the log and faults --------------------------------------------------------------------

    def count(self, op: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if op is None or r.op == op)

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def fail_next(self, status: int, code: str, times: int = 1) -> None:
        with self._lock:
            self._failures.extend([(status, code)] * times)

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.s3 = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self.port = httpd.server_address[1]
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()  # type: ignore[return-value]

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one request ---------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        raw_path, _, raw_query = target.partition("?")
        query = [
            (unquote(n), unquote(v)) for n, _, v in (p.partition("=") for p in raw_query.split("&") if p)
        ]
        params = dict(reversed(query))  # the first occurrence counts
        host = headers.get("host", "")
        path = self._bucket_path(host, raw_path)
        op = _op(path, params)
        region = ""
        try:
            with self._lock:
                failure = self._failures.popleft() if self._failures else None
            if failure:
                raise S3Error(failure[0], failure[1], "injected failure")
            region = self._authenticate(method, raw_path, raw_query, headers)
            body, extra = self._operate(method, path, params, op, region)
            status, code = 200, ""
        except S3Error as exc:
            status, code = exc.status, exc.code
            fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in exc.extra.items())
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{exc.code}</Code>'
                f"<Message>{escape(exc.message)}</Message>{fields}<RequestId>{uuid.uuid4().hex[:16]}</RequestId></Error>"
            ).encode()
            extra = {"x-amz-bucket-region": exc.extra["Region"]} if "Region" in exc.extra else {}
        with self._lock:
            self.requests.append(Recorded(method, raw_path, query, op, status, code, region, host))
        return status, body, extra

    def _bucket_path(self, host: str, raw_path: str) -> str:
        """The path-style path of a request: `/<bucket>/<key>`, the bucket taken from `Host` when it
        is `<bucket>.<virtual_host>` (the signature still covers the path as received)."""
        name = host.rpartition(":")[0] if host.count(":") == 1 else host
        suffix = f".{self.virtual_host}" if self.virtual_host else None
        if suffix is None or not name.lower().endswith(suffix) or len(name) <= len(suffix):
            return raw_path
        bucket = name[: -len(suffix)]
        return "/" + quote(bucket, safe="") + ("" if raw_path in ("", "/") else raw_path)

    def _authenticate(self, method: str, raw_path: str, raw_query: str, headers: dict[str, str]) -> str:
        auth = headers.get("authorization")
        if not auth:
            raise S3Error(403, "AccessDenied", "Access Denied")
        match = _AUTH.match(auth.strip())
        if not match:
            raise S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is malformed")
        key_id, scope, signed, given = match.groups()
        if key_id != self.access_key_id:
            raise S3Error(
                403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
            )
        amz_date = headers.get("x-amz-date", "")
        parts = scope.split("/")
        if (
            not _AMZ_DATE.match(amz_date)
            or len(parts) != 4
            or parts[0] != amz_date[:8]
            or parts[2:] != ["s3", "aws4_request"]
        ):
            raise S3Error(
                400,
                "AuthorizationHeaderMalformed",
                "The authorization header is malformed; bad credential scope",
            )
        names = signed.split(";")
        if names != sorted(set(names)) or not {"host", "x-amz-date", "x-amz-content-sha256"} <= set(names):
            raise S3Error(403, "AccessDenied", "host, x-amz-date and x-amz-content-sha256 must be signed")
        if any(name not in headers for name in names):
            raise S3Error(403, "AccessDenied", "a signed header is missing")
        canonical = "\n".join(
            [
                method,
                encode(unquote(raw_path or "/"), keep_slash=True),
                _canonical_query(raw_query),
                "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names),
                signed,
                headers["x-amz-content-sha256"],
            ]
        )
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()]
        )
        key = ("AWS4" + self.secret).encode()
        for part in parts:
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, given):
            raise S3Error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
                CanonicalRequest=canonical,
            )
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
        if abs(signed_at - self.clock()) > MAX_SKEW:
            raise S3Error(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            )
        if self.session_token is not None and (
            "x-amz-security-token" not in names or headers["x-amz-security-token"] != self.session_token
        ):
            raise S3Error(403, "InvalidToken", "The provided token is malformed or otherwise invalid.")
        return parts[1]

    def _operate(
        self, method: str, raw_path: str, params: dict[str, str], op: str, region: str
    ) -> tuple[bytes, dict[str, str]]:
        segments = unquote(raw_path).lstrip("/").split("/", 1)
        bucket_name = segments[0]
        if bucket_name:
            bucket = self.buckets.get(bucket_name)
            if bucket is None:
                raise S3Error(
                    404, "NoSuchBucket", "The specified bucket does not exist", BucketName=bucket_name
                )
            if region != bucket.region:
                if self.redirect_mode == "301":
                    raise S3Error(
                        301, "PermanentRedirect", "The bucket is in another region", Region=bucket.region
                    )
                raise S3Error(
                    400,
                    "AuthorizationHeaderMalformed",
                    f"the region '{region}' is wrong; expecting '{bucket.region}'",
                    Region=bucket.region,
                )
        if method not in ("GET", "HEAD"):
            raise S3Error(
                405, "MethodNotAllowed", "The specified method is not allowed against this resource."
            )
        if op == "list_buckets":
            return self._list_buckets(params), {}
        if op == "list_objects":
            return self._list_objects(self.buckets[bucket_name], params), {}
        if op == "list_uploads":
            return self._list_uploads(self.buckets[bucket_name], params), {}
        if op == "list_parts":
            return self._list_parts(bucket_name, segments[1] if len(segments) > 1 else "", params), {}
        raise S3Error(404, "NoSuchKey", "The specified key does not exist.")

    # -- the four listings ---------------------------------------------------------------------

    def _list_buckets(self, params: dict[str, str]) -> bytes:
        names = sorted(n for n in self.buckets if n.startswith(params.get("prefix", "")))
        paging = {"max-buckets", "continuation-token"} & set(params)
        token = ""
        if paging and self.buckets_paging == "refuse":
            raise S3Error(400, "InvalidArgument", "Unknown parameter")
        if paging:
            limit = _int(params.get("max-buckets", "10000"), "max-buckets", 1, 10000)
            if "continuation-token" in params:
                after = _untoken(params["continuation-token"])
                names = [n for n in names if n > after]
            if len(names) > limit:
                names = names[:limit]
                if self.buckets_paging == "aws":
                    token = _token(names[-1])
        rows = "".join(
            f"<Bucket><Name>{escape(n)}</Name><CreationDate>{iso(self.buckets[n].created)}</CreationDate>"
            + (f"<BucketRegion>{self.buckets[n].region}</BucketRegion>" if self.send_regions else "")
            + "</Bucket>"
            for n in names
        )
        tail = f"<ContinuationToken>{token}</ContinuationToken>" if token else ""
        return _xml("ListAllMyBucketsResult", f"{OWNER}<Buckets>{rows}</Buckets>{tail}")

    def _list_objects(self, bucket: Bucket, params: dict[str, str]) -> bytes:
        if params.get("list-type") != "2":
            raise S3Error(400, "InvalidArgument", "storfs tests expect ListObjectsV2 (list-type=2)")
        prefix = params.get("prefix", "")
        delimiter = params.get("delimiter", "")
        limit = min(_int(params.get("max-keys", "1000"), "max-keys", 0, 2**31), 1000)
        after = params.get("start-after", "")
        if "continuation-token" in params:
            after = max(after, _untoken(params["continuation-token"]))
        rows: list[str] = []
        seen_prefixes: set[str] = set()
        last = ""
        truncated = False
        for key in sorted(bucket.objects):
            if not key.startswith(prefix):
                continue
            common = None
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = key[: cut + len(delimiter)]
            item = common or key
            if item <= after or (common and common in seen_prefixes):
                continue
            if len(rows) >= limit:
                truncated = True
                break
            if common:
                seen_prefixes.add(common)
                rows.append(f"<CommonPrefixes><Prefix>{escape(common)}</Prefix></CommonPrefixes>")
            else:
                size, mtime, etag = bucket.objects[key]
                rows.append(
                    f"<Contents><Key>{escape(key)}</Key><LastModified>{iso(mtime)}</LastModified>"
                    f"<ETag>&quot;{etag}&quot;</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass></Contents>"
                )
            last = item
        # S3 lists Contents before CommonPrefixes in the body; the order of keys is the keys' order.
        contents = "".join(r for r in rows if r.startswith("<Contents>"))
        commons = "".join(r for r in rows if r.startswith("<CommonPrefixes>"))
        head = (
            f"<Name>{escape(bucket.name)}</Name><Prefix>{escape(prefix)}</Prefix><KeyCount>{len(rows)}</KeyCount>"
            f"<MaxKeys>{limit}</MaxKeys><Delimiter>{escape(delimiter)}</Delimiter>"
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
        )
        if "continuation-token" in params:
            head += f"<ContinuationToken>{escape(params['continuation-token'])}</ContinuationToken>"
        if truncated:
            head += f"<NextContinuationToken>{_token(last)}</NextContinuationToken>"
        return _xml("ListBucketResult", head + contents + commons)

    def _list_uploads(self, bucket: Bucket, params: dict[str, str]) -> bytes:
        limit = min(_int(params.get("max-uploads", "1000"), "max-uploads", 1, 2**31), 1000)
        key_marker = params.get("key-marker", "")
        id_marker = params.get("upload-id-marker", "") if key_marker else ""
        ordered = sorted(
            (u for u in self.uploads.values() if u.bucket == bucket.name),
            key=lambda u: (u.key, u.initiated, u.upload_id),
        )
        if key_marker:
            if id_marker:
                ids = [u.upload_id for u in ordered if u.key == key_marker]
                position = ids.index(id_marker) + 1 if id_marker in ids else len(ids)
                same = [u for u in ordered if u.key == key_marker][position:]
                ordered = same + [u for u in ordered if u.key > key_marker]
            else:
                ordered = [u for u in ordered if u.key > key_marker]
        page, truncated = ordered[:limit], len(ordered) > limit
        rows = "".join(
            f"<Upload><Key>{escape(u.key)}</Key><UploadId>{u.upload_id}</UploadId>"
            f"<Initiator><ID>arn:aws:iam::111122223333:user/tests</ID><DisplayName>tests</DisplayName></Initiator>"
            f"{OWNER}<StorageClass>STANDARD</StorageClass><Initiated>{iso(u.initiated)}</Initiated></Upload>"
            for u in page
        )
        head = (
            f"<Bucket>{escape(bucket.name)}</Bucket><KeyMarker>{escape(key_marker)}</KeyMarker>"
            f"<UploadIdMarker>{escape(id_marker)}</UploadIdMarker><MaxUploads>{limit}</MaxUploads>"
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
        )
        if truncated:
            head += f"<NextKeyMarker>{escape(page[-1].key)}</NextKeyMarker><NextUploadIdMarker>{page[-1].upload_id}</NextUploadIdMarker>"
        return _xml("ListMultipartUploadsResult", head + rows)

    def _list_parts(self, bucket: str, key: str, params: dict[str, str]) -> bytes:
        upload = self.uploads.get(params["uploadId"])
        if upload is None or upload.bucket != bucket or upload.key != key:
            raise S3Error(
                404, "NoSuchUpload", "The specified upload does not exist.", UploadId=params["uploadId"]
            )
        limit = min(_int(params.get("max-parts", "1000"), "max-parts", 1, 2**31), 1000)
        marker = _int(params.get("part-number-marker", "0"), "part-number-marker", 0, 10000)
        numbers = [n for n in sorted(upload.parts) if n > marker]
        page, truncated = numbers[:limit], len(numbers) > limit
        rows = "".join(
            f"<Part><PartNumber>{n}</PartNumber><LastModified>{iso(upload.parts[n][1])}</LastModified>"
            f"<ETag>&quot;{upload.parts[n][2]}&quot;</ETag><Size>{upload.parts[n][0]}</Size></Part>"
            for n in page
        )
        head = (
            f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key><UploadId>{upload.upload_id}</UploadId>"
            f"<PartNumberMarker>{marker}</PartNumberMarker><MaxParts>{limit}</MaxParts>"
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
        )
        if page:
            head += f"<NextPartNumberMarker>{page[-1]}</NextPartNumberMarker>"
        return _xml("ListPartsResult", head + "<StorageClass>STANDARD</StorageClass>" + rows)


def _op(raw_path: str, params: dict[str, str]) -> str:
    segments = [s for s in raw_path.split("/", 2) if s]
    if not segments:
        return "list_buckets"
    if len(segments) == 1 and "uploads" in params:
        return "list_uploads"
    if len(segments) == 1 and "list-type" in params:
        return "list_objects"
    if len(segments) == 2 and "uploadId" in params:
        return "list_parts"
    return "other"


def _canonical_query(raw_query: str) -> str:
    pairs = []
    for item in raw_query.split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((encode(unquote(name), False), encode(unquote(value), False)))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def _int(text: str, name: str, low: int, high: int) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise S3Error(400, "InvalidArgument", f"{name} must be an integer from {low} to {high}")
    return int(text)


def _token(last: str) -> str:
    return base64.b64encode(last.encode("utf-8")).decode()


def _untoken(token: str) -> str:
    try:
        return base64.b64decode(token.encode(), validate=True).decode("utf-8")
    except ValueError:
        raise S3Error(400, "InvalidArgument", "The continuation token provided is incorrect") from None


def _xml(root: str, inner: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">{inner}</{root}>'.encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def __getattr__(self, name: str):  # every method goes through _dispatch
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        words = self.requestline.split()  # the exact target: http.server collapses `//` in .path
        target = words[1] if len(words) >= 2 else self.path
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, body, extra = self.server.s3.handle(self.command, target, headers)  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
