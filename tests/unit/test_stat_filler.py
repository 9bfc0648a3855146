"""StatFiller writes only changed fields, yet leaves the struct exactly as a full fill would."""

from __future__ import annotations

import ctypes
import random

from storfs.attrs import StatMaker
from storfs.binding import set_st_attrs
from storfs.entry import Entry

import mfusepy  # isort: skip  (after storfs.binding, which picks libfuse 3)


def _bytes(st: mfusepy.c_stat) -> bytes:
    return ctypes.string_at(ctypes.addressof(st), ctypes.sizeof(st))


def test_each_entry_leaves_the_struct_as_a_full_fill_does() -> None:
    maker = StatMaker(1234, 5678, 1_700_000_000.0)
    rng = random.Random(7)
    entries = []
    for i in range(2_000):
        mtime = rng.choice([1_700_000_000.0, 1_700_000_000.5, float(1_600_000_000 + i), 0.0])
        ctime = rng.choice([None, mtime, mtime + 1.25])
        size = rng.choice([0, 0, 1, 511, 512, 513, 2**40 + 3])
        entries.append(Entry(f"e{i}", is_dir=rng.random() < 0.7, size=size, mtime=mtime, ctime=ctime))
    reused = mfusepy.c_stat()
    filler = maker.filler(reused)
    for i, entry in enumerate(entries):
        if i % 97 == 0:  # another writer (a fixed directory's stat) in between
            set_st_attrs(reused, maker.fixed_dir())
            filler.reset()
        filler.fill(entry)
        fresh = mfusepy.c_stat()
        maker.fill(fresh, entry)
        assert _bytes(reused) == _bytes(fresh), entry


def test_it_writes_less_when_entries_repeat_their_fields() -> None:
    writes = []

    class Spy:
        def __setattr__(self, name: str, value: object) -> None:
            writes.append(name)
            object.__setattr__(self, name, value)

        def __getattr__(self, name: str) -> object:  # the timespec members
            spy = Spy()
            object.__setattr__(self, name, spy)
            return spy

    filler = StatMaker(1, 2, 0.0).filler(Spy())
    filler.fill(Entry("a", is_dir=True, mtime=5.0))
    first = len(writes)
    filler.fill(Entry("b", is_dir=True, mtime=6.0))
    assert first == 13 and len(writes) - first == 4  # m/a/c seconds; c nanoseconds (m/a stay 0)
