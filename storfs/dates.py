"""Timestamps as providers write them, parsed to integer nanoseconds since the epoch.

Integer arithmetic from the parsed fields throughout, so `.678Z` is exactly 678,000,000 ns, a
time before 1970 keeps its fraction, and a year is taken as written: `0001` is year 1 (a large
negative number of seconds), never 2001. Only the obsolete RFC 850 and asctime forms of an HTTP
date, which `email.utils` reads, can carry a two-digit year; it then follows email.utils' rule
(00-68 -> 20xx, 69-99 -> 19xx). Parsing is memoised: listings repeat dates, or at least their minutes.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_tz

NS = 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: Times storfs shows lie in the years 1 to 9999 (what every tool can print); others do not parse.
EARLIEST_NS = -62_135_596_800 * NS
LATEST_NS = 253_402_300_800 * NS - 1
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}

#: RFC 1123 (`Wed, 26 Oct 2016 20:39:39 GMT`), the form Azure and OAS send; weekday optional.
_RFC1123 = re.compile(
    r"(?:[A-Za-z]{3,9},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2})(?::(\d{2}))?"
    r"\s*(GMT|UTC|UT|Z|[+-]\d{4})?",
    re.ASCII | re.IGNORECASE,
)
#: ISO 8601 extended form (`2015-07-11T04:45:57Z`, `...57.000Z`, `...57+08:00`), as QingStor sends.
_ISO8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.ASCII | re.IGNORECASE,
)


def epoch_ns(
    year: int, month: int, day: int, hour: int, minute: int, second: int, nanos: int = 0
) -> int | None:
    """Nanoseconds since 1970 of a UTC civil time (proleptic Gregorian), None if it is no time."""
    if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
        return None
    if hour > 23 or minute > 59 or second > 60 or year < 1:  # 60: a leap second
        return None
    return ((_days_from_civil(year, month, day) * 24 + hour) * 60 + minute) * 60 * NS + second * NS + nanos


def parse_http_date(value: str) -> int | None:
    """RFC 1123 (`Wed, 26 Oct 2016 20:39:39 GMT`) to nanoseconds; None if it does not parse."""
    text = value.strip()
    # The IMF-fixdate every listing sends, read by position from its memoised minute: a listing's
    # dates rarely repeat whole, but share their minutes. Same result as the general rule.
    if len(text) == 29 and text[22] == ":" and text[25:] == " GMT":
        minute = _fixdate_minute_ns(text[:22])
        second = text[23:25]
        if minute is not False and second.isdigit() and second.isascii():
            seconds = int(second)
            if minute is None or seconds > 60:  # 60: a leap second
                return None
            ns = minute + seconds * NS
            return ns if ns <= LATEST_NS else None
    return _http_date(text)


@functools.lru_cache(maxsize=1024)
def _fixdate_minute_ns(text: str) -> int | bool | None:
    """`Wed, 26 Oct 2016 20:39` -> nanoseconds of that minute; None if it is no time (which the
    general rule says too); False if the text is not of that form (the general rule decides)."""
    if text[3:5] != ", " or text[7] != " " or text[11] != " " or text[16] != " " or text[19] != ":":
        return False
    digits = text[5:7] + text[12:16] + text[17:19] + text[20:22]
    letters = text[:3] + text[8:11]
    if not (digits.isdigit() and letters.isalpha() and (digits + letters).isascii()):
        return False
    month = _MONTHS.get(text[8:11].lower())
    if month is None:
        return None
    ns = epoch_ns(int(text[12:16]), month, int(text[5:7]), int(text[17:19]), int(text[20:22]), 0)
    return None if ns is None else _in_range(ns)


@functools.lru_cache(maxsize=4096)
def _http_date(text: str) -> int | None:
    match = _RFC1123.fullmatch(text)
    if match is not None:
        day, month_name, year, hour, minute, second, zone = match.groups()
        month = _MONTHS.get(month_name.lower())
        if month is None:
            return None
        ns = epoch_ns(int(year), month, int(day), int(hour), int(minute), int(second or 0))
        return None if ns is None else _in_range(ns - _offset_seconds(zone) * NS)
    try:
        parsed = parsedate_tz(text)  # RFC 850, asctime: the obsolete forms HTTP still allows
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    year, month, day, hour, minute, second = parsed[:6]
    ns = epoch_ns(year, month, day, hour, minute, second)
    return None if ns is None else _in_range(ns - (parsed[9] or 0) * NS)


@functools.lru_cache(maxsize=4096)
def parse_iso8601(value: str) -> int | None:
    """ISO 8601 (`2015-07-11T04:45:57Z`, `...57.678Z`) to nanoseconds; None if it does not parse.

    A time without a zone is UTC; digits beyond nanoseconds are dropped.
    """
    text = value.strip()
    match = _ISO8601.fullmatch(text)
    if match is not None:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        nanos = int((fraction or "0")[:9].ljust(9, "0"))
        ns = epoch_ns(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), nanos)
        return None if ns is None else _in_range(ns - _offset_seconds(zone) * NS)
    try:  # the basic and week forms Python knows (`20150711T044557Z`)
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return _in_range((parsed - _EPOCH) // timedelta(microseconds=1) * 1000)
    except OverflowError:
        return None


def _in_range(ns: int) -> int | None:
    return ns if EARLIEST_NS <= ns <= LATEST_NS else None


def _offset_seconds(zone: str | None) -> int:
    """Seconds east of UTC of `Z`, `GMT`, `+0800`, `-05:30`, `+08`."""
    if not zone or zone[0] not in "+-":
        return 0
    digits = zone[1:].replace(":", "")
    seconds = int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60
    return -seconds if zone[0] == "-" else seconds


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468
