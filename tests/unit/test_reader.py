"""RangeReader: exact bytes, bounded memory, read-ahead only in order, a change is EIO for good."""

from __future__ import annotations

import errno
import random
import threading
import time

import pytest
import requests

from storfs.errors import RemoteError
from storfs.reader import ChangedSinceListing, RangeReader, held_bytes

DATA = random.Random(3).randbytes(10_000)


class Source:
    def __init__(self, data: bytes = DATA) -> None:
        self.data = data
        self.calls: list[tuple[int, int]] = []
        self.lock = threading.Lock()
        self.changed_after: int | None = None
        self.fail_once = False

    def __call__(self, start: int, end: int) -> bytes:
        with self.lock:
            self.calls.append((start, end))
            if self.fail_once:
                self.fail_once = False
                raise RemoteError("flaky")
            if self.changed_after is not None and len(self.calls) > self.changed_after:
                raise ChangedSinceListing("changed")
        return self.data[start:end]


def test_every_offset_and_size_gives_the_exact_bytes() -> None:
    reader = RangeReader(Source(), len(DATA), chunk=1000, ahead=2)
    rng = random.Random(5)
    for _ in range(300):
        offset, size = rng.randrange(0, 11_000), rng.randrange(0, 3000)
        assert reader.read(offset, size) == DATA[offset : offset + size]


def test_sequential_reads_fetch_each_chunk_once_and_hold_a_bounded_number() -> None:
    source = Source()
    reader = RangeReader(source, len(DATA), chunk=1000, ahead=2)
    out = b"".join(reader.read(offset, 128) for offset in range(0, len(DATA), 128))
    assert out == DATA
    assert sorted(source.calls) == [(i, min(i + 1000, len(DATA))) for i in range(0, len(DATA), 1000)]
    assert len(reader._chunks) <= reader.max_chunks == 4


def test_random_reads_do_not_read_ahead() -> None:
    source = Source()
    reader = RangeReader(source, len(DATA), chunk=1000, ahead=2)
    assert reader.read(9_500, 10) == DATA[9_500:9_510]
    assert reader.read(3_200, 10) == DATA[3_200:3_210]
    assert sorted(source.calls) == [(3000, 4000), (9000, 10_000)]


def test_a_change_fails_this_and_every_later_read() -> None:
    source = Source()
    source.changed_after = 1
    reader = RangeReader(source, len(DATA), chunk=1000, ahead=0)
    assert reader.read(0, 10) == DATA[:10]
    with pytest.raises(OSError) as raised:
        reader.read(5000, 10)
    assert raised.value.errno == errno.EIO
    with pytest.raises(OSError):
        reader.read(0, 10)  # even bytes already fetched: never serve two versions


def test_a_transient_failure_is_retried_by_the_next_read() -> None:
    source = Source()
    source.fail_once = True
    reader = RangeReader(source, len(DATA), chunk=1000, ahead=0)
    with pytest.raises(RemoteError):
        reader.read(0, 10)
    assert reader.read(0, 10) == DATA[:10]


def test_empty_file_and_reads_past_the_end_cost_nothing() -> None:
    source = Source(b"")
    reader = RangeReader(source, 0)
    assert reader.read(0, 4096) == b"" and source.calls == []


def test_first_read_does_not_read_ahead_and_the_budget_stops_it(monkeypatch: pytest.MonkeyPatch) -> None:
    before = held_bytes()
    source = Source()
    reader = RangeReader(source, len(DATA), chunk=1000, ahead=3)
    reader.read(0, 10)
    assert source.calls == [(0, 1000)]  # `head`: one chunk
    reader.read(10, 10)  # continues where the last read ended: now read ahead
    deadline = time.monotonic() + 10
    while len(source.calls) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(source.calls) == [(0, 1000), (1000, 2000), (2000, 3000), (3000, 4000)]
    monkeypatch.setattr("storfs.reader.READ_AHEAD_BUDGET", 0)
    other = Source()
    capped = RangeReader(other, len(DATA), chunk=1000, ahead=3)
    capped.read(0, 10)
    capped.read(10, 2000)
    assert sorted(other.calls) == [(0, 1000), (1000, 2000), (2000, 3000)]  # only what reads need
    reader.close()
    capped.close()
    assert held_bytes() == before


def test_a_failed_if_match_is_changed_since_listing_for_each_provider() -> None:
    from storfs.providers.azure import decode_error as azure_error
    from storfs.providers.qingstor import decode_error as qingstor_error

    def answer(status: int, body: bytes, headers: dict[str, str]) -> requests.Response:
        response = requests.Response()
        response.status_code, response._content = status, body
        response.headers.update(headers)
        return response

    azure = answer(412, b"", {"x-ms-error-code": "ConditionNotMet"})
    qingstor = answer(412, b'{"code": "precondition_failed", "message": "x"}', {})
    assert isinstance(azure_error(azure), ChangedSinceListing)
    assert isinstance(qingstor_error(qingstor), ChangedSinceListing)
    assert isinstance(azure_error(answer(412, b"", {})), ChangedSinceListing)  # by status alone
    assert not isinstance(azure_error(answer(500, b"", {})), ChangedSinceListing)


class Streams:
    """open_at(start) for DATA: a body read in order; counts opens and how far each got."""

    def __init__(self, data: bytes = DATA, piece: int = 300) -> None:
        self.data = data
        self.piece = piece
        self.opened: list[int] = []
        self.closed = 0
        self.fail_at: int | None = None  # a byte where the stream breaks
        self.delay = 0.0  # seconds before each piece (a trickling server)
        self.into: list[object] = []  # the buffers the stream was read into
        self.changed = False
        self.lock = threading.Lock()

    def __call__(self, start: int) -> object:
        if self.changed:
            raise ChangedSinceListing("changed")
        with self.lock:
            self.opened.append(start)
        streams = self

        class Body:
            at = start

            def readinto(self, view: memoryview) -> int:
                if streams.fail_at is not None and self.at >= streams.fail_at:
                    raise RemoteError("connection reset")
                time.sleep(streams.delay)
                streams.into.append(view.obj)
                out = streams.data[self.at : self.at + min(len(view), streams.piece)]
                view[: len(out)] = out
                self.at += len(out)
                return len(out)

            def close(self) -> None:
                with streams.lock:
                    streams.closed += 1

        return Body()


def test_reads_in_order_take_one_chunk_then_one_stream() -> None:
    before = held_bytes()
    source, streams = Source(), Streams()
    reader = RangeReader(source, len(DATA), chunk=1000, ahead=2, open_at=streams)
    out = b"".join(reader.read(offset, 128) for offset in range(0, len(DATA), 128))
    assert out == DATA
    assert source.calls == [(0, 1000)] and streams.opened == [1000]  # `head`'s chunk, then the rest
    reader.close()
    assert held_bytes() == before


def test_a_seek_closes_the_stream_and_reads_chunks() -> None:
    source, streams = Source(), Streams()
    reader = RangeReader(source, len(DATA), chunk=1000, ahead=0, open_at=streams)
    assert reader.read(0, 100) + reader.read(100, 100) == DATA[:200]
    assert reader.read(1000, 500) == DATA[1000:1500]  # from the stream
    assert reader.read(500, 100) == DATA[500:600]  # back, in the chunk still held: stream stays
    assert reader.read(1500, 100) == DATA[1500:1600]
    assert reader.read(9000, 100) == DATA[9000:9100]  # a seek: chunks again
    assert (9000, 10_000) in source.calls and reader._stream is None
    deadline = time.monotonic() + 10
    while streams.closed < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert streams.closed == 1
    reader.close()


def test_reads_that_arrive_out_of_order_wait_their_turn() -> None:
    source, streams = Source(), Streams()
    reader = RangeReader(source, len(DATA), chunk=1000, ahead=0, open_at=streams)
    reader.read(0, 10)
    reader.read(10, 990)
    results: dict[int, bytes] = {}
    later = threading.Thread(target=lambda: results.update({2000: reader.read(2000, 1000)}))
    later.start()  # the kernel's next read, before the one it follows
    time.sleep(0.1)
    results[1000] = reader.read(1000, 1000)
    later.join(10)
    assert results == {1000: DATA[1000:2000], 2000: DATA[2000:3000]}
    assert streams.opened == [1000] and source.calls == [(0, 1000)]
    reader.close()


def test_a_broken_stream_goes_on_in_chunks_and_a_change_is_eio() -> None:
    source, streams = Source(), Streams()
    streams.fail_at = 4000
    reader = RangeReader(source, len(DATA), chunk=1000, ahead=1, open_at=streams)
    out = b"".join(reader.read(offset, 500) for offset in range(0, len(DATA), 500))
    assert out == DATA
    assert streams.opened == [1000] and (4000, 5000) in source.calls
    reader.close()
    changed = Streams()
    changed.changed = True
    reader = RangeReader(Source(), len(DATA), chunk=1000, ahead=1, open_at=changed)
    reader.read(0, 10)
    reader.read(10, 990)
    with pytest.raises(OSError) as raised:
        reader.read(1000, 10)
    assert raised.value.errno == errno.EIO
    with pytest.raises(OSError):
        reader.read(0, 10)


def test_without_a_streaming_get_reads_ahead_in_chunks() -> None:
    def none(_start: int) -> object:
        raise NotImplementedError

    source = Source()
    reader = RangeReader(source, len(DATA), chunk=1000, ahead=1, open_at=none)  # type: ignore[arg-type]
    out = b"".join(reader.read(offset, 250) for offset in range(0, len(DATA), 250))
    assert out == DATA
    assert sorted(source.calls) == [(i, i + 1000) for i in range(0, len(DATA), 1000)]
    reader.close()


def test_a_stream_is_read_straight_into_the_callers_buffer() -> None:
    source, streams = Source(), Streams()
    reader = RangeReader(source, len(DATA), chunk=1000, ahead=0, open_at=streams)
    out = bytearray()
    buffers = []
    for offset in range(0, len(DATA) + 1000, 700):  # the last reads go past the end
        buffer = bytearray(b"?" * 700)
        buffers.append(buffer)
        got = reader.read_into(offset, memoryview(buffer))
        assert got == max(0, min(700, len(DATA) - offset))
        out += buffer[:got]
    assert out == DATA
    assert streams.opened == [2000]  # read 2 (700-1400) is in order: chunks 0-1, then one GET
    assert streams.into and all(any(obj is b for b in buffers) for obj in streams.into)
    reader.close()


def test_a_trickling_stream_is_given_up_and_the_read_still_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("storfs.reader.STREAM_WAIT", 0.2)
    source, streams = Source(), Streams(piece=10)
    streams.delay = 0.05  # 10 bytes every 50 ms: a 900-byte read would take 4.5 s
    reader = RangeReader(source, len(DATA), chunk=1000, ahead=0, open_at=streams)
    started = time.monotonic()
    out = b"".join(reader.read(offset, 900) for offset in range(0, len(DATA), 900))
    assert out == DATA
    assert time.monotonic() - started < 3
    assert streams.opened == [2000] and streams.closed == 1  # after chunks 0-1, given up once
    reader.close()
