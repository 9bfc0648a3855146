"""The objects at a page's end, decided from the next page instead of one query each.

An object `a` at the end of a delimiter page may be shadowed by a prefix `a/` that only a later
page shows (README "Names"). The next page is usually on its way already (the listing fetches
it ahead) and is needed anyway: the parse of a page asks `NextPages.peek` for the next one,
which joins the listing's fetch of it or makes that request itself, and then the listing's own
fetch of that page takes the answer made for it instead of asking again. Only when the next
page cannot tell (it holds nothing past `a/`) does a small query of its own go out.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, NamedTuple, TypeVar

from storfs.errors import StorfsError
from storfs.names import shadowed_by_next

T = TypeVar("T")

#: A peek waits at most this long for a fetch another thread is making (it has its own deadline).
JOIN_WAIT = 300.0


class _Answer(NamedTuple):
    future: Future  # type: ignore[type-arg]
    by_peek: bool  # made by a peek, for the listing's own fetch to take
    expires: float


class NextPages(Generic[T]):
    """Recent page answers by (listing, cursor), each for two uses: the parse of the page before
    it (to decide its last objects) and the listing's own fetch of it. At most `keep` answers
    (the oldest go first), each for `seconds`: memory stays a few pages per account."""

    def __init__(self, keep: int = 4, seconds: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.keep = keep
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._answers: OrderedDict[tuple[Hashable, str], _Answer] = OrderedDict()

    def fetch(self, listing: Hashable, cursor: str | None, get: Callable[[], T]) -> T:
        """The listing's own fetch of the page at `cursor`: the answer a peek made for it, else
        `get()`, which peeks meanwhile (and for `seconds` after) share."""
        if cursor is None:
            return get()  # a first page follows no page
        key = (listing, cursor)
        with self._lock:
            self._expire()
            answer = self._answers.get(key)
            if answer is not None and answer.by_peek:
                del self._answers[key]  # taken: a later fetch of this page asks the server again
            else:
                answer = None
                future: Future[T] = Future()
                self._store(key, _Answer(future, False, self.clock() + self.seconds))
        if answer is not None:
            return self._wait(answer.future)
        return self._run(key, future, get)

    def peek(self, listing: Hashable, cursor: str, get: Callable[[], T]) -> T:
        """The page at `cursor`, to decide the page before it: the listing's fetch of it if one
        was made or is under way, else `get()` (left for the listing's fetch to take)."""
        key = (listing, cursor)
        with self._lock:
            self._expire()
            answer = self._answers.get(key)
            if answer is not None:
                if not answer.by_peek:
                    del self._answers[key]  # both uses made
            else:
                future: Future[T] = Future()
                self._store(key, _Answer(future, True, self.clock() + self.seconds))
        if answer is not None:
            return self._wait(answer.future)
        return self._run(key, future, get)

    def prefix_check(
        self,
        listing: Hashable,
        following: str | None,
        get: Callable[[str], T],
        names_of: Callable[[T], tuple[list[str], bool]],
        ask: Callable[[str], bool],
    ) -> Callable[[str], bool]:
        """The `has_prefix` of `names.decide` for a page of `listing` followed by cursor
        `following`: whether a prefix exists, told by that next page (`get(following)`, peeked
        so the listing's fetch of it takes the same answer; `names_of` gives its keys and
        prefixes and whether more follow), else by `ask(prefix)`, a query of its own."""

        @functools.cache
        def next_names() -> tuple[list[str], bool] | None:
            if following is None:
                return None
            try:
                return names_of(self.peek(listing, following, functools.partial(get, following)))
            except StorfsError:
                return None  # the listing reports it when it gets there

        def has_prefix(directory: str) -> bool:
            known = next_names()
            verdict = None if known is None else shadowed_by_next(known[0], known[1], directory)
            return ask(directory) if verdict is None else verdict

        return has_prefix

    def _wait(self, future: Future[T]) -> T:
        return future.result(timeout=JOIN_WAIT)

    def _run(self, key: tuple[Hashable, str], future: Future[T], get: Callable[[], T]) -> T:
        try:
            value = get()
        except BaseException as exc:
            future.set_exception(exc)
            with self._lock:
                if (held := self._answers.get(key)) is not None and held.future is future:
                    del self._answers[key]  # a failure is never reused: the next fetch asks again
            raise
        future.set_result(value)
        return value

    def _store(self, key: tuple[Hashable, str], answer: _Answer) -> None:
        self._answers[key] = answer
        self._answers.move_to_end(key)
        while len(self._answers) > self.keep:
            self._answers.popitem(last=False)

    def _expire(self) -> None:
        now = self.clock()
        for key in [key for key, answer in self._answers.items() if answer.expires <= now]:
            del self._answers[key]
