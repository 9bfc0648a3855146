"""Which provider names can be file names, decided in one place."""

from __future__ import annotations

NAME_MAX = 255


def unusable_reason(name: str) -> str | None:
    """Why `name` cannot be a directory entry, or None when it can.

    Such entries are skipped with one warning per listing (see the README, "Names").
    """
    if name in ("", ".", ".."):
        return "reserved name"
    if "/" in name:
        return "contains '/'"
    if "\0" in name:
        return "contains NUL"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid UTF-8"
    if len(encoded) > NAME_MAX:
        return f"longer than {NAME_MAX} bytes"
    return None
