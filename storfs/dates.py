"""Timestamps as providers write them, parsed to POSIX seconds (memoised: listings repeat dates)."""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime


@functools.lru_cache(maxsize=4096)
def parse_http_date(value: str) -> float | None:
    """RFC 1123 (`Wed, 26 Oct 2016 20:39:39 GMT`) to seconds; None if it does not parse."""
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


@functools.lru_cache(maxsize=4096)
def parse_iso8601(value: str) -> float | None:
    """ISO 8601 UTC (`2015-07-11T04:45:57Z`, `...57.000Z`) to seconds; None if it does not parse."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()
