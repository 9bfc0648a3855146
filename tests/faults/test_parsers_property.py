"""Property: whatever bytes a server sends, the parsers answer entries or raise BadResponse,
nothing else (no KeyError, TypeError, RecursionError, UnicodeError...)."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from storfs.dates import EARLIEST_NS, LATEST_NS
from storfs.entry import Entry, Page
from storfs.errors import BadResponse
from storfs.providers.azure.parse import parse_containers
from storfs.providers.oas.parse import parse_vaults
from storfs.providers.qingstor import parse as qingstor

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_SIZE = 2**63 - 1

# JSON values, with the awkward ones: huge and negative numbers, NaN, lone surrogates, nesting.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        ["", ".", "..", "a/b", "\ud800", "2015-07-11T04:45:57Z", "Tue, 18 Mar 2014 22:06:47 GMT"]
    )
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
QS_KEYS = ["name", "location", "url", "created", "key", "upload_id", "part_number", "size", "etag"]
OAS_KEYS = ["VaultName", "VaultId", "CreationDate", "LastInventoryDate", "SizeInBytes", "NumberOfArchives"]


def items_with(keys: list[str]) -> st.SearchStrategy[Any]:
    item = st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), json_values, max_size=8)
    return st.lists(item | json_values, max_size=4)


qingstor_docs = st.fixed_dictionaries(
    {},
    optional={
        "count": json_values,
        "buckets": items_with(QS_KEYS) | json_values,
        "uploads": items_with(QS_KEYS) | json_values,
        "object_parts": items_with(QS_KEYS) | json_values,
        "has_more": json_values,
        "next_key_marker": json_values,
        "code": json_values,
    },
)
oas_docs = st.fixed_dictionaries(
    {}, optional={"Marker": json_values, "VaultList": items_with(OAS_KEYS) | json_values}
)


def encode(document: Any) -> bytes:
    return json.dumps(document, allow_nan=True).encode("utf-8", "surrogatepass")


xml_text = st.text(max_size=20).map(lambda t: t.replace("]]>", "")) | st.sampled_from(
    ["", "&amp;", "&#0;", "&#xD800;", "&unknown;", "<", "Wed, 26 Oct 2016 20:39:39 GMT", "not a date"]
)
xml_tags = st.sampled_from(
    [
        "Name",
        "Properties",
        "Last-Modified",
        "Etag",
        "Metadata",
        "Container",
        "Containers",
        "NextMarker",
        "x-ms-invalid-name",
    ]
)


@st.composite
def xml_documents(draw: st.DrawFn) -> bytes:
    def element(depth: int) -> str:
        tag = draw(xml_tags)
        if depth > 3 or draw(st.booleans()):
            inner = draw(xml_text)
        else:
            inner = "".join(element(depth + 1) for _ in range(draw(st.integers(0, 3))))
        return f"<{tag}>{inner}</{tag}>"

    root = draw(st.sampled_from(["EnumerationResults", "Error", "html", "EnumerationResults"]))
    body = "".join(element(0) for _ in range(draw(st.integers(0, 4))))
    prolog = draw(
        st.sampled_from(
            ["", '<?xml version="1.0" encoding="utf-8"?>', '<?xml version="1.0" encoding="latin-1"?>']
        )
    )
    return f"{prolog}<{root}>{body}</{root}>".encode("utf-8", "surrogatepass")


def only_bad_response(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except BadResponse:
        return None


def parse_qingstor(body: bytes) -> list[Entry]:
    entries: list[Entry] = []
    data = only_bad_response(qingstor.load_json, body, "test")
    if data is None:
        return entries
    for field, make in (
        ("buckets", qingstor.bucket_entry),
        ("uploads", qingstor.upload_entry),
        ("object_parts", qingstor.part_entry),
    ):
        items = only_bad_response(qingstor.items, data, field, "test") or []
        for item in items:
            entry = only_bad_response(make, item, "test")
            if entry is not None:
                entries.append(entry)
    return entries


@SETTINGS
@given(st.binary(max_size=2000) | xml_documents())
@example(
    b"<!DOCTYPE x [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;&a;'>]><EnumerationResults>&b;</EnumerationResults>"
)
@example(
    b"<EnumerationResults><Containers><Container><Name>\xff</Name></Container></Containers></EnumerationResults>"
)
@example(b"\xef\xbb\xbf<EnumerationResults/>")
@example('<!DOCTYPE x [<!ENTITY a "a">]><EnumerationResults>&a;</EnumerationResults>'.encode("utf-16"))
def test_azure_parse_containers_raises_only_bad_response(body: bytes) -> None:
    only_bad_response(parse_containers, body)


@SETTINGS
@given(st.binary(max_size=2000) | oas_docs.map(encode) | json_values.map(encode))
@example(b'{"VaultList": [{"VaultName": "\\ud800"}], "Marker": "\\udfff"}')
@example(b'{"VaultList": []' + b" " * 10 + b"}")
@example(b"[" * 5000)
@example(b'{"VaultList": [{"VaultName": "x", "SizeInBytes": 1' + b"0" * 5000 + b"}]}")
def test_oas_parse_vaults_raises_only_bad_response(body: bytes) -> None:
    only_bad_response(parse_vaults, body)


@SETTINGS
@given(st.binary(max_size=2000) | qingstor_docs.map(encode) | json_values.map(encode))
@example(b'{"buckets": [{"name": "\\ud800", "created": "9999-12-31T23:59:59.999999+14:00"}]}')
@example(b"[" * 5000)
@example(b'{"object_parts": [{"part_number": 1' + b"0" * 5000 + b"}]}")
@example(b'{"object_parts": [{"part_number": 1e400, "size": -1, "created": {"a": NaN}}]}')
def test_qingstor_parsers_raise_only_bad_response(body: bytes) -> None:
    parse_qingstor(body)


@SETTINGS
@given(qingstor_docs.map(encode) | oas_docs.map(encode) | xml_documents())
@example(b'{"object_parts": [{"part_number": 1, "size": 100000000000000000000000}]}')
@example(b'{"VaultList": [{"VaultName": "v", "SizeInBytes": 100000000000000000000000}], "Marker": ""}')
def test_parsed_entries_fit_a_struct_stat(body: bytes) -> None:
    """What the parsers accept, the kernel can be told: sizes fit off_t, times are finite."""
    entries: list[Entry] = parse_qingstor(body)
    for parse in (parse_vaults, parse_containers):
        page = only_bad_response(parse, body)
        if isinstance(page, Page):
            entries += page.entries
    for entry in entries:
        assert isinstance(entry.name, str)
        assert isinstance(entry.size, int) and 0 <= entry.size <= MAX_SIZE, entry
        assert math.isfinite(entry.mtime) and math.isfinite(entry.ctime), entry
        for ns in (entry.mtime_ns, entry.ctime_ns):
            assert type(ns) is int and EARLIEST_NS <= ns <= LATEST_NS, entry
        assert all(isinstance(value, str) for value in entry.fields), entry
