"""The shared page cache against a real redis-server: sharing, locks, outages, garbage, drop; the codec."""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from storfs.entry import Entry, Page
from storfs.providers.base import ListingKey
from storfs.shared import codec, pages
from storfs.shared.pages import SharedPages
from storfs.stats import Stats
from tests.fakes.redis_server import RedisServer


class FakeProvider:
    """Just what SharedPages uses of a provider, plus a count of pages fetched."""

    name = "azure"

    def __init__(
        self, account: str = "dev", identity: str = "azure http://x acct secret-fp", page_size: int = 2
    ):
        self.account = account
        self.label = f"azure/{account}"
        self.page_size = page_size
        self.identity = identity
        self.fetched: list[str | None] = []
        self.delay = 0.0
        self.lock = threading.Lock()

    def cache_identity(self) -> str:
        return self.identity

    def key(self, kind: str, *args: str) -> ListingKey:
        return ListingKey(self.name, self.account, kind, args)

    def fetch(self, cursor: str | None, streaming: bool) -> Page:
        with self.lock:
            self.fetched.append(cursor)
        time.sleep(self.delay)
        start = int(cursor or 0)
        entries = [sample_entry(f"c{i:03d}") for i in range(start, min(start + 2, 5))]
        return Page(entries, str(start + 2) if start + 2 < 5 else None)


def sample_entry(name: str) -> Entry:
    fields = ("user.azure.etag", f"0x{len(name)}", "user.azure.lease_state", "available")
    return Entry(
        name, is_dir=True, mtime=1_700_000_000.5, ctime=1_600_000_000, fields=fields, ref=(name, "x")
    )


def same(a: Page, b: Page) -> bool:
    def flat(page: Page) -> list[tuple[object, ...]]:
        return [tuple(getattr(e, s) for s in Entry.__slots__) for e in page.entries]

    return flat(a) == flat(b) and a.next_cursor == b.next_cursor and a.lookahead == b.lookahead


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as s:
        yield s


@pytest.fixture
def fresh(server: RedisServer) -> RedisServer:
    if server._proc is None:
        server.start()
    redis.Redis.from_url(server.url).flushall()
    return server


_OPEN: list[SharedPages] = []


@pytest.fixture(autouse=True)
def close_mounts() -> Iterator[None]:
    """Each test's SharedPages finish their background stores and lock keeping before the next."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def connect(*args: Any, **kwargs: Any) -> SharedPages:
    """pages.connect, closed after the test (no background store outlives its server)."""
    shared = pages.connect(*args, **kwargs)
    _OPEN.append(shared)
    return shared


def mount(server: RedisServer, ttl: float = 60) -> SharedPages:
    return connect(server.url, password_env="", env={}, ttl=ttl, deadline=10, stats=Stats())


# -- codec ------------------------------------------------------------------------------------


def test_codec_round_trips_every_slot_exactly() -> None:
    page = Page([sample_entry("a"), Entry("b\udcff", is_dir=False, size=2**62, mtime=0)], "next", ("x", "y"))
    blob = codec.encode(page, b"k", "key")
    back = codec.decode(blob, b"k", "key")
    assert same(back, page)
    assert type(back.entries[1].mtime_ns) is int  # kept exactly as the provider gave it
    assert codec.SCHEMA.split(",") == [f"{s}:{k}" for s, k in codec.SLOTS]
    assert [s for s, _ in codec.SLOTS] == list(Entry.__slots__)


def forged(doc: object, key: bytes = b"k", redis_key: str = "key") -> bytes:
    body = zlib.compress(json.dumps(doc).encode())
    return codec.MAGIC + codec._mac(key, redis_key, body) + body


def column_doc(**changes: object) -> list[object]:
    """A signed-correctly page of one entry, column by column in slot order, with `changes`."""
    columns = {"ctime_ns": [None], "fields": [[0]], "is_dir": [True], "mtime_ns": [0], "name": ["n"]}
    columns |= {"ref": [[]], "size": [0]}
    doc: dict[str, object] = {"strings": ["v"], "count": 1, "next": None, "lookahead": []}
    for name, value in changes.items():
        (columns if name in columns else doc)[name] = value
    cols = [columns[slot] for slot, _ in codec.SLOTS]
    return [codec.FORMAT, codec.SCHEMA, doc["strings"], doc["count"], cols, doc["next"], doc["lookahead"]]


def test_a_forged_page_of_the_right_shape_decodes() -> None:
    (entry,) = codec.decode(forged(column_doc()), b"k", "key").entries
    assert (entry.name, entry.fields, entry.is_dir, entry.ctime) == (
        "n",
        ("v",),
        True,
        0.0,
    )  # ctime None: the constructor makes it mtime


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"junk" * 20,
        codec.encode(Page([], None), b"other", "key"),  # another credential wrote it
        codec.encode(Page([], None), b"k", "another key"),  # moved from another page
        forged([codec.FORMAT, "name:s", *column_doc()[2:]]),  # another entry layout
        forged([codec.FORMAT + 1, *column_doc()[1:]]),
        forged([*column_doc(), "extra"]),
        forged(column_doc(count=2)),
        forged(column_doc(size=["0"])),
        forged(column_doc(size=[True])),
        forged(column_doc(is_dir=[1])),
        forged(column_doc(mtime_ns=[float("nan")])),
        forged(column_doc(mtime_ns=[0.5])),
        forged(column_doc(name=[None])),
        forged(column_doc(fields=[[1]])),
        forged(column_doc(fields=[[-1]])),
        forged(column_doc(fields=[[True]])),
        forged(column_doc(fields=["v"])),
        forged(column_doc(strings=[3])),
        forged(column_doc(next=5)),
        forged(column_doc(lookahead=[None])),
    ],
)
def test_codec_rejects_anything_it_did_not_write(blob: bytes) -> None:
    with pytest.raises(codec.Rejected):
        codec.decode(blob, b"k", "key")


def test_codec_rejects_a_page_that_inflates_past_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    blob = codec.encode(Page([sample_entry(f"e{i}") for i in range(200)], None), b"k", "key")
    monkeypatch.setattr(codec, "MAX_PAGE_BYTES", 1000)
    with pytest.raises(codec.Rejected):
        codec.decode(blob, b"k", "key")


def test_codec_refuses_values_of_another_type() -> None:
    with pytest.raises(codec.Unsupported):
        codec.encode(Page([Entry("a", is_dir=True, size="3")], None), b"k", "key")  # type: ignore[arg-type]


# -- sharing ----------------------------------------------------------------------------------


def test_a_second_mount_reads_every_page_from_redis(fresh: RedisServer) -> None:
    first, second = mount(fresh), mount(fresh)
    p1, p2 = FakeProvider(), FakeProvider(account="other-name")  # same identity, another local name
    key1, key2 = p1.key("containers"), p2.key("containers")
    fetch1, fetch2 = first.wrap(key1, p1, p1.fetch), second.wrap(key2, p2, p2.fetch)  # type: ignore[arg-type]
    pages1 = [fetch1(c, True) for c in (None, "2", "4")]
    pages2 = [fetch2(c, True) for c in (None, "2", "4")]
    assert p1.fetched == [None, "2", "4"] and p2.fetched == []
    assert all(same(a, b) for a, b in zip(pages1, pages2, strict=True))
    assert second.stats.cache["shared_hits"] == 3 and first.stats.cache["shared_misses"] == 3


def test_another_credential_or_page_size_shares_nothing(fresh: RedisServer) -> None:
    shared = mount(fresh)
    mine, wrong, bigger = (
        FakeProvider(),
        FakeProvider(identity="azure http://x acct WRONG"),
        FakeProvider(page_size=3),
    )
    for provider in (mine, wrong, bigger):
        shared.wrap(provider.key("containers"), provider, provider.fetch)(None, False)  # type: ignore[arg-type]
    assert mine.fetched == wrong.fetched == bigger.fetched == [None]


def test_concurrent_mounts_fetch_each_page_once(fresh: RedisServer) -> None:
    mounts = [mount(fresh) for _ in range(3)]
    providers = [FakeProvider() for _ in mounts]
    for p in providers:
        p.delay = 0.3
    results: list[Page] = []
    errors: list[BaseException] = []

    def read(shared: SharedPages, provider: FakeProvider) -> None:
        try:
            results.append(shared.wrap(provider.key("containers"), provider, provider.fetch)(None, True))  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=read, args=(m, p)) for m in mounts for p in providers for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors
    assert len(results) == 18 and all(same(r, results[0]) for r in results)
    assert sum(len(p.fetched) for p in providers) == 1
    assert sum(m.stats.cache["shared_waits"] for m in mounts) >= 1


def test_a_dead_holders_lock_expires_and_a_waiter_takes_over(
    fresh: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared, provider = mount(fresh), FakeProvider()
    place = pages._Place(shared._account(provider), provider.key("containers"), provider.page_size)  # type: ignore[arg-type]
    shared.client.set(place.lock(None), "someone who died", px=400)
    started = time.monotonic()
    page = shared.wrap(provider.key("containers"), provider, provider.fetch)(None, False)  # type: ignore[arg-type]
    assert 0.3 < time.monotonic() - started < 5
    assert provider.fetched == [None] and len(page.entries) == 2


def test_a_live_holder_keeps_its_lock_past_the_lease(
    fresh: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "LEASE", 0.6)
    holder, waiter = mount(fresh), mount(fresh)
    slow, other = FakeProvider(), FakeProvider()
    slow.delay = 1.5  # longer than two leases
    thread = threading.Thread(
        target=holder.wrap(slow.key("containers"), slow, slow.fetch), args=(None, False)
    )  # type: ignore[arg-type]
    thread.start()
    time.sleep(0.2)
    page = waiter.wrap(other.key("containers"), other, other.fetch)(None, False)  # type: ignore[arg-type]
    thread.join(10)
    assert slow.fetched == [None] and other.fetched == [] and len(page.entries) == 2


def test_garbage_in_redis_is_discarded_and_refetched(
    fresh: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    shared, provider = mount(fresh), FakeProvider()
    place = pages._Place(shared._account(provider), provider.key("containers"), provider.page_size)  # type: ignore[arg-type]
    shared.client.set(place.page(None), b"\x00garbage")
    fetch = shared.wrap(provider.key("containers"), provider, provider.fetch)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        page = fetch(None, False)
    assert provider.fetched == [None] and len(page.entries) == 2
    assert shared.stats.cache["shared_rejected"] >= 1
    assert "discarded a shared page" in caplog.text
    assert same(fetch(None, False), page) and provider.fetched == [None]  # overwritten with the good page


def test_an_outage_is_one_warning_then_sharing_resumes(
    fresh: RedisServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(pages, "RETRY_AFTER", 0.2)
    shared, provider = mount(fresh), FakeProvider()
    fetch = shared.wrap(provider.key("containers"), provider, provider.fetch)  # type: ignore[arg-type]
    fresh.stop()
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert len(fetch(None, False).entries) == 2
            time.sleep(0.25)
    assert provider.fetched == [None] * 3
    assert caplog.text.count("unavailable") == 1
    assert shared.stats.cache["shared_outages"] == 1 and shared.stats.cache["shared_bypassed"] == 3
    fresh.start()
    time.sleep(0.25)
    with caplog.at_level(logging.WARNING):
        fetch(None, False)  # stored again
        fetch(None, False)  # and read back
    assert provider.fetched == [None] * 4
    assert "sharing resumes" in caplog.text and shared.stats.cache["shared_hits"] == 1


def test_a_call_under_way_when_redis_goes_does_not_end_the_outage(
    fresh: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A Redis that is shutting down fails one call while another, begun before, still succeeds:
    that is one outage (one warning), not an outage, a recovery and a second outage."""
    now = [100.0]
    shared = SharedPages(
        redis.Redis(port=fresh.port), where="test", ttl=60, deadline=10, stats=Stats(), clock=lambda: now[0]
    )
    in_flight = threading.Event()
    go_on = threading.Event()

    def slow_ping() -> bool:
        in_flight.set()
        go_on.wait(5)
        return True

    def refused() -> None:
        raise redis.ConnectionError("Connection refused")

    with caplog.at_level(logging.WARNING):
        earlier = threading.Thread(target=shared._call, args=(slow_ping,))
        earlier.start()
        assert in_flight.wait(5)
        now[0] += 0.5
        with pytest.raises(pages._Down):
            shared._call(refused)  # the outage starts
        go_on.set()
        earlier.join(5)  # the earlier call succeeds now
        with pytest.raises(pages._Down):
            shared._call(refused)
        assert caplog.text.count("unavailable") == 1 and "answers again" not in caplog.text
        now[0] += pages.RETRY_AFTER + 1
        assert shared.ping()  # a call begun once a retry is due ends it
    assert caplog.text.count("answers again") == 1 and shared.stats.cache["shared_outages"] == 1


def test_an_unreachable_redis_costs_little(monkeypatch: pytest.MonkeyPatch) -> None:
    # A port nobody listens on: refused at once; every call stays within the short timeouts.
    shared = connect("redis://127.0.0.1:1/0", password_env="", env={}, ttl=60, deadline=10, stats=Stats())
    provider = FakeProvider()
    started = time.monotonic()
    for cursor in (None, "2", "4"):
        shared.wrap(provider.key("containers"), provider, provider.fetch)(cursor, False)  # type: ignore[arg-type]
    assert time.monotonic() - started < 2 * pages.CONNECT_TIMEOUT + 1
    assert provider.fetched == [None, "2", "4"]


def test_pages_expire_with_the_listing_ttl(fresh: RedisServer) -> None:
    shared, provider = mount(fresh, ttl=0.3), FakeProvider()
    fetch = shared.wrap(provider.key("containers"), provider, provider.fetch)  # type: ignore[arg-type]
    fetch(None, False)
    fetch(None, False)
    time.sleep(0.5)
    fetch(None, False)
    assert provider.fetched == [None, None]


def test_drop_removes_a_listing_and_what_is_below_it_even_unseen_here(fresh: RedisServer) -> None:
    writer, dropper = mount(fresh), mount(fresh)
    provider = FakeProvider()
    buckets = provider.key("buckets")
    uploads = provider.key("uploads", "b1")
    parts = provider.key("parts", "b1", "k", "u1")
    elsewhere = provider.key("uploads", "b2")
    origins = {uploads: (buckets, "b1"), parts: (uploads, "u1"), elsewhere: (buckets, "b2")}
    writer.origin = origins.get
    for key in (buckets, uploads, parts, elsewhere):
        writer.wrap(key, provider, provider.fetch)(None, False)  # type: ignore[arg-type]
    writer.settle()
    dropper._account(provider)  # type: ignore[arg-type]
    # The dropping mount knows only that `uploads b1` is the root; the parts below came from Redis.
    assert dropper.drop(lambda key: key == uploads) == 2
    provider.fetched.clear()
    for key in (buckets, uploads, parts, elsewhere):
        dropper.wrap(key, provider, provider.fetch)(None, False)  # type: ignore[arg-type]
    assert provider.fetched == [None, None]  # uploads b1 and its parts, nothing else
    assert dropper.drop(lambda key: True) == 4


def test_a_password_from_the_environment(tmp_path) -> None:
    with RedisServer(password="s3cret-pass") as protected:
        url = f"redis://127.0.0.1:{protected.port}/0"
        shared = connect(
            url, password_env="PW", env={"PW": "s3cret-pass"}, ttl=60, deadline=10, stats=Stats()
        )
        assert shared.ping()
        no_password = connect(url, password_env="", env={}, ttl=60, deadline=10, stats=Stats())
        assert not no_password.ping()
        assert "s3cret-pass" not in shared.where


# -- configuration ----------------------------------------------------------------------------


def test_config_takes_a_redis_url_from_the_file_or_o(tmp_path) -> None:
    from storfs import config
    from storfs.errors import ConfigError

    table = {"azure": {"dev": {"account": "a", "key": "a2V5"}}}
    parsed = config.parse({**table, "cache": {"shared": "rediss://h:6380/1", "shared_password_env": "PW"}})
    assert parsed.cache.shared == "rediss://h:6380/1" and parsed.cache.shared_password_env == "PW"
    assert config.with_overrides(parsed, {"shared": "redis://other/0"}).cache.shared == "redis://other/0"
    for bad in ({"shared": "http://h/"}, {"shared": 6379}, {"shared_password_env": True}):
        with pytest.raises(ConfigError, match="shared"):
            config.parse({**table, "cache": bad})
    with pytest.raises(ConfigError, match="shared"):
        config.with_overrides(parsed, {"shared": True})  # `-o shared` without a value


def test_mount_refuses_an_unset_password_variable_before_mounting(tmp_path) -> None:
    import subprocess
    import sys

    conf = tmp_path / "c.toml"
    conf.write_text(
        '[azure.dev]\naccount = "a"\nkey = "a2V5"\n[cache]\nshared = "redis://127.0.0.1:1/0"\n'
        'shared_password_env = "STORFS_TEST_UNSET_PASSWORD"\n'
    )
    (tmp_path / "mnt").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "storfs", "mount", "--config", str(conf), str(tmp_path / "mnt")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "STORFS_TEST_UNSET_PASSWORD" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_failed_fetch_answers_the_mounts_that_waited_for_it(fresh: RedisServer) -> None:
    from storfs.errors import AccessDenied, RemoteTimeout

    holder, waiter = mount(fresh), mount(fresh)
    failing, other = FakeProvider(), FakeProvider()

    def fail(cursor: str | None, streaming: bool) -> Page:
        failing.fetched.append(cursor)
        time.sleep(0.5)
        raise RemoteTimeout("azure/dev List Containers: timed out")

    holder_errors: list[BaseException] = []

    def hold() -> None:
        try:
            holder.wrap(failing.key("containers"), failing, fail)(None, False)  # type: ignore[arg-type]
        except RemoteTimeout as exc:
            holder_errors.append(exc)

    thread = threading.Thread(target=hold)
    thread.start()
    time.sleep(0.15)
    with pytest.raises(RemoteTimeout, match="timed out"):
        waiter.wrap(other.key("containers"), other, other.fetch)(None, False)  # type: ignore[arg-type]
    thread.join(10)
    assert len(holder_errors) == 1
    assert failing.fetched == [None] and other.fetched == []  # one attempt for both mounts
    assert waiter.stats.cache["shared_errors"] == 1
    # A mount that comes later tries again itself (and a success clears the record).
    assert len(waiter.wrap(other.key("containers"), other, other.fetch)(None, False).entries) == 2  # type: ignore[arg-type]
    assert other.fetched == [None]
    assert AccessDenied.__name__ in pages._ERRORS and "ConfigError" not in pages._ERRORS


def test_a_streaming_holder_takes_the_next_pages_lock_before_publishing(fresh: RedisServer) -> None:
    holder, other = mount(fresh), mount(fresh)
    provider, rival = FakeProvider(), FakeProvider()
    fetch = holder.wrap(provider.key("containers"), provider, provider.fetch)  # type: ignore[arg-type]
    first = fetch(None, True)
    place = pages._Place(holder._account(provider), provider.key("containers"), provider.page_size)  # type: ignore[arg-type]
    assert first.next_cursor == "2" and holder.client.get(place.lock("2")) is not None
    # Another mount that learnt cursor "2" from the stored page waits for the holder's fetch.
    rival_fetch = other.wrap(rival.key("containers"), rival, rival.fetch)  # type: ignore[arg-type]
    got: list[Page] = []
    thread = threading.Thread(target=lambda: got.append(rival_fetch("2", True)))
    thread.start()
    time.sleep(0.2)
    assert fetch("2", True).next_cursor == "4"
    thread.join(10)
    assert provider.fetched == [None, "2"] and rival.fetched == [] and got[0].next_cursor == "4"


def test_an_unclaimed_reservation_is_released_soon(fresh: RedisServer) -> None:
    holder, other = mount(fresh), mount(fresh)
    provider, rival = FakeProvider(), FakeProvider()
    holder.wrap(provider.key("containers"), provider, provider.fetch)(None, True)  # type: ignore[arg-type]
    started = time.monotonic()  # the holder's reader stops here (`ls | head`)
    page = other.wrap(rival.key("containers"), rival, rival.fetch)("2", True)  # type: ignore[arg-type]
    assert page.next_cursor == "4" and rival.fetched == ["2"]
    assert time.monotonic() - started < pages.RESERVATION + 2


def test_cache_identity_names_the_credential_without_holding_it() -> None:
    from storfs.providers import PROVIDERS
    from storfs.transport import HttpSettings

    key_a, key_b = "a2V5LW9uZQ==", "a2V5LXR3bw=="
    configs = {
        "azure": [{"account": "acct", "key": key_a}, {"account": "acct", "key": key_b}],
        "qingstor": [
            {"access_key_id": "AKID", "secret_access_key": "secret-one-0000"},
            {"access_key_id": "AKID", "secret_access_key": "secret-two-0000"},
        ],
        "oas": [
            {"access_key_id": "AKID", "access_key_secret": "secret-one-0000"},
            {"access_key_id": "AKID", "access_key_secret": "secret-two-0000"},
        ],
    }
    for name, (one, two) in configs.items():
        cls = PROVIDERS[name]
        first, again, other = (
            cls(label, settings, HttpSettings()).cache_identity()
            for label, settings in (("x", one), ("y", one), ("x", two))
        )
        assert first == again, name  # the local account name does not matter
        assert first != other, name  # another credential is another namespace
        for secret in (*one.values(), *two.values()):
            if "secret" in secret or secret in (key_a, key_b):
                assert secret not in first and secret not in other, name
    zoned = PROVIDERS["qingstor"]("x", {**configs["qingstor"][0], "zone": "pek3a"}, HttpSettings())
    assert (
        zoned.cache_identity()
        != PROVIDERS["qingstor"]("x", configs["qingstor"][0], HttpSettings()).cache_identity()
    )


def test_rediss_verifies_the_certificate(tmp_path) -> None:
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
         "-out", str(cert), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    with RedisServer(tls=(str(cert), str(key))) as secure:
        assert secure.url.startswith("rediss://")
        unverified = connect(secure.url, password_env="", env={}, ttl=60, deadline=10, stats=Stats())
        assert not unverified.ping()  # a self-signed certificate is refused by default
        trusted = connect(
            f"{secure.url}?ssl_ca_certs={cert}", password_env="", env={}, ttl=60, deadline=10, stats=Stats()
        )
        assert trusted.ping()
        provider, again = FakeProvider(), FakeProvider()
        trusted.wrap(provider.key("containers"), provider, provider.fetch)(None, False)  # type: ignore[arg-type]
        trusted.settle()
        reader = connect(
            f"{secure.url}?ssl_ca_certs={cert}", password_env="", env={}, ttl=60, deadline=10, stats=Stats()
        )
        reader.wrap(again.key("containers"), again, again.fetch)(None, False)  # type: ignore[arg-type]
        assert provider.fetched == [None] and again.fetched == []
