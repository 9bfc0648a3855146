"""SharedPages: listing pages shared by every mount of the same account through Redis.

A mount that needs a page reads it from Redis; on a miss it takes that page's lock (`SET NX PX`),
fetches from the provider, stores the page for the listing's TTL and releases the lock, while
other mounts wait for the stored page (bounded). Redis is never a point of failure: every call has
a short timeout, and any error, timeout or page that does not decode means "fetch directly". An
outage is logged once, counted, and sharing resumes by itself once Redis answers again.

Keys (`storfs:<schema>:<account>:<listing>:...`) hold hashes only: `<account>` is a hash of the
provider's `cache_identity()` (endpoint, account, credential fingerprint), `<listing>` of the
listing kind, arguments and page size. Each page is signed with a key derived from that identity,
so a page written by anyone without the credential is rejected.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from storfs.entry import Page
from storfs.errors import ConfigError, StorfsError
from storfs.keys import ListingKey
from storfs.providers.base import Provider
from storfs.redact import REDACTOR
from storfs.shared import codec
from storfs.source import Fetched, OnSent
from storfs.stats import Stats

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 0.5  # seconds, per connection attempt
CALL_TIMEOUT = 1.0  # seconds, per Redis command
RETRY_AFTER = 2.0  # seconds without Redis after a failure, then one call tries again
LEASE = 5.0  # seconds a page lock lives unless its holder, still fetching, extends it
POLL = (0.005, 0.05)  # first and longest pause between looks at a page another mount fetches
MAX_BLOB = 32 * 1024 * 1024  # a stored page larger than this is not read
SCAN_BUDGET = 10.0  # seconds one `drop` may spend finding keys
ERROR_TTL = 2.0  # seconds a failed fetch answers the mounts that waited for it
RESERVATION = 2.0  # seconds a next page's lock waits for our reader to ask for that page
_MAC_LABEL = b"storfs shared page signing v1"

# Delete or extend a lock only while it still holds our token (another mount may own it by now).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_EXTEND = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)


def _subclasses(cls: type[StorfsError]) -> list[type[StorfsError]]:
    return [cls] + [c for sub in cls.__subclasses__() for c in _subclasses(sub)]


#: The errors a shared error record may name (nothing else is raised from what Redis holds).
_ERRORS = {cls.__name__: cls for cls in _subclasses(StorfsError)}

#: fetch(cursor, streaming) -> Page: how the tree asks for one page of one listing.
Fetch = Callable[[str | None, bool], Page]
#: The engine's page fetch (see storfs.source.Source.fetch).
EngineFetch = Callable[[str | None, OnSent], Fetched]

#: Encodes and stores pages after their reader has them (then releases their locks).
_STORES = ThreadPoolExecutor(max_workers=2, thread_name_prefix="storfs-shared-store")

OriginOf = Callable[[ListingKey], "tuple[ListingKey, str] | None"]


class _Down(Exception):
    """Redis did not answer properly: the caller fetches directly."""


class _Account:
    """One credential's namespace, and this mount's providers that use it."""

    def __init__(self, identity: str) -> None:
        raw = identity.encode("utf-8", "surrogatepass")
        self.prefix = f"storfs:{codec.SCHEMA_TAG}:{hashlib.sha256(raw).hexdigest()[:32]}"
        self.mac_key = hmac.new(raw, _MAC_LABEL, hashlib.sha256).digest()
        self.providers: list[Provider] = []


class _Place:
    """Where one listing's pages, locks and description live."""

    def __init__(self, account: _Account, key: ListingKey, page_size: int) -> None:
        self.account = account
        self.key = key
        ident = json.dumps([key.kind, list(key.args), page_size], ensure_ascii=True)
        self.base = f"{account.prefix}:{hashlib.sha256(ident.encode()).hexdigest()[:32]}"

    def page(self, cursor: str | None) -> str:
        return f"{self.base}:p:{_cursor_id(cursor)}"

    def lock(self, cursor: str | None) -> str:
        return f"{self.base}:l:{_cursor_id(cursor)}"

    def error(self, cursor: str | None) -> str:
        return f"{self.base}:e:{_cursor_id(cursor)}"

    @property
    def meta(self) -> str:
        return f"{self.base}:m"


def _cursor_id(cursor: str | None) -> str:
    text = json.dumps(cursor, ensure_ascii=True)  # None and "" differ
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class SharedPages:
    """Shares listing pages through one Redis server (see the module docstring)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        where: str,
        ttl: float,
        deadline: float,
        stats: Stats,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.where = where  # the URL without its password, for messages
        self.ttl_ms = max(1, int(ttl * 1000))
        self.wait_max = max(1.0, deadline / 2)  # then fetch directly: the caller's deadline stands
        self.stats = stats
        self.clock = clock
        #: The listing and entry a child listing belongs to (the tree's), stored for `drop`.
        self.origin: OriginOf = lambda _key: None
        self._release = client.register_script(_RELEASE)
        self._extend = client.register_script(_EXTEND)
        self._lock = threading.Lock()
        self._accounts: dict[int, _Account | None] = {}  # id(provider) -> its namespace
        self._by_identity: dict[str, _Account] = {}
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._held: dict[str, str] = {}  # lock key -> our token, while fetching
        self._reserved: dict[str, tuple[str, float]] = {}  # next pages' locks: token, when taken
        self._storing: set[Future[None]] = set()
        self._closed = False
        self._keeper: threading.Thread | None = None
        self._warned: set[str] = set()
        self._last_reject_log = -1e9

    # -- wiring ------------------------------------------------------------------------------

    def wrap(self, key: ListingKey, provider: Provider, fetch: Fetch) -> Fetch:
        """A fetch(cursor, streaming) for listing `key` that goes through Redis first."""
        account = self._account(provider)
        if account is None:
            return fetch
        place = _Place(account, key, provider.page_size)

        def shared_fetch(cursor: str | None, streaming: bool) -> Page:
            return self._fetch(place, cursor, streaming, fetch)

        return shared_fetch

    def register(self, providers: Iterable[Provider]) -> None:
        """Know every account up front, so a refresh drops its pages even before it lists."""
        for provider in providers:
            self._account(provider)

    def wrap_engine(self, key: ListingKey, provider: Provider, fetch: EngineFetch) -> EngineFetch:
        """`wrap` for the engine's fetch(cursor, on_sent) -> Fetched (the tree's `wrap_fetch`).

        A shared page arrives parsed, so it names no early hint: read-ahead still comes from the
        listing, through this same wrapper (and its locks).
        """
        shared = self.wrap(key, provider, lambda cursor, _streaming: fetch(cursor, None).page())
        return lambda cursor, _on_sent: Fetched.ready(shared(cursor, False))

    def _account(self, provider: Provider) -> _Account | None:
        with self._lock:
            if id(provider) in self._accounts:
                return self._accounts[id(provider)]
            try:
                identity = provider.cache_identity()
            except NotImplementedError:
                log.warning("%s: listings are not shared (no cache identity)", provider.label)
                self._accounts[id(provider)] = None
                return None
            account = self._by_identity.setdefault(identity, _Account(identity))
            account.providers.append(provider)
            self._accounts[id(provider)] = account
            return account

    # -- one page ----------------------------------------------------------------------------

    def _fetch(self, place: _Place, cursor: str | None, streaming: bool, fetch: Fetch) -> Page:
        if not self._usable():
            self.stats.cache_event("shared_bypassed")
            return fetch(cursor, streaming)
        page_key, lock_key, error_key = place.page(cursor), place.lock(cursor), place.error(cursor)
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.get(page_key)
                pipe.get(error_key)
                blob, old_error = self._call(pipe.execute)
            page = self._decode(place, page_key, blob)
            if page is not None:
                self.stats.cache_event("shared_hits")
                return page
            reserved = self._claim(lock_key)
            if reserved is not None:  # we took this page's lock when we fetched the page before
                return self._fetch_locked(place, cursor, streaming, lock_key, reserved, None, fetch)
            give_up = self.clock() + self.wait_max
            pause, waited = POLL[0], False
            while True:
                token = uuid.uuid4().hex
                with self.client.pipeline(transaction=True) as pipe:
                    pipe.set(lock_key, token, nx=True, px=int(LEASE * 1000))
                    pipe.get(page_key)
                    pipe.get(error_key)
                    locked, blob, error = self._call(pipe.execute)
                page = self._decode(place, page_key, blob)
                if page is None and waited and error is not None and error != old_error:
                    # The mount we waited for failed: its answer is ours too (as within a mount).
                    if locked:
                        self._unhold(lock_key, token)
                        locked = False
                    self._raise_shared_error(place, error_key, error)  # unless it does not decode
                    old_error = error
                if locked:
                    return self._fetch_locked(place, cursor, streaming, lock_key, token, page, fetch)
                if page is not None:
                    self.stats.cache_event("shared_hits")
                    return page
                if not waited:
                    self.stats.cache_event("shared_waits")
                    waited = True
                if self.clock() >= give_up:
                    self.stats.cache_event("shared_wait_timeouts")
                    log.info("%s: gave up waiting for another mount's page; fetching it", place.key.kind)
                    return fetch(cursor, False)
                time.sleep(pause)
                pause = min(pause * 2, POLL[1])
        except _Down:
            self.stats.cache_event("shared_bypassed")
            return fetch(cursor, streaming)

    def _fetch_locked(
        self,
        place: _Place,
        cursor: str | None,
        streaming: bool,
        lock_key: str,
        token: str,
        stored: Page | None,
        fetch: Fetch,
    ) -> Page:
        """We hold the page's lock: use what was stored meanwhile, or fetch and store it.

        A streaming fetch may make the provider ask for the next page before this one is parsed
        (Azure reads NextMarker early): that page's lock is taken before this page is published,
        so no other mount can learn its cursor first and fetch it too.
        """
        self._hold(lock_key, token)
        if stored is not None:  # stored between our first look and the lock
            self._unhold(lock_key, token)
            self.stats.cache_event("shared_hits")
            return stored
        self.stats.cache_event("shared_misses")
        try:
            page = fetch(cursor, streaming)
        except StorfsError as exc:
            self._store_error(place, place.error(cursor), exc)
            self._unhold(lock_key, token)
            raise
        except BaseException:
            self._unhold(lock_key, token)
            raise
        if streaming and page.next_cursor is not None:
            self._reserve(place.lock(page.next_cursor))
        # Encoding and storing take a while for a large page: our reader need not wait for them.
        future = _STORES.submit(self._store_and_release, place, cursor, page, lock_key, token)
        with self._lock:
            self._storing.add(future)
        future.add_done_callback(self._stored)
        return page

    def _stored(self, future: Future[None]) -> None:
        with self._lock:
            self._storing.discard(future)

    def settle(self, timeout: float = 5.0) -> None:
        """Wait (at most `timeout`) until the pages this mount fetched are stored."""
        with self._lock:
            storing = list(self._storing)
        wait(storing, timeout)

    def _store_and_release(
        self, place: _Place, cursor: str | None, page: Page, lock_key: str, token: str
    ) -> None:
        try:
            self._store(place, cursor, page)
        except Exception:  # a bug here must not leave the lock held
            log.exception("storing a shared page failed")
        finally:
            self._unhold(lock_key, token)

    def _store_error(self, place: _Place, error_key: str, error: StorfsError) -> None:
        blob = codec.encode_error(type(error).__name__, str(error), place.account.mac_key, error_key)
        with contextlib.suppress(_Down):
            self._call(self.client.set, error_key, blob, px=int(ERROR_TTL * 1000))

    def _raise_shared_error(self, place: _Place, error_key: str, blob: Any) -> None:
        try:
            name, message = codec.decode_error(blob, place.account.mac_key, error_key)
        except codec.Rejected:
            self.stats.cache_event("shared_rejected")
            return
        kind = _ERRORS.get(name)
        if kind is not None:
            self.stats.cache_event("shared_errors")
            raise kind(message)

    def _store(self, place: _Place, cursor: str | None, page: Page) -> None:
        page_key = place.page(cursor)
        try:
            blob = codec.encode(page, place.account.mac_key, page_key)
        except codec.Unsupported as exc:
            self.stats.cache_event("shared_unsupported")
            topic = f"unsupported {place.key.provider}"
            self._warn_once(topic, "%s: a page is not shared: %s", place.key, exc)
            return
        origin = self.origin(place.key)
        parent = [origin[0].kind, list(origin[0].args)] if origin else None
        meta = json.dumps({"kind": place.key.kind, "args": list(place.key.args), "parent": parent})
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.set(page_key, blob, px=self.ttl_ms)
                pipe.set(place.meta, meta, px=self.ttl_ms)
                pipe.delete(place.error(cursor))
                self._call(pipe.execute)
        except _Down:
            pass  # the page is still served; the next mount fetches it again
        else:
            self.stats.cache_event("shared_stores")

    def _decode(self, place: _Place, page_key: str, blob: Any) -> Page | None:
        if blob is None:
            return None
        try:
            if not isinstance(blob, bytes) or len(blob) > MAX_BLOB:
                raise codec.Rejected("not a page of a sensible size")
            return codec.decode(blob, place.account.mac_key, page_key)
        except codec.Rejected as exc:
            self.stats.cache_event("shared_rejected")
            now = self.clock()
            if now - self._last_reject_log > 60:
                self._last_reject_log = now
                log.warning("%s: discarded a shared page from %s: %s", place.key.kind, self.where, exc)
            return None

    # -- locks held while fetching -----------------------------------------------------------

    def _hold(self, lock_key: str, token: str) -> None:
        with self._lock:
            self._held[lock_key] = token
            if self._keeper is None:
                self._keeper = threading.Thread(target=self._keep, name="storfs-shared-locks", daemon=True)
                self._keeper.start()

    def _reserve(self, lock_key: str) -> None:
        token = uuid.uuid4().hex
        try:
            taken = self._call(self.client.set, lock_key, token, nx=True, px=int(LEASE * 1000))
        except _Down:
            return
        if taken:
            with self._lock:
                self._reserved[lock_key] = (token, self.clock())
            self._hold(lock_key, token)

    def _claim(self, lock_key: str) -> str | None:
        with self._lock:
            reserved = self._reserved.pop(lock_key, None)
        return None if reserved is None else reserved[0]

    def _unhold(self, lock_key: str, token: str) -> None:
        with self._lock:
            self._held.pop(lock_key, None)
        with contextlib.suppress(_Down):  # else it expires by itself within LEASE
            self._call(self._release, keys=[lock_key], args=[token])

    def _keep(self) -> None:
        """Extend the locks of fetches still running, so only a dead holder's lock expires."""
        while not self._closed:
            time.sleep(min(LEASE / 3, RESERVATION / 2))
            with self._lock:
                now = self.clock()
                unclaimed = [
                    (key, token) for key, (token, at) in self._reserved.items() if now - at > RESERVATION
                ]
                for key, _ in unclaimed:
                    del self._reserved[key]
                held = list(self._held.items())
            for lock_key, token in unclaimed:  # the reader stopped before that page
                self._unhold(lock_key, token)
                if (lock_key, token) in held:
                    held.remove((lock_key, token))
            for lock_key, token in held:
                try:
                    self._call(self._extend, keys=[lock_key], args=[token, int(LEASE * 1000)])
                except _Down:
                    break

    # -- dropping ----------------------------------------------------------------------------

    def drop(self, match: Callable[[ListingKey], bool]) -> int:
        """Delete the shared pages of every listing whose key (or an ancestor's) matches.

        Ancestors come from the listings' stored descriptions, so a listing this mount never saw
        is dropped with the directory it is under. Returns how many listings were dropped.
        """
        if not self._usable():
            return 0
        self.settle()  # a page still being stored would survive the drop
        dropped = 0
        try:
            for account in list(self._by_identity.values()):
                dropped += self._drop_in(account, match)
        except _Down:
            log.warning("could not drop shared pages at %s (it is unreachable)", self.where)
        return dropped

    def _drop_in(self, account: _Account, match: Callable[[ListingKey], bool]) -> int:
        keys_by_listing: dict[str, list[str]] = {}
        started = self.clock()
        cursor = 0
        while True:
            cursor, keys = self._call(self.client.scan, cursor, match=f"{account.prefix}:*", count=1000)
            for raw in keys:
                name = raw.decode("utf-8", "replace")
                base = name[: len(account.prefix) + 33]
                keys_by_listing.setdefault(base, []).append(name)
            if cursor == 0:
                break
            if self.clock() - started > SCAN_BUDGET:
                log.warning("dropping shared pages: gave up scanning %s after %gs", self.where, SCAN_BUDGET)
                break
        bases = sorted(keys_by_listing)
        metas = self._call(self.client.mget, [f"{base}:m" for base in bases]) if bases else []
        described: dict[str, tuple[str, tuple[str, ...]]] = {}
        parents: dict[tuple[str, tuple[str, ...]], tuple[str, tuple[str, ...]]] = {}
        for base, raw in zip(bases, metas, strict=True):
            listing = _described(raw)
            if listing is not None:
                (kind, args), parent = listing
                described[base] = (kind, args)
                if parent is not None:
                    parents[kind, args] = parent

        def matches(kind: str, args: tuple[str, ...]) -> bool:
            node: tuple[str, tuple[str, ...]] | None = (kind, args)
            for _ in range(64):
                if node is None:
                    return False
                if any(match(ListingKey(p.name, p.account, node[0], node[1])) for p in account.providers):
                    return True
                node = parents.get(node)
            return False

        doomed_bases = [base for base, listing in described.items() if matches(*listing)]
        doomed = [key for base in doomed_bases for key in keys_by_listing[base]]
        for start in range(0, len(doomed), 500):
            self._call(self.client.unlink, *doomed[start : start + 500])
        return len(doomed_bases)

    # -- Redis calls and outages -------------------------------------------------------------

    def _usable(self) -> bool:
        return self._down_since is None or self.clock() >= self._retry_at

    def _call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        started = self.clock()
        try:
            result = function(*args, **kwargs)
        except (redis.RedisError, OSError, ValueError) as exc:
            self._failed(exc)
            raise _Down from None
        if self._down_since is not None:
            with self._lock:
                # Only a call begun once the outage allowed a retry ends it: one that was already
                # under way when Redis went (a server shutting down still answers some) does not,
                # or one outage would be warned about twice.
                since = self._down_since if started >= self._retry_at else None
                if since is not None:
                    self._down_since = None
            if since is not None:
                down_for = self.clock() - since
                log.warning(
                    "shared cache %s answers again after %.1fs: sharing resumes", self.where, down_for
                )
        return result

    def _failed(self, error: BaseException) -> None:
        with self._lock:
            now = self.clock()
            self._retry_at = now + RETRY_AFTER
            if self._down_since is not None:
                return
            self._down_since = now
        self.stats.cache_event("shared_outages")
        reason = REDACTOR.redact(str(error))[:200] or type(error).__name__
        log.warning(
            "shared cache %s unavailable (%s): fetching directly until it is back",
            self.where,
            reason,
        )

    def _warn_once(self, topic: str, message: str, *args: Any) -> None:
        with self._lock:
            if topic in self._warned:
                return
            self._warned.add(topic)
        log.warning(message, *args)

    def ping(self) -> bool:
        """Whether Redis answers now (an outage starts here if not)."""
        try:
            return bool(self._call(self.client.ping))
        except _Down:
            return False

    def close(self) -> None:
        """Store what is pending, stop extending locks, and close the connections."""
        self.settle()
        self._closed = True
        self.client.close()


def _described(raw: Any) -> tuple[tuple[str, tuple[str, ...]], tuple[str, tuple[str, ...]] | None] | None:
    """(kind, args) and the parent's (kind, args) from a stored description; None if unusable."""
    try:
        doc = json.loads(raw)
        listing = _kind_args(doc["kind"], doc["args"])
        parent = None if doc["parent"] is None else _kind_args(*doc["parent"])
    except (TypeError, ValueError, KeyError):
        return None
    return listing, parent


def _kind_args(kind: Any, args: Any) -> tuple[str, tuple[str, ...]]:
    if not isinstance(kind, str) or not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ValueError("bad listing description")
    return kind, tuple(args)


def connect(
    url: str,
    *,
    password_env: str,
    env: Mapping[str, str],
    ttl: float,
    deadline: float,
    stats: Stats,
) -> SharedPages:
    """A SharedPages on the Redis at `url` (redis://, rediss:// or unix://); never fails for an outage.

    ConfigError for an unusable URL or a password variable that is not set.
    """
    options: dict[str, Any] = {}
    if password_env:
        if not env.get(password_env):
            raise ConfigError(f"[cache]: shared_password_env names {password_env!r}, which is not set")
        options["password"] = env[password_env]
        REDACTOR.add(env[password_env])
    parts = urlsplit(url)
    if parts.password:
        REDACTOR.add(parts.password)
        REDACTOR.add(unquote(parts.password))
    try:
        client = redis.Redis.from_url(
            url,
            socket_timeout=CALL_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            **options,
        )
    except ValueError as exc:
        raise ConfigError(f"[cache]: shared: {REDACTOR.redact(str(exc))}") from None
    host = parts.hostname or ""
    where = f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"
    return SharedPages(client, where=where, ttl=ttl, deadline=deadline, stats=stats)
