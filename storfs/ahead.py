"""PagesAhead: the pages of one listing beyond its next one, asked for before their turn."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from storfs.entry import Page


class PagesAhead:
    """Which cursors past the next page were asked for early, and the pages that arrived early.

    A cursor gets here in two ways: a page named its successor before it was parsed (a hint),
    or the API revealed the cursors of several pages at once (`Page.lookahead`); revealed
    cursors are also *promised*: the listing must reach each of them before it ends. Everything
    here stays only while it is on the chain of cursors from the next page; once a page names
    a successor nobody asked for, it is all forgotten. Not thread-safe: the listing's lock is held.
    """

    def __init__(self) -> None:
        self._arrived: dict[str | None, Page] = {}  # fetched, waiting for their turn
        self._wanted: set[str] = set()  # requested ahead, still on the chain
        self._revealed: deque[str] = deque()  # revealed by the API, not requested yet
        self._promised: set[str] = set()  # revealed by the API, not added yet

    def has(self, cursor: str | None) -> bool:
        """Whether the page at `cursor` arrived and waits for its turn."""
        return cursor in self._arrived

    def want(self, cursor: str) -> None:
        """The page at `cursor` is being fetched ahead of its turn."""
        self._wanted.add(cursor)

    def keep(self, cursor: str | None, page: Page, next_cursor: str | None) -> None:
        """Keep a fetched page if it is the next one or still on the chain."""
        if cursor == next_cursor or cursor in self._wanted:
            self._arrived[cursor] = page

    def take(self, cursor: str | None) -> Page | None:
        """The page at `cursor`, if it arrived, handed over once."""
        return self._arrived.pop(cursor, None)

    def reveal(self, cursors: Sequence[str]) -> None:
        """The API named the cursors of pages to come; taken only when nothing else is ahead."""
        if cursors and not self._revealed and not self._wanted:
            self._revealed.extend(cursors)
            self._promised.update(cursors)

    def next_revealed(self) -> str | None:
        """The next revealed cursor to request (now wanted), or None."""
        if not self._revealed:
            return None
        cursor = self._revealed.popleft()
        self._wanted.add(cursor)
        return cursor

    def added(self, cursor: str | None, following: str | None) -> bool:
        """The page at `cursor` was added and names `following`: keep what is still on the chain.

        False when the listing ended (`following` is None) before pages the server promised.
        """
        if cursor is not None:
            self._promised.discard(cursor)
        if following is None:
            kept = not self._promised
            self.forget()
            return kept
        if following in self._wanted:
            self._wanted.discard(following)
        else:
            self.forget()  # the chain of cursors changed: what was fetched ahead is off it
        return True

    def forget(self) -> None:
        self._arrived.clear()
        self._wanted.clear()
        self._revealed.clear()
        self._promised.clear()
