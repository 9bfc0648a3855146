"""Dates to exact integer nanoseconds (years as written, pre-1970 fractions exact), and xattr
names that stay unique and reversible whatever keys a server sends."""

from __future__ import annotations

import calendar
import os
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from types import SimpleNamespace
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storfs.attrs import StatMaker
from storfs.dates import NS, parse_http_date, parse_iso8601
from storfs.entry import Entry, escape_key, field_name
from storfs.tree_walk import iso

YEAR_1 = -62_135_596_800  # 0001-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2015-07-11T04:45:57Z", 1436589957 * NS),
        ("2016-12-25T16:02:05.678Z", 1482681725 * NS + 678_000_000),
        ("2016-12-25T16:02:05.123456789123Z", 1482681725 * NS + 123_456_789),
        ("1969-12-31T23:59:59.5Z", -NS // 2),
        ("1900-01-01T00:00:00.25Z", calendar.timegm((1900, 1, 1, 0, 0, 0)) * NS + 250_000_000),
        ("0001-01-01T00:00:00Z", YEAR_1 * NS),
        ("0099-06-30T12:00:00Z", calendar.timegm((99, 6, 30, 12, 0, 0)) * NS),
        ("2015-07-11T12:45:57+08:00", 1436589957 * NS),
        ("2015-07-11T04:45:57", 1436589957 * NS),
        ("2016-02-29T00:00:00Z", calendar.timegm((2016, 2, 29, 0, 0, 0)) * NS),
        ("20150711T044557Z", 1436589957 * NS),
        ("2016-13-45T99:99:99Z", None),
        ("2015-02-29T00:00:00Z", None),
        ("0000-01-01T00:00:00Z", None),
        ("0001-01-01T00:00:00+01:00", None),
        ("soon", None),
        ("", None),
    ],
)
def test_iso8601(text: str, ns: int | None) -> None:
    assert parse_iso8601(text) == ns


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("Wed, 26 Oct 2016 20:39:39 GMT", 1477514379 * NS),
        ("Tue, 18 Mar 2014 22:06:47 GMT ", calendar.timegm((2014, 3, 18, 22, 6, 47)) * NS),
        ("Mon, 01 Jan 0001 00:00:00 GMT", YEAR_1 * NS),
        ("Fri, 31 Dec 0099 23:59:59 GMT", calendar.timegm((99, 12, 31, 23, 59, 59)) * NS),
        ("Wed, 31 Dec 1969 23:59:59 GMT", -NS),
        ("Wed, 26 Oct 2016 22:39:39 +0200", 1477514379 * NS),
        ("Sunday, 06-Nov-94 08:49:37 GMT", 784111777 * NS),  # RFC 850: email.utils' 2-digit rule
        ("Sun Nov  6 08:49:37 1994", 784111777 * NS),  # asctime
        ("Wed, 30 Feb 2016 20:39:39 GMT", None),
        ("yesterday", None),
        ("31/02/2014 25:61", None),
    ],
)
def test_http_date(text: str, ns: int | None) -> None:
    assert parse_http_date(text) == ns


def test_nanoseconds_reach_the_struct_and_every_surface() -> None:
    entry = Entry(
        "x", is_dir=False, mtime_ns=parse_iso8601("2016-12-25T16:02:05.678Z") or 0, ctime_ns=-NS // 2
    )
    maker = StatMaker(0, 0, 0.0)
    st = SimpleNamespace(
        st_mtimespec=SimpleNamespace(), st_atimespec=SimpleNamespace(), st_ctimespec=SimpleNamespace()
    )
    maker.fill(st, entry)
    assert (st.st_mtimespec.tv_sec, st.st_mtimespec.tv_nsec) == (1482681725, 678_000_000)
    assert (st.st_ctimespec.tv_sec, st.st_ctimespec.tv_nsec) == (-1, 500_000_000)  # before 1970, exact
    as_dict = maker.entry(entry)
    assert as_dict["st_mtime"] == 1482681725_678_000_000 and as_dict["st_ctime"] == -NS // 2
    assert iso(as_dict["st_mtime"]) == "2016-12-25T16:02:05.678000000Z"
    assert iso(as_dict["st_ctime"]) == "1969-12-31T23:59:59.500000000Z"
    assert iso(YEAR_1 * NS) == "0001-01-01T00:00:00Z"


KEYS = [
    "métier",
    "mètier",
    "a b",
    "a_b",
    "a%20b",
    "a%b",
    "%",
    "",
    "~",
    "x" * 300,
    "x" * 299 + "y",
    "\ud800",
    "a\0b",
    "a/b",
]


def test_field_names_are_unique_reversible_and_fit() -> None:
    names = [field_name("qingstor", key) for key in KEYS]
    assert len(set(names)) == len(names), names
    for key, name in zip(KEYS, names, strict=True):
        suffix = name.removeprefix("user.qingstor.")
        assert len(name.encode()) <= 255 and "\0" not in name
        assert all(c.isascii() and (c.isalnum() or c in "_.-%~") for c in suffix), name
        if len(key) < 100:
            assert unquote(suffix, errors="surrogatepass") == key or (key == "" and suffix == "~")
    assert field_name("qingstor", "a b") == "user.qingstor.a%20b"
    assert field_name("qingstor", "métier") == "user.qingstor.m%C3%A9tier"
    assert escape_key("%") == "%25" and escape_key("upload_id") == "upload_id"
    collided = field_name("oas", "A-B", collided=True)
    assert collided == "user.oas.~A-B" and collided not in {field_name("oas", k) for k in KEYS}


def test_the_kernel_takes_the_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Every escaped name is a valid user xattr name on a real file system (where supported)."""
    target = tmp_path / "f"
    target.write_text("")
    try:
        os.setxattr(target, "user.probe", b"1")
    except OSError as exc:
        pytest.skip(f"no user xattrs on {tmp_path}: {exc}")
    for key in KEYS:
        os.setxattr(target, field_name("q", key), b"v")
    assert len([n for n in os.listxattr(target) if n.startswith("user.q.")]) == len(KEYS)


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(timezone.utc)
)


@given(moments)
def test_any_moment_round_trips_exactly(moment: datetime) -> None:
    exact = (moment - EPOCH) // timedelta(microseconds=1) * 1000
    assert parse_iso8601(moment.isoformat().replace("+00:00", "Z")) == exact
    assert parse_iso8601(f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}.{moment.microsecond:06d}Z") == exact
    whole = exact - moment.microsecond * 1000
    assert parse_http_date(format_datetime(moment, usegmt=True)) == whole  # the year is 4 digits
