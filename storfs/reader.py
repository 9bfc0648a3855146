"""Reading a listed blob or object: ranged GETs in chunks, or one streaming GET while reads go
in order.

The first read fetches the chunk it needs, so `head` costs one request. From the second read
that continues where the previous one ended, the rest of the object comes from ONE open-ended
GET (`bytes=<start>-`) that a thread of its own reads ahead into a buffer of at most
`STREAM_BUFFER` bytes (past that it stops reading, and the socket's own flow control holds
the server back): the server's fastest answer, with no request per chunk. A read elsewhere
(`tail`, a seek) closes it and fetches only the chunk it needs; a stream that fails goes on
in chunks. Where the provider has no streaming GET, chunks are read ahead instead.

Memory per open file is bounded: at most `ahead + 2` chunks held or in flight, or the stream's
buffer and the chunks a read still needs; all open files together start no read-ahead and no
stream while `READ_AHEAD_BUDGET` bytes are held. Every byte comes from the version that was
listed (the provider sends If-Match and checks the ETag and length); once one answer says the
object changed, every later read of that open file fails with EIO, so a reader never gets
bytes of two versions.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
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
#: The most bytes a stream reads ahead of its reader; and the size of each of its reads.
STREAM_BUFFER = 16 * 1024 * 1024
STREAM_PIECE = 1024 * 1024
#: How long a reader waits for a stream's next bytes before giving up on it (then chunks).
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

    def read(self, size: int) -> bytes:
        return bytes(self._response.raw.read(size, decode_content=False))

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
    """One open-ended GET from `start`, read ahead by a thread of its own into a bounded buffer."""

    def __init__(self, open_at: OpenRange, start: int, end: int) -> None:
        self.position = start  # the next byte a reader takes
        self.end = end
        self._cond = threading.Condition()
        self._pieces: deque[bytes] = deque()
        self._head = 0  # bytes of the first piece already taken
        self._buffered = 0
        self._closed = False
        self._done = False
        self._error: BaseException | None = None
        _account(STREAM_BUFFER)  # what it may hold, counted up front
        threading.Thread(target=self._run, args=(open_at,), name="storfs-stream", daemon=True).start()

    def turn(self, offset: int) -> bool:
        """Wait (a little) until the reads before `offset` took their bytes; whether they did."""
        with self._cond:
            return self._cond.wait_for(lambda: self.position >= offset or self._closed, TURN_WAIT) and (
                self.position == offset and not self._closed
            )

    def take(self, offset: int, size: int) -> bytes:
        """The `size` bytes at `offset`, the stream's position (fewer only at the end); raises
        what the stream failed with."""
        parts: list[bytes] = []
        with self._cond:
            if offset != self.position:
                raise _Elsewhere  # another read took these bytes meanwhile
            want = min(size, self.end - self.position)
            got = 0
            while got < want:
                while not self._pieces and self._error is None and not self._closed:
                    if not self._cond.wait(STREAM_WAIT):
                        raise BadResponse(f"the stream sent nothing for {STREAM_WAIT:g}s")
                if not self._pieces:
                    raise self._error or BadResponse("the stream was closed")
                piece, start = self._pieces[0], self._head
                used = min(len(piece) - start, want - got)
                parts.append(piece[start : start + used])  # copies only what this read takes
                if start + used == len(piece):
                    self._pieces.popleft()
                    self._head = 0
                else:
                    self._head = start + used
                got += used
            self._buffered -= got
            self.position += got
            self._cond.notify_all()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._pieces.clear()
            self._cond.notify_all()
        _account(-STREAM_BUFFER)

    def _run(self, open_at: OpenRange) -> None:
        at = self.position
        try:
            body = open_at(at)
            try:
                while at < self.end:
                    with self._cond:
                        while self._buffered >= STREAM_BUFFER and not self._closed:
                            self._cond.wait()
                        if self._closed:
                            return
                    piece = body.read(min(STREAM_PIECE, self.end - at))
                    if not piece:
                        raise BadResponse(f"the stream ended at byte {at} of {self.end}")
                    at += len(piece)
                    with self._cond:
                        if self._closed:
                            return
                        self._pieces.append(piece)
                        self._buffered += len(piece)
                        self._cond.notify_all()
            finally:
                body.close()
        except BaseException as exc:  # the reader sees it (and goes on in chunks, or fails)
            with self._cond:
                self._error = exc
                self._cond.notify_all()


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
        if self._failure is not None:
            raise OSError(self._failure.errno, self._failure.strerror)
        end = min(self.size, offset + size)
        if offset >= end:
            return b""
        stream = self._stream
        if stream is not None and stream.position < offset <= stream.position + STREAM_BUFFER:
            stream.turn(offset)  # the reads before this one are under way on other threads
        with self._lock:
            stream = self._stream
            if stream is not None and offset != stream.position:
                before = offset < stream.position and self._held(offset, min(end, stream.position))
                if not before:
                    self._close_stream()  # a read elsewhere: back to chunks
                    stream = None
        if stream is not None and stream.position == offset:
            return self._from_stream(stream, offset, end)
        head_end = end if stream is None or not offset < stream.position < end else stream.position
        head = self._from_chunks(offset, head_end, streaming=stream is not None)
        if head_end == end:
            return head
        assert stream is not None
        return head + self._from_stream(stream, head_end, end)

    def _held(self, offset: int, end: int) -> bool:
        """Whether every chunk of `[offset, end)` is held or on its way (lock held)."""
        last = (end - 1) // self.chunk
        return all(index in self._chunks for index in range(offset // self.chunk, last + 1))

    def _from_stream(self, stream: _Stream, offset: int, end: int) -> bytes:
        try:
            data = stream.take(offset, end - offset)
        except ChangedSinceListing as exc:
            self._failure = exc
            raise
        except _Elsewhere:
            return self._from_chunks(offset, end, streaming=True)
        except Exception:  # broken, or the provider has none: this read and the rest in chunks
            with self._lock:
                if self._stream is stream:
                    self._close_stream()
                self._open_at = None
            return self._from_chunks(offset, end, streaming=False)
        with self._lock:
            self._end = end
            for index in [i for i in self._chunks if (i + 1) * self.chunk <= offset]:
                self._drop(index)  # the stream is past them
        return data

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
