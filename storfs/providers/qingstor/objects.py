"""Inside a bucket: GET Bucket (List Objects) as directories by `/`, ranged GET Object.

/qingstor/<account>/buckets/<bucket>/objects/<prefix>/.../<object>
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import requests

from storfs.entry import Entry, Page
from storfs.errors import BadResponse
from storfs.names import (
    DelimitedPage,
    SkipLog,
    decide,
    group_flat,
    segment_of,
    subtree_listings,
    unusable_reason,
)
from storfs.next_pages import NextPages
from storfs.providers.base import ListingKey
from storfs.providers.qingstor import parse
from storfs.reader import Body, ChangedSinceListing, checked_range, checked_stream

OBJECTS = "objects"


class Send(Protocol):
    """The provider's signed GET: a 2xx response or a StorfsError."""

    def __call__(
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
    ) -> requests.Response: ...


class Objects:
    """The object listings and reads of one QingStor account."""

    def __init__(self, send: Send, zone_url: Callable[[str], str], page_size: int, label: str) -> None:
        self._send = send
        self._zone_url = zone_url
        self.page_size = page_size
        self.label = label
        self.skipped = SkipLog()
        #: The time a prefix directory shows (the API keeps none): the mount's start, as S3's.
        self.started = float(int(time.time()))
        self._next: NextPages[dict[str, Any]] = NextPages()

    def list_objects(self, key: ListingKey, cursor: str | None) -> Page:
        bucket, location, prefix = key.args
        what = f"{self.label} GET Bucket {bucket}"
        get = functools.partial(
            self._list, bucket, location, prefix, cursor, self.page_size, what, delimiter=True
        )
        data = self._next.fetch(key, cursor, get)
        return self._shown(key, cursor, self._delimited(key, data, what), what)

    def lookup_directory(self, key: ListingKey, name: str) -> tuple[Entry, Page] | None:
        """Whether `name` is a prefix of objects listing `key`, by asking for the first page of
        its own listing (`prefix=<name>/`, `delimiter=/`, the full page): the answer is that page."""
        bucket, location, prefix = key.args
        if unusable_reason(name) is not None:
            return None
        directory = prefix + name + "/"
        inner = ListingKey(key.provider, key.account, OBJECTS, (bucket, location, directory))
        what = f"{self.label} GET Bucket {bucket}"
        data = self._list(bucket, location, directory, None, self.page_size, what, delimiter=True)
        page = self._delimited(inner, data, what)
        if not page.objects and not page.prefixes:
            return None  # no key starts with `name/` (an empty page promising more: ask the listing)
        entry = self._prefix(directory, name, (bucket, location, directory))
        return entry, self._shown(inner, None, page, what)

    def _delimited(self, key: ListingKey, data: dict[str, Any], what: str) -> DelimitedPage:
        """One answer of a delimiter listing, checked, before names are decided."""
        bucket, location, prefix = key.args
        more = parse.paging_field(data, "has_more", bool, what) is True
        next_marker = parse.paging_field(data, "next_marker", str, what) or ""
        if more and not next_marker:
            raise BadResponse(f"{what}: has_more without a next_marker")
        ref = (bucket, location)
        objects = []
        for item in parse.items(data, "keys", what):
            object_key = parse.required_str(item, "key", what)
            if not object_key.startswith(prefix):
                raise BadResponse(f"{what}: answered key {object_key[:64]!r} outside prefix {prefix[:64]!r}")
            entry = parse.object_entry(item, object_key[len(prefix) :], (*ref, object_key), what)
            objects.append((object_key, entry))
        prefixes = []
        for common in parse.common_prefixes(data, what):
            if not common.startswith(prefix) or len(common) <= len(prefix):
                raise BadResponse(f"{what}: answered common prefix {common[:64]!r} outside {prefix[:64]!r}")
            prefixes.append((common, self._prefix(common, segment_of(prefix, common), (*ref, common))))
        return DelimitedPage(objects, prefixes, more, next_marker if more else None)

    def _shown(self, key: ListingKey, cursor: str | None, page: DelimitedPage, what: str) -> Page:
        prefix = key.args[2]
        entries, skipped = decide(prefix, page, self._prefix_check(key, page.next_cursor, what))
        self.skipped.record(key, f"{what} prefix {prefix!r}", cursor is None, skipped)
        return Page(entries, page.next_cursor)

    def _prefix_check(self, key: ListingKey, following: str | None, what: str) -> Callable[[str], bool]:
        """Whether a prefix exists, for objects at the end of listing `key`'s page that is
        followed by `following`: told by that next page (fetched once, for the listing too),
        else by a query of its own."""
        bucket, location, prefix = key.args

        def names(data: dict[str, Any]) -> tuple[list[str], bool]:
            after = self._delimited(key, data, what)
            return [k for k, _ in after.objects] + [p for p, _ in after.prefixes], after.more

        return self._next.prefix_check(
            key,
            following,
            lambda cursor: self._list(bucket, location, prefix, cursor, self.page_size, what, delimiter=True),
            names,
            lambda directory: self._has_prefix(bucket, location, directory, what),
        )

    def list_subtree(self, key: ListingKey, limit: int) -> dict[ListingKey, list[Entry]] | None:
        """Every objects listing at or below `key` from the flat GET Bucket of its prefix."""
        bucket, location, prefix = key.args
        what = f"{self.label} GET Bucket {bucket} (flat)"
        objects: list[tuple[str, Entry]] = []
        marker: str | None = None
        seen: set[str] = set()
        while True:
            data = self._list(bucket, location, prefix, marker, self.page_size, what, delimiter=False)
            for item in parse.items(data, "keys", what):
                object_key = parse.required_str(item, "key", what)
                if object_key.startswith(prefix):
                    entry = parse.object_entry(item, object_key, (bucket, location, object_key), what)
                    objects.append((object_key, entry))
            if len(objects) > limit:
                return None
            next_marker = parse.paging_field(data, "next_marker", str, what)
            if parse.paging_field(data, "has_more", bool, what) is not True:
                break
            if not next_marker or next_marker in seen:
                raise BadResponse(f"{what}: has_more without a new next_marker")
            seen.add(next_marker)
            marker = next_marker
        ref = (bucket, location)
        groups = group_flat(prefix, objects, lambda p, segment: self._prefix(p, segment, (*ref, p)))
        return subtree_listings(key, groups, self.skipped, what)

    def lookup(self, key: ListingKey, name: str) -> Entry | None:
        """The entry `name` of objects listing `key`: its prefix, else the object, in tiny queries."""
        bucket, location, prefix = key.args
        if unusable_reason(name) is not None:
            return None
        what = f"{self.label} GET Bucket {bucket} (one name)"
        directory = prefix + name + "/"
        if self._has_prefix(bucket, location, directory, what):
            return self._prefix(directory, name, (bucket, location, directory))
        data = self._list(bucket, location, prefix + name, None, 1, what, delimiter=False)
        for item in parse.items(data, "keys", what):
            if item.get("key") == prefix + name:
                return parse.object_entry(item, name, (bucket, location, prefix + name), what)
        return None

    def read_range(self, entry: Entry, start: int, end: int) -> bytes:
        """Bytes `[start, end)` of a listed object, only from the version listed (If-Match + ETag)."""
        response, what = self._get_object(entry, f"bytes={start}-{end - 1}", body_bytes=end - start)
        return checked_range(response, entry.ref[3], start, end, what, "object")

    def open_range(self, entry: Entry, start: int) -> Body:
        """The bytes of a listed object from `start` on, streaming (`Range: bytes=<start>-`),
        only from the version listed (If-Match + ETag)."""
        response, what = self._get_object(entry, f"bytes={start}-", stream_body=True)
        return checked_stream(response, entry.ref[3], start, entry.size, what, "object")

    def _get_object(
        self, entry: Entry, byte_range: str, *, body_bytes: int | None = None, stream_body: bool = False
    ) -> tuple[requests.Response, str]:
        """GET Object of `byte_range` of the listed version (If-Match with its ETag), and its label."""
        bucket, location, object_key, etag = entry.ref
        what = f"{self.label} GET Object {bucket}"
        headers = {"Range": byte_range}
        if etag:
            headers["If-Match"] = f'"{etag}"'
        path = "/" + quote(bucket, safe="") + "/" + quote(object_key, safe="/")
        try:
            origin = self._zone_url(location)
            response = self._send(
                "get_object", origin, path, "", what, headers,
                raw_body=True, body_bytes=body_bytes, stream_body=stream_body,
            )  # fmt: skip
        except ChangedSinceListing:
            raise ChangedSinceListing(f"{what}: the object changed since it was listed") from None
        return response, what

    def _prefix(self, prefix: str, segment: str, ref: tuple[str, ...]) -> Entry:
        """The directory a common prefix shows, dated `started`."""
        entry = parse.prefix_entry(prefix, segment, ref)
        return Entry(entry.name, is_dir=True, mtime=self.started, fields=entry.fields, ref=entry.ref)

    def _list(
        self,
        bucket: str,
        location: str,
        prefix: str,
        marker: str | None,
        limit: int,
        what: str,
        *,
        delimiter: bool,
    ) -> dict[str, Any]:
        query: dict[str, Any] = {"limit": limit}
        if delimiter:
            query["delimiter"] = "/"
        if prefix:
            query["prefix"] = prefix
        if marker:
            query["marker"] = marker
        path = "/" + quote(bucket, safe="")
        query_text = urlencode(sorted(query.items()), quote_via=quote)
        response = self._send("list_objects", self._zone_url(location), path, query_text, what, {})
        return parse.load_json(response.content, what)

    def _has_prefix(self, bucket: str, location: str, prefix: str, what: str) -> bool:
        data = self._list(bucket, location, prefix, None, 1, what, delimiter=False)
        return bool(parse.items(data, "keys", what))
