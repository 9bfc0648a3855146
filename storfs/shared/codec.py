"""Pages as bytes for the shared cache: compact, versioned, signed, and strictly checked on the way in.

An entry is written generically from `Entry.__slots__`, each slot typed by `Entry.__init__`'s
annotation, so a field another module adds to Entry is carried without touching this file. The
slot layout is part of the format (`SCHEMA`): mounts of different storfs versions never read each
other's pages. Strings of `fields` and `ref` (attribute names and repeated values) go through one
string table per page, which keeps the blob small and the decoded entries sharing their values.

Blob: MAGIC, a 32-byte HMAC-SHA256 (keyed by the caller, over the Redis key and the body), then
the zlib-compressed JSON `[FORMAT, SCHEMA, strings, rows, next_cursor, lookahead]`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import typing
import zlib
from typing import Any

from storfs.entry import Entry, Page, share

FORMAT = 1
MAGIC = b"SFP1"
#: The most a page may take once decompressed (a 5000-entry page takes a few MB).
MAX_PAGE_BYTES = 64 * 1024 * 1024
_MAC_SIZE = hashlib.sha256().digest_size


class Unsupported(Exception):
    """Entry has a slot whose type this codec cannot carry, or a value of another type."""


class Rejected(Exception):
    """A blob that is not exactly a page this codec wrote with this key."""


#: Slot kinds by annotation: `s` str, `b` bool, `i` int, `f` float (an int is kept as it is),
#: `f?` float or None, `S` tuple of str (through the string table).
_KINDS: dict[Any, str] = {str: "s", bool: "b", int: "i", float: "f", float | None: "f?", tuple[str, ...]: "S"}


def _slot_kinds() -> tuple[tuple[str, str], ...]:
    hints = typing.get_type_hints(Entry.__init__)
    kinds = []
    for slot in Entry.__slots__:
        kind = _KINDS.get(hints.get(slot))
        if kind is None:
            raise Unsupported(f"Entry.{slot} has no constructor argument of a type the shared cache carries")
        kinds.append((slot, kind))
    return tuple(kinds)


try:
    SLOTS: tuple[tuple[str, str], ...] = _slot_kinds()
    UNSUPPORTED: str | None = None
except Unsupported as exc:  # sharing is then off; the mount says so once
    SLOTS, UNSUPPORTED = (), str(exc)
SCHEMA = ",".join(f"{slot}:{kind}" for slot, kind in SLOTS)
#: Short tag of format and schema, part of every shared key.
SCHEMA_TAG = hashlib.sha256(f"{FORMAT}|{SCHEMA}".encode()).hexdigest()[:8]


def _valid(kind: str, value: Any) -> bool:
    if kind == "s":
        return isinstance(value, str)
    if kind == "b":
        return isinstance(value, bool)
    if kind == "i":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in ("f", "f?"):
        if value is None:
            return kind == "f?"
        return isinstance(value, int | float) and not isinstance(value, bool) and value == value  # no NaN
    raise AssertionError(kind)


def encode(page: Page, mac_key: bytes, redis_key: str) -> bytes:
    """The signed blob of `page`; Unsupported if an entry holds a value of an unexpected type."""
    if UNSUPPORTED:
        raise Unsupported(UNSUPPORTED)
    table: dict[str, int] = {}
    rows = []
    for entry in page.entries:
        row: list[Any] = []
        for slot, kind in SLOTS:
            value = getattr(entry, slot)
            if kind == "S":
                if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
                    raise Unsupported(f"Entry.{slot} of {entry.name!r} is not a tuple of strings")
                row.append([table.setdefault(v, len(table)) for v in value])
            elif _valid(kind, value):
                row.append(value)
            else:
                raise Unsupported(f"Entry.{slot} of {entry.name!r} is a {type(value).__name__}")
        rows.append(row)
    doc = [FORMAT, SCHEMA, list(table), rows, page.next_cursor, list(page.lookahead)]
    try:
        text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:  # an infinite float
        raise Unsupported(str(exc)) from None
    body = zlib.compress(text.encode("ascii"), 1)
    return MAGIC + _mac(mac_key, redis_key, body) + body


def decode(blob: bytes, mac_key: bytes, redis_key: str) -> Page:
    """The page in `blob`, or Rejected: wrong signature, format, schema, type, or anything extra."""
    head = len(MAGIC) + _MAC_SIZE
    if not isinstance(blob, bytes) or len(blob) < head or not blob.startswith(MAGIC):
        raise Rejected("not a storfs page")
    body = blob[head:]
    if not hmac.compare_digest(blob[len(MAGIC) : head], _mac(mac_key, redis_key, body)):
        raise Rejected("signature does not match (written without this account's credential)")
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(body, MAX_PAGE_BYTES)
    except zlib.error:
        raise Rejected("not zlib data") from None
    if inflater.unconsumed_tail or inflater.unused_data or not inflater.eof:
        raise Rejected("larger than a page may be, truncated, or followed by other data")
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise Rejected("not JSON") from None
    if not (isinstance(doc, list) and len(doc) == 6 and doc[0] == FORMAT and doc[1] == SCHEMA):
        raise Rejected("another format or entry layout")
    _, _, strings, rows, next_cursor, lookahead = doc
    if not (isinstance(strings, list) and all(isinstance(s, str) for s in strings)):
        raise Rejected("bad string table")
    if not (next_cursor is None or isinstance(next_cursor, str)):
        raise Rejected("bad cursor")
    if not (isinstance(lookahead, list) and all(isinstance(c, str) for c in lookahead)):
        raise Rejected("bad lookahead")
    if not isinstance(rows, list):
        raise Rejected("bad entries")
    shared = [share(s) for s in strings]
    return Page([_entry(row, shared) for row in rows], next_cursor, tuple(lookahead))


def _entry(row: Any, strings: list[str]) -> Entry:
    if not isinstance(row, list) or len(row) != len(SLOTS):
        raise Rejected("an entry of the wrong length")
    values: dict[str, Any] = {}
    for (slot, kind), value in zip(SLOTS, row, strict=True):
        if kind == "S":
            if not isinstance(value, list) or not all(
                type(i) is int and 0 <= i < len(strings) for i in value
            ):
                raise Rejected(f"bad {slot}")
            values[slot] = tuple(strings[i] for i in value)
        elif _valid(kind, value):
            values[slot] = value
        else:
            raise Rejected(f"bad {slot}")
    return Entry(**values)


def _mac(key: bytes, redis_key: str, body: bytes) -> bytes:
    mac = hmac.new(key, redis_key.encode("utf-8", "surrogatepass") + b"\0", hashlib.sha256)
    mac.update(body)
    return mac.digest()
