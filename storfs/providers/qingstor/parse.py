"""QingStor JSON bodies -> entries: buckets, multipart uploads and parts."""

from __future__ import annotations

import json
from typing import Any

from storfs.dates import parse_iso8601
from storfs.entry import Entry, field_name, share
from storfs.errors import BadResponse
from storfs.providers.common import size_or_zero

PROVIDER = "qingstor"


def load_json(body: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadResponse(f"{what} answered a body that is not JSON") from None
    if not isinstance(data, dict):
        raise BadResponse(f"{what} answered JSON that is not an object")
    return data


def items(data: dict[str, Any], field: str, what: str) -> list[dict[str, Any]]:
    value = data.get(field)
    if value is None:
        if "code" in data:  # an error body that came with a success status
            raise BadResponse(f"{what} answered error {text(data['code'])[:64]!r} with a success status")
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise BadResponse(f"{what} answered `{field}` that is not a list of objects")
    return value


def text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value).strip()


def fields_of(item: dict[str, Any]) -> tuple[str, ...]:
    """Every field of a JSON item as xattrs `user.qingstor.<field>`."""
    result: list[str] = []
    for key, value in item.items():
        if value is not None:
            result += (field_name(PROVIDER, key), share(text(value)))
    return tuple(result)


def required_str(item: dict[str, Any], key: str, what: str) -> str:
    """A string field; an empty one is returned as is (the listing skips unusable names)."""
    value = item.get(key)
    if not isinstance(value, str):
        raise BadResponse(f"{what} answered an item without a string `{key}`")
    return value


def created(item: dict[str, Any]) -> float:
    value = item.get("created")
    return (parse_iso8601(value) or 0.0) if isinstance(value, str) else 0.0


def bucket_entry(item: dict[str, Any], what: str) -> Entry:
    name = required_str(item, "name", what)
    location = item.get("location") if isinstance(item.get("location"), str) else ""
    return Entry(name, is_dir=True, mtime=created(item), fields=fields_of(item), ref=(location or "",))


def upload_entry(item: dict[str, Any], what: str) -> Entry:
    upload_id = required_str(item, "upload_id", what)
    key = required_str(item, "key", what)
    return Entry(upload_id, is_dir=True, mtime=created(item), fields=fields_of(item), ref=(key,))


def part_entry(item: dict[str, Any], what: str) -> Entry:
    number = item.get("part_number")
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise BadResponse(f"{what} answered a part without a valid `part_number`")
    size = size_or_zero(item.get("size"))
    return Entry(f"{number:05d}", is_dir=False, size=size, mtime=created(item), fields=fields_of(item))


# -- GET Bucket (List Objects) -------------------------------------------------------------------

_PREFIX = field_name(PROVIDER, "prefix")
_ETAG = field_name(PROVIDER, "etag")


def object_entry(item: dict[str, Any], segment: str, ref: tuple[str, ...], what: str) -> Entry:
    """A file from one `keys[]` item: size, mtime `modified` (else `created`), ctime `created`.

    `etag` is shown without the quotes the API puts around it; `ref` gets it appended.
    """
    required_str(item, "key", what)
    fields = list(fields_of(item))
    etag = text(item.get("etag") or "").strip('"')
    if _ETAG in fields:
        fields[fields.index(_ETAG) + 1] = etag
    modified = item.get("modified")
    born = created(item)
    mtime = float(modified) if isinstance(modified, int) and not isinstance(modified, bool) else born
    size = size_or_zero(item.get("size"))
    return Entry(
        segment, is_dir=False, size=size, mtime=mtime, ctime=born, fields=tuple(fields), ref=(*ref, etag)
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
