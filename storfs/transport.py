"""HTTP plumbing shared by every provider: a GET-only session with retries and timeouts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from storfs.errors import RemoteError, RemoteTimeout, StorfsError
from storfs.stats import STATS

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD"})
RETRY_STATUSES = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts and retry budget for one account's session."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.2
    backoff_max: float = 5.0
    retry_after_max: float = 10.0
    verify_tls: bool = True
    deadline: float = 60.0  # the most one FUSE call waits on the network, retries included
    parallel_pages: int = 4  # pages fetched at once: read-ahead and pages an API reveals ahead


class BoundedRetry(Retry):
    """urllib3 Retry that honours Retry-After but never sleeps longer than `retry_after_max`."""

    def __init__(self, *args: Any, retry_after_max: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # older urllib3 has no retry_after_max of its own
        self.retry_after_max = retry_after_max  # type: ignore[assignment]

    def new(self, **kwargs: Any) -> BoundedRetry:
        kwargs.setdefault("retry_after_max", self.retry_after_max)
        return super().new(**kwargs)  # type: ignore[return-value]

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, self.retry_after_max)


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
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=16)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = settings.verify_tls
    session.trust_env = False
    return session


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
    raw_body: bool = False,
) -> requests.Response:
    """Send a prepared GET; return a 2xx response or raise the StorfsError it maps to.

    `raw_body`: the body is the bytes as sent (no Content-Encoding decoding), read in one call
    (several times faster than requests' 10 KiB iteration: object reads need it).

    The request runs on `pool` (one per account, so a hung server holds only its own account's
    threads); retries happen there (urllib3 Retry), and however they go, the caller waits at most
    `settings.deadline` seconds. `account` (`azure/dev`) and `op` (`list_containers`) label the
    request in the stats; `what` names it in messages and must hold no secret.
    """
    future = pool.submit(_send, session, request, settings, account, op, what, raw_body)
    try:
        response = future.result(timeout=settings.deadline)
    except FutureTimeout:
        log.warning("%s: no answer within the %gs deadline", what, settings.deadline)
        raise RemoteTimeout(f"{what}: no answer within {settings.deadline:g}s") from None
    if 200 <= response.status_code < 300:
        return response
    error = decode_error(response)
    log.warning("%s: %s", what, error)
    raise error


def _send(
    session: requests.Session,
    request: requests.PreparedRequest,
    settings: HttpSettings,
    account: str,
    op: str,
    what: str,
    raw_body: bool = False,
) -> requests.Response:
    read_timeout = min(settings.read_timeout, settings.deadline)
    started = time.monotonic()
    try:
        response = session.send(
            request,
            timeout=(min(settings.connect_timeout, settings.deadline), read_timeout),
            allow_redirects=False,
            stream=raw_body,
        )
        if raw_body:
            response._content = response.raw.read(decode_content=False)
            response._content_consumed = True  # type: ignore[attr-defined]
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        # Read timeouts that used up the retries arrive wrapped in a ConnectionError.
        if isinstance(exc, requests.Timeout) or _timed_out(exc):
            STATS.request(account, op, "timeout")
            log.warning("%s: timed out", what)
            raise RemoteTimeout(f"{what}: the server did not answer in time") from None
        STATS.request(account, op, "unreachable")
        log.warning("%s: request failed (%s)", what, type(exc).__name__)
        raise RemoteError(f"{what}: cannot reach the server ({type(exc).__name__})") from None
    retries = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
    STATS.request(account, op, response.status_code, len(retries))
    if log.isEnabledFor(logging.INFO):
        url = urlsplit(request.url or "")  # no query: it may carry a SAS token
        elapsed = (time.monotonic() - started) * 1000
        log.info("%s %s%s %d %.0fms", request.method, url.netloc, url.path, response.status_code, elapsed)
    return response


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
