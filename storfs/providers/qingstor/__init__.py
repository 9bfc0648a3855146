"""QingStor (native API 2016-01-06): buckets, their objects, in-progress multipart uploads and parts.

/qingstor/<account>/buckets/<bucket>/uploads/<upload-id>/parts/<00001>
/qingstor/<account>/buckets/<bucket>/objects/... (see `objects.py`)
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests

from storfs.entry import Entry, Page
from storfs.errors import AccessDenied, BadResponse, ChangedSinceListing, ConfigError, NotFound, StorfsError
from storfs.providers.base import ListingKey, Provider
from storfs.providers.common import ErrorTable, credential_fingerprint, endpoint, required_string
from storfs.providers.qingstor import parse
from storfs.providers.qingstor.objects import OBJECTS, Objects
from storfs.providers.qingstor.signer import QSAuth
from storfs.reader import Body
from storfs.redact import REDACTOR
from storfs.transport import HttpSettings

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://qingstor.com"
BUCKETS, UPLOADS, PARTS = "buckets", "uploads", "parts"
#: No listing may take more pages than this (the default `max_pages`), so none is revealed beyond it.
MAX_REVEALED_PAGES = 10_000
#: A zone id as it may appear in a host name (`pek3a`, `sh1a`).
ZONE = re.compile(r"[a-z0-9-]{1,63}")

#: Error codes from QingStor's error table, by the errno they mean to a file system user.
NOT_FOUND_CODES = frozenset({"bucket_not_exists", "object_not_exists", "upload_not_exists"})
DENIED_CODES = frozenset(
    {
        "permission_denied", "access_denied", "signature_not_matched", "invalid_access_key_id",
        "request_expired", "bucket_not_active", "account_problem", "delinquent_account",
    }
)  # fmt: skip


class QingStorProvider(Provider):
    name = "qingstor"
    config_keys = frozenset(
        {"access_key_id", "secret_access_key", "endpoint", "zone", "zone_endpoint", "config_file"}
    )
    secret_keys = frozenset({"secret_access_key"})
    max_page_size = 1000  # List Multipart and List Multipart Uploads refuse more
    signature_patterns = (r"QS [^:\s]+:",)
    credential_keys = ("access_key_id", "secret_access_key", "config_file")
    endpoint_keys = ("endpoint", "zone_endpoint")
    discovery_help = "~/.qingstor/config.yaml (the official tools' file)"
    long_columns = {UPLOADS: ("user.qingstor.key",)}

    @classmethod
    def discover(cls, env: Mapping[str, str], home: Path) -> list[tuple[dict[str, Any], str]]:
        official = home / ".qingstor" / "config.yaml"
        if official.is_file():
            return [({"config_file": str(official)}, f"file: {official}")]
        return []

    def __init__(
        self,
        account: str,
        settings: Mapping[str, Any],
        http: HttpSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(account, settings, http)
        where = f"[qingstor.{account}]"
        options = (
            {**official_config(settings["config_file"], where), **settings}
            if settings.get("config_file")
            else dict(settings)
        )
        required_string(options, "access_key_id", where)
        REDACTOR.add(required_string(options, "secret_access_key", where, secret=True))
        self.endpoint = endpoint(
            options.get("endpoint") or DEFAULT_ENDPOINT, where, "endpoint", DEFAULT_ENDPOINT
        )
        self.zone: str | None = options.get("zone")
        self.zone_endpoint: str | None = options.get("zone_endpoint")
        if self.zone_endpoint is not None:
            _check_zone_endpoint(self.zone_endpoint, where)
        self._default_host = urlsplit(self.endpoint).hostname == "qingstor.com"
        self._auth = QSAuth(options["access_key_id"], options["secret_access_key"], clock)
        self._identity = " ".join(
            [
                "qingstor",
                self.endpoint,
                self.zone or "-",  # a zone filters GET Service: another listing
                self.zone_endpoint or "-",
                options["access_key_id"],
                credential_fingerprint(options["secret_access_key"]),
            ]
        )
        self.objects = Objects(self._send, self.zone_url, self.page_size, self.label)

    def top_level(self) -> dict[str, ListingKey]:
        return {BUCKETS: self.key(BUCKETS)}

    def children(self, key: ListingKey, entry: Entry) -> dict[str, ListingKey]:
        if key.kind == BUCKETS:
            location = entry.ref[0]
            return {
                OBJECTS: self.key(OBJECTS, entry.name, location, ""),
                UPLOADS: self.key(UPLOADS, entry.name, location),
            }
        if key.kind == UPLOADS:
            bucket, location = key.args
            return {PARTS: self.key(PARTS, bucket, location, entry.ref[0], entry.name)}
        return {}

    def cache_identity(self) -> str:
        return self._identity

    def contents(self, key: ListingKey, entry: Entry) -> ListingKey | None:
        if key.kind == OBJECTS and entry.is_dir:
            bucket, location, prefix = entry.ref
            return self.key(OBJECTS, bucket, location, prefix)
        return None

    def lookup(self, key: ListingKey, name: str) -> Entry | None:
        if key.kind == OBJECTS:
            return self.objects.lookup(key, name)
        raise NotImplementedError

    def lookup_directory(self, key: ListingKey, name: str) -> tuple[Entry, Page] | None:
        if key.kind == OBJECTS:
            return self.objects.lookup_directory(key, name)
        raise NotImplementedError

    def list_subtree(self, key: ListingKey, limit: int) -> dict[ListingKey, list[Entry]] | None:
        if key.kind == OBJECTS:
            return self.objects.list_subtree(key, limit)
        raise NotImplementedError

    def not_shown(self, key: ListingKey) -> list[tuple[str, str]]:
        return [(s.key, s.reason) for s in self.objects.skipped.keys(key)]

    def readable(self, entry: Entry) -> bool:
        return not entry.is_dir and len(entry.ref) == 4

    def read_range(self, entry: Entry, start: int, end: int) -> bytes:
        if not self.readable(entry):
            return super().read_range(entry, start, end)
        return self.objects.read_range(entry, start, end)

    def open_range(self, entry: Entry, start: int) -> Body:
        if not self.readable(entry):
            raise NotImplementedError
        return self.objects.open_range(entry, start)

    def list_page(self, key: ListingKey, cursor: str | None) -> Page:
        if key.kind == BUCKETS:
            return self._list_buckets(cursor)
        if key.kind == OBJECTS:
            return self.objects.list_objects(key, cursor)
        if key.kind == UPLOADS:
            bucket, location = key.args
            return self._list_uploads(bucket, location, cursor)
        if key.kind == PARTS:
            bucket, location, object_key, upload_id = key.args
            return self._list_parts(bucket, location, object_key, upload_id, cursor)
        raise NotFound(f"{self.label}: no listing {key.kind!r}")

    @staticmethod
    def decode_error(response: requests.Response) -> StorfsError:
        return decode_error(response)

    def zone_url(self, location: str) -> str:
        """Where bucket-level calls for a bucket in `location` go."""
        if not location or not (self.zone_endpoint is not None or self._default_host):
            return self.endpoint
        if not ZONE.fullmatch(location):
            # The server said where the bucket lives; it must not say which host we sign for.
            raise BadResponse(f"{self.label}: GET Service answered a bucket location {location[:64]!r}")
        if self.zone_endpoint is not None:
            return self.zone_endpoint.format(zone=location).rstrip("/")
        return f"https://{location}.qingstor.com"

    # -- the three listings ------------------------------------------------------------------

    def _list_buckets(self, cursor: str | None) -> Page:
        offset = int(cursor or 0)
        what = f"{self.label} GET Service"
        headers = {"Location": self.zone} if self.zone else {}
        query = {"limit": self.page_size, "offset": offset}
        body = self._get("list_buckets", self.endpoint, "/", urlencode(query), what, headers)
        data, buckets = parse.page_items(body, "buckets", parse.bucket_entry, what)
        count = parse.paging_field(data, "count", int, what)
        # A short page ends the listing (providers.md 1.4). `count` may be the page or the
        # account's total, so it can never be below the page, and a short page may not leave
        # it above the offset reached: either would be a listing that ends before it should.
        full = len(buckets) >= self.page_size
        next_offset = offset + len(buckets)
        if count is not None and count < len(buckets):
            raise BadResponse(f"{what}: count {count} is less than the {len(buckets)} buckets on the page")
        if count is not None and not full and count > next_offset:
            raise BadResponse(
                f"{what}: a short page of {len(buckets)} buckets at offset {offset}, but count says {count}"
            )
        lookahead: tuple[str, ...] = ()
        if full and count is not None and count > next_offset:
            # Then count is the total: the next offsets are known. Reveal a window of them (the
            # range is bounded before anything is built: a count of 10**13 costs nothing).
            window = min(self.http.parallel_pages, MAX_REVEALED_PAGES)
            stop = min(count, next_offset + window * self.page_size)
            lookahead = tuple(str(o) for o in range(next_offset, stop, self.page_size))
        return Page(buckets, str(next_offset) if full and buckets else None, lookahead)

    def _list_uploads(self, bucket: str, location: str, cursor: str | None) -> Page:
        what = f"{self.label} List Multipart Uploads {bucket}"
        key_marker, upload_id_marker = json.loads(cursor) if cursor else ("", "")
        query: dict[str, Any] = {"limit": self.page_size}
        if key_marker:
            query |= {"key_marker": key_marker, "upload_id_marker": upload_id_marker}
        path = "/" + quote(bucket, safe="")
        query_text = urlencode(query, quote_via=quote) + "&uploads"
        body = self._get("list_uploads", self.zone_url(location), path, query_text, what)
        data, uploads = parse.page_items(body, "uploads", parse.upload_entry, what)
        next_key = parse.paging_field(data, "next_key_marker", str, what) or ""
        next_upload = parse.paging_field(data, "next_upload_id_marker", str, what) or ""
        has_more = parse.paging_field(data, "has_more", bool, what)
        # `has_more` decides; without it (the doc page has none), a non-empty next_key_marker.
        more = bool(next_key) if has_more is None else has_more
        if more and not next_key:
            raise BadResponse(f"{what}: has_more without next_key_marker")
        return Page(uploads, json.dumps([next_key, next_upload]) if more else None)

    def _list_parts(self, bucket: str, location: str, key: str, upload_id: str, cursor: str | None) -> Page:
        what = f"{self.label} List Multipart {bucket} upload {upload_id}"
        query: dict[str, Any] = {"limit": self.page_size, "upload_id": upload_id}
        if cursor is not None:
            query["part_number_marker"] = cursor
        # The key goes on the wire percent-encoded and otherwise untouched: `..` stays `..`.
        path = "/" + quote(bucket, safe="") + "/" + quote(key, safe="/")
        body = self._get("list_parts", self.zone_url(location), path, urlencode(sorted(query.items())), what)
        data, parts = parse.page_items(body, "object_parts", parse.part_entry, what)
        count = parse.paging_field(data, "count", int, what)
        if count is not None and count < len(parts):
            raise BadResponse(f"{what}: count {count} is less than the {len(parts)} parts on the page")
        # No next marker is documented: a full page means there may be more after its last part.
        full = len(parts) >= self.page_size
        return Page(parts, str(int(parts[-1].name)) if full and parts else None)

    def _get(
        self, op: str, origin: str, path: str, query: str, what: str, headers: Mapping[str, str] | None = None
    ) -> bytes:
        return self._send(op, origin, path, query, what, headers or {}).content

    def _send(
        self,
        op: str,
        origin: str,
        path: str,
        query: str,
        what: str,
        headers: Mapping[str, str],
        *,
        raw_body: bool = False,
        body_bytes: int | None = None,
        stream_body: bool = False,
    ) -> requests.Response:
        # Prepared by hand and signed last: requests' URL preparation would resolve `.`/`..`
        # segments in object keys, so the signed path would not be the path sent.
        request = requests.PreparedRequest()
        request.prepare(method="GET", url=origin + "/", headers=dict(headers))
        request.url = origin + path + ("?" + query if query else "")
        self._auth(request)
        return self.get(
            request, op=op, what=what, raw_body=raw_body, body_bytes=body_bytes, stream_body=stream_body
        )


def decode_error(response: requests.Response) -> StorfsError:
    """Map a QingStor JSON error body to an errno-carrying error; the server's message is not kept."""
    try:
        code = str(json.loads(response.content).get("code") or "")
    except (ValueError, AttributeError, UnicodeDecodeError):
        code = ""
    return ERRORS.error(response.status_code, code)


#: A 404 with a code storfs does not know is not "no such thing": it is an error.
ERRORS = ErrorTable(
    codes={
        **dict.fromkeys(NOT_FOUND_CODES, NotFound),
        **dict.fromkeys(DENIED_CODES, AccessDenied),
        "precondition_failed": ChangedSinceListing,  # a read's If-Match
    },
    statuses={401: AccessDenied, 403: AccessDenied, 412: ChangedSinceListing},
    codeless={404: NotFound},
)


def official_config(path: str, where: str) -> dict[str, Any]:
    """Settings from the official tools' YAML file (access_key_id, secret_access_key, host...)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise ConfigError(f"{where}: config_file {path}: {exc.strerror}") from None
    except yaml.YAMLError:
        raise ConfigError(f"{where}: config_file {path} is not valid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: config_file {path} is not a YAML mapping")
    result = {key: data[key] for key in ("access_key_id", "secret_access_key") if data.get(key)}
    if data.get("host"):
        protocol = data.get("protocol") or "https"
        port = data.get("port")
        if port is not None and not str(port).isdigit():
            raise ConfigError(f"{where}: config_file {path}: port must be a number, got {port!r}")
        default_port = {"https": 443, "http": 80}.get(protocol)
        suffix = f":{port}" if port and int(port) != default_port else ""
        result["endpoint"] = f"{protocol}://{data['host']}{suffix}"
    return result


def _check_zone_endpoint(template: str, where: str) -> None:
    example = "https://{zone}.example.com"
    if "{zone}" not in template:
        raise ConfigError(f"{where}: zone_endpoint must contain {{zone}}, like {example}")
    try:
        filled = template.format(zone="pek3a")
    except (KeyError, IndexError, ValueError):
        raise ConfigError(f"{where}: zone_endpoint may use only {{zone}}, like {example}") from None
    endpoint(filled, where, "zone_endpoint", example)
