"""The tree: path -> node, from the fixed levels down through listings. Knows no HTTP."""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cachetools import LRUCache, TTLCache

from storfs.cache import ListingCache
from storfs.entry import Entry, Page
from storfs.errors import NotADirectory, NotFound
from storfs.keys import ListingKey
from storfs.listing import Listing
from storfs.providers.base import Provider
from storfs.source import Fetched, OnSent, Source
from storfs.stream import DirStream

log = logging.getLogger(__name__)

#: A hook around each listing's page fetch (a shared cache across hosts wraps it).
Fetch = Callable[[str | None, OnSent], Fetched]
WrapFetch = Callable[[ListingKey, Provider, Fetch], Fetch]

#: How many child listings' origins the tree remembers (for refresh and sibling prefetch).
ORIGINS_MAX = 200_000
#: How many directory probes the tree remembers (names found, listings probed).
PROBED_MAX = 4096


@dataclass(frozen=True)
class Node:
    """What a path names.

    - a fixed directory: `entry` None, `children` its names (root, provider, account levels);
    - a listed directory: `listing` set; its children come from that listing;
    - a listed entry: `entry` set; if it is a directory, `children` are its fixed subdirectories,
      or `listing` is the listing it shows itself (a prefix directory).
    """

    entry: Entry | None = None
    children: dict[str, ListingKey | None] = field(default_factory=dict)
    listing: ListingKey | None = None
    provider: Provider | None = None

    @property
    def is_dir(self) -> bool:
        return self.entry is None or self.entry.is_dir


class Tree:
    """Routes `/<provider>/<account>/...` to providers' listings through the cache."""

    def __init__(
        self, providers: Iterable[Provider], cache: ListingCache, wrap_fetch: WrapFetch | None = None
    ) -> None:
        self.cache = cache
        self._wrap_fetch = wrap_fetch
        #: Called by close(), after the providers' threads are stopped.
        self.closers: list[Callable[[], None]] = []
        self._sources: LRUCache[ListingKey, Source] = LRUCache(maxsize=ORIGINS_MAX)
        # child listing -> (the listing it is under, the entry it belongs to); bounded like the cache
        self._origins: LRUCache[ListingKey, tuple[ListingKey, str]] = LRUCache(maxsize=ORIGINS_MAX)
        self._lock = threading.Lock()
        # names found by a directory probe while their listing was not cached, and the listings
        # probed once already (see _probed_directory)
        ttl = max(cache.ttl, 1.0)
        self._probed: TTLCache[tuple[ListingKey, str], Entry] = TTLCache(PROBED_MAX, ttl, timer=cache.timer)
        self._probe_spent: TTLCache[ListingKey, bool] = TTLCache(PROBED_MAX, ttl, timer=cache.timer)
        self._providers: dict[str, dict[str, Provider]] = {}
        for provider in providers:
            self._providers.setdefault(provider.name, {})[provider.account] = provider

    def close(self) -> None:
        """Stop every account's threads (without waiting for requests in flight)."""
        for provider in self.providers:
            provider.close()
        for close in self.closers:
            close()

    @property
    def providers(self) -> list[Provider]:
        return [p for accounts in self._providers.values() for p in accounts.values()]

    def resolve(self, path: str, until: float | None = None) -> Node:
        """The node at `path`; NotFound (ENOENT) or NotADirectory (ENOTDIR) otherwise.

        Waits for the network at most until `until` (monotonic), in all.
        """
        parts = [part for part in path.split("/") if part]
        if not parts:
            return Node(children=dict.fromkeys(sorted(self._providers)))
        accounts = self._providers.get(parts[0])
        if accounts is None:
            raise NotFound(f"no provider {parts[0]!r}")
        if len(parts) == 1:
            return Node(children=dict.fromkeys(sorted(accounts)))
        provider = accounts.get(parts[1])
        if provider is None:
            raise NotFound(f"no account {parts[0]}/{parts[1]}")
        node = Node(children=dict(provider.top_level()), provider=provider)
        for part in parts[2:]:
            node = self._child(provider, node, part, until)
        return node

    def source(self, key: ListingKey) -> Source:
        """How listing `key` is read: its provider's pages, lookups and page pool."""
        with self._lock:
            source = self._sources.get(key)
        if source is None:
            provider = self._providers[key.provider][key.account]
            label = f"{key.provider}/{key.account} {key.kind}"
            if key.args:
                label += " " + "/".join(key.args)[:200]
            fetch: Callable[[str | None, OnSent], Fetched] = functools.partial(provider.fetch_page, key)
            if self._wrap_fetch is not None:
                fetch = self._wrap_fetch(key, provider, fetch)
            lookup = functools.partial(provider.lookup, key)
            source = Source(label, fetch, lookup, provider.page_pool, provider.http.deadline)
            with self._lock:
                self._sources[key] = source
        return source

    def listing(self, key: ListingKey) -> Listing:
        """The (possibly still empty) cached listing for `key`; nothing is fetched."""
        return self.cache.listing(key, self.source(key))

    def open_dir(self, key: ListingKey, until: float | None = None) -> DirStream:
        """A reader of listing `key`, with its first page (a missing directory fails here)."""
        return self.cache.open_dir(key, self.source(key), until)

    def _child(self, provider: Provider, node: Node, name: str, until: float | None) -> Node:
        if node.listing is not None:
            entry = self._probed_directory(provider, node.listing, name)
            if entry is None:
                entry = self.cache.find(node.listing, self.source(node.listing), name, until)
            if entry is None:
                raise NotFound(f"no {name!r} in {node.listing.kind}")
            return self.node_for(provider, node.listing, entry)
        if not node.is_dir:
            raise NotADirectory(f"{name!r}: parent is not a directory")
        if name not in node.children:
            raise NotFound(f"no {name!r}")
        key = node.children[name]
        return Node(listing=key, provider=provider)

    def _probed_directory(self, provider: Provider, key: ListingKey, name: str) -> Entry | None:
        """`name` in listing `key` while that listing is not cached, as one request that is also
        the first page of `name`'s own listing (`Provider.lookup_directory`), handed to the cache
        so opening it costs nothing more. None: ask the listing itself (its first page).

        At most one probe per listing and `ttl` (then the listing is read), so lookups of many
        names in one directory never cost more than one request over reading it.
        """
        if self.cache.cached(key) is not None or self.cache.oversized(key):
            return None
        with self._lock:
            entry = self._probed.get((key, name))
            if entry is not None or key in self._probe_spent:
                return entry
            self._probe_spent[key] = True
        try:
            found = provider.lookup_directory(key, name)
        except NotImplementedError:
            return None
        if found is None:
            return None
        entry, first_page = found
        contents = provider.contents(key, entry)
        if contents is not None and self.cache.cached(contents) is None:
            self.cache.listing(contents, _first_page_known(self.source(contents), first_page))
        with self._lock:
            self._probed[key, name] = entry
        return entry

    def node_for(self, provider: Provider, key: ListingKey, entry: Entry) -> Node:
        """The node of `entry`, an entry of listing `key`."""
        children: dict[str, ListingKey | None] = {}
        contents = None
        if entry.is_dir:
            children.update(provider.children(key, entry))
            contents = provider.contents(key, entry)
        with self._lock:
            for child_key in (*children.values(), contents):
                if child_key is not None:
                    self._origins[child_key] = (key, entry.name)
        return Node(entry=entry, children=children, listing=contents, provider=provider)

    def refresh(self, path: str) -> int:
        """Drop every cached listing at or below `path`; return how many were dropped."""
        with self._lock:
            self._probed.clear()
            self._probe_spent.clear()
        parts = [part for part in path.split("/") if part]
        if len(parts) <= 2:
            prefix = tuple(parts)
            return self.cache.invalidate(lambda key: (key.provider, key.account)[: len(prefix)] == prefix)
        node = self.resolve(path)
        roots = {node.listing} if node.listing is not None else {k for k in node.children.values() if k}

        def below(key: ListingKey) -> bool:
            current: ListingKey | None = key
            for _ in range(64):
                if current is None:
                    return False
                if current in roots:
                    return True
                with self._lock:
                    origin = self._origins.get(current)
                current = origin[0] if origin else None
            return False

        return self.cache.invalidate(below)

    def origin(self, key: ListingKey) -> tuple[ListingKey, str] | None:
        """The listing and entry name a child listing belongs to, if the tree has seen it."""
        with self._lock:
            return self._origins.get(key)

    def child_listings(self, parent_key: ListingKey, entry: Entry) -> list[ListingKey]:
        """The listings inside directory `entry` of listing `parent_key` (remembered as its own)."""
        provider = self._providers[parent_key.provider][parent_key.account]
        node = self.node_for(provider, parent_key, entry)
        keys = [key for key in node.children.values() if key is not None]
        return keys if node.listing is None else [*keys, node.listing]


def _first_page_known(source: Source, page: Page) -> Source:
    """`source`, whose first page is already here (`page`) the first time it is asked for."""
    unused = [page]

    def fetch(cursor: str | None, on_sent: OnSent) -> Fetched:
        if cursor is None and unused:
            return Fetched.ready(unused.pop())
        return source.fetch(cursor, on_sent)

    return dataclasses.replace(source, fetch=fetch)
