"""List Containers XML -> entries."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError, fromstring

from storfs.dates import parse_http_date
from storfs.entry import Entry, Page, field_name, share
from storfs.errors import BadResponse
from storfs.providers.common import snake_case

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
