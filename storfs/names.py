"""Which provider names can be file names, and how object keys become path segments.

Decided in one place; the README's "Names" section states the same rules for users.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import NamedTuple

from storfs.entry import Entry
from storfs.keys import ListingKey
from storfs.stats import STATS

log = logging.getLogger(__name__)

NAME_MAX = 255
DELIMITER = "/"

#: Reasons a key is not shown (the stats count them by reason).
EMPTY_SEGMENT = "empty path segment"
RESERVED = "reserved name"
TOO_LONG = f"segment longer than {NAME_MAX} bytes"
HAS_NUL = "contains NUL"
NOT_UTF8 = "not valid UTF-8"
SHADOWED = "object shadowed by a directory of the same name"
MARKER_WITH_BYTES = "directory marker holding bytes"


def unusable_reason(name: str) -> str | None:
    """Why `name` cannot be a directory entry, or None when it can.

    Such entries are skipped with one warning per listing (see the README, "Names").
    """
    if name in ("", ".", ".."):
        return "reserved name"
    if "/" in name:
        return "contains '/'"
    if "\0" in name:
        return "contains NUL"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid UTF-8"
    if len(encoded) > NAME_MAX:
        return f"longer than {NAME_MAX} bytes"
    return None


def segment_reason(segment: str) -> str | None:
    """Why one `/`-separated segment of a key cannot be a path segment, or None when it can."""
    if segment == "":
        return EMPTY_SEGMENT
    if segment in (".", ".."):
        return RESERVED
    if "\0" in segment:
        return HAS_NUL
    try:
        encoded = segment.encode("utf-8")
    except UnicodeEncodeError:
        return NOT_UTF8
    if len(encoded) > NAME_MAX:
        return TOO_LONG
    return None


def escape_key(key: str) -> str:
    """A whole key as one file name: `%` -> `%25`, `/` -> `%2F` (Azure uploads are named so)."""
    return key.replace("%", "%25").replace("/", "%2F")


class Skipped(NamedTuple):
    """A key a listing could not show, with why."""

    key: str
    reason: str


class DelimitedPage(NamedTuple):
    """One page of a `prefix` + `delimiter=/` listing, before names are decided.

    `objects` are `(key, entry)` pairs of objects directly under the prefix, `prefixes` the
    `(common prefix, entry)` pairs; `entries` are built with the segment as their name.
    """

    objects: list[tuple[str, Entry]]
    prefixes: list[tuple[str, Entry]]
    more: bool
    next_cursor: str | None = None


def shadowed_by_next(keys: Iterable[str], more: bool, directory: str) -> bool | None:
    """Whether prefix `directory` (`a/`, of an object `a` at the end of a page) exists, told by
    the keys and prefixes of the next page; None when that page cannot tell.

    Names sort, so every key starting with `directory` comes after the page that ends before it:
    the next page shows one, or a key sorting past all of them, or ends the listing.
    """
    keys = list(keys)
    if any(key.startswith(directory) for key in keys):
        return True
    if not more or (keys and max(keys) > directory):
        return False
    return None


def segment_of(prefix: str, key: str) -> str:
    """The path segment `key` shows as inside the listing of `prefix` (a common prefix loses its `/`)."""
    rest = key[len(prefix) :]
    return rest[:-1] if rest.endswith(DELIMITER) else rest


def decide(
    prefix: str, page: DelimitedPage, has_prefix: Callable[[str], bool]
) -> tuple[list[Entry], list[Skipped]]:
    """The entries a page shows and the keys it cannot show, by the rules of the README's "Names".

    - a key whose segment is empty, `.`, `..`, has NUL or is over 255 bytes is not shown;
    - the zero-byte object named like the listing's own prefix (`a/` inside `a/`) is the
      directory's marker: not an entry, not an error; one that holds bytes is reported;
    - a key that is both an object and a prefix (`a` and `a/b`) shows as the directory: the
      object is reported as shadowed. Within a page this is decided from the page; an object
      whose prefix may come on a later page is checked with `has_prefix` (the providers ask
      the next page, `storfs/next_pages.py`).
    """
    skipped: list[Skipped] = []
    entries: list[Entry] = []
    dirs = set()
    for key, entry in page.prefixes:
        reason = segment_reason(entry.name)
        if reason is None:
            dirs.add(entry.name)
            entries.append(entry)
        else:
            skipped.append(Skipped(key, reason))
    last = max([k for k, _ in page.objects] + [k for k, _ in page.prefixes], default="")
    for key, entry in page.objects:
        if key == prefix:
            if entry.size:
                skipped.append(Skipped(key, MARKER_WITH_BYTES))
            continue
        reason = segment_reason(entry.name)
        if reason is None and (
            entry.name in dirs or (page.more and key + DELIMITER > last and has_prefix(key + DELIMITER))
        ):
            reason = SHADOWED
        if reason is None:
            entries.append(entry)
        else:
            skipped.append(Skipped(key, reason))
    entries.sort(key=lambda e: e.name)
    return entries, skipped


class SkipLog:
    """The keys each listing could not show: counted in the stats, warned once per listing.

    Bounded: at most `per_listing` keys kept per listing and `listings` listings remembered;
    `storfs ls --json` shows the kept keys.
    """

    def __init__(self, listings: int = 1024, per_listing: int = 1000) -> None:
        self._lock = threading.Lock()
        self._keys: dict[object, list[Skipped]] = {}
        self._listings = listings
        self._per_listing = per_listing

    def record(self, listing: object, label: str, first_page: bool, skipped: Iterable[Skipped]) -> None:
        """Note a page's skipped keys (`first_page` starts the listing over)."""
        skipped = list(skipped)
        with self._lock:
            if first_page:
                self._keys.pop(listing, None)
            if not skipped:
                return
            known = self._keys.get(listing)
            warn = known is None
            if known is None:
                if len(self._keys) >= self._listings:
                    self._keys.pop(next(iter(self._keys)))
                known = self._keys[listing] = []
            known.extend(skipped[: max(0, self._per_listing - len(known))])
        for item in skipped:
            STATS.cache_event(f"keys_not_shown {item.reason}")
        if warn:
            example = skipped[0]
            log.warning(
                "%s: some keys cannot be shown as paths (first: %r, %s); `storfs ls --json` lists them",
                label,
                example.key[:300],
                example.reason,
            )

    def keys(self, listing: object) -> list[Skipped]:
        with self._lock:
            return list(self._keys.get(listing, ()))


def renamed(entry: Entry, name: str) -> Entry:
    """The same entry under another name (a key's segment within the directory that shows it)."""
    return Entry(
        name,
        is_dir=entry.is_dir,
        size=entry.size,
        mtime_ns=entry.mtime_ns,
        ctime_ns=entry.ctime_ns,
        fields=entry.fields,
        ref=entry.ref,
    )


def group_flat(
    root: str, objects: Iterable[tuple[str, Entry]], make_dir: Callable[[str, str], Entry]
) -> dict[str, tuple[list[Entry], list[Skipped]]]:
    """Every directory at or below prefix `root`, from one flat listing of `root`'s objects.

    For each directory prefix: the entries and not-shown keys its own `delimiter=/` listing
    gives, by the same rules (`decide`), with no further request: the flat listing already
    says which prefixes exist. `make_dir(prefix, segment)` builds a prefix's directory entry.
    """
    pages: dict[str, DelimitedPage] = {root: DelimitedPage([], [], False)}
    seen: set[str] = set()
    for key, entry in objects:
        if not key.startswith(root):
            continue
        directory = root
        segments = key[len(root) :].split(DELIMITER)
        for segment in segments[:-1]:
            child = directory + segment + DELIMITER
            if child not in seen:
                seen.add(child)
                pages[directory].prefixes.append((child, make_dir(child, segment)))
                if segment_reason(segment) is None:
                    pages[child] = DelimitedPage([], [], False)
            if child not in pages:
                break  # the directory cannot be shown, so neither can anything below it
            directory = child
        else:
            pages[directory].objects.append((key, renamed(entry, segments[-1])))
    return {prefix: decide(prefix, page, seen.__contains__) for prefix, page in pages.items()}


def subtree_listings(
    key: ListingKey,
    groups: dict[str, tuple[list[Entry], list[Skipped]]],
    skipped: SkipLog,
    what: str,
) -> dict[ListingKey, list[Entry]]:
    """The listing of each directory `group_flat` found below `key`, whose last argument is
    its prefix; the keys each cannot show are recorded as that listing's first page's."""
    listings = {}
    for directory, (entries, not_shown) in groups.items():
        inner = key._replace(args=(*key.args[:-1], directory))
        skipped.record(inner, f"{what} prefix {directory!r}", True, not_shown)
        listings[inner] = entries
    return listings
