"""Guards over one pass through a listing's pages: whatever the server sends, a pass ends.

Owned here, once, for both the shared listing and a reader's own stream: a repeated cursor, a
page budget, a run of empty pages that still promise more, a page that only repeats names already
listed, and names that cannot be file names.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from storfs.entry import Entry, Page
from storfs.errors import PagingError
from storfs.names import NAME_MAX, unusable_reason

log = logging.getLogger(__name__)

#: Default page budget of one listing (a server whose cursor never ends).
MAX_PAGES = 10_000
#: Empty pages in a row that still promise more: a server going nowhere.
MAX_EMPTY_PAGES = 100


class PageGuard:
    """Checks each page of one pass, in order, before its entries are admitted."""

    __slots__ = ("_cursors", "_empty_run", "label", "max_pages", "pages", "skipped")

    def __init__(self, label: str, max_pages: int = MAX_PAGES) -> None:
        self.label = label
        self.max_pages = max_pages
        self.pages = 0
        self.skipped = 0
        self._empty_run = 0
        self._cursors: set[str] = set()

    def before_fetch(self) -> None:
        """Raise PagingError if one more page would exceed the page budget."""
        if self.pages >= self.max_pages:
            raise PagingError(f"{self.label}: more than {self.max_pages} pages; giving up")

    def check(self, cursor: str | None, page: Page, known: Callable[[str], bool]) -> None:
        """Raise PagingError if `page`, fetched at `cursor`, shows the server going in circles.

        `known(name)` says whether an earlier page of this pass already listed `name`.
        """
        following = page.next_cursor
        if following is not None:
            if following in self._cursors or following == cursor:
                raise PagingError(f"{self.label}: the server repeated page cursor {following!r}")
            self._cursors.add(following)
        self._empty_run = 0 if page.entries or following is None else self._empty_run + 1
        if self._empty_run >= MAX_EMPTY_PAGES:
            raise PagingError(f"{self.label}: {MAX_EMPTY_PAGES} empty pages in a row that promise more")
        if page.entries and following is not None and all(known(e.name) for e in page.entries):
            # A server that ignores its cursor would answer the same full page forever.
            raise PagingError(f"{self.label}: the server answered a page of entries it already listed")
        self.pages += 1
        if following is None:
            self._cursors.clear()

    def admit(self, entries: Iterable[Entry], known: Callable[[str], bool]) -> list[Entry]:
        """The entries that can be directory entries: usable names, each once."""
        entries = list(entries)
        if _all_admitted(entries, known):
            return entries
        admitted = []
        seen: set[str] = set()
        for entry in entries:
            name = entry.name
            reason = unusable_reason(name)
            if reason is None and (name in seen or known(name)):
                reason = "duplicate name"
            if reason is not None:
                self.skipped += 1
                log.debug("%s: skipping entry %r: %s", self.label, name[:300], reason)
                continue
            seen.add(name)
            admitted.append(entry)
        return admitted

    def finish(self) -> None:
        """The pass is complete: warn once about what it skipped."""
        if self.skipped:
            log.warning(
                "%s: skipped %d entries whose names cannot be file names or repeat an earlier one",
                self.label,
                self.skipped,
            )

    def copy(self) -> PageGuard:
        twin = PageGuard(self.label, self.max_pages)
        twin.pages, twin.skipped, twin._empty_run = self.pages, self.skipped, self._empty_run
        twin._cursors = set(self._cursors)
        return twin


def _all_admitted(entries: list[Entry], known: Callable[[str], bool]) -> bool:
    """Whether `admit` would keep every entry, checked over the whole page at C speed (the
    usual page); when not, `admit` decides name by name. The same rules as `unusable_reason`."""
    names = [entry.name for entry in entries]
    distinct = set(names)
    if len(distinct) != len(names) or not distinct.isdisjoint(("", ".", "..")) or any(map(known, names)):
        return False
    joined = "".join(names)
    if "/" in joined or "\0" in joined:
        return False
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        return False
    # A name of up to NAME_MAX // 4 characters has at most NAME_MAX bytes in UTF-8.
    if max(map(len, names), default=0) <= NAME_MAX // 4:
        return True
    return all(len(name.encode("utf-8")) <= NAME_MAX for name in names if len(name) > NAME_MAX // 4)
