"""QingStor JSON bodies -> entries: buckets, multipart uploads, parts and objects."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from storfs.dates import parse_iso8601
from storfs.entry import Entry, field_name, share
from storfs.errors import BadResponse
from storfs.gc_policy import no_cyclic_gc
from storfs.providers.common import sent_size, sent_time
from storfs.untrusted import server_text

PROVIDER = "qingstor"


def load_json(body: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadResponse(f"{what} answered a body that is not JSON") from exc
    if not isinstance(data, dict):
        raise BadResponse(f"{what} answered JSON that is not an object")
    return data


def page_items(
    body: bytes, field: str, entry: Callable[[dict[str, Any], str], Entry], what: str
) -> tuple[dict[str, Any], list[Entry]]:
    """A JSON page and the entries `entry` makes of its list `field`.

    No cyclic GC meanwhile (`gc_policy`): a page's objects form no cycles, and a collection
    while they are built would scan them (and every listing kept) for nothing.
    """
    with no_cyclic_gc():
        data = load_json(body, what)
        return data, [entry(item, what) for item in items(data, field, what)]


def items(data: dict[str, Any], field: str, what: str) -> list[dict[str, Any]]:
    """The documented list of objects `field`; absent or null is an empty list."""
    value = data.get(field)
    if value is None:
        if "code" in data:  # an error body that came with a success status
            raise BadResponse(f"{what} answered error {text(data['code'])[:64]!r} with a success status")
        return []
    if not isinstance(value, list):
        raise BadResponse(f"{what} answered {kind(value)} as `{field}`, expected a list of objects")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise BadResponse(f"{what} answered {kind(item)} as `{field}[{index}]`, expected an object")
    return value


def paging_field(data: dict[str, Any], field: str, expected: type[Any], what: str) -> Any:
    """A field that decides paging (`count`, `has_more`, a marker): absent is None, and any other
    JSON type than the documented one (null, `"true"` for a bool, a bool for an int) is malformed."""
    if field not in data:
        return None
    value: Any = data[field]
    if type(value) is not expected:
        name = {int: "an integer", bool: "a boolean", str: "a string"}[expected]
        raise BadResponse(f"{what} answered {kind(value)} as `{field}`, expected {name}")
    if expected is int and int(value) < 0:
        raise BadResponse(f"{what} answered {value} as `{field}`, expected a count")
    return value


def text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value).strip()


def kind(value: Any) -> str:
    """`a number`, `an object`...: the JSON type of a parsed value, for messages."""
    if isinstance(value, bool):
        return "a boolean"
    kinds = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}
    return kinds.get(type(value), "null")


#: Documented item fields and their JSON types (providers.md 1.4-1.6); null counts as absent.
_DOCUMENTED: dict[str, type] = {
    "name": str, "location": str, "url": str, "created": str, "key": str, "upload_id": str,
    "etag": str, "part_number": int, "size": int,
}  # fmt: skip


def fields_of(item: dict[str, Any], what: str) -> tuple[str, ...]:
    """Every field of a JSON item as xattrs `user.qingstor.<field>` (keys are unique in JSON, and
    `field_name` keeps distinct keys distinct). A documented field of another type is malformed."""
    result: list[str] = []
    for key, value in item.items():
        if value is None:
            continue
        expected = _DOCUMENTED.get(key)
        if expected is not None and (type(value) is not expected):
            name = "a string" if expected is str else "an integer"
            raise BadResponse(f"{what} answered {kind(value)} as `{key}` of an item, expected {name}")
        result += (field_name(PROVIDER, key), share(text(value)))
    return tuple(result)


def required_str(item: dict[str, Any], key: str, what: str) -> str:
    """A string field; an empty one is returned as is (the listing skips unusable names)."""
    value = item.get(key)
    if not isinstance(value, str):
        raise BadResponse(f"{what} answered an item without a string `{key}`")
    return value


def created(item: dict[str, Any], what: str) -> int:
    return sent_time(item.get("created"), parse_iso8601, what, "created")


def bucket_entry(item: dict[str, Any], what: str) -> Entry:
    name = required_str(item, "name", what)
    fields = fields_of(item, what)
    location = item.get("location") or ""
    return Entry(name, is_dir=True, mtime_ns=created(item, what), fields=fields, ref=(location,))


def upload_entry(item: dict[str, Any], what: str) -> Entry:
    upload_id = required_str(item, "upload_id", what)
    key = required_str(item, "key", what)
    born = created(item, what)
    return Entry(upload_id, is_dir=True, mtime_ns=born, fields=fields_of(item, what), ref=(key,))


def part_entry(item: dict[str, Any], what: str) -> Entry:
    number = item.get("part_number")
    if type(number) is not int or number < 0:
        raise BadResponse(f"{what} answered a part without a valid `part_number`")
    fields = fields_of(item, what)
    size = sent_size(item.get("size"), what, "size")
    return Entry(f"{number:05d}", is_dir=False, size=size, mtime_ns=created(item, what), fields=fields)


# -- GET Bucket (List Objects) -------------------------------------------------------------------

_PREFIX = field_name(PROVIDER, "prefix")
_ETAG = field_name(PROVIDER, "etag")
NS = 1_000_000_000


def object_entry(item: dict[str, Any], segment: str, ref: tuple[str, ...], what: str) -> Entry:
    """A file from one `keys[]` item: size, mtime `modified` (else `created`), ctime `created`.

    `etag` is shown without the quotes the API puts around it; `ref` gets it appended.
    """
    required_str(item, "key", what)
    fields = list(fields_of(item, what))
    etag = text(item.get("etag") or "").strip('"')
    if _ETAG in fields:
        fields[fields.index(_ETAG) + 1] = etag
    modified = item.get("modified")
    born = created(item, what)
    mtime = born
    if isinstance(modified, int) and not isinstance(modified, bool) and 0 <= modified < 2**33:
        mtime = modified * NS
    elif modified is not None:
        raise BadResponse(f"{what} answered a `modified` that is not a time: {server_text(modified, 64)}")
    size = sent_size(item.get("size"), what, "size")
    return Entry(
        segment,
        is_dir=False,
        size=size,
        mtime_ns=mtime,
        ctime_ns=born,
        fields=tuple(fields),
        ref=(*ref, etag),
    )


def common_prefixes(data: dict[str, Any], what: str) -> list[str]:
    value = data.get("common_prefixes")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadResponse(f"{what} answered `common_prefixes` that is not a list of strings")
    return value


def prefix_entry(prefix: str, segment: str, ref: tuple[str, ...]) -> Entry:
    """The directory a common prefix shows (the API sends nothing else about it)."""
    return Entry(segment, is_dir=True, fields=(_PREFIX, prefix), ref=ref)
