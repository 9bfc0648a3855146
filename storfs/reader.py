"""Reading a listed blob or object: ranged GETs in chunks, read-ahead while reads go in order.

Memory per open file is bounded: at most `ahead + 2` chunks are held or in flight, and all open
files together start no read-ahead while `READ_AHEAD_BUDGET` bytes are held. Chunks are large
because each request costs the server a fixed overhead (16 MiB ranges from Azurite stream
several times faster than 4 MiB ones). Read-ahead starts with the second read that continues
where the previous one ended, so `head` costs one chunk. Every chunk
comes from the version that was listed (the provider sends If-Match and checks the ETag); once
one chunk says the object changed, every later read of that open file fails with EIO, so a
reader never gets bytes of two versions.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import requests

from storfs.errors import BadResponse, ChangedSinceListing

__all__ = ["ChangedSinceListing", "RangeReader", "checked_range", "held_bytes"]

#: fetch(start, end) -> the bytes [start, end) of the listed version.
FetchRange = Callable[[int, int], bytes]

CHUNK = 16 * 1024 * 1024
AHEAD = 1
READ_AHEAD_BUDGET = 256 * 1024 * 1024

#: Shared by every open file; a chunk request waits at most `deadline` inside the provider.
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="storfs-read")
_HELD_LOCK = threading.Lock()
_held = [0]  # bytes of chunks held or in flight, all open files together


def held_bytes() -> int:
    """Bytes all open files hold or have in flight."""
    return _held[0]


def _account(delta: int) -> None:
    with _HELD_LOCK:
        _held[0] += delta


def checked_range(
    response: requests.Response, etag: str, start: int, end: int, what: str, thing: str
) -> bytes:
    """The body of a ranged GET of bytes `[start, end)`, checked to be of the version listed
    (`etag`, when both sides name one) and exactly as long as asked for."""
    sent = response.headers.get("ETag", "").strip('"')
    if etag and sent and sent != etag:
        raise ChangedSinceListing(f"{what}: the {thing} changed since it was listed")
    data = response.content
    if len(data) != end - start:
        raise BadResponse(f"{what}: asked for {end - start} bytes, got {len(data)}")
    return data


class RangeReader:
    """One open file's bytes, fetched chunk by chunk as reads need them."""

    def __init__(self, fetch: FetchRange, size: int, *, chunk: int = CHUNK, ahead: int = AHEAD) -> None:
        self._fetch = fetch
        self.size = size
        self.chunk = chunk
        self.ahead = ahead
        self._lock = threading.Lock()
        self._chunks: OrderedDict[int, Future[bytes]] = OrderedDict()
        self._end = -1  # where the previous read ended: a read starting there goes in order
        self._failure: OSError | None = None
        self.requests = 0

    @property
    def max_chunks(self) -> int:
        """The most chunks this file ever holds or has in flight (the memory bound)."""
        return self.ahead + 2

    def read(self, offset: int, size: int) -> bytes:
        if self._failure is not None:
            raise OSError(self._failure.errno, self._failure.strerror)
        end = min(self.size, offset + size)
        if offset >= end:
            return b""
        first, last = offset // self.chunk, (end - 1) // self.chunk
        with self._lock:
            needed = range(first, last + 1)
            futures = [self._start(index) for index in needed]
            if offset == self._end and held_bytes() < READ_AHEAD_BUDGET:
                for index in range(last + 1, last + 1 + self.ahead):
                    if index * self.chunk < self.size:
                        self._start(index)
            self._end = end
            self._trim(first, last + self.ahead, needed)
        pieces = []
        for index, future in zip(needed, futures, strict=True):
            try:
                data = future.result()
            except OSError as exc:
                with self._lock:
                    if self._chunks.get(index) is future:
                        self._drop(index)  # a transient failure may be retried
                if isinstance(exc, ChangedSinceListing):
                    self._failure = exc
                raise
            base = index * self.chunk
            pieces.append(data[max(offset, base) - base : min(end, base + len(data)) - base])
        return b"".join(pieces)

    def close(self) -> None:
        with self._lock:
            for index in list(self._chunks):
                self._drop(index)

    def _start(self, index: int) -> Future[bytes]:
        future = self._chunks.get(index)
        if future is None:
            start = index * self.chunk
            self.requests += 1
            _account(self._length(index))
            future = self._chunks[index] = _POOL.submit(self._fetch, start, start + self._length(index))
        self._chunks.move_to_end(index)
        return future

    def _length(self, index: int) -> int:
        return min(self.size - index * self.chunk, self.chunk)

    def _drop(self, index: int) -> None:
        self._chunks.pop(index).cancel()
        _account(-self._length(index))

    def _trim(self, low: int, high: int, needed: range) -> None:
        """Drop chunks outside `[low - 1, high]`, then the least recently used past the bound.

        Chunks this read needs stay, so one read larger than the bound still completes.
        """
        for index in [i for i in self._chunks if i < low - 1 or i > high]:
            self._drop(index)
        for index in list(self._chunks):
            if len(self._chunks) <= self.max_chunks:
                break
            if index not in needed:
                self._drop(index)
