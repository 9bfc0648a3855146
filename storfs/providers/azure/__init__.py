"""Azure Blob Storage: List Containers under `/azure/<account>/containers/`, and inside them
`blobs/` and `uploads/` (see `blobs.py`)."""

from __future__ import annotations

import base64
import binascii
import functools
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from xml.sax.saxutils import unescape

import requests

from storfs.entry import Entry, Page
from storfs.errors import ChangedSinceListing, ConfigError, StorfsError
from storfs.gc_policy import no_cyclic_gc
from storfs.providers.azure.blobs import BLOBS, BLOCKS, UPLOADS, Blobs
from storfs.providers.azure.parse import parse_containers, parse_xml
from storfs.providers.azure.signer import SasAuth, SharedKeyAuth
from storfs.providers.base import ListingKey, Provider
from storfs.providers.common import ErrorTable, credential_fingerprint, endpoint
from storfs.reader import Body
from storfs.source import Fetched, OnPart, OnSent
from storfs.transport import HttpSettings

log = logging.getLogger(__name__)

#: Oldest version with every `include` value we may ask for; Azurite 3.35 knows it.
API_VERSION = "2020-10-02"


class AzureProvider(Provider):
    name = "azure"
    config_keys = frozenset({"account", "key", "sas", "connection_string", "endpoint"})
    secret_keys = frozenset({"key", "sas", "connection_string"})
    max_page_size = 5000
    signature_patterns = (r"SharedKey [^:\s]+:",)
    credential_keys = ("account", "key", "sas", "connection_string")
    endpoint_keys = ("endpoint", "connection_string")
    discovery_help = (
        "AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or "
        "AZURE_STORAGE_SAS_TOKEN"
    )

    @classmethod
    def discover(cls, env: Mapping[str, str], home: Path) -> list[tuple[dict[str, Any], str]]:
        if env.get("AZURE_STORAGE_CONNECTION_STRING"):
            table = {"connection_string_env": "AZURE_STORAGE_CONNECTION_STRING"}
            return [(table, "environment: AZURE_STORAGE_CONNECTION_STRING")]
        if not env.get("AZURE_STORAGE_ACCOUNT"):
            return []
        for key, variable in (("key", "AZURE_STORAGE_KEY"), ("sas", "AZURE_STORAGE_SAS_TOKEN")):
            if env.get(variable):
                table = {"account": env["AZURE_STORAGE_ACCOUNT"], f"{key}_env": variable}
                return [(table, f"environment: AZURE_STORAGE_ACCOUNT, {variable}")]
        raise ConfigError(
            "AZURE_STORAGE_ACCOUNT is set, but neither AZURE_STORAGE_KEY nor AZURE_STORAGE_SAS_TOKEN is"
        )

    def __init__(self, account: str, settings: Mapping[str, Any], http: HttpSettings) -> None:
        super().__init__(account, settings, http)
        where = f"[azure.{account}]"
        given = [key for key in self.credential_keys[1:] if settings.get(key)]
        if len(given) > 1:
            raise ConfigError(f"{where}: conflicting credentials {', '.join(given)}: keep one of them")
        options = dict(settings)
        if options.get("connection_string"):
            options = {
                **parse_connection_string(options["connection_string"]),
                **_without(options, "connection_string"),
            }
        self.storage_account = options.get("account")
        if not self.storage_account:
            raise ConfigError(f"[azure.{account}]: set `account` (the storage account name)")
        default = f"https://{self.storage_account}.blob.core.windows.net"
        url = options.get("endpoint") or default
        self.root_url = endpoint(url, where, "endpoint", default, allow_path=True) + "/"
        self._auth: requests.auth.AuthBase
        self._credential = str(options.get("key") or options.get("sas") or "")
        if options.get("key"):
            self._auth = SharedKeyAuth(self.storage_account, _account_key(options["key"], where))
        elif options.get("sas"):
            self._auth = SasAuth(options["sas"])
        else:
            raise ConfigError(f"[azure.{account}]: set one of `key`, `sas` or `connection_string`")
        self.blobs = Blobs(self._signed_get, self.page_size, self.label, next_marker_hint)

    def top_level(self) -> dict[str, ListingKey]:
        return {"containers": self.key("containers")}

    def cache_identity(self) -> str:
        fingerprint = credential_fingerprint(self._credential)
        return f"azure {self.root_url} {self.storage_account} {fingerprint}"

    def children(self, key: ListingKey, entry: Entry) -> dict[str, ListingKey]:
        if key.kind == "containers":
            return {BLOBS: self.key(BLOBS, entry.name, ""), UPLOADS: self.key(UPLOADS, entry.name)}
        if key.kind == UPLOADS:
            return {BLOCKS: self.key(BLOCKS, *entry.ref)}
        return {}

    def contents(self, key: ListingKey, entry: Entry) -> ListingKey | None:
        if key.kind == BLOBS and entry.is_dir:
            container, prefix = entry.ref
            return self.key(BLOBS, container, prefix)
        return None

    def list_subtree(self, key: ListingKey, limit: int) -> dict[ListingKey, list[Entry]] | None:
        if key.kind == BLOBS:
            return self.blobs.list_subtree(key, limit)
        raise NotImplementedError

    def not_shown(self, key: ListingKey) -> list[tuple[str, str]]:
        return [(s.key, s.reason) for s in self.blobs.skipped.keys(key)]

    def readable(self, entry: Entry) -> bool:
        return not entry.is_dir and len(entry.ref) == 3

    def read_range(self, entry: Entry, start: int, end: int) -> bytes:
        if not self.readable(entry):
            return super().read_range(entry, start, end)
        return self.blobs.read_range(entry, start, end)

    def open_range(self, entry: Entry, start: int) -> Body:
        if not self.readable(entry):
            raise NotImplementedError
        return self.blobs.open_range(entry, start)

    def list_page(self, key: ListingKey, cursor: str | None) -> Page:
        return self.fetch_page(key, cursor).page()

    def fetch_page(self, key: ListingKey, cursor: str | None, on_sent: OnSent = None) -> Fetched:
        if key.kind == BLOBS:
            return self.blobs.fetch_blobs(key, cursor, on_sent)
        if key.kind == UPLOADS:
            return Fetched.ready(self.blobs.list_uploads(key, cursor))
        if key.kind == BLOCKS:
            return Fetched.ready(self.blobs.list_blocks(key))
        body = self._request(cursor, on_sent=on_sent)
        # NextMarker sits at the end of the body: name it before parsing, so the next request can
        # leave while this page is parsed (the listing checks it against the parsed page).
        parse = functools.partial(_parse, body)  # parse() whole, parse(on_part) in parts
        return Fetched(parse, next_marker_hint(body), in_parts=parse)

    def lookup_directory(self, key: ListingKey, name: str) -> tuple[Entry, Page] | None:
        if key.kind == BLOBS:
            return self.blobs.lookup_directory(key, name)
        raise NotImplementedError

    def lookup(self, key: ListingKey, name: str) -> Entry | None:
        """One container by name: List Containers with `prefix=name&maxresults=1` (names sort
        before every longer name they begin)."""
        if key.kind == BLOBS:
            return self.blobs.lookup_blob(key, name)
        if key.kind != "containers":
            raise NotImplementedError
        cursor = None
        for _ in range(3):
            page = parse_containers(self._request(cursor, prefix=name, page_size=1))
            if page.entries:
                first = page.entries[0]
                return first if first.name == name else None
            if page.next_cursor is None:
                return None
            cursor = page.next_cursor  # an empty page that still promises more (a partition end)
        raise NotImplementedError  # no answer in a few small pages: read the listing instead

    def _request(
        self,
        cursor: str | None,
        *,
        prefix: str | None = None,
        page_size: int | None = None,
        on_sent: OnSent = None,
    ) -> bytes:
        query = [("comp", "list"), ("maxresults", str(page_size or self.page_size)), ("include", "metadata")]
        if prefix is not None:
            query.append(("prefix", prefix))
        if cursor:
            query.append(("marker", cursor))
        request = requests.Request(
            "GET",
            self.root_url + "?" + urlencode(query, quote_via=quote),
            headers={"x-ms-version": API_VERSION, "Accept": "application/xml"},
            auth=self._auth,
        )
        prepared = self.session.prepare_request(request)
        what = f"{self.label} List Containers"
        return self.get(prepared, op="list_containers", what=what, on_sent=on_sent).content

    def _signed_get(
        self,
        path: str,
        query: list[tuple[str, str]],
        op: str,
        what: str,
        headers: dict[str, str],
        *,
        raw_body: bool = False,
        body_bytes: int | None = None,
        on_sent: OnSent = None,
        stream_body: bool = False,
    ) -> requests.Response:
        """A signed GET of `path` (below the account URL, starting with `/`)."""
        url = self.root_url + path[1:] + ("?" + urlencode(query, quote_via=quote) if query else "")
        request = requests.Request(
            "GET", url, headers={"x-ms-version": API_VERSION, **headers}, auth=self._auth
        )
        prepared = self.session.prepare_request(request)
        return self.get(
            prepared,
            op=op,
            what=what,
            raw_body=raw_body,
            body_bytes=body_bytes,
            on_sent=on_sent,
            stream_body=stream_body,
        )

    @staticmethod
    def decode_error(response: requests.Response) -> StorfsError:
        return decode_error(response)


def _parse(body: bytes, on_part: OnPart = None) -> Page:
    with no_cyclic_gc():  # a page's many objects form no cycles: scanning them frees nothing
        return parse_containers(body, on_part)


def next_marker_hint(body: bytes) -> str | None:
    """NextMarker found by a byte search from the end, before (and checked after) the real parse."""
    start = body.rfind(b"<NextMarker>")
    end = body.rfind(b"</NextMarker>")
    if start < 0 or end < start:
        return None
    value = unescape(body[start + len(b"<NextMarker>") : end].decode("utf-8", "replace")).strip()
    return value or None


def decode_error(response: requests.Response) -> StorfsError:
    """Map an Azure error response to an errno-carrying error (never echoing auth details)."""
    code = response.headers.get("x-ms-error-code") or _error_code(response.content)
    return ERRORS.error(response.status_code, code)


#: Azure's codes add nothing the status does not say (AuthorizationFailure, ContainerNotFound...),
#: but for the failed If-Match of a read.
ERRORS = ErrorTable(codes={"ConditionNotMet": ChangedSinceListing})


def _error_code(body: bytes) -> str | None:
    try:
        return parse_xml(body).findtext("Code")
    except Exception:  # any unparsable body (or one with a DTD): the status alone says enough
        return None


def parse_connection_string(text: str) -> dict[str, str]:
    """The account, key/SAS and endpoint a storage connection string describes."""
    pairs = {}
    for part in text.split(";"):
        if part.strip():
            name, sep, value = part.partition("=")
            if not sep:
                raise ConfigError("connection_string: expected `Name=value;...` pairs")
            pairs[name.strip().lower()] = value.strip()
    if pairs.get("usedevelopmentstorage", "").lower() == "true":
        pairs.setdefault("accountname", "devstoreaccount1")
        pairs.setdefault("accountkey", DEVSTORE_KEY)
        pairs.setdefault("blobendpoint", "http://127.0.0.1:10000/devstoreaccount1")
    result = {}
    if "accountname" in pairs:
        result["account"] = pairs["accountname"]
    if "accountkey" in pairs:
        result["key"] = pairs["accountkey"]
    if "sharedaccesssignature" in pairs:
        result["sas"] = pairs["sharedaccesssignature"]
    if "blobendpoint" in pairs:
        result["endpoint"] = pairs["blobendpoint"]
    elif "accountname" in pairs:
        protocol = pairs.get("defaultendpointsprotocol", "https")
        suffix = pairs.get("endpointsuffix", "core.windows.net")
        result["endpoint"] = f"{protocol}://{pairs['accountname']}.blob.{suffix}"
    return result


def _account_key(key: Any, where: str) -> str:
    """The account key, checked to be the base64 text the portal shows."""
    try:
        if isinstance(key, str) and base64.b64decode(key, validate=True):
            return key
    except binascii.Error:
        pass
    raise ConfigError(f"{where}: `key` must be the storage account key (base64 text)")


def _without(mapping: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key and v is not None}


#: The public, well-known Azurite/emulator key (not a secret).
DEVSTORE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
