"""Source: what the engine needs to read one listing, and Fetched: one page's answer, parsed later.

The tree builds a Source for each listing from its provider; the listing, a reader's own stream
and the cache read pages only through it, so they know nothing of HTTP or of any provider.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from storfs.entry import Entry, Page
from storfs.errors import BadResponse, NotFound, RemoteError, StorfsError

log = logging.getLogger(__name__)


#: Told once a page's request has been written to the wire.
OnSent = Callable[[], None] | None

#: on_part(start, entries): told, while a page is parsed, of its entries decoded so far from
#: index `start` on (every part follows the one before; together they begin the page's entries).
OnPart = Callable[[int, list[Entry]], None] | None

#: The longest a page's parse waits for the next page's request to be written (seconds): the
#: parse holds the GIL in one long C call, which would hold that request back. On a pooled
#: connection writing takes a millisecond; a new (TLS) connection waits on the network, and then
#: parsing meanwhile delays the handshake's few steps less than waiting for it would.
WIRE_WAIT = 0.05


class Fetched:
    """One page's response: `hint` is the next page's cursor when the provider could see it before
    parsing (so the next request can leave first); `page()` parses, once. `in_parts(on_part)`,
    where the provider has it, parses the same page telling `on_part` of its entries as they
    are decoded (so readers can take the first ones while the rest is parsed)."""

    __slots__ = ("_in_parts", "_page", "_parse", "hint")

    def __init__(
        self,
        parse: Callable[[], Page],
        hint: str | None = None,
        *,
        in_parts: Callable[[OnPart], Page] | None = None,
    ) -> None:
        self._parse = parse
        self._in_parts = in_parts
        self._page: Page | None = None
        self.hint = hint

    @classmethod
    def ready(cls, page: Page) -> Fetched:
        fetched = cls(lambda: page)
        fetched._page = page
        return fetched

    def page(self, on_part: OnPart = None) -> Page:
        if self._page is None:
            if on_part is not None and self._in_parts is not None:
                self._page = self._in_parts(on_part)
            else:
                self._page = self._parse()
        return self._page


@dataclass(frozen=True)
class Source:
    """One listing's pages and lookups.

    `fetch(cursor)` requests one page; `lookup(name)` answers one name with one small request, or
    raises NotImplementedError where the API cannot; `pool` is the account's own page pool (so one
    account's outage never slows another); `wait` bounds what one call waits for, in seconds.
    """

    label: str
    fetch: Callable[[str | None, OnSent], Fetched]
    lookup: Callable[[str], Entry | None]
    pool: Executor
    wait: float = 60.0


def fetch_page(
    source: Source,
    cursor: str | None,
    on_hint: Callable[[str], threading.Event | None] | None = None,
    on_sent: OnSent = None,
    on_part: OnPart = None,
) -> Page:
    """Fetch and parse the page at `cursor`.

    `on_hint` hears the next cursor as soon as it shows and may start its request: the parse
    then waits (at most WIRE_WAIT) until that request is on the wire. `on_sent` is told when
    this page's own request is; `on_part`, of the entries parsed so far (`Fetched.page`).
    """
    try:
        fetched = source.fetch(cursor, on_sent)
    finally:
        if on_sent is not None:
            on_sent()  # however it went: nobody waits for a request that never leaves
    if fetched.hint is not None and on_hint is not None:
        sent = on_hint(fetched.hint)
        if sent is not None:
            sent.wait(WIRE_WAIT)
    return fetched.page(on_part)


def page_failure(label: str, exc: BaseException, pages_before: int) -> OSError:
    """What a failed page means to a reader.

    A "not found" for a page after the first is not an absent directory but a listing that
    vanished under its reader: EIO, never ENOENT (which readdir's callers take for the end).
    Anything that is not an OSError is a page storfs could not read: EIO, with its traceback logged.
    """
    if isinstance(exc, NotFound) and pages_before > 0:
        failure: OSError = RemoteError(
            f"{label}: page {pages_before + 1} answered 'not found' mid-listing: {exc}"
        )
        log.warning("%s", failure)
        return failure
    if isinstance(exc, BadResponse):
        log.warning("%s", exc)  # the one line a broken protocol gets
        return exc
    if isinstance(exc, OSError):
        return exc
    log.warning("%s: unreadable page (%s)", label, type(exc).__name__, exc_info=exc)
    return BadResponse(f"{label}: unreadable page ({type(exc).__name__})")


def again(error: OSError) -> OSError:
    """A fresh exception like `error`, to raise in another thread."""
    if isinstance(error, StorfsError):
        return type(error)(str(error))
    return OSError(error.errno, error.strerror)
