"""PageGuard.admit: its whole-page fast path admits exactly what the name-by-name rules admit."""

from __future__ import annotations

import random

import pytest

from storfs import paging
from storfs.entry import Entry
from storfs.paging import PageGuard

HOSTILE = [
    "",
    ".",
    "..",
    "a/b",
    "nul\0",
    "\udc80x",
    "é" * 64,
    "é" * 127,
    "é" * 128,
    "x" * 255,
    "x" * 256,
    "dup",
]


def test_the_fast_path_admits_what_the_rules_admit(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    known = {"old", "dup"}
    for _ in range(2_000):
        names = [f"n{rng.randrange(50)}" for _ in range(rng.randrange(8))]
        names += rng.sample([*HOSTILE, "old", "fine"], rng.randrange(3))
        rng.shuffle(names)
        entries = [Entry(name, is_dir=True) for name in names]
        fast = PageGuard("t").admit(entries, known.__contains__)
        with monkeypatch.context() as patch:
            patch.setattr(paging, "_all_admitted", lambda *_: False)
            slow_guard = PageGuard("t")
            slow = slow_guard.admit(entries, known.__contains__)
        assert [e.name for e in fast] == [e.name for e in slow], names
        assert (len(fast) == len(entries)) == (slow_guard.skipped == 0)
