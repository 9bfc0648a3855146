"""Inside a bucket: ListObjectsV2 as directories by `/`, flat walks of a subtree, one-name lookups.

/s3/<account>/buckets/<bucket>/objects/<key segments...>

Which keys become which paths is `storfs.names`'s, as for every provider (README "Names").
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Protocol

from storfs.entry import Entry, Page
from storfs.errors import BadResponse
from storfs.keys import ListingKey
from storfs.names import DelimitedPage, SkipLog, decide, group_flat, subtree_listings, unusable_reason
from storfs.next_pages import NextPages
from storfs.providers.s3 import parse
from storfs.source import Fetched, OnSent

OBJECTS = "objects"


class Send(Protocol):
    """The provider's signed GET of a bucket-level call (in the bucket's region): the body."""

    def __call__(
        self, op: str, bucket: str, key: str, query: dict[str, str], what: str, on_sent: OnSent = None
    ) -> bytes: ...


class Objects:
    """The object listings of one S3 account."""

    def __init__(self, send: Send, page_size: int, label: str, dir_mtime: float) -> None:
        self._send = send
        self.page_size = page_size
        self.label = label
        #: The time prefix directories show: S3 keeps none for them, so, like fixed levels, the start.
        self.dir_mtime = dir_mtime
        self.skipped = SkipLog()
        self._next: NextPages[bytes] = NextPages()

    def fetch(self, key: ListingKey, cursor: str | None, on_sent: OnSent = None) -> Fetched:
        """One `delimiter=/` page, parsed on demand; its NextContinuationToken is hinted at once
        (S3 sends the paging fields before the items), so the next request can leave first. The
        page a parse peeked at (to decide the objects at its own end) is taken, not asked again."""
        bucket, prefix = key.args
        what = f"{self.label} ListObjectsV2 {bucket}"
        get = functools.partial(
            self._list, bucket, prefix, cursor, self.page_size, what, delimiter=True, on_sent=on_sent
        )
        body = self._next.fetch(key, cursor, get)
        page = functools.partial(parse.objects, body, prefix, what, self.dir_mtime)
        return Fetched(lambda: self._shown(key, cursor, page(), what), parse.next_token_hint(body))

    def lookup_directory(self, key: ListingKey, name: str) -> tuple[Entry, Page] | None:
        """Whether `name` is a prefix of objects listing `key`, by asking for the first page of
        its own listing (`prefix=<name>/`, `delimiter=/`, the full page): the answer is that page."""
        bucket, prefix = key.args
        if unusable_reason(name) is not None:
            return None
        directory = prefix + name + "/"
        what = f"{self.label} ListObjectsV2 {bucket}"
        body = self._list(bucket, directory, None, self.page_size, what, delimiter=True)
        page = parse.objects(body, directory, what, self.dir_mtime)
        if not page.objects and not page.prefixes:
            return None  # no key starts with `name/` (an empty page promising more: ask the listing)
        inner = ListingKey(key.provider, key.account, OBJECTS, (bucket, directory))
        return self._directory(directory, name), self._shown(inner, None, page, what)

    def _shown(self, key: ListingKey, cursor: str | None, page: parse.ObjectsPage, what: str) -> Page:
        prefix = key.args[1]
        delimited = DelimitedPage(page.objects, page.prefixes, page.next_token is not None)
        entries, skipped = decide(prefix, delimited, self._prefix_check(key, page.next_token, what))
        self.skipped.record(key, f"{what} prefix {prefix!r}", cursor is None, skipped)
        return Page(entries, page.next_token)

    def _prefix_check(self, key: ListingKey, following: str | None, what: str) -> Callable[[str], bool]:
        """Whether a prefix exists, for objects at the end of listing `key`'s page that is
        followed by `following`: told by that next page (fetched once, for the listing too),
        else by a query of its own."""
        bucket, prefix = key.args

        def names(body: bytes) -> tuple[list[str], bool]:
            after = parse.objects(body, prefix, what)
            names = [k for k, _ in after.objects] + [p for p, _ in after.prefixes]
            return names, after.next_token is not None

        return self._next.prefix_check(
            key,
            following,
            lambda cursor: self._list(bucket, prefix, cursor, self.page_size, what, delimiter=True),
            names,
            lambda directory: self._has_prefix(bucket, directory, what),
        )

    def list_subtree(self, key: ListingKey, limit: int) -> dict[ListingKey, list[Entry]] | None:
        """Every objects listing at or below `key` from the flat ListObjectsV2 of its prefix
        (no delimiter): ceil(N / page_size) requests. None past `limit` keys."""
        bucket, prefix = key.args
        what = f"{self.label} ListObjectsV2 {bucket} (flat)"
        found: list[tuple[str, Entry]] = []
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = parse.objects(self._list(bucket, prefix, cursor, self.page_size, what), prefix, what)
            if page.prefixes:
                raise BadResponse(f"{what} answered common prefixes to a listing without a delimiter")
            found += page.objects
            if len(found) > limit:
                return None
            cursor = page.next_token
            if cursor is None:
                break
            if cursor in seen:
                raise BadResponse(f"{what}: the server repeated continuation token {cursor[:64]!r}")
            seen.add(cursor)
        groups = group_flat(prefix, found, self._directory)
        return subtree_listings(key, groups, self.skipped, what)

    def lookup(self, key: ListingKey, name: str) -> Entry | None:
        """The entry `name` of objects listing `key`, exactly as the listing shows it: the directory
        `name/` when that prefix exists (it shadows an object `name`), else the object `name`.

        One request (`prefix=<name>`, `delimiter=/`, two results); a second, `prefix=<name>/`,
        only when siblings such as `name.txt` sort between `name` and `name/` and fill the page.
        """
        bucket, prefix = key.args
        if unusable_reason(name) is not None:
            return None
        what = f"{self.label} ListObjectsV2 {bucket} (one name)"
        exact, directory = prefix + name, prefix + name + "/"
        body = self._list(bucket, exact, None, 2, what, delimiter=True, op="lookup_object")
        page = parse.objects(body, prefix, what, self.dir_mtime)
        if any(full == directory for full, _ in page.prefixes):
            return parse.prefix_entry(directory, name, self.dir_mtime)
        listed = [k for k, _ in page.objects] + [p for p, _ in page.prefixes]
        # S3 lists in key order: past `name/` (or at the end) without it, the prefix does not exist.
        behind = page.next_token is not None and max(listed, default="") < directory
        if behind and self._has_prefix(bucket, directory, what):
            return parse.prefix_entry(directory, name, self.dir_mtime)
        return next((entry for k, entry in page.objects if k == exact), None)

    def not_shown(self, key: ListingKey) -> list[tuple[str, str]]:
        return [(s.key, s.reason) for s in self.skipped.keys(key)]

    # -- helpers -----------------------------------------------------------------------------

    def _directory(self, full: str, segment: str) -> Entry:
        return parse.prefix_entry(full, segment, self.dir_mtime)

    def _list(
        self,
        bucket: str,
        prefix: str,
        cursor: str | None,
        size: int,
        what: str,
        *,
        delimiter: bool = False,
        op: str = "list_objects",
        on_sent: OnSent = None,
    ) -> bytes:
        """The raw body of one ListObjectsV2 request."""
        query = {"list-type": "2", "max-keys": str(size)}
        if delimiter:
            query["delimiter"] = "/"
        if prefix:
            query["prefix"] = prefix
        if cursor is not None:
            query["continuation-token"] = cursor
        return self._send(op, bucket, "", query, what, on_sent)

    def _has_prefix(self, bucket: str, prefix: str, what: str) -> bool:
        """Whether any key starts with `prefix` (one request, one result at most)."""
        body = self._list(bucket, prefix, None, 1, what, op="lookup_object")
        return bool(parse.objects(body, prefix, what).objects)
