"""S3 XML bodies -> entries: buckets, objects and prefixes, multipart uploads and their parts."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError, fromstring

from storfs.dates import parse_iso8601
from storfs.entry import Entry, field_name, share, snake_case
from storfs.errors import BadResponse
from storfs.providers.common import decimal, sent_size, sent_time

PROVIDER = "s3"


def load_xml(body: bytes, root_tag: str, what: str, *aliases: str) -> Element:
    """The document element of an S3 answer, namespaces stripped; BadResponse if it is not `root_tag`."""
    # S3 never sends a DTD; refusing any keeps entity tricks out at no parsing cost.
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise BadResponse(f"{what} answered XML with a DTD; refusing to parse it")
    try:
        root = fromstring(body)
    except (ParseError, ValueError) as exc:
        raise BadResponse(f"{what} answered malformed XML ({exc})") from None
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = element.tag.partition("}")[2]
    if root.tag == "Error":
        code = (root.findtext("Code") or "").strip()[:64]
        raise BadResponse(f"{what} answered error {code!r} with a success status")
    if root.tag != root_tag and root.tag not in aliases:
        raise BadResponse(f"{what} answered <{root.tag[:64]}>, not <{root_tag}>")
    return root


def text(element: Element, tag: str) -> str:
    return (element.findtext(tag) or "").strip()


def is_true(element: Element, tag: str) -> bool:
    return text(element, tag).lower() == "true"


def fields_of(element: Element, skip: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Every child as `user.s3.<snake_case>`; nested ones as `<parent>.<child>` (`owner.id`)."""
    values: dict[str, str] = {}
    for child in element:
        if child.tag in skip:
            continue
        if len(child):
            for grandchild in child:
                name = f"{snake_case(child.tag)}.{snake_case(grandchild.tag)}"
                _add(values, name, grandchild.text or "")
        else:
            value = (child.text or "").strip()
            if child.tag == "ETag":
                _add(values, "etag", value.strip('"'))
            else:
                _add(values, snake_case(child.tag), value)
    result: list[str] = []
    for name, value in values.items():
        result += (field_name(PROVIDER, name), share(value))
    return tuple(result)


def _add(values: dict[str, str], name: str, value: str) -> None:
    # A repeated element (ChecksumAlgorithm may be) keeps every value, comma-separated.
    values[name] = f"{values[name]},{value.strip()}" if name in values else value.strip()


def mtime_ns(element: Element, tag: str, what: str) -> int:
    """The time in element `tag` as integer nanoseconds (0 if there is none; BadResponse if it
    is not a time)."""
    return sent_time(text(element, tag) or None, parse_iso8601, what, tag)


def size(element: Element, what: str) -> int:
    raw = text(element, "Size")
    return sent_size(decimal(raw) if raw else None, what, "Size")


def required(element: Element, tag: str, what: str) -> str:
    value = element.findtext(tag)
    if value is None:
        raise BadResponse(f"{what} answered a <{element.tag}> without <{tag}>")
    return value


# -- ListBuckets ----------------------------------------------------------------------------------


@dataclass
class BucketsPage:
    entries: list[Entry]
    regions: dict[str, str]  # bucket -> BucketRegion, where the server names it
    continuation: str | None


def buckets(body: bytes, what: str) -> BucketsPage:
    root = load_xml(body, "ListAllMyBucketsResult", what)
    entries: list[Entry] = []
    regions: dict[str, str] = {}
    holder = root.find("Buckets")
    for bucket in holder.iter("Bucket") if holder is not None else ():
        name = required(bucket, "Name", what)
        region = text(bucket, "BucketRegion")
        if region:
            regions[name] = region
        entries.append(
            Entry(
                name, is_dir=True, mtime_ns=mtime_ns(bucket, "CreationDate", what), fields=fields_of(bucket)
            )
        )
    return BucketsPage(entries, regions, text(root, "ContinuationToken") or None)


# -- ListObjectsV2 --------------------------------------------------------------------------------


@dataclass
class ObjectsPage:
    """One ListObjectsV2 page as the server sent it, before the names rules (`names.decide`)."""

    #: `(key, entry)` in S3's order, each entry named by what follows the listed prefix (the
    #: directory's own marker `a/` inside `a/` is named "").
    objects: list[tuple[str, Entry]]
    #: `(common prefix, directory entry)`, the entry named by its segment (without the `/`).
    prefixes: list[tuple[str, Entry]]
    next_token: str | None


def objects(body: bytes, prefix: str, what: str, dir_mtime: float = 0.0) -> ObjectsPage:
    """One ListObjectsV2 page of keys starting with `prefix`, named by what follows `prefix`.

    A CommonPrefix `a/b/` under `a/` is the directory `b`, its full prefix kept in `ref`, its time
    `dir_mtime` (S3 keeps none for a prefix). Which of them a directory shows is `names.decide`'s.
    """
    root = load_xml(body, "ListBucketResult", what)
    found: list[tuple[str, Entry]] = []
    for item in root.iter("Contents"):
        key = required(item, "Key", what)
        if not key.startswith(prefix):
            raise BadResponse(f"{what} answered a key outside prefix {prefix!r}")
        entry = Entry(
            key[len(prefix) :],
            is_dir=False,
            size=size(item, what),
            mtime_ns=mtime_ns(item, "LastModified", what),
            fields=fields_of(item),
            ref=(key,),
        )
        found.append((key, entry))
    prefixes: list[tuple[str, Entry]] = []
    for common in root.iter("CommonPrefixes"):
        full = required(common, "Prefix", what)
        if not full.startswith(prefix) or not full.endswith("/") or len(full) <= len(prefix):
            raise BadResponse(f"{what} answered a common prefix {full[:64]!r} outside {prefix!r}")
        prefixes.append((full, prefix_entry(full, full[len(prefix) : -1], dir_mtime)))
    truncated = is_true(root, "IsTruncated")
    token = text(root, "NextContinuationToken")
    if truncated and not token:
        raise BadResponse(f"{what}: IsTruncated without NextContinuationToken")
    return ObjectsPage(found, prefixes, token if truncated else None)


def _raw(body: bytes, tag: str, limit: int = 8192) -> str | None:
    """The text of the first `<tag>` within the first `limit` bytes, by a byte search (no parse)."""
    open_tag, close_tag = f"<{tag}>".encode(), f"</{tag}>".encode()
    start = body.find(open_tag, 0, limit)
    end = body.find(close_tag, start)
    if start < 0 or end < 0:
        return None
    return html.unescape(body[start + len(open_tag) : end].decode("utf-8", "replace"))


def _truncated(body: bytes) -> bool:
    return (_raw(body, "IsTruncated") or "").strip().lower() == "true"


# The next page's cursor, seen before the body is parsed (S3 sends paging fields before the
# items); the engine checks a hint against the parsed page, so a wrong one costs one request.


def next_token_hint(body: bytes) -> str | None:
    """ListObjectsV2's NextContinuationToken."""
    token = (_raw(body, "NextContinuationToken") or "").strip()
    return token if token and _truncated(body) else None


def next_uploads_hint(body: bytes) -> str | None:
    """ListMultipartUploads' markers, as the cursor `uploads()` makes of them."""
    key, upload_id = _raw(body, "NextKeyMarker"), _raw(body, "NextUploadIdMarker")
    return json.dumps([key, upload_id or ""]) if key and _truncated(body) else None


def next_part_hint(body: bytes) -> str | None:
    """ListParts' NextPartNumberMarker."""
    marker = (_raw(body, "NextPartNumberMarker") or "").strip()
    return marker if marker.isdigit() and _truncated(body) else None


def prefix_entry(full: str, segment: str, mtime: float = 0.0) -> Entry:
    """The directory `segment` that the common prefix `full` (`a/b/`) shows."""
    return Entry(segment, is_dir=True, mtime=mtime, fields=(_PREFIX, full), ref=(full,))


_PREFIX = field_name(PROVIDER, "prefix")


# -- ListMultipartUploads -------------------------------------------------------------------------


@dataclass
class UploadsPage:
    entries: list[Entry]
    next_markers: tuple[str, str] | None


def uploads(body: bytes, what: str) -> UploadsPage:
    root = load_xml(body, "ListMultipartUploadsResult", what)
    entries = []
    for upload in root.iter("Upload"):
        upload_id = required(upload, "UploadId", what)
        key = required(upload, "Key", what)
        entries.append(
            Entry(
                upload_id,
                is_dir=True,
                mtime_ns=mtime_ns(upload, "Initiated", what),
                fields=fields_of(upload),
                ref=(key,),
            )
        )
    if not is_true(root, "IsTruncated"):
        return UploadsPage(entries, None)
    next_key = root.findtext("NextKeyMarker") or ""
    if not next_key:
        raise BadResponse(f"{what}: IsTruncated without NextKeyMarker")
    return UploadsPage(entries, (next_key, root.findtext("NextUploadIdMarker") or ""))


# -- ListParts ------------------------------------------------------------------------------------


@dataclass
class PartsPage:
    entries: list[Entry]
    next_marker: str | None


def parts(body: bytes, what: str) -> PartsPage:
    root = load_xml(body, "ListPartsResult", what, "ListPartsResponse")  # moto's name
    entries = []
    for part in root.iter("Part"):
        number = text(part, "PartNumber")
        if not number.isdigit():
            raise BadResponse(f"{what} answered a part without a valid <PartNumber>")
        entries.append(
            Entry(
                f"{int(number):05d}",
                is_dir=False,
                size=size(part, what),
                mtime_ns=mtime_ns(part, "LastModified", what),
                fields=fields_of(part),
            )
        )
    if not is_true(root, "IsTruncated"):
        return PartsPage(entries, None)
    marker = text(root, "NextPartNumberMarker")
    if not marker.isdigit():
        raise BadResponse(f"{what}: IsTruncated without a NextPartNumberMarker")
    return PartsPage(entries, marker)


# -- Error bodies ---------------------------------------------------------------------------------


def error_fields(body: bytes) -> dict[str, str]:
    """`Code`, `Region` and the like from an `<Error>` body; {} when it is not one."""
    if not body or b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        return {}
    try:
        root = fromstring(body)
    except (ParseError, ValueError):
        return {}
    if root.tag.rpartition("}")[2] != "Error":
        return {}
    return {child.tag.rpartition("}")[2]: (child.text or "").strip() for child in root if not len(child)}
