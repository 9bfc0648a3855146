"""Flat walks: when `find`/`du`/`ls -R` walks a blobs or objects directory, list its subtree once.

A walk shows itself in two ways, both per process (the FUSE caller's pid) and both seen before
the opened subdirectory's first page goes out. Mostly: the process that read listing P to its
end opens a subdirectory of P within WALK_WINDOW (`find`, `du` and `ls -R` read a directory
whole before entering it; a lone `ls P/x` never reads P); P's subtree is then listed flat.
Else, as the sibling prefetcher sees it: one process opens the child listings of entry i, then
of entry i+1, of one listing; the container's or bucket's whole subtree is then listed flat.
For a listing whose provider has a flat listing of a subtree (`Provider.list_subtree`), that
costs about ceil(N / page) requests, and every directory below that is not cached yet gets its
complete listing from it, so the rest of the walk costs no request. A lone `ls` never
triggers it.

Bounds: the flat listing gives up (and the walk goes on directory by directory) past
`page_size` keys per subdirectory the walked listing has, so it never costs more requests
than listing each of those subdirectories would; and past half of `max_entries`. A subtree is
walked flat at most once per `ttl`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

from cachetools import LRUCache, TTLCache

from storfs.entry import Entry, Page
from storfs.keys import ListingKey
from storfs.listing import Listing
from storfs.prefetch import SiblingPrefetcher
from storfs.source import Fetched, Source
from storfs.tree import Tree

log = logging.getLogger(__name__)

#: Seconds within which a process that read a listing to its end must enter a subdirectory of
#: it for that to count as a walk.
WALK_WINDOW = 2.0


class FlatWalker:
    """Fills the cache with every listing of a subtree from one flat listing."""

    def __init__(self, tree: Tree, max_entries: int, ttl: float) -> None:
        self.tree = tree
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._walked: TTLCache[ListingKey, float] = TTLCache(maxsize=1024, ttl=max(ttl, 1.0))
        # listings a flat walk put in the cache (complete once first read)
        self._installed: TTLCache[ListingKey, bool] = TTLCache(maxsize=50_000, ttl=max(ttl, 1.0))
        self._unsupported: set[tuple[str, str, str]] = set()

    def walk(self, key: ListingKey, *, whole: bool = True) -> bool:
        """List flat the subtree of the walked listing `key` (`whole`: of the topmost listing of
        its kind above it, so a walk of `a/b/` lists the container or bucket once), and cache its
        listings. Whether it did."""
        kind = (key.provider, key.account, key.kind)
        parent = self.tree.cache.cached(key)
        if parent is None:
            return False
        loaded = (parent.loaded_at(index) for index in range(len(parent)))
        directories = [entry for entry in loaded if entry is not None and entry.is_dir]
        provider = next(p for p in self.tree.providers if (p.name, p.account) == (key.provider, key.account))
        if self._filled(provider.contents(key, directories[-1]) if directories else None):
            return False  # an earlier flat walk already filled this subtree
        top = self._top(key) if whole else key
        with self._lock:
            if kind in self._unsupported or top in self._walked:
                return False
            self._walked[top] = time.monotonic()
        limit = min(provider.page_size * max(1, len(directories)), self.max_entries // 2)
        try:
            subtree = provider.list_subtree(top, limit)
        except NotImplementedError:
            with self._lock:
                self._unsupported.add(kind)
            return False
        except OSError as exc:  # the walk goes on directory by directory and reports errors there
            log.debug("%s: flat walk failed: %s", top, exc)
            return False
        if subtree is None:
            log.debug("%s: subtree larger than %d keys: walking directory by directory", top, limit)
            return False
        for inner, entries in subtree.items():
            if self.tree.cache.cached(inner) is None:
                self.tree.cache.listing(inner, _served(self.tree.source(inner), entries))
                with self._lock:
                    self._installed[inner] = True
            for entry in entries:
                if entry.is_dir:  # the tree learns where each listing belongs (`storfs refresh`)
                    self.tree.child_listings(inner, entry)
        return True

    def _top(self, key: ListingKey) -> ListingKey:
        """The highest listing above `key` of the same kind (its container's or bucket's root)."""
        for _ in range(256):
            origin = self.tree.origin(key)
            if origin is None or origin[0].kind != key.kind:
                return key
            key = origin[0]
        return key

    def _filled(self, key: ListingKey | None) -> bool:
        if key is None:
            return False
        with self._lock:
            if key in self._installed:
                return True
        listing = self.tree.cache.cached(key)
        return listing is not None and listing.complete


def _served(source: Source, entries: list[Entry]) -> Source:
    """A listing's source that answers the entries the flat listing found, with no request."""
    page = Page(entries, None)
    return dataclasses.replace(source, fetch=lambda _cursor, _on_sent: Fetched.ready(page))


class WalkingPrefetcher(SiblingPrefetcher):
    """The sibling prefetcher, plus a flat walk of the listing being walked where the API has one."""

    def __init__(self, tree: Tree, ahead: int, flat: FlatWalker) -> None:
        super().__init__(tree, ahead)
        self.flat = flat
        # (process, listing) -> when that process read that listing to its end
        self._read_whole: LRUCache[tuple[int, ListingKey], float] = LRUCache(maxsize=1024)

    def read_to_end(self, key: ListingKey, pid: int) -> None:
        if pid > 0:
            with self._lock:
                self._read_whole[pid, key] = time.monotonic()

    def opening(self, key: ListingKey, pid: int) -> None:
        origin = self.tree.origin(key)
        if origin is None or pid <= 0:
            return
        parent_key, name = origin
        parent: Listing | None = self.tree.cache.cached(parent_key)
        index = parent.index_of(name) if parent is not None else None
        with self._lock:
            ended = self._read_whole.get((pid, parent_key))
            # the sibling signal, read before `opened` notes this open (a page is not yet out)
            siblings = index is not None and self._walks.get(parent_key) == (pid, index - 1)
        # A walker enters at once; a shell that completed `P/<TAB>` and then `P/x/<TAB>` (one
        # process too) took a human's time between them.
        if ended is not None and time.monotonic() - ended <= WALK_WINDOW:
            self.flat.walk(parent_key, whole=False)
        elif siblings:
            self.flat.walk(parent_key)  # before the siblings' prefetch, which then finds them cached
