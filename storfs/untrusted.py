"""Text a server sent, made safe to show: control characters escaped, and capped in length."""

from __future__ import annotations

import re

#: The most characters of one server string (an error code, a reason) a message or log line shows.
SERVER_TEXT_MAX = 200

_C_ESCAPES = {"\\": "\\", "\a": "a", "\b": "b", "\t": "t", "\n": "n", "\v": "v", "\f": "f", "\r": "r"}
_UNSAFE = re.compile("[\\\\\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def escape_char(match: re.Match[str]) -> str:
    """The escape of one matched character: `\\n`-style where C has one, else octal or `\\uXXXX`."""
    char = match.group()
    if char in _C_ESCAPES:
        return "\\" + _C_ESCAPES[char]
    code = ord(char)
    return f"\\{code:03o}" if code < 0x100 else f"\\u{code:04x}"  # a lone surrogate: \udcXX


def escape(text: str) -> str:
    """`text` with control characters (C0, DEL, C1), lone surrogates and backslashes escaped."""
    return _UNSAFE.sub(escape_char, text)


def server_text(value: object, limit: int = SERVER_TEXT_MAX) -> str:
    """A server-provided string as one safe line: escaped as by `escape`, at most `limit` characters
    of it kept (then `…`). Escaping a capped prefix keeps the work bounded whatever was sent."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        return escape(text[:limit]) + "…"
    return escape(text)
