"""parse_http_date agrees with email.utils, to the nanosecond, on the dates services send."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from storfs.dates import _http_date, parse_http_date


def test_fixdates_match_email_utils() -> None:
    rng = random.Random(13)
    start = datetime(1970, 1, 1, tzinfo=UTC)
    for _ in range(5_000):
        when = start + timedelta(seconds=rng.randrange(0, 130 * 365 * 86_400))
        text = format_datetime(when, usegmt=True)
        expected = int(parsedate_to_datetime(text).timestamp()) * 1_000_000_000
        assert parse_http_date(text) == expected, text
    assert parse_http_date("Wed, 26 Oct 2016 20:39:39 GMT") == 1477514379 * 1_000_000_000


def test_the_fixdate_fast_path_agrees_with_the_general_rule() -> None:
    """Near-fixdates (a character changed here and there) read as the regular expression reads them."""
    rng = random.Random(29)
    alphabet = "0123456789 ,:MonJanFebGMTXz+-\t\u0663\u00b2"
    bases = [
        "Mon, 01 Jan 2024 01:23:20 GMT",
        "Fri, 31 Dec 9999 23:59:59 GMT",
        "Thu, 29 Feb 2024 23:59:60 GMT",
    ]
    for _ in range(20_000):
        chars = list(rng.choice(bases))
        for _ in range(rng.randint(0, 2)):
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        text = "".join(chars)
        assert parse_http_date(text) == _http_date.__wrapped__(text.strip()), text
    assert parse_http_date("Fri, 31 Dec 9999 23:59:60 GMT") is None  # past the last time shown
    assert parse_http_date("Mon, 30 Feb 2024 01:23:20 GMT") is None
    assert parse_http_date(" Mon, 01 Jan 2024 01:23:20 GMT\n") == 1704072200 * 1_000_000_000
