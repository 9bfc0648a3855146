"""One builder for the whole engine: providers, cache and tree, for the mount and the CLI alike."""

from __future__ import annotations

import logging

from storfs.cache import ListingCache
from storfs.config import Config
from storfs.shared import from_config as shared_pages
from storfs.stats import Stats
from storfs.tree import Tree

log = logging.getLogger(__name__)


def build_tree(config: Config, stats: Stats) -> Tree:
    """The tree over every configured account, with the cache the config describes, and pages
    shared with other hosts through Redis when `[cache] shared` says so."""
    cache = ListingCache(
        config.cache.ttl,
        config.cache.max_entries,
        stats=stats,
        max_pages=config.cache.max_pages,
        stale_if_error=config.cache.stale_if_error,
        window=config.http.parallel_pages,
    )
    shared = shared_pages(config, stats)
    tree = Tree(config.providers(), cache, shared.wrap_engine if shared is not None else None)
    if shared is not None:
        # refresh and SIGHUP drop the shared pages too; the tree tells which listing is whose
        shared.origin = tree.origin
        shared.register(tree.providers)
        cache.on_invalidate.append(shared.drop)
        tree.closers.append(shared.close)
        if shared.ping():
            log.info("sharing listing pages through %s", shared.where)
    return tree
