"""parse_http_date's fast path gives exactly what email.utils gives, or steps aside."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from storfs.dates import _imf_fixdate, parse_http_date


def _general(text: str) -> float | None:
    """The general path alone (what parse_http_date answered before the fast path)."""
    try:
        parsed = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def test_fixdates_take_the_fast_path_and_match_email_utils() -> None:
    rng = random.Random(13)
    start = datetime(1970, 1, 1, tzinfo=UTC)
    for _ in range(5_000):
        when = start + timedelta(seconds=rng.randrange(0, 130 * 365 * 86_400))
        text = format_datetime(when, usegmt=True)
        assert _imf_fixdate(text) is not None, text
        assert parse_http_date(text) == _general(text), text
    assert parse_http_date("Wed, 26 Oct 2016 20:39:39 GMT") == 1477514379.0
    assert parse_http_date("Mon, 29 Feb 2024 23:59:59 GMT") == _general("Mon, 29 Feb 2024 23:59:59 GMT")


def test_other_forms_fall_back_to_the_general_path() -> None:
    odd = [
        "Wed, 26 Oct 2016 20:39:39 +0200",  # not GMT
        "Wed, 26 Oct 2016 20:39:39 UTC",
        "26 Oct 2016 20:39:39 GMT",  # no weekday
        "Wed, 6 Oct 2016 20:39:39 GMT",  # one-digit day
        "Wed, 26 oct 2016 20:39:39 GMT",  # lower-case month
        "Wed, 26 Oct 16 20:39:39 GMT",  # two-digit year
        "Wed, 31 Feb 2016 20:39:39 GMT",  # no such day
        "Wed, 26 Oct 2016 24:00:00 GMT",
        "Wed, 26 Oct 2016 23:59:60 GMT",  # a leap second
        "Wed, 26 Oct 0000 20:39:39 GMT",
        "Wed, 26 Foo 2016 20:39:39 GMT",
        "Wed, ٢٦ Oct 2016 20:39:39 GMT",  # non-ASCII digits
        "Wed,  26 Oct 2016 20:39:39 GMT",
        "  Wed, 26 Oct 2016 20:39:39 GMT  ",  # surrounding blanks are stripped first
        "",
        "garbage",
    ]
    for text in odd:
        assert parse_http_date(text) == _general(text), text
    assert _imf_fixdate("Wed, 26 Oct 2016 20:39:39 +0200") is None
    assert _imf_fixdate("Wed, 31 Feb 2016 20:39:39 GMT") is None
