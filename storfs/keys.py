"""ListingKey: the name of one listing, shared by every layer (providers, cache, tree)."""

from __future__ import annotations

from typing import NamedTuple


class ListingKey(NamedTuple):
    """Names one listing: which provider account, which API call, with which arguments."""

    provider: str
    account: str
    kind: str
    args: tuple[str, ...] = ()
