"""Tooling for the fault tests: mounts that survive their own death, backends behind fault proxies.

Every provider is reached through a `CountingProxy` (tests/fakes/counting_proxy.py) in front of its
server (Azurite, or the QingStor/OAS fakes), so one set of fault knobs serves all three: canned
answers, cut bodies, resets, delays, a proxy that is stopped (connection refused) and started
again on the same port (the server is back).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
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
from tests.harness import Mount, fusermount, run

STORFS = [sys.executable, "-m", "storfs"]
N = 37  # top-level entries of every backend
PAGE = 5  # page size: every listing needs several pages
UPLOADS = 12  # uploads in the QingStor bucket UPLOAD_BUCKET
UPLOAD_BUCKET = "entry-000"

EIO_TEXT = "Input/output error"
ETIMEDOUT_TEXT = "Connection timed out"

# -------------------------------------------------------------------------------------------
# Every request any proxy or fake saw, for the session-wide "only GET and HEAD" check.

RECORDERS: list[Any] = []


def register(recorder: Any) -> Any:
    RECORDERS.append(recorder)
    return recorder


def methods_of(recorder: Any) -> dict[str, int]:
    """Methods a proxy (`methods_seen`, never reset) or a fake (`requests`) received."""
    if isinstance(recorder, CountingProxy):
        return dict(recorder.methods_seen)
    counts: dict[str, int] = {}
    for request in list(recorder.requests):
        counts[request.method] = counts.get(request.method, 0) + 1
    return counts


def mutating_requests(recorders: Iterable[Any]) -> dict[str, int]:
    found: dict[str, int] = {}
    for recorder in recorders:
        for method, count in methods_of(recorder).items():
            if method.upper() not in ("GET", "HEAD"):
                found[method] = found.get(method, 0) + count
    return found


# -------------------------------------------------------------------------------------------
# Mounts


def mountinfo() -> list[tuple[str, str, str, str]]:
    """(mountpoint, mount options, fs type, super options) of every mount in this namespace."""
    rows = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        fstype, _source, super_options = [*right.split(), "", "", ""][:3]
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        rows.append((point, fields[5], fstype, super_options))
    return rows


def mount_entry(path: Path) -> tuple[str, str, str, str] | None:
    """The mountinfo row of `path`, also for a dead FUSE mount (where os.path.ismount says no)."""
    target = os.path.abspath(path)
    rows = [row for row in mountinfo() if row[0] == target]
    return rows[-1] if rows else None


def is_mounted(path: Path) -> bool:
    return mount_entry(path) is not None


class FaultMount(Mount):
    """`python -m storfs mount --foreground` with any extra arguments (`--debug`), whose stop()
    also cleans up a mount whose process died or hangs (os.path.ismount is False on those)."""

    def __init__(self, config: Path, mountpoint: Path, *, args: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(config, mountpoint, **kwargs)
        self.args = list(args)

    def command(self) -> list[str]:
        command = [*STORFS, "mount", "--foreground", *self.args, "--config", str(self.config)]
        for option in self.options:
            command += ["-o", option]
        return [*command, str(self.mountpoint)]

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if is_mounted(self.mountpoint):
            for _ in range(30):
                if run([fusermount(), "-u", str(self.mountpoint)], timeout=10).returncode == 0:
                    break
                time.sleep(0.1)
            else:
                run([fusermount(), "-uz", str(self.mountpoint)], timeout=10)
        process = self.process
        if process is not None and process.poll() is None:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)


# -------------------------------------------------------------------------------------------
# Logs


LOG_LEVEL = re.compile(r" storfs (WARNING|ERROR|CRITICAL) ")


class LogWatch:
    """What a mount logged since this object was made."""

    def __init__(self, mount: Mount) -> None:
        self.mount = mount
        self.start = len(mount.log())

    def text(self) -> str:
        return self.mount.log()[self.start :]

    def problems(self, settle: float = 0.3) -> list[str]:
        """New WARNING/ERROR/CRITICAL lines (waits `settle` s: another process writes the log)."""
        time.sleep(settle)
        return [line for line in self.text().splitlines() if LOG_LEVEL.search(line)]


# -------------------------------------------------------------------------------------------
# Commands


@dataclass
class Timed:
    result: subprocess.CompletedProcess[str]
    seconds: float

    @property
    def returncode(self) -> int:
        return self.result.returncode

    @property
    def stdout(self) -> str:
        return self.result.stdout

    @property
    def stderr(self) -> str:
        return self.result.stderr


def timed(command: Sequence[str] | str, timeout: float = 60, **kwargs: Any) -> Timed:
    t0 = time.monotonic()
    result = run(command, timeout=timeout, **kwargs)
    return Timed(result, time.monotonic() - t0)


def ls_names(result: subprocess.CompletedProcess[str] | Timed) -> list[str]:
    return sorted(result.stdout.splitlines())


def storfs_unmount(mountpoint: Path) -> subprocess.CompletedProcess[str]:
    return run([*STORFS, "unmount", str(mountpoint)], timeout=30)


# -------------------------------------------------------------------------------------------
# Backends: one provider listing behind a fault proxy, the server as the oracle.


def seed_names(n: int = N) -> list[str]:
    return [f"entry-{i:03d}" for i in range(n)]


def iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


@dataclass
class Backend:
    """One listing (`top` under `/<provider>/<account>/`) served through `proxy`."""

    kind: str
    provider: str
    proxy: CountingProxy
    stack: ExitStack
    content_type: str = "application/json"

    # -- config and paths -----------------------------------------------------------------
    def table(self, endpoint: str | None = None, **overrides: Any) -> dict[str, Any]:
        raise NotImplementedError

    def listing(self, m: Mount, account: str = "main") -> Path:
        raise NotImplementedError

    def prime(self, m: Mount, account: str = "main") -> None:
        """Fetch whatever the listing's path needs, so the next requests are the listing's own."""

    def names(self) -> list[str]:
        raise NotImplementedError

    def list_requests(self) -> int:
        """Requests of this listing that reached the proxy (forwarded or answered by a fault)."""
        raise NotImplementedError

    # -- canned answers ---------------------------------------------------------------------
    def page(self, names: Sequence[str], marker: str) -> bytes:
        """A well-formed page holding `names` that says more follows at `marker`."""
        raise NotImplementedError

    def last_page(self, names: Sequence[str]) -> bytes:
        """A well-formed page holding `names` that says it is the last one."""
        raise NotImplementedError

    def answer(
        self, body: bytes, *, times: int = 1, status: int = 200, content_type: str | None = None
    ) -> None:
        headers = {"Content-Type": content_type or self.content_type}
        self.proxy.fail_next(status, times=times, body=body, headers=headers)

    def extra_proxy(self, **kwargs: Any) -> CountingProxy:
        """Another proxy to the same server (a second account, a TLS front...)."""
        proxy = CountingProxy(self.proxy.upstream_url, **kwargs)
        self.stack.enter_context(proxy)
        return register(proxy)


@dataclass
class AzureBackend(Backend):
    server: Azurite | None = None

    def table(self, endpoint: str | None = None, **overrides: Any) -> dict[str, Any]:
        endpoint = f"{endpoint or self.proxy.url}/{AZURITE_ACCOUNT}"
        return {
            "account": AZURITE_ACCOUNT,
            "key": AZURITE_KEY,
            "endpoint": endpoint,
            "page_size": PAGE,
            **overrides,
        }

    def listing(self, m: Mount, account: str = "main") -> Path:
        return m.path("azure", account, "containers")

    def names(self) -> list[str]:
        assert self.server is not None
        return sorted(self.server.list_container_names())

    def list_requests(self) -> int:
        return self.proxy.count_op("list_containers")

    def page(self, names: Sequence[str], marker: str) -> bytes:
        return azure_page(names, marker)

    def last_page(self, names: Sequence[str]) -> bytes:
        return azure_page(names, "")


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


@dataclass
class QingStorBackend(Backend):
    server: QingStorServer | None = None

    def table(self, endpoint: str | None = None, **overrides: Any) -> dict[str, Any]:
        assert self.server is not None
        return {
            "access_key_id": self.server.access_key_id,
            "secret_access_key": self.server.secret_access_key,
            "endpoint": endpoint or self.proxy.url,
            "page_size": PAGE,
            **overrides,
        }

    def listing(self, m: Mount, account: str = "main") -> Path:
        return m.path("qingstor", account, "buckets")

    def names(self) -> list[str]:
        return seed_names()

    def list_requests(self) -> int:
        return self.proxy.count("GET", path="/")

    def page(self, names: Sequence[str], marker: str) -> bytes:
        # Offset paging: a full page is what says "more"; the marker cannot be chosen.
        assert len(names) == PAGE, "a QingStor bucket page says 'more' by being full"
        return qingstor_buckets(names)

    def last_page(self, names: Sequence[str]) -> bytes:
        assert len(names) < PAGE
        return qingstor_buckets(names)


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


@dataclass
class QingStorUploadsBackend(QingStorBackend):
    """The uploads of one bucket: marker paging (`has_more`, `next_key_marker`)."""

    upload_ids: list[str] = field(default_factory=list)

    def listing(self, m: Mount, account: str = "main") -> Path:
        return m.path("qingstor", account, "buckets", UPLOAD_BUCKET, "uploads")

    def prime(self, m: Mount, account: str = "main") -> None:
        result = run(["ls", str(m.path("qingstor", account, "buckets"))])
        assert result.returncode == 0, result.stderr

    def names(self) -> list[str]:
        return sorted(self.upload_ids)

    def list_requests(self) -> int:
        return self.proxy.count("GET", path=f"/{UPLOAD_BUCKET}")

    def page(self, names: Sequence[str], marker: str) -> bytes:
        return qingstor_uploads(names, marker)

    def last_page(self, names: Sequence[str]) -> bytes:
        return qingstor_uploads(names, "")


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


@dataclass
class OASBackend(Backend):
    server: OASServer | None = None

    def table(self, endpoint: str | None = None, **overrides: Any) -> dict[str, Any]:
        assert self.server is not None
        return {
            "access_key_id": self.server.access_key_id,
            "access_key_secret": self.server.access_key_secret,
            "endpoint": endpoint or self.proxy.url,
            "page_size": PAGE,
            **overrides,
        }

    def listing(self, m: Mount, account: str = "main") -> Path:
        return m.path("oas", account, "vaults")

    def names(self) -> list[str]:
        return seed_names()

    def list_requests(self) -> int:
        return self.proxy.count("GET", path="/vaults")

    def page(self, names: Sequence[str], marker: str) -> bytes:
        return oas_vaults(names, marker)

    def last_page(self, names: Sequence[str]) -> bytes:
        return oas_vaults(names, "")


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


@dataclass
class S3Backend(Backend):
    """S3 ListBuckets on the strict fake: continuation-token paging."""

    server: S3Server | None = None

    def table(self, endpoint: str | None = None, **overrides: Any) -> dict[str, Any]:
        assert self.server is not None
        return {
            "access_key_id": self.server.access_key_id,
            "secret_access_key": self.server.secret,
            "endpoint": endpoint or self.proxy.url,
            "page_size": PAGE,
            **overrides,
        }

    def listing(self, m: Mount, account: str = "main") -> Path:
        return m.path("s3", account, "buckets")

    def names(self) -> list[str]:
        return seed_names()

    def list_requests(self) -> int:
        return self.proxy.count("GET", path="/")

    def page(self, names: Sequence[str], marker: str) -> bytes:
        return s3_buckets(names, marker)

    def last_page(self, names: Sequence[str]) -> bytes:
        return s3_buckets(names, "")


def s3_buckets(names: Sequence[str], token: str, buckets: str | None = None) -> bytes:
    rows = (
        buckets
        if buckets is not None
        else "".join(
            f"<Bucket><Name>{escape(n)}</Name><CreationDate>2019-12-11T23:32:47.000Z</CreationDate></Bucket>"
            for n in names
        )
    )
    tail = f"<ContinuationToken>{escape(token)}</ContinuationToken>" if token else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Buckets>{rows}</Buckets>{tail}</ListAllMyBucketsResult>"
    ).encode()


@dataclass
class S3UploadsBackend(S3Backend):
    """The uploads of one bucket: `key-marker`/`upload-id-marker` paging."""

    upload_ids: list[str] = field(default_factory=list)

    def listing(self, m: Mount, account: str = "main") -> Path:
        return m.path("s3", account, "buckets", UPLOAD_BUCKET, "uploads")

    def prime(self, m: Mount, account: str = "main") -> None:
        result = run(["ls", str(m.path("s3", account, "buckets"))])
        assert result.returncode == 0, result.stderr

    def names(self) -> list[str]:
        return sorted(self.upload_ids)

    def list_requests(self) -> int:
        return self.proxy.count("GET", path=f"/{UPLOAD_BUCKET}")

    def page(self, names: Sequence[str], marker: str) -> bytes:
        return s3_uploads(names, marker)

    def last_page(self, names: Sequence[str]) -> bytes:
        return s3_uploads(names, "")


def s3_uploads(upload_ids: Sequence[str], marker: str, truncated: bool | None = None) -> bytes:
    rows = "".join(
        f"<Upload><Key>key-{escape(u)}</Key><UploadId>{escape(u)}</UploadId>"
        "<Initiated>2016-12-25T16:02:05.000Z</Initiated></Upload>"
        for u in upload_ids
    )
    more = bool(marker) if truncated is None else truncated
    markers = f"<NextKeyMarker>{escape(marker)}</NextKeyMarker><NextUploadIdMarker>id-{escape(marker)}</NextUploadIdMarker>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Bucket>{UPLOAD_BUCKET}</Bucket><IsTruncated>{'true' if more else 'false'}</IsTruncated>"
        f"{markers if marker else ''}{rows}</ListMultipartUploadsResult>"
    ).encode()


KINDS = ("azure", "qingstor", "oas", "s3")


def make_backend(kind: str, stack: ExitStack, azurite: Callable[[], Azurite]) -> Backend:
    """A fresh proxy (and, except for Azure, a fresh server) for one test; `stack` stops them."""
    if kind == "azure":
        server = azurite()
        proxy = register(stack.enter_context(CountingProxy(f"http://127.0.0.1:{server.port}")))
        return AzureBackend("azure", "azure", proxy, stack, content_type="application/xml", server=server)
    if kind in ("qingstor", "qingstor-uploads"):
        qs = register(stack.enter_context(QingStorServer()))
        for i, name in enumerate(seed_names()):
            qs.add_bucket(name, created=iso(1436589957.0 + i * 86400))
        proxy = register(stack.enter_context(CountingProxy(qs.url)))
        if kind == "qingstor":
            return QingStorBackend(kind, "qingstor", proxy, stack, server=qs)
        ids = [
            qs.add_upload(UPLOAD_BUCKET, f"key-{i:02d}", upload_id=f"upload-{i:02d}") for i in range(UPLOADS)
        ]
        return QingStorUploadsBackend(kind, "qingstor", proxy, stack, server=qs, upload_ids=ids)
    if kind == "oas":
        oas = register(stack.enter_context(OASServer()))
        for i, name in enumerate(seed_names()):
            oas.add_vault(
                name,
                size_in_bytes=1000 * i,
                number_of_archives=i,
                last_inventory_date=formatdate(1395144000.0 + i * 3600, usegmt=True),
            )
        proxy = register(stack.enter_context(CountingProxy(oas.url)))
        return OASBackend(kind, "oas", proxy, stack, server=oas)
    if kind in ("s3", "s3-uploads"):
        s3 = register(stack.enter_context(S3Server()))
        for i, name in enumerate(seed_names()):
            s3.add_bucket(name, created=1436589957.0 + i * 86400)
        proxy = register(stack.enter_context(CountingProxy(s3.url)))
        if kind == "s3":
            return S3Backend(kind, "s3", proxy, stack, content_type="application/xml", server=s3)
        ids = sorted(s3.add_upload(UPLOAD_BUCKET, f"key-{i:02d}") for i in range(UPLOADS))
        return S3UploadsBackend(
            kind, "s3", proxy, stack, content_type="application/xml", server=s3, upload_ids=ids
        )
    raise ValueError(kind)
