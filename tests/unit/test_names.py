"""The key -> path segment rules of storfs/names.py, one test per rule."""

from __future__ import annotations

import logging

import pytest

from storfs.entry import Entry
from storfs.names import (
    EMPTY_SEGMENT,
    MARKER_WITH_BYTES,
    RESERVED,
    SHADOWED,
    TOO_LONG,
    DelimitedPage,
    SkipLog,
    Skipped,
    decide,
    escape_key,
    segment_of,
    segment_reason,
)
from storfs.stats import STATS


def page(prefix: str, objects: dict[str, int], prefixes: list[str], more: bool = False) -> DelimitedPage:
    return DelimitedPage(
        [(k, Entry(k[len(prefix) :], is_dir=False, size=s)) for k, s in objects.items()],
        [(p, Entry(segment_of(prefix, p), is_dir=True)) for p in prefixes],
        more,
    )


def never(prefix: str) -> bool:
    raise AssertionError(f"no request expected, asked about {prefix!r}")


@pytest.mark.parametrize(
    ("segment", "reason"),
    [("", EMPTY_SEGMENT), (".", RESERVED), ("..", RESERVED), ("a\0b", "contains NUL"), ("x" * 256, TOO_LONG)],
)
def test_unmappable_segments(segment: str, reason: str) -> None:
    assert segment_reason(segment) == reason
    assert segment_reason("ü" * 127) is None  # 254 bytes
    assert segment_reason("ü" * 128) == TOO_LONG  # 256 bytes, 128 characters


def test_empty_and_dot_segments_are_reported_not_shown() -> None:
    entries, skipped = decide("a/", page("a/", {"a/.": 1, "a/..": 2}, ["a//", "a/./", "a/ok/"]), never)
    assert [e.name for e in entries] == ["ok"]
    assert sorted(skipped) == sorted(
        [("a//", EMPTY_SEGMENT), ("a/./", RESERVED), ("a/.", RESERVED), ("a/..", RESERVED)]
    )


def test_zero_byte_marker_is_the_directory_itself() -> None:
    entries, skipped = decide("d/", page("d/", {"d/": 0, "d/f": 3}, []), never)
    assert ([e.name for e in entries], skipped) == (["f"], [])
    entries, skipped = decide("d/", page("d/", {"d/": 5}, []), never)
    assert (entries, skipped) == ([], [("d/", MARKER_WITH_BYTES)])


def test_object_and_prefix_of_one_name_show_the_directory() -> None:
    entries, skipped = decide("", page("", {"a": 4, "b": 1}, ["a/"]), never)
    assert [(e.name, e.is_dir) for e in entries] == [("a", True), ("b", False)]
    assert skipped == [("a", SHADOWED)]


def test_shadowing_across_a_page_end_asks_one_tiny_question() -> None:
    asked: list[str] = []

    def has_prefix(prefix: str) -> bool:
        asked.append(prefix)
        return prefix == "z/"

    # `z` ends a page that has more: its prefix may come on the next page.
    entries, skipped = decide("", page("", {"m": 1, "z": 1}, [], more=True), has_prefix)
    assert [e.name for e in entries] == ["m"] and skipped == [("z", SHADOWED)]
    assert asked == ["z/"]  # `m/` would sort before `z`: it would be on this page
    # The last page never asks.
    entries, _ = decide("", page("", {"z": 1}, [], more=False), never)
    assert [e.name for e in entries] == ["z"]


def test_escape_key_keeps_keys_apart() -> None:
    assert escape_key("db/dump.sql") == "db%2Fdump.sql"
    assert escape_key("db%2Fdump.sql") == "db%252Fdump.sql"


def test_skip_log_counts_and_warns_once_per_listing(caplog: pytest.LogCaptureFixture) -> None:
    log = SkipLog(listings=2, per_listing=2)
    before = STATS.cache.get(f"keys_not_shown {SHADOWED}", 0)
    with caplog.at_level(logging.WARNING, logger="storfs.names"):
        log.record("k1", "label", True, [Skipped("a", SHADOWED)])
        log.record("k1", "label", False, [Skipped("b", SHADOWED), Skipped("c", SHADOWED)])
    assert len([r for r in caplog.records if "cannot be shown" in r.message]) == 1
    assert STATS.cache[f"keys_not_shown {SHADOWED}"] - before == 3
    assert [s.key for s in log.keys("k1")] == ["a", "b"]  # bounded per listing
    log.record("k1", "label", True, [])  # the listing starts over
    assert log.keys("k1") == []
    for key in ("k2", "k3", "k4"):
        log.record(key, "label", True, [Skipped("x", RESERVED)])
    assert log.keys("k2") == [] and log.keys("k4") != []  # bounded in listings too
