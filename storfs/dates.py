"""Timestamps as providers write them, parsed to POSIX seconds (memoised: listings repeat dates)."""

from __future__ import annotations

import functools
import re
from datetime import date, datetime, timezone
from email.utils import parsedate_to_datetime

#: The one form services send (RFC 7231 IMF-fixdate); anything else takes email.utils' path.
_IMF_FIXDATE = re.compile(
    r"[A-Za-z]{3}, ([0-9]{2}) ([A-Z][a-z]{2}) ([0-9]{4}) ([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9]) GMT"
)
_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
)}  # fmt: skip
_EPOCH_DAY = date(1970, 1, 1).toordinal()


def _imf_fixdate(text: str) -> float | None:
    """`Wed, 26 Oct 2016 20:39:39 GMT` to seconds at a third of email.utils' cost (a listing
    carries one distinct date per entry, so the cache below rarely hits); None: another form."""
    match = _IMF_FIXDATE.fullmatch(text)
    if match is None:
        return None
    day, month_name, year, hour, minute, second = match.groups()
    month = _MONTHS.get(month_name)
    if month is None:
        return None
    try:
        days = date(int(year), month, int(day)).toordinal() - _EPOCH_DAY
    except ValueError:  # 31 Feb and the like: let the general path decide
        return None
    return float(days * 86_400 + int(hour) * 3600 + int(minute) * 60 + int(second))


@functools.lru_cache(maxsize=4096)
def parse_http_date(value: str) -> float | None:
    """RFC 1123 (`Wed, 26 Oct 2016 20:39:39 GMT`) to seconds; None if it does not parse."""
    text = value.strip()
    seconds = _imf_fixdate(text)
    if seconds is not None:
        return seconds
    try:
        parsed = parsedate_to_datetime(text)
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
