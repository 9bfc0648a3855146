"""The provider interface: what the tree needs from a cloud API, and nothing about paths."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import requests

from storfs.entry import Entry, Page
from storfs.errors import ConfigError, NotSupported, StorfsError
from storfs.keys import ListingKey
from storfs.reader import Body
from storfs.source import Fetched, OnSent
from storfs.transport import HttpSettings, body_limit, make_session, send


class Provider(ABC):
    """One configured account of one provider.

    A provider maps listing kinds to API calls: `top_level()` names the fixed directories under
    `/<provider>/<account>/`, `children()` the fixed directories inside a listed directory, and
    `list_page()` fetches one page of a listing. It raises only `StorfsError` subclasses.
    """

    name: ClassVar[str]
    #: Keys a `[<provider>.<account>]` table may hold, besides `page_size`.
    config_keys: ClassVar[frozenset[str]]
    #: Keys that hold secrets: each may instead be given as `<key>_env = "VAR"`.
    secret_keys: ClassVar[frozenset[str]] = frozenset()
    #: The largest page the API serves; `page_size` is clamped to it and defaults to it.
    max_page_size: ClassVar[int]

    # -- what the rest of storfs knows about a provider only through these ----------------------
    #: Regex fragments of the Authorization schemes the signer writes, masked in every log line.
    signature_patterns: ClassVar[tuple[str, ...]] = ()
    #: Settings that identify and authenticate an account, in the order to mention them.
    credential_keys: ClassVar[tuple[str, ...]] = ()
    #: Settings that say where the API is.
    endpoint_keys: ClassVar[tuple[str, ...]] = ()
    #: One line for `storfs accounts --help`: where `<provider>/default` comes from.
    discovery_help: ClassVar[str] = ""
    #: Per listing kind, the xattrs `storfs ls -l` shows after the name (what an opaque id stands for).
    long_columns: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    @classmethod
    def discover(cls, env: Mapping[str, str], home: Path) -> list[tuple[dict[str, Any], str]]:
        """Config tables for `<provider>/default` from the provider's usual variables and files.

        Each comes with a human "source" string. `[]` if there are none; ConfigError if they are
        there but incomplete (the message names what is missing).
        """
        return []

    def __init__(self, account: str, settings: Mapping[str, Any], http: HttpSettings) -> None:
        self.account = account
        self.http = http
        try:
            self.page_size = clamp_page_size(settings.get("page_size"), self.max_page_size)
        except ConfigError as exc:
            raise ConfigError(f"[{self.name}.{account}]: {exc}") from None
        self.session = make_session(http)
        # Requests run here so a caller can stop waiting at the deadline; threads start on demand.
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"storfs-{self.name}")
        # Pages are fetched and parsed here: read-ahead of one account never waits on another's.
        self.page_pool = ThreadPoolExecutor(
            max_workers=http.parallel_pages + 2, thread_name_prefix=f"storfs-{self.name}-pages"
        )

    @staticmethod
    @abstractmethod
    def decode_error(response: requests.Response) -> StorfsError:
        """The StorfsError an error response means (from its status and the service's code)."""

    def get(
        self,
        request: requests.PreparedRequest,
        *,
        op: str,
        what: str,
        on_sent: Callable[[], None] | None = None,
        raw_body: bool = False,
        body_bytes: int | None = None,
        stream_body: bool = False,
    ) -> requests.Response:
        """Send a signed GET through this account's session: a 2xx response or a StorfsError.

        `op` labels the request in the stats (`list_containers`); `what` names it in messages.
        The whole request ends within the `deadline`, and its decoded body holds at most
        `max_body_bytes` (default: page_size * 4 KiB + 1 MiB).
        `on_sent` is called once the request is on the wire (see `transport.send`).
        Object reads pass `raw_body` (the bytes as sent, not decoded) and `body_bytes`, the
        range they asked for; `stream_body` leaves a 2xx body unread (see `transport.send`).
        """
        return send(
            self.session,
            request,
            self.http,
            pool=self.pool,
            account=self.label,
            op=op,
            what=what,
            decode_error=self.decode_error,
            max_body_bytes=body_bytes or body_limit(self.http, self.page_size),
            on_sent=on_sent,
            raw_body=raw_body,
            stream_body=stream_body,
        )

    @property
    def label(self) -> str:
        """`<provider>/<account>`, used in messages."""
        return f"{self.name}/{self.account}"

    def key(self, kind: str, *args: str) -> ListingKey:
        return ListingKey(self.name, self.account, kind, args)

    @abstractmethod
    def top_level(self) -> dict[str, ListingKey]:
        """Fixed directories under the account and the listing each one shows."""

    def children(self, key: ListingKey, entry: Entry) -> dict[str, ListingKey]:
        """Fixed directories inside a directory entry of listing `key` (none by default)."""
        return {}

    def cache_identity(self) -> str:
        """Who this account is to a shared cache: its endpoint, account and credential fingerprint.

        Two mounts share listings only when these strings are equal; the string holds an HMAC of
        the secret (`credential_fingerprint`), never the secret. NotImplementedError: not shared.
        """
        raise NotImplementedError(f"{self.name} has no cache identity")

    def contents(self, key: ListingKey, entry: Entry) -> ListingKey | None:
        """The listing a directory entry of listing `key` shows as its own children, if any.

        A blob prefix `a/b/` inside a blobs listing is itself the listing with prefix `a/b/`.
        """
        return None

    def lookup(self, key: ListingKey, name: str) -> Entry | None:
        """The entry `name` of listing `key` from one small request, or None if it is absent.

        Only where the API can answer one name cheaply (a prefix query, a describe call); the
        entry must be exactly what the listing shows. Raises NotImplementedError otherwise.
        """
        raise NotImplementedError

    def lookup_directory(self, key: ListingKey, name: str) -> tuple[Entry, Page] | None:
        """If `name` is a directory of listing `key` that is itself a listing (a prefix), its
        entry and the first page of its own listing (`contents(key, entry)`), from that one
        request; None if it is not such a directory. NotImplementedError where the API has none.
        """
        raise NotImplementedError

    def list_subtree(self, key: ListingKey, limit: int) -> dict[ListingKey, list[Entry]] | None:
        """Every listing at or below `key`, from one flat listing (about ceil(N / page) requests).

        Each value holds exactly the entries the listing's own pages would show (in name order).
        None when the subtree holds more than `limit` keys: list directory by directory then.
        Raises NotImplementedError where the API has no flat listing of a subtree.
        """
        raise NotImplementedError

    def not_shown(self, key: ListingKey) -> list[tuple[str, str]]:
        """Keys listing `key` could not show as paths, with why (`storfs ls --json` prints them)."""
        return []

    def readable(self, entry: Entry) -> bool:
        """Whether the API can serve the bytes of file `entry` (blobs and objects can; parts cannot)."""
        return False

    def read_range(self, entry: Entry, start: int, end: int) -> bytes:
        """Bytes `[start, end)` of file `entry`, of the version listed (EIO if it changed since)."""
        raise NotSupported(f"{self.label}: the API cannot serve the bytes of {entry.name!r}")

    def open_range(self, entry: Entry, start: int) -> Body:
        """File `entry`'s bytes from `start` to its end as one streaming answer, of the version
        listed (sequential reads). NotImplementedError where the API has none."""
        raise NotImplementedError

    @abstractmethod
    def list_page(self, key: ListingKey, cursor: str | None) -> Page:
        """Fetch one page of listing `key`, starting at `cursor` (None: the first page)."""

    def fetch_page(self, key: ListingKey, cursor: str | None, on_sent: OnSent = None) -> Fetched:
        """Request one page and parse it on demand; a provider that can see the next cursor in
        the raw answer (before parsing it) names it as the `hint`, so the next request leaves
        first, and calls `on_sent` once its request is on the wire. By default: `list_page`,
        parsed at once."""
        return Fetched.ready(self.list_page(key, cursor))

    def close(self) -> None:
        """Stop this account's threads without waiting for requests in flight."""
        for pool in (self.page_pool, self.pool):
            pool.shutdown(wait=False, cancel_futures=True)


def clamp_page_size(value: Any, maximum: int) -> int:
    if value is None:
        return maximum
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"page_size must be an integer, got {value!r}")
    if value < 1:
        raise ConfigError(f"page_size must be at least 1, got {value}")
    return min(value, maximum)
