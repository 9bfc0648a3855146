"""Entry: one listed thing (a container, bucket, upload, part or vault) as the tree sees it."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

NS = 1_000_000_000


class Entry:
    """An immutable listing entry.

    `fields` is a flat tuple `(xattr_name, value, xattr_name, value, ...)`: one small object per
    entry instead of a dict. Providers build it with `field_name()` and `share()`, so names and
    repeated values are one object across entries.
    `ref` is provider-private context a child listing needs (for example an upload's object key).
    Times are integer nanoseconds since 1970 (negative before), exactly as the server wrote them.
    """

    __slots__ = ("ctime_ns", "fields", "is_dir", "mtime_ns", "name", "ref", "size")

    def __init__(
        self,
        name: str,
        *,
        is_dir: bool,
        size: int = 0,
        mtime_ns: int = 0,
        ctime_ns: int | None = None,
        fields: tuple[str, ...] = (),
        ref: tuple[str, ...] = (),
        mtime: float | None = None,
        ctime: float | None = None,
    ) -> None:
        if mtime is not None:  # seconds, for callers that only have a float (prefer the _ns forms)
            mtime_ns = round(mtime * NS)
        if ctime is not None:
            ctime_ns = round(ctime * NS)
        self.name = name
        self.is_dir = is_dir
        self.size = size
        self.mtime_ns = mtime_ns
        self.ctime_ns = mtime_ns if ctime_ns is None else ctime_ns
        self.fields = fields
        self.ref = ref

    @property
    def mtime(self) -> float:
        """Seconds since 1970 (approximate: `mtime_ns` is the exact time)."""
        return self.mtime_ns / NS

    @property
    def ctime(self) -> float:
        return self.ctime_ns / NS

    def xattrs(self) -> Iterator[tuple[str, str]]:
        """The (name, value) pairs served as extended attributes."""
        fields = self.fields
        return zip(fields[::2], fields[1::2], strict=True)

    def xattr(self, name: str) -> str | None:
        fields = self.fields
        for i in range(0, len(fields), 2):
            if fields[i] == name:
                return fields[i + 1]
        return None

    def __repr__(self) -> str:
        kind = "dir" if self.is_dir else "file"
        return f"Entry({self.name!r}, {kind}, size={self.size}, mtime={self.mtime})"


#: The `fields` slot itself (its member descriptor), which LazyEntry fills on first use.
_FIELDS_SLOT: Any = Entry.__dict__["fields"]


class LazyEntry(Entry):
    """An Entry whose `fields` are decoded from the server's raw values when first read.

    A listing needs at once only what `stat` shows (name, kind, size, times); extended
    attributes are read far less often. A provider keeps what it parsed in `raw` and gives a
    subclass whose `decode_fields(raw)` builds exactly the tuple an eager parse would have
    (it must not fail: check the raw values when parsing). The raw values go once decoded.
    """

    __slots__ = ("_raw",)

    def __init__(self, name: str, is_dir: bool, size: int, mtime_ns: int, ctime_ns: int, raw: object) -> None:
        self.name = name
        self.is_dir = is_dir
        self.size = size
        self.mtime_ns = mtime_ns
        self.ctime_ns = ctime_ns
        self.ref = ()
        self._raw = raw

    @staticmethod
    def decode_fields(raw: object) -> tuple[str, ...]:
        raise NotImplementedError

    @property  # type: ignore[override]
    def fields(self) -> tuple[str, ...]:
        raw = self._raw
        if raw is None:  # decoded (the slot is written before `_raw` is cleared)
            return _FIELDS_SLOT.__get__(self)  # type: ignore[no-any-return]
        fields = self.decode_fields(raw)
        _FIELDS_SLOT.__set__(self, fields)
        self._raw = None
        return fields

    @fields.setter
    def fields(self, fields: tuple[str, ...]) -> None:
        _FIELDS_SLOT.__set__(self, fields)
        self._raw = None


class Page(NamedTuple):
    """One page of a listing: its entries and the opaque cursor of the next page (None at the end).

    `lookahead` holds the cursors of further pages when the API reveals them (offset paging with a
    total), so a streaming reader can fetch them concurrently.
    """

    entries: list[Entry]
    next_cursor: str | None
    lookahead: tuple[str, ...] = ()


_SHARED_VALUES: dict[str, str] = {}
_SHARED_MAX = 65_536
_SHARED_LENGTH = 48


def share(value: str) -> str:
    """One string object for each short repeated value (`false`, `available`, a zone, a date).

    Listings repeat such values on every entry; sharing them saves most of an entry's memory.
    """
    if len(value) > _SHARED_LENGTH:
        return value
    existing = _SHARED_VALUES.get(value)
    if existing is not None:
        return existing
    if len(_SHARED_VALUES) < _SHARED_MAX:
        _SHARED_VALUES[value] = value
    return value


#: `known_shared(value, value)`: the one object `share` holds for `value`, else `value` itself.
#: Adds nothing (call `share` for that); one C call, for `map` over many values.
known_shared = _SHARED_VALUES.get


_FIELD_NAMES: dict[tuple[str, str, bool], str] = {}

_SAFE_IN_NAME = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_NAME_KEY_MAX = 200  # xattr names may have 255 bytes, prefix included
_HASH_LENGTH = 16
#: A key that reads as a CamelCase or hyphenated identifier gets the snake_case name the README lists.
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9-]*", re.ASCII)


def escape_key(key: str) -> str:
    """`a b` -> `a%20b`, `métier` -> `m%C3%A9tier`, `%` -> `%25`: every UTF-8 byte outside
    `[A-Za-z0-9_.-]` as `%XX`, so distinct keys give distinct names and `unquote` gives the key."""
    data = key.encode("utf-8", "surrogatepass")
    if all(byte in _SAFE_IN_NAME for byte in data):
        return key
    return "".join(chr(byte) if byte in _SAFE_IN_NAME else f"%{byte:02X}" for byte in data)


def field_name(provider: str, key: str, *, collided: bool = False) -> str:
    """The xattr name `user.<provider>.<key>` (key escaped by `escape_key`), one shared string each.

    `collided` marks a key whose usual name an earlier key of the same entry already took: its
    name is `~` plus the escaped key, which no other key can produce. An escaped key longer than
    200 bytes is cut and ends in `~` and 16 hex digits of its SHA-256, so it stays unique.
    """
    memo = (provider, key, collided)
    name = _FIELD_NAMES.get(memo)
    if name is None:
        suffix = ("~" if collided else "") + escape_key(key)
        if len(suffix) > _NAME_KEY_MAX:
            digest = hashlib.sha256(suffix.encode()).hexdigest()[:_HASH_LENGTH]
            suffix = f"{suffix[: _NAME_KEY_MAX - _HASH_LENGTH - 1]}~{digest}"
        name = f"user.{provider}.{suffix or '~'}"
        if len(_FIELD_NAMES) < _SHARED_MAX:
            name = _FIELD_NAMES.setdefault(memo, name)
    return name


@functools.lru_cache(maxsize=4096)
def nice_field_name(provider: str, key: str) -> str:
    """The xattr name of a key whose usual spelling is snake_case: CamelCase or hyphenated keys
    (`SizeInBytes`, `Last-Modified`) become `size_in_bytes`, `last_modified`; other keys are
    taken as they are (escaped). Two keys can then meet in one name: see `unique_fields`."""
    nice = snake_case(key) if _IDENTIFIER.fullmatch(key) else ""
    return field_name(provider, nice or key)


def unique_fields(provider: str, fields: list[str], keys: list[str]) -> tuple[str, ...]:
    """The `fields` tuple of one entry from a flat `[name, value, ...]` list, `keys[i]` being the
    key that named the i-th pair.

    When an earlier key of the entry already took a name (`Last-Modified` and `LastModified`,
    `A-B` and `a_b`), the later key gets its collided name (`~` + key), so no value is hidden.
    Only the same key a third time (XML allows repeats) has no name left and is dropped.
    Linear in the number of fields.
    """
    names = fields[::2]
    if len(set(names)) == len(names):
        return tuple(fields)
    taken: set[str] = set()
    kept: list[str] = []
    for name, key, value in zip(names, keys, fields[1::2], strict=True):
        if name in taken:
            name = field_name(provider, key, collided=True)
            if name in taken:
                continue
        taken.add(name)
        kept += (name, value)
    return tuple(kept)


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_NAME_CHAR = re.compile(r"[^a-z0-9_]+")


@functools.lru_cache(maxsize=4096)
def snake_case(name: str) -> str:
    """`Last-Modified` -> `last_modified`, `HasImmutabilityPolicy` -> `has_immutability_policy`."""
    return _NOT_NAME_CHAR.sub("_", _CAMEL_BOUNDARY.sub("_", name).lower()).strip("_")
