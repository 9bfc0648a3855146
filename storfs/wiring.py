"""One builder for the whole engine: providers, cache and tree, for the mount and the CLI alike."""

from __future__ import annotations

from storfs.cache import ListingCache
from storfs.config import Config
from storfs.stats import Stats
from storfs.tree import Tree, WrapFetch


def build_tree(config: Config, stats: Stats, wrap_fetch: WrapFetch | None = None) -> Tree:
    """The tree over every configured account, with the cache the config describes."""
    cache = ListingCache(
        config.cache.ttl,
        config.cache.max_entries,
        stats=stats,
        max_pages=config.cache.max_pages,
        stale_if_error=config.cache.stale_if_error,
        window=config.http.parallel_pages,
    )
    return Tree(config.providers(), cache, wrap_fetch)
