"""ListVaults JSON -> entries (providers.md 2.5)."""

from __future__ import annotations

import json
from typing import Any

from storfs.dates import parse_http_date
from storfs.entry import Entry, Page, nice_field_name, share, unique_fields
from storfs.errors import BadResponse
from storfs.providers.common import sent_size, sent_time

PROVIDER = "oas"
WHAT = "ListVaults"


class _JsonNumber(str):
    """A JSON number kept as the exact text the server sent (a non-integer)."""


class _JsonBigInt(_JsonNumber):
    """An integer too large for any size or count, kept as its text."""


def _parse_int(text: str) -> int | _JsonNumber:
    # Python refuses int() of over 4300 digits; such a number becomes text rather than an error.
    return int(text) if len(text) <= 40 else _JsonBigInt(text)


#: Documented vault fields and their JSON types (providers.md 2.5); null counts as absent.
_STRING_FIELDS = ("VaultId", "VaultName", "CreationDate", "LastInventoryDate")
_INTEGER_FIELDS = ("NumberOfArchives", "SizeInBytes")


def parse_vaults(body: bytes) -> Page:
    """Parse one ListVaults response; raise BadResponse if it is not one.

    Anything the documentation does not allow is malformed, never an end of the listing: a
    missing or non-string `Marker`, a documented field of another JSON type (the field is named).
    """
    try:
        root = json.loads(body, parse_float=_JsonNumber, parse_int=_parse_int)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BadResponse(f"{WHAT} answered malformed JSON ({type(exc).__name__})") from exc
    if not isinstance(root, dict):
        raise BadResponse(f"{WHAT} answered {_kind(root)} instead of a JSON object")
    vaults = root.get("VaultList")
    if not isinstance(vaults, list):
        what = "no" if vaults is None else f"{_kind(vaults)} as"
        raise BadResponse(f"{WHAT} answered {what} `VaultList`, expected an array")
    marker = root.get("Marker")
    if not isinstance(marker, str) or isinstance(marker, _JsonNumber):
        what = "no" if marker is None else f"{_kind(marker)} as"
        raise BadResponse(f"{WHAT} answered {what} `Marker`, expected a string (empty at the end)")
    entries = [_vault(vault, index) for index, vault in enumerate(vaults)]
    return Page(entries, marker.strip() or None)


def _vault(vault: Any, index: int) -> Entry:
    if not isinstance(vault, dict):
        raise BadResponse(f"{WHAT} answered {_kind(vault)} as VaultList[{index}], expected an object")
    name = vault.get("VaultName")
    if name is None:
        raise BadResponse(f"{WHAT} answered no `VaultName` in VaultList[{index}], expected a string")
    for key in _STRING_FIELDS:
        value = vault.get(key)
        if value is not None and not _is_string(value):
            raise BadResponse(
                f"{WHAT} answered {_kind(value)} as `{key}` in VaultList[{index}], expected a string"
            )
    for key in _INTEGER_FIELDS:
        value = vault.get(key)
        if value is not None and not _is_integer(value):
            raise BadResponse(
                f"{WHAT} answered {_kind(value)} as `{key}` in VaultList[{index}], expected an integer"
            )
    fields: list[str] = []
    keys: list[str] = []
    for key, value in vault.items():
        if value is not None:  # null: nothing to show
            fields += (nice_field_name(PROVIDER, key), share(_text(value)))
            keys.append(key)
    created = sent_time(vault.get("CreationDate"), parse_http_date, WHAT, "CreationDate")
    inventoried = sent_time(vault.get("LastInventoryDate"), parse_http_date, WHAT, "LastInventoryDate")
    return Entry(
        name,
        is_dir=True,
        size=sent_size(vault.get("SizeInBytes"), WHAT, "SizeInBytes"),
        mtime_ns=inventoried if vault.get("LastInventoryDate") is not None else created,
        ctime_ns=created,
        fields=unique_fields(PROVIDER, fields, keys),
    )


def _is_string(value: Any) -> bool:
    return isinstance(value, str) and not isinstance(value, _JsonNumber)


def _is_integer(value: Any) -> bool:
    return isinstance(value, _JsonBigInt) or (isinstance(value, int) and not isinstance(value, bool))


def _text(value: Any) -> str:
    """A field value as an xattr string: strings trimmed, numbers and literals as JSON wrote them."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _kind(value: Any) -> str:
    """`a number`, `an object`...: the JSON type of a parsed value, for messages."""
    if isinstance(value, _JsonNumber) or (isinstance(value, int | float) and not isinstance(value, bool)):
        return "a number"
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), f"a {type(value).__name__}")
