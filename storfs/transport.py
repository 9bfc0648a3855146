"""HTTP plumbing shared by every provider: a GET-only session with retries, timeouts and bounds.

Every request is bounded twice over, whatever the server sends: in time by `deadline` (connect,
headers, retries and body together: when it passes, the request's socket is shut down, so no
pool thread outlives it) and in memory by `max_body_bytes` (the body is read in chunks and
decoded incrementally; a larger body closes the connection).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

from storfs.errors import BadResponse, RemoteError, RemoteTimeout, StorfsError
from storfs.stats import STATS

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD"})
RETRY_STATUSES = (429, 500, 502, 503, 504)
#: Bytes read (and decoded) at a time; the body cap and the deadline are checked between chunks.
CHUNK = 64 * 1024
#: The default body cap: this much per entry of a full page, plus this much for the rest.
BODY_BYTES_PER_ENTRY = 4 * 1024
BODY_BYTES_BASE = 1024 * 1024
#: A retried error answer with a body up to this size is read to keep its connection; a larger
#: (or unsized) one has its connection closed instead.
DRAIN_MAX = 64 * 1024
#: How much of an error answer's body is kept for its error code (the rest is not read).
ERROR_BODY_MAX = 64 * 1024


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts, retry budget and body cap for one account's session."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.2
    backoff_max: float = 5.0
    retry_after_max: float = 10.0
    verify_tls: bool = True
    deadline: float = 60.0  # the most one request takes, retries and body included
    parallel_pages: int = 4  # pages fetched at once: read-ahead and pages an API reveals ahead
    max_body_bytes: int = 0  # the largest decoded body; 0: page_size * 4 KiB + 1 MiB


def body_limit(settings: HttpSettings, page_size: int) -> int:
    """The most bytes one decoded response body may hold for an account of this page size."""
    return settings.max_body_bytes or page_size * BODY_BYTES_PER_ENTRY + BODY_BYTES_BASE


# -- the deadline of one request, enforced on its sockets -------------------------------------


class Watch:
    """One request's deadline. `expire()` shuts down the socket of every connection the request
    is using, so a read blocked on it (headers or body, however slowly they trickle) returns at
    once, and marks the request so that a retry fails before it is sent."""

    def __init__(self, deadline: float, on_sent: Callable[[], None] | None = None) -> None:
        self.deadline = deadline  # time.monotonic() value
        self.on_sent = on_sent  # told each time the request has been written to a socket
        self.expired = False
        self._connections: list[HTTPConnection] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def enter(self, connection: HTTPConnection) -> None:
        """Called as `connection` starts a request of this watch's request."""
        with self._lock:
            if self.expired or self.remaining() <= 0:
                raise TimeoutError("the request's deadline has passed")
            self._connections.append(connection)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            connections, self._connections = self._connections, []
        for connection in connections:
            sock = connection.sock
            # A connection already handed to another request is not ours to stop.
            if sock is not None and getattr(connection, "storfs_watch", None) is self:
                with contextlib.suppress(OSError):  # already closed
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)  # also unblocks a TLS read


_CURRENT = threading.local()


def current_watch() -> Watch | None:
    """The watch of the request this thread is sending, if any."""
    return getattr(_CURRENT, "watch", None)


class _Watched:
    """Connection mixin: every request registers with the sending thread's watch."""

    storfs_watch: Watch | None = None

    def request(self, *args: Any, **kwargs: Any) -> Any:
        watch = current_watch()
        self.storfs_watch = watch  # this request's, or none: an earlier request's must not stop it
        if watch is not None:
            watch.enter(self)  # type: ignore[arg-type]
        result = super().request(*args, **kwargs)  # type: ignore[misc]
        if watch is not None and watch.on_sent is not None:
            watch.on_sent()
        return result

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        watch = current_watch()
        if watch is not None and watch.expired:  # it passed while we were connecting
            raise TimeoutError("the request's deadline has passed")
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


# -- retries -----------------------------------------------------------------------------------


class BoundedRetry(Retry):
    """urllib3 Retry that honours Retry-After up to `retry_after_max`, treats a malformed one as
    absent (normal backoff), never sleeps past the request's deadline, and never reads a large
    error body just to reuse its connection."""

    def __init__(self, *args: Any, retry_after_max: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # older urllib3 has no retry_after_max of its own
        self.retry_after_max = retry_after_max  # type: ignore[assignment]

    def new(self, **kwargs: Any) -> BoundedRetry:
        kwargs.setdefault("retry_after_max", self.retry_after_max)
        return super().new(**kwargs)  # type: ignore[return-value]

    def get_retry_after(self, response: Any) -> float | None:
        try:
            seconds = super().get_retry_after(response)
        except (urllib3.exceptions.InvalidHeader, ValueError, OverflowError):
            # "1.5", "soon-ish", "-3", 5,000 digits: not a delay; back off as if it were absent.
            log.debug("ignoring a malformed Retry-After header")
            return None
        return None if seconds is None else min(seconds, self.retry_after_max)

    def sleep(self, response: Any = None) -> None:
        seconds = self.get_retry_after(response) if self.respect_retry_after_header and response else None
        if not seconds:
            seconds = self.get_backoff_time()
        watch = current_watch()
        if watch is not None:
            seconds = min(seconds, max(watch.remaining(), 0.0))
        if seconds > 0:
            time.sleep(seconds)

    def increment(self, *args: Any, **kwargs: Any) -> BoundedRetry:
        retry = super().increment(*args, **kwargs)  # raises once the budget is spent
        response = kwargs.get("response", args[2] if len(args) > 2 else None)
        if response is not None and not _small_body(response):
            response.close()  # urllib3 would otherwise read it whole, without a cap, to drain it
        return retry  # type: ignore[return-value]


def _small_body(response: Any) -> bool:
    length = response.headers.get("Content-Length", "")
    return length.isdigit() and int(length) <= DRAIN_MAX


class ReadOnlySession(requests.Session):
    """A Session that refuses to send anything but GET and HEAD: storfs never writes."""

    def send(self, request: requests.PreparedRequest, **kwargs):  # type: ignore[no-untyped-def,override]
        if (request.method or "").upper() not in SAFE_METHODS:
            raise ValueError(f"storfs is read-only: refusing to send {request.method}")
        return super().send(request, **kwargs)


def make_session(settings: HttpSettings) -> ReadOnlySession:
    """A session whose every request retries 429/5xx and connection failures with bounded backoff."""
    retry = BoundedRetry(
        total=settings.retries + 2,
        connect=settings.retries,
        read=settings.retries,
        status=settings.retries,
        other=0,
        allowed_methods=SAFE_METHODS,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=settings.backoff,
        backoff_max=settings.backoff_max,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
        retry_after_max=settings.retry_after_max,
    )
    session = ReadOnlySession()
    adapter = _Adapter(max_retries=retry, pool_connections=4, pool_maxsize=16)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = settings.verify_tls
    session.trust_env = False
    if not settings.verify_tls:
        # One line of storfs's own when the session is made, not urllib3's warning per request.
        log.warning("TLS certificates are not checked (verify_tls = false)")
        warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
    return session


# -- sending -----------------------------------------------------------------------------------

#: How long a caller whose deadline passed waits for the request's own (logged) outcome.
_GRACE = 0.5


def send(
    session: requests.Session,
    request: requests.PreparedRequest,
    settings: HttpSettings,
    *,
    pool: Executor,
    account: str,
    op: str,
    what: str,
    decode_error: Callable[[requests.Response], StorfsError],
    max_body_bytes: int,
    on_sent: Callable[[], None] | None = None,
    raw_body: bool = False,
    stream_body: bool = False,
) -> requests.Response:
    """Send a prepared GET; return a 2xx response, its body read, or raise the StorfsError it maps to.

    The request runs on `pool` (one per account, so a hung server holds only its own account's
    threads); retries happen there (urllib3 Retry). However they go, the request ends within
    `settings.deadline` seconds: then its socket is shut down and RemoteTimeout raised. A body
    (decoded) larger than `max_body_bytes` closes the connection and raises BadResponse, which
    (like a malformed page) the caller reports; every other failure is logged here, once.
    `account` (`azure/dev`) and `op` (`list_containers`) label the request in the stats; `what`
    names it in messages and must hold no secret. `on_sent` is called (in the sending
    thread) each time the request has been written to a socket (a retry again). `raw_body`: the
    bytes as sent, not decoded (object reads: a blob stored gzip-encoded reads as its gzip bytes).
    `stream_body`: a 2xx body is left unread, for the caller to read (each read bounded by
    `read_timeout`, not by the deadline) and close.
    """
    watch = Watch(time.monotonic() + settings.deadline, on_sent)
    future = pool.submit(
        _send, session, request, settings, account, op, what, watch, max_body_bytes, raw_body, stream_body
    )
    try:
        response = future.result(timeout=max(watch.remaining(), 0.0))
    except FutureTimeout:
        response = _past_deadline(future, watch, settings, account, op, what)
    if 200 <= response.status_code < 300:
        return response
    error = decode_error(response)
    log.warning("%s: %s", what, error)
    raise error


def _past_deadline(
    future: Future[requests.Response], watch: Watch, settings: HttpSettings, account: str, op: str, what: str
) -> requests.Response:
    """The deadline passed: stop the request, and return or raise what it ends with."""
    watch.expire()
    if future.cancel():  # still queued behind other requests of the account: never sent
        STATS.request(account, op, "timeout")
    else:
        try:  # its socket is shut down: its own outcome (logged there) follows at once
            return future.result(timeout=_GRACE)
        except FutureTimeout:
            pass
    log.warning("%s: no answer within the %gs deadline", what, settings.deadline)
    raise RemoteTimeout(f"{what}: no answer within {settings.deadline:g}s")


def _send(
    session: requests.Session,
    request: requests.PreparedRequest,
    settings: HttpSettings,
    account: str,
    op: str,
    what: str,
    watch: Watch,
    max_body_bytes: int,
    raw_body: bool = False,
    stream_body: bool = False,
) -> requests.Response:
    started = time.monotonic()
    _CURRENT.watch = watch
    try:
        if watch.expired or watch.remaining() <= 0:
            raise TimeoutError("the request's deadline passed before it was sent")
        read_timeout = min(settings.read_timeout, watch.remaining())
        response = session.send(
            request,
            timeout=(min(settings.connect_timeout, watch.remaining()), read_timeout),
            allow_redirects=False,
            stream=True,
        )
        if not (stream_body and 200 <= response.status_code < 300):
            _read_body(response, max_body_bytes, watch, decode=not raw_body)
    except BodyTooLarge as exc:
        STATS.request(account, op, "too_large")  # not logged here: the listing reports a BadResponse
        raise BadResponse(
            f"{what}: the response is larger than {exc.limit} bytes (raise `max_body_bytes` in [http])"
        ) from exc
    except Exception as exc:
        raise _failure(exc, watch, account, op, what, settings) from exc
    finally:
        _CURRENT.watch = None
    retries = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
    STATS.request(account, op, response.status_code, len(retries))
    if log.isEnabledFor(logging.INFO):
        url = urlsplit(request.url or "")  # no query: it may carry a SAS token
        elapsed = (time.monotonic() - started) * 1000
        log.info("%s %s%s %d %.0fms", request.method, url.netloc, url.path, response.status_code, elapsed)
    return response


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


def _read_body(response: requests.Response, limit: int, watch: Watch, *, decode: bool = True) -> None:
    """Read `response`'s body (decoded, at most `limit` bytes) into `response.content`, or close
    the connection and raise: BodyTooLarge, TimeoutError at the deadline, urllib3's read errors.

    An error answer's body only has to say which error: its first ERROR_BODY_MAX bytes are
    kept (the rest is never read), so its status still decides what the caller sees."""
    raw = response.raw
    error = not 200 <= response.status_code < 300
    keep = min(limit, ERROR_BODY_MAX) if error else limit
    body = bytearray()
    complete = True
    try:
        length = response.headers.get("Content-Length", "")
        sized = (not decode or not response.headers.get("Content-Encoding")) and length.isdigit()
        if not error and sized and int(length) > limit:
            raise BodyTooLarge(limit)  # said up front: nothing to read
        if not error and sized and not decode:
            # A body taken as sent, of known length: one read (the watch still bounds it, by
            # shutting the socket down at the deadline); a short body raises IncompleteRead.
            response._content = raw.read(int(length), decode_content=False)
            response._content_consumed = True  # type: ignore[attr-defined]
            raw.release_conn()
            return
        for chunk in raw.stream(CHUNK, decode_content=decode):
            body += chunk
            if len(body) > keep:
                if not error:
                    raise BodyTooLarge(limit)
                del body[keep:]
                complete = False
                break
            if watch.expired or watch.remaining() <= 0:
                raise TimeoutError("the request's deadline passed while reading its body")
    except BaseException:
        response.close()  # the rest of the body is never read: the connection is closed, not reused
        raise
    response._content = bytes(body)  # what `.content` returns, as if requests had read it
    response._content_consumed = True  # type: ignore[attr-defined]
    if complete:
        raw.release_conn()
    else:
        raw.close()  # the rest of the error body stays unread: this connection cannot be reused
        raw.release_conn()


def _failure(
    exc: BaseException, watch: Watch, account: str, op: str, what: str, settings: HttpSettings
) -> StorfsError:
    """The StorfsError a failed send or body read means (logged once, here; its cause at debug).

    The cause's text may hold the request's URL with its query (a SAS `sig=`): it reaches a
    log only through the handlers' redactor, never a message of the error returned."""
    log.debug("%s: %s", what, type(exc).__name__, exc_info=exc)
    if watch.expired or watch.remaining() <= 0:
        STATS.request(account, op, "timeout")
        log.warning("%s: no complete answer within the %gs deadline: closed", what, settings.deadline)
        return RemoteTimeout(f"{what}: no complete answer within {settings.deadline:g}s")
    # Read timeouts that used up the retries arrive wrapped in a ConnectionError.
    if isinstance(exc, requests.Timeout | urllib3.exceptions.ReadTimeoutError) or _timed_out(exc):
        STATS.request(account, op, "timeout")
        log.warning("%s: timed out", what)
        return RemoteTimeout(f"{what}: the server did not answer in time")
    if isinstance(exc, urllib3.exceptions.DecodeError | requests.exceptions.ContentDecodingError):
        STATS.request(account, op, "undecodable")
        return BadResponse(f"{what}: the response body does not decode ({type(exc).__name__})")
    if not isinstance(exc, requests.RequestException | urllib3.exceptions.HTTPError | OSError):
        raise exc  # a bug, not the network: let it show
    STATS.request(account, op, "unreachable")
    log.warning("%s: request failed (%s)", what, type(exc).__name__)
    return RemoteError(f"{what}: cannot reach the server ({type(exc).__name__})")


def _timed_out(exc: BaseException) -> bool:
    """Whether a requests error was, underneath, a socket timeout."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 8:
        if isinstance(current, urllib3.exceptions.NewConnectionError):
            return False  # refused or unresolvable; urllib3 files it under ConnectTimeoutError
        if isinstance(current, TimeoutError | urllib3.exceptions.TimeoutError):
            return True
        reason = getattr(current, "reason", None)
        args = getattr(current, "args", ())
        current = (
            reason
            if isinstance(reason, BaseException)
            else next((a for a in args if isinstance(a, BaseException)), current.__cause__)
        )
        seen += 1
    return False
