"""Inside a container: List Blobs (blobs/), uncommitted blobs (uploads/), Get Block List, ranged Get Blob.

/azure/<account>/containers/<c>/blobs/<prefix>/.../<blob>
/azure/<account>/containers/<c>/uploads/<blob, / as %2F>/blocks/<00000>
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol
from urllib.parse import quote

import requests

from storfs.entry import Entry, Page
from storfs.errors import BadResponse
from storfs.names import (
    DelimitedPage,
    SkipLog,
    decide,
    escape_key,
    group_flat,
    segment_of,
    subtree_listings,
    unusable_reason,
)
from storfs.next_pages import NextPages
from storfs.providers.azure.parse import BlobsPage, parse_blobs, parse_uncommitted_blocks, prefix_entry
from storfs.providers.base import ListingKey
from storfs.reader import Body, ChangedSinceListing, checked_range, checked_stream
from storfs.source import Fetched, OnSent

BLOBS, UPLOADS, BLOCKS = "blobs", "uploads", "blocks"


class Get(Protocol):
    """The provider's signed GET of `path` below the account URL."""

    def __call__(
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
    ) -> requests.Response: ...


class Blobs:
    """The listings and reads below one Azure account's containers."""

    def __init__(self, get: Get, page_size: int, label: str, hint: Callable[[bytes], str | None]) -> None:
        self._get = get
        self.page_size = page_size
        self.label = label
        self._hint = hint  # the NextMarker of a raw body, found before parsing it
        self.skipped = SkipLog()
        #: The time a prefix directory shows (the API keeps none): the mount's start, as S3's.
        self.started = float(int(time.time()))
        self._next: NextPages[bytes] = NextPages()

    # -- listings ----------------------------------------------------------------------------

    def fetch_blobs(self, key: ListingKey, cursor: str | None, on_sent: OnSent = None) -> Fetched:
        """One page of a blobs listing, parsed on demand; the next marker is hinted at once."""
        container, prefix = key.args
        what = f"{self.label} List Blobs {container}"
        size = self.page_size
        get = functools.partial(self._blobs_body, container, prefix, cursor, size, what, on_sent=on_sent)
        body = self._next.fetch(key, cursor, get)
        return Fetched(
            lambda: self._shown(key, cursor, parse_blobs(body, prefix, container), what), self._hint(body)
        )

    def list_blobs(self, key: ListingKey, cursor: str | None) -> Page:
        return self.fetch_blobs(key, cursor).page()

    def _shown(self, key: ListingKey, cursor: str | None, page: BlobsPage, what: str) -> Page:
        container, prefix = key.args
        delimited = DelimitedPage(
            objects=page.blobs,
            prefixes=[(p, self._prefix(container, p, segment_of(prefix, p))) for p in page.prefixes],
            more=page.next_marker is not None,
        )
        entries, skipped = decide(prefix, delimited, self._prefix_check(key, page.next_marker, what))
        self.skipped.record(key, f"{what} prefix {prefix!r}", cursor is None, skipped)
        return Page(entries, page.next_marker)

    def _prefix_check(self, key: ListingKey, following: str | None, what: str) -> Callable[[str], bool]:
        """Whether a prefix exists, for blobs at the end of listing `key`'s page that is followed
        by `following`: told by that next page (fetched once, for the listing too), else by a
        query of its own."""
        container, prefix = key.args

        def names(body: bytes) -> tuple[list[str], bool]:
            after = parse_blobs(body, prefix, container)
            return [name for name, _ in after.blobs] + after.prefixes, after.next_marker is not None

        return self._next.prefix_check(
            key,
            following,
            lambda cursor: self._blobs_body(container, prefix, cursor, self.page_size, what),
            names,
            lambda directory: self._has_prefix(container, directory, what),
        )

    def list_subtree(self, key: ListingKey, limit: int) -> dict[ListingKey, list[Entry]] | None:
        """Every blobs listing at or below `key` from the flat List Blobs of its prefix."""
        container, prefix = key.args
        what = f"{self.label} List Blobs {container} (flat)"
        blobs: list[tuple[str, Entry]] = []
        seen: set[str] = set()

        def body_at(cursor: str | None) -> bytes:
            return self._blobs_body(container, prefix, cursor, self.page_size, what, flat=True)

        # The next page's request leaves before this one is parsed (its marker found by a byte
        # search first, checked after), but only while that page could still fit the limit.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="storfs-flat") as ahead:
            sent: tuple[str | None, Future[bytes]] = (None, ahead.submit(body_at, None))
            while True:
                body = sent[1].result()
                hint = self._hint(body)
                if hint is not None and hint not in seen and len(blobs) + 2 * self.page_size <= limit:
                    sent = (hint, ahead.submit(body_at, hint))
                page = parse_blobs(body, prefix, container)
                blobs += page.blobs
                if len(blobs) > limit:
                    sent[1].cancel()
                    return None
                cursor = page.next_marker
                if cursor is None:
                    break
                if cursor in seen:
                    raise BadResponse(f"{what}: the server repeated marker {cursor[:64]!r}")
                seen.add(cursor)
                if sent[0] != cursor:  # no hint, or a wrong one: ask for the page the answer names
                    sent = (cursor, ahead.submit(body_at, cursor))
        groups = group_flat(prefix, blobs, lambda p, segment: self._prefix(container, p, segment))
        return subtree_listings(key, groups, self.skipped, what)

    def lookup_directory(self, key: ListingKey, name: str) -> tuple[Entry, Page] | None:
        """Whether `name` is a prefix of blobs listing `key`, by asking for the first page of its
        own listing (`prefix=<name>/`, `delimiter=/`, the full page): the answer is that page."""
        container, prefix = key.args
        if unusable_reason(name) is not None:
            return None
        directory = prefix + name + "/"
        what = f"{self.label} List Blobs {container}"
        body = self._blobs_body(container, directory, None, self.page_size, what)
        page = parse_blobs(body, directory, container)
        if not page.blobs and not page.prefixes:
            return None  # no name starts with `name/` (an empty page promising more: ask the listing)
        inner = ListingKey(key.provider, key.account, BLOBS, (container, directory))
        return self._prefix(container, directory, name), self._shown(inner, None, page, what)

    def lookup_blob(self, key: ListingKey, name: str) -> Entry | None:
        """The entry `name` of blobs listing `key`: the object and its prefix, in two tiny queries."""
        container, prefix = key.args
        if unusable_reason(name) is not None:
            return None
        what = f"{self.label} List Blobs {container} (one name)"
        directory = prefix + name + "/"
        if self._has_prefix(container, directory, what):
            return self._prefix(container, directory, name)
        page = self._blobs_page(container, prefix + name, None, 1, what, flat=True, base=prefix)
        for blob_name, entry in page.blobs:
            if blob_name == prefix + name:
                return entry
        return None

    def list_uploads(self, key: ListingKey, cursor: str | None) -> Page:
        """Blobs that exist only as uncommitted blocks: in the listing with uncommitted blobs,
        absent from the one without. Both pages start at the same marker; the committed page of
        the same size reaches at least as far, since its names are a subset."""
        (container,) = key.args
        what = f"{self.label} List Blobs {container} (uncommitted)"
        every = self._blobs_page(container, "", cursor, self.page_size, what, flat=True, uncommitted=True)
        if not every.blobs:
            return Page([], every.next_marker)
        committed = self._blobs_page(container, "", cursor, self.page_size, what, flat=True)
        known = {name for name, _ in committed.blobs}
        entries = []
        for name, blob in every.blobs:
            if name not in known:
                fields, ref = blob.fields, (container, name)
                entries.append(
                    Entry(escape_key(name), is_dir=True, mtime_ns=blob.mtime_ns, fields=fields, ref=ref)
                )
        return Page(entries, every.next_marker)

    def list_blocks(self, key: ListingKey) -> Page:
        container, blob_name = key.args
        what = f"{self.label} Get Block List {container}"
        query = [("comp", "blocklist"), ("blocklisttype", "uncommitted")]
        response = self._get(_blob_path(container, blob_name), query, "get_block_list", what, {})
        return Page(parse_uncommitted_blocks(response.content, what), None)

    # -- bytes -------------------------------------------------------------------------------

    def read_range(self, entry: Entry, start: int, end: int) -> bytes:
        """Bytes `[start, end)` of a listed blob, only from the version listed (If-Match + ETag)."""
        response, what = self._get_blob(entry, f"bytes={start}-{end - 1}", body_bytes=end - start)
        return checked_range(response, entry.ref[2], start, end, what, "blob")

    def open_range(self, entry: Entry, start: int) -> Body:
        """The bytes of a listed blob from `start` on, streaming (`x-ms-range: bytes=<start>-`),
        only from the version listed (If-Match + ETag)."""
        response, what = self._get_blob(entry, f"bytes={start}-", stream_body=True)
        return checked_stream(response, entry.ref[2], start, entry.size, what, "blob")

    def _get_blob(
        self, entry: Entry, byte_range: str, *, body_bytes: int | None = None, stream_body: bool = False
    ) -> tuple[requests.Response, str]:
        """Get Blob of `byte_range` of the listed version (If-Match with its ETag), and its label."""
        container, blob_name, etag = entry.ref
        what = f"{self.label} Get Blob {container}"
        headers = {"x-ms-range": byte_range}
        if etag:
            headers["If-Match"] = f'"{etag}"'
        path = _blob_path(container, blob_name)
        try:
            response = self._get(
                path,
                [],
                "get_blob",
                what,
                headers,
                raw_body=True,
                body_bytes=body_bytes,
                stream_body=stream_body,
            )
        except ChangedSinceListing:
            raise ChangedSinceListing(f"{what}: the blob changed since it was listed") from None
        return response, what

    # -- helpers -----------------------------------------------------------------------------

    def _prefix(self, container: str, prefix: str, segment: str) -> Entry:
        """The directory a prefix shows, dated `started`."""
        entry = prefix_entry(container, prefix, segment)
        return Entry(entry.name, is_dir=True, mtime=self.started, fields=entry.fields, ref=entry.ref)

    def _blobs_page(
        self,
        container: str,
        prefix: str,
        cursor: str | None,
        size: int,
        what: str,
        *,
        flat: bool = False,
        uncommitted: bool = False,
        base: str | None = None,
    ) -> BlobsPage:
        """One List Blobs page of names starting with `prefix`; entries named below `base` (or `prefix`)."""
        body = self._blobs_body(container, prefix, cursor, size, what, flat=flat, uncommitted=uncommitted)
        return parse_blobs(body, prefix if base is None else base, container)

    def _blobs_body(
        self,
        container: str,
        prefix: str,
        cursor: str | None,
        size: int,
        what: str,
        *,
        flat: bool = False,
        uncommitted: bool = False,
        on_sent: OnSent = None,
    ) -> bytes:
        """The raw body of one List Blobs request."""
        query = [("restype", "container"), ("comp", "list"), ("maxresults", str(size))]
        query.append(("include", "uncommittedblobs" if uncommitted else "metadata"))
        if not flat:
            query.append(("delimiter", "/"))
        if prefix:
            query.append(("prefix", prefix))
        if cursor:
            query.append(("marker", cursor))
        path = "/" + quote(container, safe="")
        return self._get(path, query, "list_blobs", what, {}, on_sent=on_sent).content

    def _has_prefix(self, container: str, prefix: str, what: str) -> bool:
        """Whether any blob name starts with `prefix` (one request, one result at most)."""
        page = self._blobs_page(container, prefix, None, 1, what, flat=True)
        return bool(page.blobs)


def _blob_path(container: str, blob_name: str) -> str:
    return "/" + quote(container, safe="") + "/" + quote(blob_name, safe="/")
