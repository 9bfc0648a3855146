"""Reading a listed blob or object: ranged GETs in chunks, or one streaming GET while reads go
in order.

The first read fetches the chunk it needs, so `head` costs one request. From the second read
that continues where the previous one ended, the rest of the object comes from ONE open-ended
GET (`bytes=<start>-`), read from the socket straight into each read's reply buffer (libfuse's,
see `read_into`) by the read whose turn it is: the server's fastest answer, with no request
per chunk, no thread and no copy in between. A read elsewhere (`tail`, a seek) closes it and
fetches only the chunk it needs; a stream that fails goes on in chunks. Where the provider has
no streaming GET, chunks are read ahead instead.

Memory per open file is bounded: at most `ahead + 2` chunks held or in flight, or a stream
(which holds no bytes of its own) and the chunks a read still needs; all open files together
start no read-ahead and no stream while `READ_AHEAD_BUDGET` bytes are held, a stream counting
`STREAM_SHARE` of it (so at most 16 files stream at once). Every byte comes from the version
that was listed (the provider sends If-Match and checks the ETag and length); once one answer
says the object changed, every later read of that open file fails with EIO, so a reader never
gets bytes of two versions.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import requests

from storfs.errors import BadResponse, ChangedSinceListing, StorfsError

__all__ = ["Body", "ChangedSinceListing", "RangeReader", "checked_range", "checked_stream", "held_bytes"]

#: fetch(start, end) -> the bytes [start, end) of the listed version.
FetchRange = Callable[[int, int], bytes]

CHUNK = 16 * 1024 * 1024
AHEAD = 1
READ_AHEAD_BUDGET = 256 * 1024 * 1024
#: What a stream counts against READ_AHEAD_BUDGET (its connection, not bytes it holds).
STREAM_SHARE = 16 * 1024 * 1024
#: How far past the stream's position a read waits its turn rather than counting as a seek.
TURN_WINDOW = 16 * 1024 * 1024
#: How long one read waits for a stream's bytes before giving up on it (then chunks).
STREAM_WAIT = 60.0
#: How long a read a little past the stream's position waits for the reads before it (the
#: kernel sends a file's reads on several threads at once), before it counts as a seek.
TURN_WAIT = 2.0

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


class Body:
    """A streaming answer's bytes, as sent, read in order (a 2xx response, its body unread)."""

    def __init__(self, response: requests.Response) -> None:
        self._response = response
        raw = response.raw
        # http.client's own response reads the socket into the buffer given, with no copy;
        # urllib3's readinto reads a bytes object first. Both give the bytes as sent.
        self._readinto = getattr(getattr(raw, "_fp", None), "readinto", None) or raw.readinto

    def readinto(self, view: memoryview) -> int:
        """Read at most len(view) bytes into it; 0 at the end."""
        return self._readinto(view) or 0

    def close(self) -> None:
        self._response.close()


#: open(start) -> the bytes from `start` to the end of the listed version, streaming.
OpenRange = Callable[[int], Body]


def checked_stream(
    response: requests.Response, etag: str, start: int, size: int, what: str, thing: str
) -> Body:
    """The body of an open-ended GET from `start` of an object of `size` bytes, checked to be of
    the version listed and to announce exactly the bytes asked for (it is closed otherwise)."""
    sent = response.headers.get("ETag", "").strip('"')
    length = response.headers.get("Content-Length", "")
    problem: StorfsError | None = None
    if etag and sent and sent != etag:
        problem = ChangedSinceListing(f"{what}: the {thing} changed since it was listed")
    elif not length.isdigit() or int(length) != size - start:
        problem = BadResponse(f"{what}: asked for {size - start} bytes from {start}, told {length[:20]!r}")
    if problem is not None:
        response.close()
        raise problem
    return Body(response)


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


class _Elsewhere(Exception):
    """The stream has moved past the bytes a read wanted (another read took them)."""


class _Stream:
    """One open-ended GET from `start`, read straight into the buffers of the reads in order.

    No thread of its own and no buffer: the read whose turn it is (its offset is the stream's
    position) reads the socket into its own reply buffer, and the reads after it wait for it.
    The GET is sent by the first of them. Between reads, the socket's flow control holds the
    server back.
    """

    def __init__(self, open_at: OpenRange, start: int, end: int) -> None:
        self.position = start  # the next byte a reader takes
        self.end = end
        self._open_at: OpenRange | None = open_at
        self._body: Body | None = None
        self._cond = threading.Condition()
        self._busy = False  # a read is reading the socket (outside the lock)
        self._closed = False
        self._error: BaseException | None = None
        _account(STREAM_SHARE)

    def turn(self, offset: int) -> bool:
        """Wait (a little) until the reads before `offset` took their bytes; whether they did."""
        with self._cond:
            return self._cond.wait_for(lambda: self.position >= offset or self._closed, TURN_WAIT) and (
                self.position == offset and not self._closed
            )

    def take_into(self, offset: int, view: memoryview) -> int:
        """Read the bytes at `offset`, the stream's position, into `view` (fewer only at the
        end); raises what the stream failed with, and _Elsewhere if another read took them."""
        with self._cond:
            if not self._cond.wait_for(lambda: not self._busy, STREAM_WAIT):
                raise BadResponse(f"the stream sent nothing for {STREAM_WAIT:g}s")
            if self._error is not None:
                raise self._error
            if self._closed:
                raise BadResponse("the stream was closed")
            if offset != self.position:
                raise _Elsewhere
            self._busy = True
        want = min(len(view), self.end - offset)
        got = 0
        try:
            if self._body is None:
                assert self._open_at is not None
                self._body, self._open_at = self._open_at(offset), None
            given_up = time.monotonic() + STREAM_WAIT  # a trickling server does not hold a read forever
            while got < want:
                n = self._body.readinto(view[got:want])
                if not n:
                    raise BadResponse(f"the stream ended at byte {offset + got} of {self.end}")
                got += n
                if got < want and time.monotonic() > given_up:
                    raise BadResponse(f"the stream sent {got} of {want} bytes in {STREAM_WAIT:g}s")
        except BaseException as exc:  # this read goes on in chunks (or fails); so do later ones
            self._close_body()
            with self._cond:
                self._error = exc
                self._busy = False
                self._cond.notify_all()
            raise
        with self._cond:
            self.position += got
            self._busy = False
            closed = self._closed
            self._cond.notify_all()
        if closed:
            self._close_body()  # close() left it to this read, which was using it
        return got

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            busy = self._busy
            self._cond.notify_all()
        _account(-STREAM_SHARE)
        if not busy:
            self._close_body()

    def _close_body(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.close()


class RangeReader:
    """One open file's bytes, fetched chunk by chunk as reads need them."""

    def __init__(
        self,
        fetch: FetchRange,
        size: int,
        *,
        chunk: int = CHUNK,
        ahead: int = AHEAD,
        open_at: OpenRange | None = None,
    ) -> None:
        self._fetch = fetch
        self._open_at = open_at
        self._stream: _Stream | None = None
        self.streams = 0  # streaming GETs opened
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
        """The bytes `[offset, offset + size)` (fewer at the end of the object)."""
        buffer = bytearray(max(0, min(size, self.size - offset)))
        return bytes(buffer[: self.read_into(offset, memoryview(buffer))])

    def read_into(self, offset: int, view: memoryview) -> int:
        """Read the bytes from `offset` into `view` (fewer at the end); how many."""
        if self._failure is not None:
            raise OSError(self._failure.errno, self._failure.strerror)
        end = min(self.size, offset + len(view))
        if offset >= end:
            return 0
        stream = self._stream
        if stream is not None and stream.position < offset <= stream.position + TURN_WINDOW:
            stream.turn(offset)  # the reads before this one are under way on other threads
        with self._lock:
            stream = self._stream
            if stream is not None and offset != stream.position:
                before = offset < stream.position and self._held(offset, min(end, stream.position))
                if not before:
                    self._close_stream()  # a read elsewhere: back to chunks
                    stream = None
        if stream is not None and stream.position == offset:
            return self._from_stream(stream, offset, view[: end - offset])
        head_end = end if stream is None or not offset < stream.position < end else stream.position
        head = self._from_chunks(offset, head_end, streaming=stream is not None)
        view[: len(head)] = head
        if head_end == end:
            return len(head)
        assert stream is not None
        return len(head) + self._from_stream(stream, head_end, view[len(head) : end - offset])

    def _held(self, offset: int, end: int) -> bool:
        """Whether every chunk of `[offset, end)` is held or on its way (lock held)."""
        last = (end - 1) // self.chunk
        return all(index in self._chunks for index in range(offset // self.chunk, last + 1))

    def _from_stream(self, stream: _Stream, offset: int, view: memoryview) -> int:
        """Fill `view` with the bytes at `offset` from the stream (or, failing that, chunks)."""
        end = offset + len(view)
        try:
            got = stream.take_into(offset, view)
        except ChangedSinceListing as exc:
            self._failure = exc
            raise
        except _Elsewhere:
            return self._copy(self._from_chunks(offset, end, streaming=True), view)
        except Exception:  # broken, or the provider has none: this read and the rest in chunks
            with self._lock:
                if self._stream is stream:
                    self._close_stream()
                self._open_at = None
            return self._copy(self._from_chunks(offset, end, streaming=False), view)
        with self._lock:
            self._end = offset + got
            for index in [i for i in self._chunks if (i + 1) * self.chunk <= offset]:
                self._drop(index)  # the stream is past them
        return got

    @staticmethod
    def _copy(data: bytes, view: memoryview) -> int:
        view[: len(data)] = data
        return len(data)

    def _close_stream(self) -> None:
        """(lock held)"""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _from_chunks(self, offset: int, end: int, *, streaming: bool) -> bytes:
        first, last = offset // self.chunk, (end - 1) // self.chunk
        with self._lock:
            needed = range(first, last + 1)
            futures = [self._start(index) for index in needed]
            in_order = offset == self._end and not streaming and held_bytes() < READ_AHEAD_BUDGET
            following = (last + 1) * self.chunk
            if in_order and self._open_at is not None and following < self.size:
                # The rest in one streaming GET, from the first byte no chunk here holds.
                self._stream = _Stream(self._open_at, following, self.size)
                self.streams += 1
            elif in_order:
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
            self._close_stream()
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
