"""Azure XML bodies -> entries: List Containers, List Blobs, Get Block List."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from operator import attrgetter
from pyexpat import ExpatError, ParserCreate
from typing import Any, NamedTuple, cast
from xml.etree.ElementTree import Element, ParseError, XMLPullParser, fromstring

from storfs.dates import parse_http_date
from storfs.entry import (
    Entry,
    LazyEntry,
    Page,
    field_name,
    known_shared,
    nice_field_name,
    share,
    unique_fields,
)
from storfs.errors import BadResponse
from storfs.providers.common import decimal, sent_size, sent_time
from storfs.source import OnPart

PROVIDER = "azure"
WHAT = "List Containers"
_BLOBS = "List Blobs"
_PUBLIC_ACCESS = field_name(PROVIDER, "public_access")


class _RootReached(Exception):
    pass


def _refuse_doctype(*_: object) -> None:
    raise BadResponse("the server answered XML with a DTD; refusing to parse it")


def _root_reached(*_: object) -> None:
    raise _RootReached


def parse_xml(body: bytes) -> Element:
    """An XML body as an element tree; raise BadResponse if it is not XML or holds a DTD.

    The service never sends a DTD. Expat itself reads the prolog first, with a doctype handler
    that refuses one (so no encoding, UTF-16 included, hides it) and stops at the root element;
    then ElementTree's C builder parses at full speed, with no DTD left to expand entities from.
    """
    _refuse_dtd(body)
    try:
        return fromstring(body)
    except (ParseError, ValueError) as exc:
        raise BadResponse(f"the server answered malformed XML ({exc})") from None


def _refuse_dtd(body: bytes) -> None:
    """Raise BadResponse if the body's prolog holds a DTD or is not XML (expat reads it only)."""
    prolog = ParserCreate()
    prolog.StartDoctypeDeclHandler = _refuse_doctype
    prolog.StartElementHandler = _root_reached
    try:
        prolog.Parse(body, True)
    except _RootReached:
        pass
    except ExpatError as exc:
        raise BadResponse(f"the server answered malformed XML ({exc})") from None


#: Bytes fed to the parser at a time when a page is parsed in parts.
STEP = 64 * 1024


class _Children:
    """The children of the root's first `<parent>`, each once complete, while `body` is parsed a
    STEP at a time (the same C builder as `parse_xml`); `root` is the whole tree afterwards.

    A child is complete once the one after it has begun (or the document ended), so the first
    children can be decoded long before the last byte is parsed.
    """

    def __init__(self, body: bytes, what: str, root_tag: str, parent: str) -> None:
        self.body = body
        self.what = what
        self.root_tag = root_tag
        self.parent = parent
        self.root: Element | None = None

    def __iter__(self) -> Iterator[list[Element]]:
        body, what = self.body, self.what
        try:
            _refuse_dtd(body)
        except BadResponse as exc:
            raise BadResponse(f"{what}: {exc}") from None
        parser: XMLPullParser[Element] = XMLPullParser(events=("start",))  # to be handed the root
        drain = deque[object](maxlen=0).extend
        root: Element | None = None
        parent: Element | None = None
        done = 0
        try:
            for at in range(0, len(body), STEP):
                parser.feed(body[at : at + STEP])
                events = cast(Iterator[tuple[str, Element]], parser.read_events())
                if root is None:
                    for _, root in events:
                        if root.tag != self.root_tag:
                            raise BadResponse(f"{what} answered <{root.tag}>, not <{self.root_tag}>")
                        break
                drain(events)
                if parent is None and root is not None:
                    parent = root.find(self.parent)
                if parent is not None and len(parent) - 1 > done:
                    yield parent[done:-1]
                    done = len(parent) - 1
            parser.close()
        except (ParseError, ValueError) as exc:
            raise BadResponse(f"{what}: the server answered malformed XML ({exc})") from None
        if root is None:  # pragma: no cover - close() raises first
            raise BadResponse(f"{what}: the server answered no XML element")
        if parent is not None and len(parent) > done:
            yield parent[done:]
        self.root = root


#: Containers decoded before `on_part` is told of them: about one readdirplus reply's worth.
PART = 200


def parse_containers(body: bytes, on_part: OnPart = None) -> Page:
    """Parse one List Containers response; raise BadResponse if it is not one.

    Everything is checked here, but only what `stat` shows is decoded: each container keeps its
    properties' and metadata's raw texts, and its attributes are built from them when first
    read (`Container.decode_fields`), exactly as an eager parse would build them. `on_part`
    hears of the containers decoded every STEP of the body parsed (at least PART at a time),
    long before the page's end is checked.
    """
    children = _Children(body, WHAT, "EnumerationResults", "Containers")
    entries: list[Entry] = []
    shapes_shared: set[Shape] = set()
    told = 0  # entries told to on_part so far
    for batch in children:
        _add_containers(batch, entries, shapes_shared)
        if on_part is not None and len(entries) - told >= PART:
            on_part(told, entries[told:])
            told = len(entries)
    root = children.root
    assert root is not None
    found = root.findall("Containers")
    if len(found) > 1:
        raise BadResponse(f"{WHAT} answered {len(found)} <Containers> elements")
    markers = root.findall("NextMarker")
    if len(markers) > 1:
        raise BadResponse(f"{WHAT} answered {len(markers)} <NextMarker> elements")
    next_marker = _text(markers[0], "NextMarker").strip() if markers else ""
    return Page(entries, next_marker or None)


def _add_containers(elements: list[Element], entries: list[Entry], shapes_shared: set[Shape]) -> None:
    """Decode each `<Container>` of `elements` into `entries` (the page's shapes seen so far in
    `shapes_shared`)."""
    add = entries.append
    shapes = _SHAPES
    for element in elements:
        if element.tag != "Container":
            continue
        names = element.findall("Name")
        if len(names) != 1:
            raise BadResponse(f"{WHAT} answered a <Container> with {len(names)} <Name> elements")
        name = _text(names[0], "Name")
        if not name:
            # Empty: the listing skips it as an unusable name, with its one warning (README "Names").
            add(Entry("", is_dir=True))
            continue
        properties = element.find("Properties")
        metadata = element.find("Metadata")
        if properties is not None:
            if any(map(len, properties)):
                _reject_nested(properties, "")
            tags = list(map(_TAG, properties))
            texts: list[Any] = list(map(_TEXT, properties))
        else:
            tags, texts = [], []
        if metadata is not None and len(metadata):
            if any(map(len, metadata)):
                _reject_nested(metadata, "Metadata/")
            tags.append(_METADATA)
            texts.append(None)
            tags += map(_TAG, metadata)
            texts += map(_TEXT, metadata)
        key = tuple(tags)
        shape = shapes.get(key)
        if shape is None:
            shape = _shape(key)
        if shape not in shapes_shared:  # one set of repeated values a page: `unlocked`, `false`...
            shapes_shared.add(shape)
            for text in texts:
                if text is not None:
                    share(text)
        mtime = 0
        if shape[0]:  # the first Last-Modified: a time, or the page is refused
            first = shape[0][0]
            mtime = sent_time(texts[first] or "", parse_http_date, WHAT, tags[first])
        add(Container(name, True, 0, mtime, mtime, (*map(known_shared, texts, texts), shape)))


_TAG = attrgetter("tag")
_TEXT = attrgetter("text")
#: Between a container's property tags and its metadata tags (no XML tag is empty).
_METADATA = ""


#: A container's shape: the indexes of its Last-Modified texts, then its tags in order
#: (properties, `_METADATA`, metadata). One tuple for all the containers with the same tags.
Shape = tuple[Any, ...]
_SHAPES: dict[tuple[str, ...], Shape] = {}


def _shape(tags: tuple[str, ...]) -> Shape:
    end = tags.index(_METADATA) if _METADATA in tags else len(tags)
    shape = (tuple(i for i in range(end) if tags[i] in ("Last-Modified", "LastModified")), *tags)
    if len(_SHAPES) < 1024:
        _SHAPES[tags] = shape
    return shape


def _reject_nested(parent: Element, where: str) -> None:
    """BadResponse for a child of `parent` that holds elements (metadata: bar x-ms-invalid-name)."""
    for child in parent:
        if len(child) and not (where and child.tag == "x-ms-invalid-name"):
            what = f"{where}{child.tag}"
            raise BadResponse(f"{WHAT} answered <{what}> holding elements, where text is documented")


class Container(LazyEntry):
    """A listed container; `raw` is its texts in the order of its shape's tags, then the shape."""

    __slots__ = ()

    @staticmethod
    def decode_fields(raw: object) -> tuple[str, ...]:
        assert isinstance(raw, tuple)
        tags: tuple[str, ...] = raw[-1][1:]
        fields: list[str] = []
        keys: list[str] = []
        in_metadata = False
        for tag, text in zip(tags, raw, strict=False):
            if tag == _METADATA:
                if _PUBLIC_ACCESS not in fields:
                    # The service omits PublicAccess for private containers; say so rather than stay silent.
                    fields += (_PUBLIC_ACCESS, "private")
                    keys.append("public_access")
                in_metadata = True
            elif in_metadata:
                if tag == "x-ms-invalid-name":
                    continue  # a metadata name the service could not express as XML; no value to show
                key = f"meta.{tag}"
                fields += (field_name(PROVIDER, key), share(text or ""))
                keys.append(key)
            else:
                value = (text or "").strip()
                if tag == "Etag":
                    value = value.strip('"')
                fields += (_PROPERTY_NAMES.get(tag) or _property_name(tag), share(value))
                keys.append(tag)
        if not in_metadata and _PUBLIC_ACCESS not in fields:
            fields += (_PUBLIC_ACCESS, "private")
            keys.append("public_access")
        return unique_fields(PROVIDER, fields, keys)


_PROPERTY_NAMES: dict[str, str] = {}


def _property_name(tag: str) -> str:
    name = nice_field_name(PROVIDER, tag)
    if len(_PROPERTY_NAMES) < 1024:
        _PROPERTY_NAMES[tag] = name
    return name


def _text(element: Element, what: str) -> str:
    """The text of an element documented to hold only text."""
    if len(element):
        raise BadResponse(f"{WHAT} answered <{what}> holding elements, where text is documented")
    return element.text or ""


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
    try:
        root = parse_xml(body)
    except BadResponse as exc:
        raise BadResponse(f"{what}: {exc}") from None
    if root.tag != root_tag:
        raise BadResponse(f"{what} answered <{root.tag}>, not <{root_tag}>")
    return root


def parse_blobs(body: bytes, prefix: str, container: str) -> BlobsPage:
    """Parse one List Blobs response; entries are named by their segment below `prefix`."""
    what = _BLOBS
    root = _document(body, what, "EnumerationResults")
    found = root.findall("Blobs")
    if len(found) > 1:
        raise BadResponse(f"{what} answered {len(found)} <Blobs> elements")
    blobs: list[tuple[str, Entry]] = []
    prefixes: list[str] = []
    for element in found[0] if found else ():
        names = element.findall("Name")
        if len(names) != 1:
            raise BadResponse(f"{what} answered a <{element.tag}> with {len(names)} <Name> elements")
        name = _text(names[0], "Name")
        if not name.startswith(prefix):
            raise BadResponse(f"{what} answered a <{element.tag}> outside prefix {prefix[:64]!r}")
        if element.tag == "BlobPrefix":
            prefixes.append(name)
        elif element.tag == "Blob":
            blobs.append((name, _blob(element, name, name[len(prefix) :], container)))
    markers = root.findall("NextMarker")
    if len(markers) > 1:
        raise BadResponse(f"{what} answered {len(markers)} <NextMarker> elements")
    next_marker = _text(markers[0], "NextMarker").strip() if markers else ""
    return BlobsPage(blobs, prefixes, next_marker or None)


def prefix_entry(container: str, prefix: str, segment: str) -> Entry:
    """The directory a BlobPrefix shows (no properties: the service sends none)."""
    return Entry(segment, is_dir=True, fields=(_PREFIX, prefix), ref=(container, prefix))


def _blob(element: Element, name: str, segment: str, container: str) -> Entry:
    fields: list[str] = [_NAME, name]
    keys: list[str] = ["name"]
    mtime: int | None = None
    ctime: int | None = None
    size = 0
    etag = ""
    properties = element.find("Properties")
    for prop in properties if properties is not None else ():
        tag = prop.tag
        value = _text(prop, f"Properties/{tag}").strip()
        if tag == "Etag":
            value = etag = value.strip('"')
        elif tag in ("Last-Modified", "LastModified") and mtime is None:
            mtime = sent_time(value, parse_http_date, _BLOBS, tag)
        elif tag == "Creation-Time":
            ctime = sent_time(value, parse_http_date, _BLOBS, tag)
        elif tag == "Content-Length":
            size = sent_size(decimal(value), _BLOBS, tag)
        fields += (_PROPERTY_NAMES.get(tag) or _property_name(tag), share(value))
        keys.append(tag)
    metadata = element.find("Metadata")
    for item in metadata if metadata is not None else ():
        if item.tag == "x-ms-invalid-name":
            continue
        key = f"meta.{item.tag}"
        fields += (field_name(PROVIDER, key), share(_text(item, f"Metadata/{item.tag}")))
        keys.append(key)
    return Entry(
        segment,
        is_dir=False,
        size=size,
        mtime_ns=mtime or 0,
        ctime_ns=ctime,
        fields=unique_fields(PROVIDER, fields, keys),
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
        size = sent_size(decimal(size_text), what, "Size")
        fields = (_BLOCK_ID, block_id, _SIZE, size_text)
        entries.append(Entry(f"{index:05d}", is_dir=False, size=size, fields=fields))
    return entries
