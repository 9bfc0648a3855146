"""Entry: one listed thing (a container, bucket, upload, part or vault) as the tree sees it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple


class Entry:
    """An immutable listing entry.

    `fields` is a flat tuple `(xattr_name, value, xattr_name, value, ...)`: one small object per
    entry instead of a dict. Providers build it with `field_name()` and `share()`, so names and
    repeated values are one object across entries.
    `ref` is provider-private context a child listing needs (for example an upload's object key).
    """

    __slots__ = ("ctime", "fields", "is_dir", "mtime", "name", "ref", "size")

    def __init__(
        self,
        name: str,
        *,
        is_dir: bool,
        size: int = 0,
        mtime: float = 0.0,
        ctime: float | None = None,
        fields: tuple[str, ...] = (),
        ref: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.is_dir = is_dir
        self.size = size
        self.mtime = mtime
        self.ctime = mtime if ctime is None else ctime
        self.fields = fields
        self.ref = ref

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


_FIELD_NAMES: dict[tuple[str, str], str] = {}


_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9_.\-]")
_NAME_KEY_MAX = 200  # xattr names may have 255 bytes, prefix included


def field_name(provider: str, key: str) -> str:
    """The xattr name `user.<provider>.<key>`, one shared string per distinct name.

    Keys come from servers: anything but letters, digits, `_`, `.` and `-` becomes `_`, so a
    hostile field name can never break `listxattr` (NUL-separated) or exceed the name limit.
    """
    name = _FIELD_NAMES.get((provider, key))
    if name is None:
        safe = _UNSAFE_IN_NAME.sub("_", key)[:_NAME_KEY_MAX] or "_"
        name = f"user.{provider}.{safe}"
        if len(_FIELD_NAMES) < _SHARED_MAX:
            name = _FIELD_NAMES.setdefault((provider, key), name)
    return name
