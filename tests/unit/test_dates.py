"""parse_http_date agrees with email.utils, to the nanosecond, on the dates services send."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from storfs.dates import parse_http_date


def test_fixdates_match_email_utils() -> None:
    rng = random.Random(13)
    start = datetime(1970, 1, 1, tzinfo=UTC)
    for _ in range(5_000):
        when = start + timedelta(seconds=rng.randrange(0, 130 * 365 * 86_400))
        text = format_datetime(when, usegmt=True)
        expected = int(parsedate_to_datetime(text).timestamp()) * 1_000_000_000
        assert parse_http_date(text) == expected, text
    assert parse_http_date("Wed, 26 Oct 2016 20:39:39 GMT") == 1477514379 * 1_000_000_000
