"""Azure XML bodies -> entries: List Containers, List Blobs, Get Block List."""

from __future__ import annotations

from typing import NamedTuple
from xml.etree.ElementTree import Element, ParseError, fromstring

from storfs.dates import parse_http_date
from storfs.entry import Entry, Page, field_name, share
from storfs.errors import BadResponse
from storfs.providers.common import size_or_zero, snake_case

PROVIDER = "azure"
_PUBLIC_ACCESS = field_name(PROVIDER, "public_access")


def parse_containers(body: bytes) -> Page:
    """Parse one List Containers response; raise BadResponse if it is not one."""
    # The service never sends a DTD; refusing any keeps entity tricks out (what defusedxml
    # guards against) at no parsing cost: expat does no network access by itself.
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise BadResponse("List Containers answered XML with a DTD; refusing to parse it")
    try:
        root = fromstring(body)
    except (ParseError, ValueError) as exc:
        raise BadResponse(f"List Containers answered malformed XML ({exc})") from None
    if root.tag != "EnumerationResults":
        raise BadResponse(f"List Containers answered <{root.tag}>, not <EnumerationResults>")
    containers = root.find("Containers")
    entries = [] if containers is None else [_container(c) for c in containers.iter("Container")]
    next_marker = (root.findtext("NextMarker") or "").strip()
    return Page(entries, next_marker or None)


def _container(element: Element) -> Entry:
    name = element.findtext("Name")
    if not name:
        raise BadResponse("List Containers answered a <Container> without a <Name>")
    fields: list[str] = []
    mtime: float | None = None
    properties = element.find("Properties")
    for prop in properties if properties is not None else ():
        value = (prop.text or "").strip()
        if prop.tag == "Etag":
            value = value.strip('"')
        elif prop.tag in ("Last-Modified", "LastModified"):
            mtime = parse_http_date(value)
        fields += (field_name(PROVIDER, snake_case(prop.tag)), share(value))
    if _PUBLIC_ACCESS not in fields:
        # The service omits PublicAccess for private containers; say so rather than stay silent.
        fields += (_PUBLIC_ACCESS, "private")
    metadata = element.find("Metadata")
    for item in metadata if metadata is not None else ():
        if item.tag == "x-ms-invalid-name":
            continue  # a metadata name the service could not express as XML; no value to show
        fields += (field_name(PROVIDER, f"meta.{item.tag}"), share(item.text or ""))
    return Entry(name, is_dir=True, mtime=mtime or 0.0, fields=tuple(fields))


# -- List Blobs, Get Block List ------------------------------------------------------------------

_NAME = field_name(PROVIDER, "name")
_PREFIX = field_name(PROVIDER, "prefix")
_BLOCK_ID = field_name(PROVIDER, "block_id")
_SIZE = field_name(PROVIDER, "size")


class BlobsPage(NamedTuple):
    """One List Blobs page: blobs as `(name, properties entry)`, prefixes, the next marker."""

    blobs: list[tuple[str, Entry]]
    prefixes: list[str]
    next_marker: str | None


def _document(body: bytes, what: str, root_tag: str) -> Element:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise BadResponse(f"{what} answered XML with a DTD; refusing to parse it")
    try:
        root = fromstring(body)
    except (ParseError, ValueError) as exc:
        raise BadResponse(f"{what} answered malformed XML ({exc})") from None
    if root.tag != root_tag:
        raise BadResponse(f"{what} answered <{root.tag}>, not <{root_tag}>")
    return root


def parse_blobs(body: bytes, prefix: str, container: str) -> BlobsPage:
    """Parse one List Blobs response; entries are named by their segment below `prefix`."""
    root = _document(body, "List Blobs", "EnumerationResults")
    blobs_element = root.find("Blobs")
    blobs: list[tuple[str, Entry]] = []
    prefixes: list[str] = []
    for element in blobs_element if blobs_element is not None else ():
        name = element.findtext("Name")
        if name is None or not name.startswith(prefix):
            raise BadResponse(f"List Blobs answered a <{element.tag}> outside prefix {prefix[:64]!r}")
        if element.tag == "BlobPrefix":
            prefixes.append(name)
        elif element.tag == "Blob":
            blobs.append((name, _blob(element, name, name[len(prefix) :], container)))
    next_marker = (root.findtext("NextMarker") or "").strip()
    return BlobsPage(blobs, prefixes, next_marker or None)


def prefix_entry(container: str, prefix: str, segment: str) -> Entry:
    """The directory a BlobPrefix shows (no properties: the service sends none)."""
    return Entry(segment, is_dir=True, fields=(_PREFIX, prefix), ref=(container, prefix))


def _blob(element: Element, name: str, segment: str, container: str) -> Entry:
    fields: list[str] = [_NAME, name]
    mtime: float | None = None
    ctime: float | None = None
    size = 0
    etag = ""
    properties = element.find("Properties")
    for prop in properties if properties is not None else ():
        value = (prop.text or "").strip()
        tag = prop.tag
        if tag == "Etag":
            value = etag = value.strip('"')
        elif tag in ("Last-Modified", "LastModified"):
            mtime = parse_http_date(value)
        elif tag == "Creation-Time":
            ctime = parse_http_date(value)
        elif tag == "Content-Length":
            size = size_or_zero(int(value)) if value.isdigit() else 0
        fields += (field_name(PROVIDER, snake_case(tag)), share(value))
    metadata = element.find("Metadata")
    for item in metadata if metadata is not None else ():
        if item.tag == "x-ms-invalid-name":
            continue
        fields += (field_name(PROVIDER, f"meta.{item.tag}"), share(item.text or ""))
    return Entry(
        segment,
        is_dir=False,
        size=size,
        mtime=mtime or 0.0,
        ctime=ctime,
        fields=tuple(fields),
        ref=(container, name, etag),
    )


def parse_uncommitted_blocks(body: bytes, what: str) -> list[Entry]:
    """Get Block List (`blocklisttype=uncommitted`): one file per block, named by its position."""
    root = _document(body, what, "BlockList")
    section = root.find("UncommittedBlocks")
    entries = []
    for index, block in enumerate(section.iter("Block") if section is not None else ()):
        block_id = (block.findtext("Name") or "").strip()
        size_text = (block.findtext("Size") or "").strip()
        size = size_or_zero(int(size_text)) if size_text.isdigit() else 0
        fields = (_BLOCK_ID, block_id, _SIZE, size_text)
        entries.append(Entry(f"{index:05d}", is_dir=False, size=size, fields=fields))
    return entries
