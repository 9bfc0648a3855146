"""S3 and S3-compatible stores: buckets, objects, in-progress multipart uploads and their parts.

/s3/<account>/buckets/<bucket>/objects/<key segments...>
/s3/<account>/buckets/<bucket>/uploads/<upload-id>/parts/<00001>
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from cachetools import LRUCache

from storfs.entry import Entry, Page
from storfs.errors import BadResponse, ConfigError, NotFound, StorfsError
from storfs.providers.base import ListingKey, Provider
from storfs.providers.common import endpoint, required_string
from storfs.providers.s3 import credentials, parse
from storfs.providers.s3.errors import Unsupported, WrongRegion, decode_error
from storfs.providers.s3.objects import Objects
from storfs.providers.s3.signer import SigV4Auth, uri_encode
from storfs.redact import REDACTOR
from storfs.source import Fetched, OnSent
from storfs.transport import HttpSettings

log = logging.getLogger(__name__)

BUCKETS, OBJECTS, UPLOADS, PARTS = "buckets", "objects", "uploads", "parts"
DEFAULT_REGION = "us-east-1"
#: A region as it may appear in a host name and a credential scope (`eu-west-1`, `pek3b`).
REGION = re.compile(r"[a-z0-9-]{1,63}")
#: Bucket names that can be a host label under virtual-host addressing (no dots: TLS wildcards).
_DNS_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_REGIONS_KEPT = 100_000


class S3Provider(Provider):
    name = "s3"
    config_keys = frozenset(
        {
            "access_key_id", "secret_access_key", "session_token", "region", "endpoint",
            "addressing_style", "profile", "credentials_file", "config_file",
        }
    )  # fmt: skip
    secret_keys = frozenset({"secret_access_key", "session_token"})
    max_page_size = 1000  # every S3 listing refuses more (max-keys, max-uploads, max-parts)
    signature_patterns: ClassVar[tuple[str, ...]] = (r"Signature=",)  # SigV4: hex after `Signature=`
    long_columns: ClassVar[Mapping[str, tuple[str, ...]]] = {UPLOADS: ("user.s3.key",)}
    credential_keys: ClassVar[tuple[str, ...]] = (
        "access_key_id",
        "secret_access_key",
        "session_token",
        "profile",
    )
    endpoint_keys: ClassVar[tuple[str, ...]] = ("endpoint", "region", "addressing_style")
    discovery_help: ClassVar[str] = (
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL), "
        "else the AWS_PROFILE profile of ~/.aws/credentials and ~/.aws/config"
    )

    def __init__(
        self,
        account: str,
        settings: Mapping[str, Any],
        http: HttpSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(account, settings, http)
        where = f"[s3.{account}]"
        options = dict(settings)
        if options.get("profile") or options.get("credentials_file") or options.get("config_file"):
            profile = options.get("profile") or "default"
            found = credentials.profile_settings(
                profile,
                options.get("credentials_file") or str(Path("~/.aws/credentials").expanduser()),
                options.get("config_file") or str(Path("~/.aws/config").expanduser()),
                where,
            )
            options = {**found, **options}
        access_key_id = required_string(options, "access_key_id", where)
        secret = required_string(options, "secret_access_key", where, secret=True)
        REDACTOR.add(secret)
        token = options.get("session_token") or None
        if token is not None:
            REDACTOR.add(str(token))
        self.region = str(options.get("region") or DEFAULT_REGION)
        if not REGION.fullmatch(self.region):
            raise ConfigError(f"{where}: region must look like 'eu-west-1', got {self.region!r}")
        self.endpoint: str | None = None
        if options.get("endpoint"):
            example = "https://s3.example.com"
            self.endpoint = endpoint(options["endpoint"], where, "endpoint", example, allow_path=True)
        style = options.get("addressing_style") or ("path" if self.endpoint else "virtual")
        if style not in ("path", "virtual"):
            raise ConfigError(f"{where}: addressing_style must be 'path' or 'virtual', got {style!r}")
        self.addressing_style = style
        self._auth = SigV4Auth(access_key_id, secret, self.region, session_token=token, clock=clock)
        self._signers: dict[str, SigV4Auth] = {self.region: self._auth}
        # bucket -> region, from ListBuckets' BucketRegion or a wrong-region answer
        self._regions: LRUCache[str, str] = LRUCache(maxsize=_REGIONS_KEPT)
        self._lock = threading.Lock()
        self._paged_buckets = True
        #: The time prefix directories show: S3 keeps none for them, so, like fixed levels, the start.
        self.started = float(int(clock()))
        self.objects = Objects(self._bucket_send, self.page_size, self.label, self.started)

    @classmethod
    def discover(cls, env: Mapping[str, str], home: Path) -> list[tuple[dict[str, Any], str]]:
        """`s3/default` from AWS_* variables, else from the AWS CLI's profile files."""
        return credentials.discover(env, home)

    # -- the tree's view -----------------------------------------------------------------------

    def top_level(self) -> dict[str, ListingKey]:
        return {BUCKETS: self.key(BUCKETS)}

    def children(self, key: ListingKey, entry: Entry) -> dict[str, ListingKey]:
        if key.kind == BUCKETS:
            return {OBJECTS: self.key(OBJECTS, entry.name, ""), UPLOADS: self.key(UPLOADS, entry.name)}
        if key.kind == UPLOADS:
            (bucket,) = key.args
            return {PARTS: self.key(PARTS, bucket, entry.ref[0], entry.name)}
        return {}

    def contents(self, key: ListingKey, entry: Entry) -> ListingKey | None:
        """A common prefix inside an objects listing is itself the listing of that prefix."""
        if key.kind == OBJECTS and entry.is_dir and entry.ref:
            return self.key(OBJECTS, key.args[0], entry.ref[0])
        return None

    def list_page(self, key: ListingKey, cursor: str | None) -> Page:
        return self.fetch_page(key, cursor).page()

    def fetch_page(self, key: ListingKey, cursor: str | None, on_sent: OnSent = None) -> Fetched:
        """One page's body, parsed on demand. S3 sends the paging fields before the items, so the
        next cursor is named before the parse and the next request can leave first (the engine
        checks the hint against the parsed page); `on_sent` hears when the request is on the wire.
        A NotFound on a later page is the engine's to turn into EIO (the listing vanished)."""
        if key.kind == BUCKETS:
            return Fetched.ready(self._list_buckets(cursor, on_sent))
        if key.kind == OBJECTS:
            return self.objects.fetch(key, cursor, on_sent)
        if key.kind == UPLOADS:
            (bucket,) = key.args
            what = f"{self.label} ListMultipartUploads {bucket}"
            body = self._uploads_body(bucket, cursor, what, on_sent)

            def uploads() -> Page:
                page = parse.uploads(body, what)
                return Page(page.entries, json.dumps(page.next_markers) if page.next_markers else None)

            return Fetched(uploads, parse.next_uploads_hint(body))
        if key.kind == PARTS:
            bucket, object_key, upload_id = key.args
            what = f"{self.label} ListParts {bucket} upload {upload_id}"
            body = self._parts_body(bucket, object_key, upload_id, cursor, what, on_sent)

            def parts() -> Page:
                page = parse.parts(body, what)
                return Page(page.entries, page.next_marker)

            return Fetched(parts, parse.next_part_hint(body))
        raise NotFound(f"{self.label}: no listing {key.kind!r}")

    def lookup_directory(self, key: ListingKey, name: str) -> tuple[Entry, Page] | None:
        if key.kind == OBJECTS:
            return self.objects.lookup_directory(key, name)
        raise NotImplementedError

    def list_subtree(self, key: ListingKey, limit: int) -> dict[ListingKey, list[Entry]] | None:
        if key.kind == OBJECTS:
            return self.objects.list_subtree(key, limit)
        raise NotImplementedError(f"no flat listing of {key.kind}")

    def not_shown(self, key: ListingKey) -> list[tuple[str, str]]:
        return self.objects.not_shown(key) if key.kind == OBJECTS else []

    def lookup(self, key: ListingKey, name: str) -> Entry | None:
        """One name of a listing with one small request (two for a directory behind siblings)."""
        if "/" in name or name in ("", ".", ".."):
            return None
        if key.kind == OBJECTS:
            return self.objects.lookup(key, name)
        if key.kind == BUCKETS:
            page = self._buckets_request({"prefix": name, "max-buckets": "1"}, "lookup_bucket")
            if any(not entry.name.startswith(name) for entry in page.entries):
                raise NotImplementedError("this server ignores ListBuckets' prefix")
            # The name sorts first among those it prefixes: if it exists, it is this one.
            return next((entry for entry in page.entries if entry.name == name), None)
        raise NotImplementedError(f"no cheap lookup in {key.kind}")

    @staticmethod
    def decode_error(response: requests.Response) -> StorfsError:
        return decode_error(response)

    # -- requests ------------------------------------------------------------------------------

    def _list_buckets(self, cursor: str | None, on_sent: OnSent = None) -> Page:
        query = {"max-buckets": str(self.page_size)} if self._paged_buckets else {}
        if cursor is not None:
            query["continuation-token"] = cursor
        try:
            page = self._buckets_request(query, "list_buckets", on_sent)
        except Unsupported:
            if cursor is not None or not self._paged_buckets:
                raise
            return self._all_buckets("refused its paging parameters")
        if cursor is None and query and page.continuation is None and len(page.entries) >= self.page_size:
            # A full first page and no token: a server that caps but cannot continue (moto does).
            return self._all_buckets("answered a full page without a ContinuationToken")
        return Page(page.entries, page.continuation)

    def _all_buckets(self, why: str) -> Page:
        """ListBuckets in one unpaged call, from now on, for a server without its paging."""
        log.info("%s: ListBuckets %s; listing every bucket in one call from now on", self.label, why)
        self._paged_buckets = False
        page = self._buckets_request({}, "list_buckets")
        return Page(page.entries, page.continuation)

    def _buckets_request(self, query: dict[str, str], op: str, on_sent: OnSent = None) -> parse.BucketsPage:
        what = f"{self.label} ListBuckets"
        body = self._send(op, self._service_origin(self.region), "/", query, self.region, what, on_sent)
        page = parse.buckets(body, what)
        with self._lock:
            for bucket, region in page.regions.items():
                if REGION.fullmatch(region):
                    self._regions[bucket] = region
        return page

    def _uploads_body(self, bucket: str, cursor: str | None, what: str, on_sent: OnSent = None) -> bytes:
        query = {"uploads": "", "max-uploads": str(self.page_size)}
        if cursor is not None:
            key_marker, upload_id_marker = json.loads(cursor)
            query |= {"key-marker": key_marker, "upload-id-marker": upload_id_marker}
        return self._bucket_send("list_uploads", bucket, "", query, what, on_sent)

    def _parts_body(
        self, bucket: str, key: str, upload_id: str, marker: str | None, what: str, on_sent: OnSent = None
    ) -> bytes:
        query = {"uploadId": upload_id, "max-parts": str(self.page_size)}
        if marker is not None:
            query["part-number-marker"] = marker
        return self._bucket_send("list_parts", bucket, key, query, what, on_sent)

    # -- addressing, regions, signing ----------------------------------------------------------

    def _service_origin(self, region: str) -> str:
        if self.endpoint is not None:
            return self.endpoint
        return f"https://s3.{region}.amazonaws.com"

    def _bucket_base(self, bucket: str, region: str) -> str:
        """The URL up to (and including) the bucket, for bucket-level calls."""
        origin = self._service_origin(region)
        if self.addressing_style == "virtual" and _DNS_BUCKET.fullmatch(bucket):
            parts = urlsplit(origin)
            return f"{parts.scheme}://{bucket}.{parts.netloc}{parts.path}"
        return f"{origin}/{uri_encode(bucket)}"

    def bucket_region(self, bucket: str) -> str:
        with self._lock:
            return self._regions.get(bucket, self.region)

    def _bucket_send(
        self, op: str, bucket: str, key: str, query: dict[str, str], what: str, on_sent: OnSent = None
    ) -> bytes:
        # The key goes on the wire percent-encoded once and otherwise untouched: `..` stays `..`.
        path = "/" + uri_encode(key, keep_slash=True)
        region = self.bucket_region(bucket)
        try:
            return self._send(op, self._bucket_base(bucket, region), path, query, region, what, on_sent)
        except WrongRegion as exc:
            if exc.region == region or not REGION.fullmatch(exc.region):
                raise BadResponse(f"{what}: {exc}, which is where it was sent") from None
            region = exc.region
        with self._lock:
            self._regions[bucket] = region
        log.info("%s: bucket %s is in %s; asking there", self.label, bucket, region)
        try:  # followed once: a second wrong-region answer is an error, never a loop
            return self._send(op, self._bucket_base(bucket, region), path, query, region, what, on_sent)
        except WrongRegion as again:
            raise BadResponse(f"{what}: {again} after following a redirect to {region!r}") from None

    def _send(
        self,
        op: str,
        base: str,
        path: str,
        query: Mapping[str, str],
        region: str,
        what: str,
        on_sent: OnSent = None,
    ) -> bytes:
        # Prepared by hand and signed last: requests' URL preparation would resolve `.`/`..`
        # segments in object keys, so the signed path would not be the path sent.
        request = requests.PreparedRequest()
        request.prepare(method="GET", url=base + "/")
        wire = "&".join(
            f"{uri_encode(name)}={uri_encode(value)}" if value else uri_encode(name)
            for name, value in sorted(query.items())
        )
        request.url = base + path + ("?" + wire if wire else "")
        self._signer(region)(request)
        return self.get(request, op=op, what=what, on_sent=on_sent).content

    def _signer(self, region: str) -> SigV4Auth:
        with self._lock:
            signer = self._signers.get(region)
            if signer is None:
                signer = self._signers[region] = self._auth.for_region(region)
            return signer
