"""The mount's tree without FUSE: build it from a config, walk it, describe entries, explain errors.

Used by `storfs ls`, `storfs stat` and `storfs doctor`; imports nothing that needs libfuse.
"""

from __future__ import annotations

import os
import stat as statmod
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

from storfs.attrs import StatMaker
from storfs.config import CONFIG_FILE, AccountConfig, Config
from storfs.entry import NS, Entry
from storfs.errors import (
    AccessDenied,
    BadResponse,
    NotADirectory,
    NotFound,
    RemoteError,
    RemoteTimeout,
    StorfsError,
)
from storfs.providers import PROVIDERS
from storfs.stats import STATS
from storfs.tree import Node
from storfs.wiring import build_tree


class Item(NamedTuple):
    """One path of the tree: `entry` is None for a fixed directory (`containers`, an account...)."""

    path: str  # `<provider>/<account>/...`, no leading slash
    name: str
    entry: Entry | None


def split(path: str) -> list[str]:
    """`/azure/dev/containers/` -> `["azure", "dev", "containers"]`."""
    return [part for part in path.split("/") if part and part != "."]


class Session:
    """A tree over every configured account, as the mount would build it (owned by this user)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.tree = build_tree(config, STATS)
        self.cache = self.tree.cache
        self.attrs = StatMaker(os.getuid(), os.getgid(), float(int(time.time())))  # fixed levels: now
        #: Called before the walk waits on the network (to flush what it printed so far).
        self.before_fetch: Callable[[], None] | None = None
        #: (directory path, raw key, reason) of keys the listings walked so far could not show.
        self.not_shown: list[tuple[str, str, str]] = []
        #: How many directory entries ahead of the walk get their listings' first pages fetched.
        self.window = 2 * config.http.parallel_pages

    def close(self) -> None:
        self.tree.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------

    def lookup(self, path: str) -> tuple[Item, Node]:
        """The item at `path` and its node; NotFound / NotADirectory / provider errors otherwise."""
        parts = split(path)
        tree_path = "/".join(parts)
        self._before_fetch()
        node = self.tree.resolve(tree_path)
        return Item(tree_path, parts[-1] if parts else "", node.entry), node

    def children(self, path: str, node: Node) -> Iterator[tuple[Item, Node]]:
        """The children of directory `node` at `path`, in listing order, fetched as iteration goes."""
        prefix = f"{path}/" if path else ""
        if node.listing is None:
            if not node.is_dir:
                raise NotADirectory(f"{path}: not a directory")
            for name, key in node.children.items():
                child_path = prefix + name
                child = (
                    Node(listing=key, provider=node.provider)
                    if key is not None
                    else self.tree.resolve(child_path)
                )
                yield Item(child_path, name, None), child
            return
        key = node.listing
        provider = node.provider
        assert provider is not None
        if not self.tree.cache.oversized(key):
            self._before_fetch()  # about to wait on the network
        stream = self.tree.open_dir(key)
        warmed = 0  # entries whose child listings are being fetched ahead of the walk
        index = 0
        while True:
            if not stream.ready(index):
                self._before_fetch()  # about to wait on the network
            entry = stream.entry_at(index)
            if entry is None:
                for raw_key, reason in provider.not_shown(key):
                    self.not_shown.append((path, raw_key, reason))
                return
            index += 1
            # The listings of the next few directories are asked for ahead of the walk.
            warmed = max(warmed, index)
            while warmed < index + self.window and stream.ready(warmed):
                ahead = stream.entry_at(warmed)
                warmed += 1
                if ahead is None:
                    break
                if ahead.is_dir:
                    for child_key in self.tree.child_listings(key, ahead):
                        if not self.tree.cache.oversized(child_key):
                            self.tree.listing(child_key).start()
            yield Item(prefix + entry.name, entry.name, entry), self.tree.node_for(provider, key, entry)

    def walk(
        self, path: str, node: Node, on_error: Callable[[str, StorfsError], None]
    ) -> Iterator[tuple[Item, Node]]:
        """Every path below `node`, depth first (like `find`); a failing listing is reported and skipped."""
        stack: list[tuple[str, Iterator[tuple[Item, Node]]]] = [(path, self.children(path, node))]
        while stack:
            at, children = stack[-1]
            try:
                item, child = next(children)
            except StopIteration:
                stack.pop()
                continue
            except StorfsError as exc:
                on_error(at, exc)
                stack.pop()
                continue
            yield item, child
            if child.is_dir:
                stack.append((item.path, self.children(item.path, child)))

    def _before_fetch(self) -> None:
        if self.before_fetch is not None:
            self.before_fetch()

    # -- describing ----------------------------------------------------------------------------

    def stat(self, item: Item) -> dict[str, Any]:
        return self.attrs.fixed_dir() if item.entry is None else self.attrs.entry(item.entry)

    def account(self, path: str) -> AccountConfig | None:
        parts = split(path)
        for account in self.config.accounts:
            if parts[:2] == [account.provider, account.account]:
                return account
        return None


def iso(ns: int) -> str:
    """Nanoseconds since 1970 as ISO 8601 UTC: `2016-10-26T20:39:39Z`, or with nine fraction
    digits when there is a fraction (`...39.678000000Z`, as `ls --full-time` and `stat` show it)."""
    seconds, nanos = divmod(ns, NS)
    moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=seconds)
    text = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"
    return f"{text}.{nanos:09d}Z" if nanos else f"{text}Z"


#: The fields of `storfs ls --json`; `storfs stat --json` shows every field `describe` makes.
BRIEF_FIELDS = ("path", "name", "type", "mode", "size", "mtime", "ctime", "xattrs")


def describe(item: Item, st: dict[str, Any], fields: Sequence[str] | None = None) -> dict[str, Any]:
    """The JSON object of one entry: every attribute (`storfs stat`), or only `fields` (`storfs ls`)."""
    mode = st["st_mode"]
    data = {
        "path": item.path,
        "name": item.name,
        "type": "dir" if statmod.S_ISDIR(mode) else "file",
        "mode": f"{statmod.S_IMODE(mode):04o}",
        "mode_string": statmod.filemode(mode),
        "nlink": st["st_nlink"],
        "uid": st["st_uid"],
        "gid": st["st_gid"],
        "size": st["st_size"],
        "blocks": st["st_blocks"],
        "mtime": iso(st["st_mtime"]),
        "ctime": iso(st["st_ctime"]),
        "xattrs": dict(item.entry.xattrs()) if item.entry is not None else {},
    }
    return data if fields is None else {field: data[field] for field in fields}


# -- errors ------------------------------------------------------------------------------------


def where(account: AccountConfig, config_path: Path | None) -> str:
    """`[azure.dev] of /etc/storfs.toml`, or where a discovered account came from."""
    if account.source == CONFIG_FILE:
        return f"[{account.provider}.{account.account}] of {config_path}"
    return f"{account.provider}/{account.account} ({account.source})"


def _keys(account: AccountConfig, candidates: tuple[str, ...]) -> str:
    present = [key for key in candidates if key in account.settings]
    return " / ".join(present or candidates)


def advice(
    error: BaseException, account: AccountConfig | None, config_path: Path | None, *, top_level: bool = False
) -> str | None:
    """Which setting to change when an account's listing fails with `error`; None if no setting helps.

    `top_level`: the error came from an account's top-level listing, so a 404 means a wrong endpoint.
    """
    if account is None:
        return None
    loc = where(account, config_path)
    provider = PROVIDERS[account.provider]
    endpoint = _keys(account, provider.endpoint_keys)
    if isinstance(error, AccessDenied):
        return f"check {_keys(account, provider.credential_keys)} in {loc}"
    if isinstance(error, RemoteTimeout):
        return f"check {endpoint} in {loc} and the network, or raise [http] deadline / read_timeout"
    if isinstance(error, NotFound):
        return f"check {endpoint} in {loc}" if top_level else None
    if isinstance(error, BadResponse):
        return f"check that {endpoint} in {loc} points at the {account.provider} API"
    if isinstance(error, RemoteError) and "cannot reach" in str(error):
        return f"check {endpoint} in {loc} and that the server is reachable"
    if isinstance(error, RemoteError):
        return "the server failed: try again later, or raise [http] retries"
    return None


def fix_for(error: BaseException, account: AccountConfig | None, config_path: Path | None) -> str:
    """A doctor's fix line: the advice, then what the server said (never a secret)."""
    hint = advice(error, account, config_path, top_level=True)
    if hint is None:
        return str(error)
    said = "the server said " if isinstance(error, AccessDenied | NotFound) else ""
    return f"{hint}: {said}{error}"
