"""Pages as bytes for the shared cache: compact, versioned, signed, and strictly checked on the way in.

An entry is written generically from `Entry.__slots__`, each slot typed by `Entry.__init__`'s
annotation, so a field another module adds to Entry is carried without touching this file. The
slot layout is part of the format (`SCHEMA`): mounts of different storfs versions never read each
other's pages. Strings of `fields` and `ref` (attribute names and repeated values) go through one
string table per page, which keeps the blob small and the decoded entries sharing their values
(one object per distinct string in a page, as the providers' `share()` gives).

Blob: MAGIC, a 32-byte HMAC-SHA256 (keyed by the caller, over the Redis key and the body), then
the zlib-compressed JSON `[FORMAT, SCHEMA, strings, count, columns, next_cursor, lookahead]`,
one column per slot.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import typing
import uuid
import zlib
from collections.abc import Callable, Iterable
from itertools import chain, starmap
from operator import attrgetter
from typing import Any

from storfs.entry import Entry, Page

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
#: `f?` float or None, `i?` int or None, `S` tuple of str (through the string table).
_KINDS: dict[Any, str] = {
    str: "s",
    bool: "b",
    int: "i",
    int | None: "i?",
    float: "f",
    float | None: "f?",
    tuple[str, ...]: "S",
}


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


#: The value types each kind accepts: exactly these, so a bool never passes for an int.
_TYPES: dict[str, frozenset[type]] = {
    "s": frozenset({str}),
    "b": frozenset({bool}),
    "i": frozenset({int}),
    "i?": frozenset({int, type(None)}),
    "f": frozenset({int, float}),
    "f?": frozenset({int, float, type(None)}),
}
_NAMES = tuple(slot for slot, _ in SLOTS)


def _entry_maker() -> Callable[..., Entry]:
    """`make(<slots in order>)` -> Entry(slot=value, ...): positional, twice as fast as `**dict`."""
    assert all(name.isidentifier() for name in _NAMES)
    source = f"def make({', '.join(_NAMES)}):\n    return Entry({', '.join(f'{n}={n}' for n in _NAMES)})\n"
    namespace: dict[str, Any] = {"Entry": Entry}
    exec(source, namespace)  # names are Entry's own slots, checked to be identifiers
    return namespace["make"]  # type: ignore[no-any-return]


_make_entry = _entry_maker()


def _types(values: Iterable[Any]) -> set[type]:
    return set(map(type, values))


def encode(page: Page, mac_key: bytes, redis_key: str) -> bytes:
    """The signed blob of `page`; Unsupported if an entry holds a value of an unexpected type.

    Column by column: one list per slot, so checks and conversions run over whole columns.
    """
    if UNSUPPORTED:
        raise Unsupported(UNSUPPORTED)
    count = len(page.entries)
    columns = list(zip(*map(attrgetter(*_NAMES), page.entries), strict=True)) if count else [()] * len(SLOTS)
    if len(SLOTS) == 1:  # attrgetter of one name gives values, not tuples
        columns = [tuple(getattr(e, _NAMES[0]) for e in page.entries)]
    strings = [column for column, (_, kind) in zip(columns, SLOTS, strict=True) if kind == "S"]
    for column in strings:
        if not _types(column) <= {tuple} or not _types(chain.from_iterable(column)) <= {str}:
            raise Unsupported("an entry's string tuple holds something else")
    table = {value: i for i, value in enumerate(dict.fromkeys(chain.from_iterable(chain(*strings))))}
    out: list[list[Any]] = []
    for column, (slot, kind) in zip(columns, SLOTS, strict=True):
        if kind == "S":
            out.append([list(map(table.__getitem__, value)) for value in column])
            continue
        if not _types(column) <= _TYPES[kind] or (kind[0] == "f" and any(v != v for v in column)):
            raise Unsupported(f"Entry.{slot} holds a value of another type")
        out.append(list(column))
    doc = [FORMAT, SCHEMA, list(table), count, out, page.next_cursor, list(page.lookahead)]
    return seal(doc, mac_key, redis_key)


def decode(blob: bytes, mac_key: bytes, redis_key: str) -> Page:
    """The page in `blob`, or Rejected: wrong signature, format, schema, type, or anything extra."""
    doc = unseal(blob, mac_key, redis_key)
    if not (isinstance(doc, list) and len(doc) == 7 and doc[0] == FORMAT and doc[1] == SCHEMA):
        raise Rejected("another format or entry layout")
    _, _, strings, count, columns, next_cursor, lookahead = doc
    if not (isinstance(strings, list) and _types(strings) <= {str}):
        raise Rejected("bad string table")
    if not (next_cursor is None or isinstance(next_cursor, str)):
        raise Rejected("bad cursor")
    if not (isinstance(lookahead, list) and _types(lookahead) <= {str}):
        raise Rejected("bad lookahead")
    if type(count) is not int or not isinstance(columns, list) or len(columns) != len(SLOTS):
        raise Rejected("bad entries")
    values = [_column(column, kind, count, strings) for column, (_, kind) in zip(columns, SLOTS, strict=True)]
    return Page(list(starmap(_make_entry, zip(*values, strict=True))), next_cursor, tuple(lookahead))


def encode_error(kind: str, message: str, mac_key: bytes, redis_key: str) -> bytes:
    """A signed record of a failed fetch: the error's class name and message."""
    return seal([FORMAT, "error", kind, message, uuid.uuid4().hex], mac_key, redis_key)


def decode_error(blob: bytes, mac_key: bytes, redis_key: str) -> tuple[str, str]:
    """(class name, message) from `encode_error`'s blob, or Rejected."""
    doc = unseal(blob, mac_key, redis_key)
    if not (isinstance(doc, list) and len(doc) == 5 and doc[:2] == [FORMAT, "error"]):
        raise Rejected("not an error record")
    if not all(isinstance(part, str) for part in doc[2:]):
        raise Rejected("bad error record")
    return doc[2], doc[3]


def seal(doc: Any, mac_key: bytes, redis_key: str) -> bytes:
    """MAGIC, the HMAC over `redis_key` and the body, then `doc` as zlib-compressed JSON."""
    try:
        text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:  # an infinite float
        raise Unsupported(str(exc)) from None
    body = zlib.compress(text.encode("ascii"), 1)
    return MAGIC + _mac(mac_key, redis_key, body) + body


def unseal(blob: bytes, mac_key: bytes, redis_key: str) -> Any:
    """The JSON document `seal` wrote for this key, or Rejected."""
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
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        raise Rejected("not JSON") from None


def _column(column: Any, kind: str, count: int, strings: list[str]) -> list[Any]:
    if not isinstance(column, list) or len(column) != count:
        raise Rejected("a column of the wrong length")
    if kind != "S":
        if not _types(column) <= _TYPES[kind]:
            raise Rejected("a value of the wrong type")
        return column
    if not _types(column) <= {list}:
        raise Rejected("a string tuple that is not a list")
    flat = list(chain.from_iterable(column))
    if flat and (not _types(flat) <= {int} or min(flat) < 0 or max(flat) >= len(strings)):
        raise Rejected("a string index out of the table")
    get = strings.__getitem__
    return [tuple(map(get, value)) for value in column]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a value a page holds")


def _mac(key: bytes, redis_key: str, body: bytes) -> bytes:
    mac = hmac.new(key, redis_key.encode("utf-8", "surrogatepass") + b"\0", hashlib.sha256)
    mac.update(body)
    return mac.digest()
