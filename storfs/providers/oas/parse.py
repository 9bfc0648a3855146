"""ListVaults JSON -> entries (providers.md 2.5)."""

from __future__ import annotations

import json
import re
from typing import Any

from storfs.dates import parse_http_date
from storfs.entry import Entry, Page, field_name, share
from storfs.errors import BadResponse
from storfs.providers.common import MAX_SIZE, snake_case

PROVIDER = "oas"
WHAT = "ListVaults"
_DIGITS = re.compile(r"[0-9]+")


class _JsonNumber(str):
    """A JSON number kept as the exact text the server sent (non-integers and huge integers)."""


def _parse_int(text: str) -> int | _JsonNumber:
    # Python refuses int() of over 4300 digits; such a number becomes text rather than an error.
    return int(text) if len(text) <= 40 else _JsonNumber(text)


def parse_vaults(body: bytes) -> Page:
    """Parse one ListVaults response; raise BadResponse if it is not one."""
    try:
        root = json.loads(body, parse_float=_JsonNumber, parse_int=_parse_int)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BadResponse(f"{WHAT} answered malformed JSON ({type(exc).__name__})") from None
    if not isinstance(root, dict):
        raise BadResponse(f"{WHAT} answered {_kind(root)} instead of a JSON object")
    vaults = root.get("VaultList")
    if not isinstance(vaults, list):
        what = "no" if vaults is None else f"{_kind(vaults)} as"
        raise BadResponse(f"{WHAT} answered {what} `VaultList`, expected an array")
    marker = root.get("Marker")
    if marker is None:
        marker = ""  # the doc always sends it; a server that omits it has nothing more to give
    if not isinstance(marker, str) or isinstance(marker, _JsonNumber):
        raise BadResponse(f"{WHAT} answered {_kind(marker)} as `Marker`, expected a string")
    entries = [_vault(vault, index) for index, vault in enumerate(vaults)]
    return Page(entries, marker.strip() or None)


def _vault(vault: Any, index: int) -> Entry:
    if not isinstance(vault, dict):
        raise BadResponse(f"{WHAT} answered {_kind(vault)} as VaultList[{index}], expected an object")
    name = vault.get("VaultName")
    if not isinstance(name, str) or isinstance(name, _JsonNumber):
        what = "no" if name is None else f"{_kind(name)} as"
        raise BadResponse(f"{WHAT} answered {what} `VaultName` in VaultList[{index}], expected a string")
    fields: list[str] = []
    for key, value in vault.items():
        suffix = snake_case(key)
        if not suffix or value is None:
            continue  # a key with no usable character, or a null value: nothing to show
        xattr = field_name(PROVIDER, suffix)
        if xattr not in fields[::2]:  # two keys with one snake_case name: the first one wins
            fields += (xattr, share(_text(value)))
    created = _date(vault.get("CreationDate"))
    inventoried = _date(vault.get("LastInventoryDate"))
    mtime = inventoried if inventoried is not None else created
    return Entry(
        name,
        is_dir=True,
        size=_size(vault.get("SizeInBytes")),
        mtime=mtime or 0.0,
        ctime=created,
        fields=tuple(fields),
    )


def _text(value: Any) -> str:
    """A field value as an xattr string: strings trimmed, numbers and literals as JSON wrote them."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | int):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _date(value: Any) -> float | None:
    if not isinstance(value, str) or isinstance(value, _JsonNumber):
        return None
    return parse_http_date(value.strip())


def _size(value: Any) -> int:
    """SizeInBytes as an integer; 0 when it is not a non-negative integer (or a string of digits)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, str) and not isinstance(value, _JsonNumber):
        text = value.strip()
        value = int(text) if len(text) <= 19 and _DIGITS.fullmatch(text) else 0
    if isinstance(value, int) and 0 <= value <= MAX_SIZE:
        return value
    return 0


def _kind(value: Any) -> str:
    """`a number`, `an object`...: the JSON type of a parsed value, for messages."""
    if isinstance(value, _JsonNumber) or (isinstance(value, int | float) and not isinstance(value, bool)):
        return "a number"
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), f"a {type(value).__name__}")
