"""Sibling prefetch: when `find` walks sibling directories in order, fetch the next ones early."""

from __future__ import annotations

import logging
import threading

from cachetools import LRUCache

from storfs.keys import ListingKey
from storfs.tree import Tree

log = logging.getLogger(__name__)


class SiblingPrefetcher:
    """Watches which listings are opened; once a walk in order shows (one process opens the child
    listings of entry i, then of entry i+1), it fetches the first page of the next `ahead`
    siblings' listings in the background. A lone `ls` of one directory never triggers it, nor do
    separate `ls` of sibling directories, so it costs no extra request.
    """

    def __init__(self, tree: Tree, ahead: int) -> None:
        self.tree = tree
        self.ahead = ahead
        self._lock = threading.Lock()
        # parent listing -> (process, index) of its child opened last
        self._walks: LRUCache[ListingKey, tuple[int, int]] = LRUCache(maxsize=1024)

    def read_to_end(self, key: ListingKey, pid: int) -> None:
        """Note that process `pid` read listing `key` to its end (a walk may follow)."""

    def opening(self, key: ListingKey, pid: int) -> None:
        """Note that process `pid` is about to open listing `key` (before its first page)."""

    def opened(self, key: ListingKey, pid: int = 0) -> None:
        """Note that process `pid` opened listing `key`."""
        if self.ahead < 1:
            return
        origin = self.tree.origin(key)
        if origin is None:
            return
        parent_key, name = origin
        parent = self.tree.cache.cached(parent_key)
        index = parent.index_of(name) if parent is not None else None
        if parent is None or index is None:
            return
        with self._lock:
            walking = self._walks.get(parent_key) == (pid, index - 1)
            self._walks[parent_key] = (pid, index)
        if not walking:
            return
        for sibling_index in range(index + 1, index + 1 + self.ahead):
            sibling = parent.loaded_at(sibling_index)
            if sibling is None or not sibling.is_dir:
                break
            for child_key in self.tree.child_listings(parent_key, sibling):
                if not self.tree.cache.oversized(child_key):
                    self.tree.listing(child_key).start()  # the reader that opens it sees any error
