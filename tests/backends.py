"""The test backends, one entry a provider (rclone's fstests: one suite, every backend).

Each `Provider` says how its server starts and what it is seeded with (`N` top-level entries
named by `seed_names`), its config table, its oracle (the names and times the server holds),
how it fails on purpose, its canned pages, and its listing kinds. The contract suites
(`tests/contract/`), the fault suite (`tests/faults/`) and the mount tests iterate over
`BACKENDS`; adding a provider is one entry here (plus its fake in `tests/fakes/`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from tests.fakes.azurite import AZURITE_ACCOUNT, AZURITE_KEY, Azurite
from tests.fakes.counting_proxy import CountingProxy
from tests.fakes.oas_server import OASServer
from tests.fakes.qingstor_server import QingStorServer
from tests.fakes.s3_server import S3Server
from tests.harness import Mount, run

N = 37  # top-level entries every backend is seeded with
PAGE = 5  # the page size the suites mount with: every listing needs several pages
UPLOADS = 12  # uploads in UPLOAD_BUCKET of an "-uploads" backend
UPLOAD_BUCKET = "entry-000"
#: Seed times: entry i of QingStor and S3 was created QS_CREATED + i days; vault i of OAS was
#: last inventoried OAS_INVENTORY + i hours.
QS_CREATED = 1436589957.0
S3_CREATED = 1_600_000_000.0
OAS_INVENTORY = 1395144000.0

Server = Any  # Azurite or one of the fakes


def seed_names(n: int = N) -> list[str]:
    return [f"entry-{i:03d}" for i in range(n)]


def iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def seed_azurite(server: Azurite) -> Azurite:
    """Azurite is shared by the tests of a module: its owner seeds it once."""
    names = seed_names()
    server.create_containers(names, metadata={names[0]: {"owner": "ops"}})
    return server


# -- canned pages: well-formed pages of names, "" as the marker on the last page ---------------


def azure_container(name: str, last_modified: str = "Wed, 26 Oct 2016 20:39:39 GMT") -> str:
    return (
        f"<Container><Name>{escape(name)}</Name><Properties>"
        f'<Last-Modified>{escape(last_modified)}</Last-Modified><Etag>"0x8D3FDE2FC5A7C08"</Etag>'
        "<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>"
        "</Properties></Container>"
    )


def azure_page(names: Sequence[str], marker: str, containers: str | None = None) -> bytes:
    body = containers if containers is not None else "".join(azure_container(n) for n in names)
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<EnumerationResults ServiceEndpoint="http://127.0.0.1/{AZURITE_ACCOUNT}/">'
        f"<MaxResults>{PAGE}</MaxResults><Containers>{body}</Containers>"
        f"<NextMarker>{escape(marker)}</NextMarker></EnumerationResults>"
    ).encode()


def qingstor_bucket(name: str, created: str = "2015-07-11T04:45:57Z", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "location": "pek3a",
        "url": "https://x.pek3a.qingstor.com",
        "created": created,
        **extra,
    }


def qingstor_buckets(names: Sequence[str], count: int | None = None) -> bytes:
    buckets = [qingstor_bucket(n) for n in names]
    return json.dumps({"count": len(buckets) if count is None else count, "buckets": buckets}).encode()


def qingstor_bucket_page(names: Sequence[str], marker: str) -> bytes:
    # Offset paging: a full page is what says "more"; the marker cannot be chosen.
    if marker:
        assert len(names) == PAGE, "a QingStor bucket page says 'more' by being full"
    else:
        assert len(names) < PAGE
    return qingstor_buckets(names)


def qingstor_uploads(upload_ids: Sequence[str], marker: str, **overrides: Any) -> bytes:
    body = {
        "name": UPLOAD_BUCKET,
        "prefix": "",
        "delimiter": "",
        "limit": PAGE,
        "key_marker": "",
        "upload_id_marker": "",
        "uploads": [
            {"key": f"key-{u}", "upload_id": u, "created": "2016-12-25T16:02:05.000Z"} for u in upload_ids
        ],
        "next_key_marker": marker,
        "next_upload_id_marker": f"id-{marker}" if marker else "",
        "has_more": bool(marker),
        **overrides,
    }
    return json.dumps(body).encode()


def oas_vault(name: str, vault_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "CreationDate": "Tue, 18 Mar 2014 22:06:47 GMT",
        "LastInventoryDate": "Tue, 18 Mar 2014 12:00:00 GMT",
        "NumberOfArchives": 1,
        "SizeInBytes": 1024,
        "VaultId": vault_id,
        "VaultName": name,
        **extra,
    }


def oas_vaults(names: Sequence[str], marker: str) -> bytes:
    vaults = [oas_vault(n, f"{i:032X}") for i, n in enumerate(names)]
    return json.dumps({"Marker": marker, "VaultList": vaults}).encode()


def s3_buckets(names: Sequence[str], token: str, buckets: str | None = None) -> bytes:
    rows = buckets
    if rows is None:
        created = "<CreationDate>2019-12-11T23:32:47.000Z</CreationDate>"
        rows = "".join(f"<Bucket><Name>{escape(n)}</Name>{created}</Bucket>" for n in names)
    tail = f"<ContinuationToken>{escape(token)}</ContinuationToken>" if token else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Buckets>{rows}</Buckets>{tail}</ListAllMyBucketsResult>"
    ).encode()


def s3_uploads(upload_ids: Sequence[str], marker: str, truncated: bool | None = None) -> bytes:
    rows = "".join(
        f"<Upload><Key>key-{escape(u)}</Key><UploadId>{escape(u)}</UploadId>"
        "<Initiated>2016-12-25T16:02:05.000Z</Initiated></Upload>"
        for u in upload_ids
    )
    more = bool(marker) if truncated is None else truncated
    markers = (
        f"<NextKeyMarker>{escape(marker)}</NextKeyMarker>"
        f"<NextUploadIdMarker>id-{escape(marker)}</NextUploadIdMarker>"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Bucket>{UPLOAD_BUCKET}</Bucket><IsTruncated>{'true' if more else 'false'}</IsTruncated>"
        f"{markers if marker else ''}{rows}</ListMultipartUploadsResult>"
    ).encode()


# -- listing kinds: one listing of one account, seeded on a fresh server, for the engine contract


KIND_N = 11  # entries of every listing kind: three pages of KIND_PAGE
KIND_PAGE = 4


@dataclass
class Kind:
    """One listing of one provider account, seeded with KIND_N entries (and maybe subdirectories)."""

    provider: str
    table: dict[str, Any]
    path: str  # under /<provider>/main/
    expected: dict[str, int]  # name -> size
    requests: Callable[[], int]  # list requests of this listing so far
    fail_once: Callable[[int], None]  # the next request answers this status
    wrong_secret: Mapping[str, Any]
    lookup: bool = False  # whether the provider answers one name with one small request
    #: Object listings whose directory's name (a prefix) is resolved by asking for its listing's
    #: first page (`Provider.lookup_directory`), so their cost counts from before it. Their
    #: page boundaries are told by the next page, which the listing fetches anyway.
    first_page_with_lookup: bool = False


KindFactory = Callable[[ExitStack, Azurite], Kind]


def _azure_kind(stack: ExitStack, azurite: Azurite, path: str, expected: dict[str, int], op: str) -> Kind:
    proxy = stack.enter_context(CountingProxy(AZURE.url(azurite)))
    return Kind(
        "azure",
        AZURE.table(azurite, proxy.url),
        path,
        expected,
        lambda: proxy.count_op(op),
        lambda status: proxy.fail_next(status),
        AZURE.wrong_secret,
        lookup=True,
        first_page_with_lookup=op == "list_blobs",
    )


def azure_containers(stack: ExitStack, azurite: Azurite) -> Kind:
    azurite.create_containers([f"kind-c{i:02d}" for i in range(KIND_N)])
    # Azurite is shared with other tests: compare with everything it holds.
    expected = dict.fromkeys(azurite.list_container_names(), 0)
    return _azure_kind(stack, azurite, "containers", expected, "list_containers")


def azure_blobs(stack: ExitStack, azurite: Azurite) -> Kind:
    names = {f"dir/blob {i:02d}.log": b"x" * (10 * i) for i in range(KIND_N)}
    names["dir/sub/deeper.bin"] = b"y"  # a prefix directory inside the listing
    azurite.upload_blobs("kind-blobs", names)
    expected = {f"blob {i:02d}.log": 10 * i for i in range(KIND_N)} | {"sub": 0}
    return _azure_kind(stack, azurite, "containers/kind-blobs/blobs/dir", expected, "list_blobs")


def _fake_kind(
    provider: Provider,
    server: Server,
    path: str,
    expected: dict[str, int],
    op: str,
    first_page_with_lookup: bool = False,
) -> Kind:
    assert provider.fail is not None
    fail = provider.fail
    return Kind(
        provider.name,
        provider.table(server),
        path,
        expected,
        lambda: server.count(op),
        lambda status: fail(server, status, 1),
        provider.wrong_secret,
        lookup=op in provider.lookups,
        first_page_with_lookup=first_page_with_lookup,
    )


def _qingstor(stack: ExitStack) -> QingStorServer:
    server = stack.enter_context(QingStorServer())
    for i in range(KIND_N):
        server.add_bucket(f"bucket-{i:02d}", created=f"2015-07-{i + 1:02d}T04:45:57Z")
    return server


def qingstor_buckets_kind(stack: ExitStack, azurite: Azurite) -> Kind:
    expected = {f"bucket-{i:02d}": 0 for i in range(KIND_N)}
    return _fake_kind(QINGSTOR, _qingstor(stack), "buckets", expected, "list_buckets")


def qingstor_objects(stack: ExitStack, azurite: Azurite) -> Kind:
    server = _qingstor(stack)
    expected = {}
    for i in range(KIND_N):
        server.add_object("bucket-02", f"dir/obj {i:02d}.bin", b"z" * (7 * i))
        expected[f"obj {i:02d}.bin"] = 7 * i
    server.add_object("bucket-02", "dir/sub/deeper.bin", b"y")
    expected["sub"] = 0
    path = "buckets/bucket-02/objects/dir"
    return _fake_kind(QINGSTOR, server, path, expected, "list_objects", first_page_with_lookup=True)


def qingstor_uploads_kind(stack: ExitStack, azurite: Azurite) -> Kind:
    server = _qingstor(stack)
    ids = [server.add_upload("bucket-00", f"dir/key {i}", upload_id=f"up-{i:02d}") for i in range(KIND_N)]
    return _fake_kind(QINGSTOR, server, "buckets/bucket-00/uploads", dict.fromkeys(ids, 0), "list_uploads")


def qingstor_parts(stack: ExitStack, azurite: Azurite) -> Kind:
    server = _qingstor(stack)
    upload = server.add_upload("bucket-01", "big file.bin", upload_id="up-parts")
    sizes = {}
    for number in range(1, KIND_N + 1):
        server.add_part("bucket-01", upload, number, size=1000 + number)
        sizes[f"{number:05d}"] = 1000 + number
    return _fake_kind(QINGSTOR, server, "buckets/bucket-01/uploads/up-parts/parts", sizes, "list_parts")


def oas_vaults_kind(stack: ExitStack, azurite: Azurite) -> Kind:
    server = stack.enter_context(OASServer())
    for i in range(KIND_N):
        server.add_vault(f"vault-{i:02d}", size_in_bytes=100 * i)
    expected = {f"vault-{i:02d}": 100 * i for i in range(KIND_N)}
    return _fake_kind(OAS, server, "vaults", expected, "list_vaults")


def _s3(stack: ExitStack) -> S3Server:
    server = stack.enter_context(S3Server())
    for i in range(KIND_N):
        server.add_bucket(f"bucket-{i:02d}", region="eu-west-1" if i == 1 else "us-east-1")
    return server


def s3_buckets_kind(stack: ExitStack, azurite: Azurite) -> Kind:
    expected = {f"bucket-{i:02d}": 0 for i in range(KIND_N)}
    return _fake_kind(S3, _s3(stack), "buckets", expected, "list_buckets")


def s3_objects(stack: ExitStack, azurite: Azurite) -> Kind:
    server = _s3(stack)
    expected = {}
    for i in range(KIND_N - 3):
        server.add_object("bucket-01", f"dir/file {i:02d}=50%.bin", 10 * i)
        expected[f"file {i:02d}=50%.bin"] = 10 * i
    for sub in ("a", "b", "c"):  # subdirectories: common prefixes
        server.add_object("bucket-01", f"dir/{sub}/inner", 1)
        expected[sub] = 0
    path = "buckets/bucket-01/objects/dir"
    return _fake_kind(S3, server, path, expected, "list_objects", first_page_with_lookup=True)


def s3_uploads_kind(stack: ExitStack, azurite: Azurite) -> Kind:
    server = _s3(stack)
    ids = [server.add_upload("bucket-01", f"dir/key {i}") for i in range(KIND_N)]
    return _fake_kind(S3, server, "buckets/bucket-01/uploads", dict.fromkeys(ids, 0), "list_uploads")


def s3_parts(stack: ExitStack, azurite: Azurite) -> Kind:
    server = _s3(stack)
    upload = server.add_upload("bucket-01", "a/../big file.bin")
    sizes = {}
    for number in range(1, KIND_N + 1):
        server.add_part(upload, number, size=1000 + number)
        sizes[f"{number:05d}"] = 1000 + number
    return _fake_kind(S3, server, f"buckets/bucket-01/uploads/{upload}/parts", sizes, "list_parts")


# -- the registry --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Uploads:
    """The uploads of UPLOAD_BUCKET as a second fault-suite listing (`make("<name>-uploads")`)."""

    seed: Callable[[Server], list[str]]  # adds UPLOADS uploads; their ids, as listed
    page: Callable[[Sequence[str], str], bytes]


@dataclass(frozen=True)
class Provider:
    """One provider's test backend: its server, seed, config, oracle, faults, pages and kinds."""

    name: str
    top: str  # the seeded listing under /<name>/<account>/
    start: Callable[[ExitStack, Callable[[], Azurite]], Server]  # a running server holding the seed
    url: Callable[[Server], str]  # the server's base URL, what a proxy forwards to
    credentials: Callable[[Server], dict[str, Any]]
    wrong_secret: Mapping[str, Any]
    top_requests: Callable[[CountingProxy], int]  # requests of the seeded listing a proxy saw
    page: Callable[[Sequence[str], str], bytes]  # a canned page of the seeded listing
    kinds: Mapping[str, KindFactory]
    content_type: str = "application/json"
    endpoint: Callable[[Server, str], str] = lambda server, url: url  # the config's, for a base URL
    names: Callable[[Server], list[str]] = lambda server: seed_names()  # the oracle of `top`
    mtime: Callable[[Server, str], float] = lambda server, name: 0.0
    #: The server's own error answer for the next `times` requests; None: only through a proxy.
    fail: Callable[[Server, int, int], None] | None = None
    lookups: frozenset[str] = frozenset()  # ops of the kinds answered by a one-name request
    shared: bool = False  # one server for many tests, started and seeded by a fixture
    uploads: Uploads | None = None

    def table(self, server: Server, url: str | None = None, **overrides: Any) -> dict[str, Any]:
        """The config table of an account on `server`, reached at `url` (default: directly)."""
        endpoint = self.endpoint(server, url or self.url(server))
        return {**self.credentials(server), "endpoint": endpoint, **overrides}


def _start_qingstor(stack: ExitStack, azurite: Callable[[], Azurite]) -> QingStorServer:
    server = stack.enter_context(QingStorServer())
    for i, name in enumerate(seed_names()):
        server.add_bucket(name, created=iso(QS_CREATED + i * 86400))
    return server


def _start_oas(stack: ExitStack, azurite: Callable[[], Azurite]) -> OASServer:
    server = stack.enter_context(OASServer())
    for i, name in enumerate(seed_names()):
        server.add_vault(
            name,
            size_in_bytes=1000 * i,
            number_of_archives=i,
            last_inventory_date=formatdate(OAS_INVENTORY + i * 3600, usegmt=True),
        )
    return server


def _start_s3(stack: ExitStack, azurite: Callable[[], Azurite]) -> S3Server:
    server = stack.enter_context(S3Server())
    for i, name in enumerate(seed_names()):
        server.add_bucket(name, created=S3_CREATED + i * 86400)
    return server


def _azure_mtime(server: Azurite, name: str) -> float:
    props = server.service_client().get_container_client(name).get_container_properties()
    return props.last_modified.timestamp()


def _qingstor_uploads(server: QingStorServer) -> list[str]:
    return sorted(
        server.add_upload(UPLOAD_BUCKET, f"key-{i:02d}", upload_id=f"upload-{i:02d}") for i in range(UPLOADS)
    )


def _s3_uploads(server: S3Server) -> list[str]:
    return sorted(server.add_upload(UPLOAD_BUCKET, f"key-{i:02d}") for i in range(UPLOADS))


AZURE = Provider(
    name="azure",
    top="containers",
    start=lambda stack, azurite: azurite(),  # seeded by its owner (seed_azurite)
    url=lambda server: f"http://127.0.0.1:{server.port}",
    credentials=lambda server: {"account": server.account, "key": AZURITE_KEY},
    wrong_secret={"key": "A" * 86 + "=="},
    top_requests=lambda proxy: proxy.count_op("list_containers"),
    page=azure_page,
    kinds={"azure-containers": azure_containers, "azure-blobs": azure_blobs},
    content_type="application/xml",
    endpoint=lambda server, url: f"{url}/{server.account}",
    names=lambda server: sorted(server.list_container_names()),
    mtime=_azure_mtime,
    shared=True,
)
QINGSTOR = Provider(
    name="qingstor",
    top="buckets",
    start=_start_qingstor,
    url=lambda server: server.url,
    credentials=lambda s: {"access_key_id": s.access_key_id, "secret_access_key": s.secret_access_key},
    wrong_secret={"secret_access_key": "wrong"},
    top_requests=lambda proxy: proxy.count("GET", path="/"),
    page=qingstor_bucket_page,
    kinds={
        "qingstor-buckets": qingstor_buckets_kind,
        "qingstor-objects": qingstor_objects,
        "qingstor-uploads": qingstor_uploads_kind,
        "qingstor-parts": qingstor_parts,
    },
    mtime=lambda server, name: QS_CREATED + seed_names().index(name) * 86400,
    fail=lambda server, status, times: server.fail_next(status, "service_unavailable", times=times),
    lookups=frozenset({"list_objects"}),
    uploads=Uploads(_qingstor_uploads, qingstor_uploads),
)
OAS = Provider(
    name="oas",
    top="vaults",
    start=_start_oas,
    url=lambda server: server.url,
    credentials=lambda s: {"access_key_id": s.access_key_id, "access_key_secret": s.access_key_secret},
    wrong_secret={"access_key_secret": "wrong"},
    top_requests=lambda proxy: proxy.count("GET", path="/vaults"),
    page=oas_vaults,
    kinds={"oas-vaults": oas_vaults_kind},
    mtime=lambda server, name: OAS_INVENTORY + seed_names().index(name) * 3600,
    fail=lambda server, status, times: server.fail_next(status, "ServiceUnavailable", times=times),
)
S3 = Provider(
    name="s3",
    top="buckets",
    start=_start_s3,
    url=lambda server: server.url,
    credentials=lambda s: {"access_key_id": s.access_key_id, "secret_access_key": s.secret},
    wrong_secret={"secret_access_key": "wrong"},
    top_requests=lambda proxy: proxy.count("GET", path="/"),
    page=s3_buckets,
    kinds={
        "s3-buckets": s3_buckets_kind,
        "s3-objects": s3_objects,
        "s3-uploads": s3_uploads_kind,
        "s3-parts": s3_parts,
    },
    content_type="application/xml",
    mtime=lambda server, name: S3_CREATED + seed_names().index(name) * 86400,
    fail=lambda s, status, times: s.fail_next(
        status, "SlowDown" if status == 503 else "InternalError", times=times
    ),
    lookups=frozenset({"list_buckets", "list_objects"}),
    uploads=Uploads(_s3_uploads, s3_uploads),
)

BACKENDS: dict[str, Provider] = {p.name: p for p in (AZURE, QINGSTOR, OAS, S3)}
#: Every listing kind of every provider, by name ("s3-parts").
KINDS: dict[str, KindFactory] = {name: f for p in BACKENDS.values() for name, f in p.kinds.items()}
#: The fault suite's backends: each provider's seeded listing, and its uploads where it has them.
FAULT_KINDS = (*BACKENDS, *(f"{p.name}-uploads" for p in BACKENDS.values() if p.uploads))


# -- a running backend -------------------------------------------------------------------------


@dataclass
class Backend:
    """One provider's seeded server behind a counting proxy, the server as the oracle.

    `kind` is the provider's name, or `<name>-uploads` for the uploads of UPLOAD_BUCKET."""

    spec: Provider
    server: Server
    proxy: CountingProxy
    stack: ExitStack
    kind: str
    upload_ids: list[str] = field(default_factory=list)
    record: Callable[[Any], Any] = lambda recorder: recorder

    @property
    def provider(self) -> str:
        return self.spec.name

    @property
    def top(self) -> str:
        return self.spec.top

    @property
    def content_type(self) -> str:
        return self.spec.content_type

    @property
    def wrong_secret(self) -> Mapping[str, Any]:
        return self.spec.wrong_secret

    @property
    def uploads(self) -> bool:
        return self.kind.endswith("-uploads")

    # -- config and paths -------------------------------------------------------------------
    def table(self, endpoint: str | None = None, **overrides: Any) -> dict[str, Any]:
        """The account's table through the proxy (or `endpoint`), paged by PAGE."""
        return self.spec.table(self.server, endpoint or self.proxy.url, **{"page_size": PAGE, **overrides})

    def listing(self, m: Mount, account: str = "main") -> Path:
        if self.uploads:
            return m.path(self.provider, account, self.top, UPLOAD_BUCKET, "uploads")
        return m.path(self.provider, account, self.top)

    def prime(self, m: Mount, account: str = "main") -> None:
        """Fetch whatever the listing's path needs, so the next requests are the listing's own."""
        if self.uploads:
            result = run(["ls", str(m.path(self.provider, account, self.top))])
            assert result.returncode == 0, result.stderr

    # -- the oracle ---------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self.upload_ids) if self.uploads else self.spec.names(self.server)

    def mtime(self, name: str) -> float:
        return self.spec.mtime(self.server, name)

    def list_requests(self) -> int:
        """Requests of this listing that reached the proxy (forwarded or answered by a fault)."""
        if self.uploads:
            return self.proxy.count("GET", path=f"/{UPLOAD_BUCKET}")
        return self.spec.top_requests(self.proxy)

    def methods(self) -> set[str]:
        return {r.method for r in self.proxy.requests}

    def reset(self) -> None:
        self.proxy.reset()

    # -- faults and canned answers ----------------------------------------------------------------
    def fail_next(self, status: int, times: int = 1) -> None:
        """The next `times` requests answer `status`: from the server itself where it can."""
        if self.spec.fail is not None:
            self.spec.fail(self.server, status, times)
        else:
            self.proxy.fail_next(status, times=times)

    def page(self, names: Sequence[str], marker: str) -> bytes:
        """A well-formed page holding `names` that says more follows at `marker`."""
        if self.uploads:
            assert self.spec.uploads is not None
            return self.spec.uploads.page(names, marker)
        return self.spec.page(names, marker)

    def last_page(self, names: Sequence[str]) -> bytes:
        """A well-formed page holding `names` that says it is the last one."""
        return self.page(names, "")

    def answer(
        self, body: bytes, *, times: int = 1, status: int = 200, content_type: str | None = None
    ) -> None:
        headers = {"Content-Type": content_type or self.content_type}
        self.proxy.fail_next(status, times=times, body=body, headers=headers)

    def extra_proxy(self, **kwargs: Any) -> CountingProxy:
        """Another proxy to the same server (a second account, a TLS front...)."""
        proxy = CountingProxy(self.proxy.upstream_url, **kwargs)
        self.stack.enter_context(proxy)
        return self.record(proxy)


def start_backend(
    kind: str,
    stack: ExitStack,
    azurite: Callable[[], Azurite],
    record: Callable[[Any], Any] = lambda recorder: recorder,
) -> Backend:
    """A fresh proxy (and, but for Azure, a fresh seeded server) of `kind`; `stack` stops them.

    `record` is handed every server and proxy started (the fault suite checks their methods)."""
    name, _, listing = kind.partition("-")
    spec = BACKENDS[name]
    if listing and (listing != "uploads" or spec.uploads is None):
        raise ValueError(kind)
    server = spec.start(stack, azurite)
    if not spec.shared:
        record(server)
    ids = spec.uploads.seed(server) if listing and spec.uploads else []
    proxy = record(stack.enter_context(CountingProxy(spec.url(server))))
    return Backend(spec, server, proxy, stack, kind, ids, record)
