"""Start and drive a local Azurite (Azure Blob emulator) for tests.

Stdlib + azure-storage-blob only; never imports ``storfs``.
"""

from __future__ import annotations

import contextlib
import copy
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Self

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from tests.harness import stop_process

AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

_REPO_ROOT = Path(__file__).resolve().parents[2]
_DEFAULT_BIN = _REPO_ROOT / "tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"


def azurite_binary() -> str:
    """Path of the ``azurite-blob`` executable ($STORFS_AZURITE_BIN or the repo-local install)."""
    env = os.environ.get("STORFS_AZURITE_BIN")
    path = Path(env) if env else _DEFAULT_BIN
    if path.is_file() and os.access(path, os.X_OK):
        return str(path)
    origin = "$STORFS_AZURITE_BIN" if env else "the repo-local install"
    raise RuntimeError(
        f"Azurite binary not found at {path} ({origin}). Run scripts/test (which installs "
        "azurite@3.35.0 into tools/azurite), or `cd tools/azurite && npm install --no-audit "
        "--no-fund`, or set STORFS_AZURITE_BIN to an azurite-blob executable."
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace")


def pool_account(index: int) -> str:
    """The name of account `index` of a process started with `accounts=`; 0 is AZURITE_ACCOUNT."""
    return f"storfstest{index:03d}" if index else AZURITE_ACCOUNT


class Azurite:
    """One ``azurite-blob`` process on a free loopback port, seen as one of its accounts.

    A process started with `accounts=n` serves n accounts (AZURITE_ACCOUNT and n - 1 more, all with
    AZURITE_KEY); `fresh_account()` hands out the next unused one, so the tests of many modules
    share one process yet each sees only the containers it created."""

    def __init__(
        self, workdir: str | os.PathLike | None = None, *, in_memory: bool = True, accounts: int = 1
    ):
        self.in_memory = in_memory
        self.accounts = accounts
        self.account = AZURITE_ACCOUNT
        self._handed_out = [0]  # accounts handed out so far, shared by every view of the process
        self._owner = True  # a view of another's process never stops it
        self._workdir = Path(workdir) if workdir is not None else None
        self._tmp: str | None = None
        self._proc: subprocess.Popen | None = None
        self._log_dir: Path | None = None
        self.port: int = 0

    # -- properties -------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.account}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={self.endpoint};"
        )

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def fresh_account(self) -> Azurite:
        """This process as an account no one has used yet: no containers but its own.

        The view shares the process: only the Azurite that started it stops it."""
        if self._handed_out[0] >= self.accounts:
            raise RuntimeError(f"all {self.accounts} accounts of this Azurite are used")
        view = copy.copy(self)
        view.account, view._owner = pool_account(self._handed_out[0]), False
        self._handed_out[0] += 1
        return view

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, timeout: float = 30) -> Azurite:
        if self.running:
            return self
        binary = azurite_binary()
        self._tmp = tempfile.mkdtemp(prefix="storfs-azurite-")
        self._log_dir = Path(self._tmp)
        if self.in_memory:
            cwd = self._workdir or Path(self._tmp) / "cwd"
            storage_args = ["--inMemoryPersistence"]
        else:
            cwd = self._workdir or Path(self._tmp) / "data"
            storage_args = ["--location", str(cwd)]
        cwd.mkdir(parents=True, exist_ok=True)

        deadline = time.monotonic() + timeout
        last_err = ""
        for _attempt in range(5):  # retry on a port race (someone took the port meanwhile)
            self.port = _free_port()
            out = self._log_dir / f"stdout.{self.port}.log"
            err = self._log_dir / f"stderr.{self.port}.log"
            args = [
                binary,
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.port),
                "--disableTelemetry",
                "--silent",
                "--skipApiVersionCheck",
                *storage_args,
            ]
            with open(out, "wb") as fo, open(err, "wb") as fe:
                self._proc = subprocess.Popen(
                    args,
                    cwd=str(cwd),
                    env=self._env(),
                    stdin=subprocess.DEVNULL,
                    stdout=fo,
                    stderr=fe,
                    start_new_session=True,
                )
            ok, exited = self._wait_ready(deadline)
            if ok:
                return self
            last_err = (_tail(err) + "\n" + _tail(out)).strip()
            self._kill()
            if exited and "EADDRINUSE" in last_err and time.monotonic() < deadline:
                continue
            break
        self.stop()
        raise RuntimeError(
            f"Azurite ({binary}) did not become ready on 127.0.0.1:{self.port} within "
            f"{timeout:.0f}s; output tail:\n{last_err or '<empty>'}"
        )

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "AZURITE_ACCOUNTS"}
        if self.accounts > 1:
            pool = (f"{pool_account(i)}:{AZURITE_KEY}" for i in range(self.accounts))
            env["AZURITE_ACCOUNTS"] = ";".join(pool)
        return env

    def _wait_ready(self, deadline: float) -> tuple[bool, bool]:
        """(ready, process_exited). Ready = the port answers any HTTP response."""
        url = f"http://127.0.0.1:{self.port}/"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                return False, True
            try:
                with urllib.request.urlopen(url, timeout=1):
                    return True, False
            except urllib.error.HTTPError:
                return True, False  # any HTTP status means it's serving
            except (OSError, ValueError):
                time.sleep(0.1)
        return False, False

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        stop_process(proc)

    def stop(self) -> None:
        if not self._owner:
            return
        self._kill()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- SDK helpers ------------------------------------------------------------------------
    def service_client(self, **kwargs) -> BlobServiceClient:
        kwargs.setdefault("connection_timeout", 10)
        kwargs.setdefault("read_timeout", 60)
        return BlobServiceClient.from_connection_string(self.connection_string, **kwargs)

    def create_containers(
        self,
        names: Iterable[str],
        metadata: Mapping[str, Mapping[str, str]] | None = None,
        public_access: Mapping[str, str] | None = None,
        workers: int = 8,
    ) -> None:
        """Create containers concurrently; already-existing ones are left as they are."""
        metadata = metadata or {}
        public_access = public_access or {}
        client = self.service_client()

        def create(name: str) -> None:
            with contextlib.suppress(ResourceExistsError):
                client.create_container(
                    name,
                    metadata=dict(metadata[name]) if name in metadata else None,
                    public_access=public_access.get(name),
                )

        with client, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for fut in [pool.submit(create, n) for n in names]:
                fut.result()

    def delete_all_containers(self, workers: int = 8) -> None:
        client = self.service_client()

        def delete(name: str) -> None:
            with contextlib.suppress(ResourceNotFoundError):
                client.delete_container(name)

        with client:
            names = [c.name for c in client.list_containers()]
            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                for fut in [pool.submit(delete, n) for n in names]:
                    fut.result()

    def list_container_names(self) -> list[str]:
        """All container names via the SDK (the oracle for tests)."""
        with self.service_client() as client:
            return [c.name for c in client.list_containers()]

    # -- blobs ------------------------------------------------------------------------------
    def upload_blobs(
        self,
        container: str,
        blobs: Mapping[str, bytes],
        *,
        metadata: Mapping[str, Mapping[str, str]] | None = None,
        content_types: Mapping[str, str] | None = None,
        workers: int = 8,
    ) -> None:
        """Create `container` if needed and upload each blob (name -> bytes) with the SDK."""
        from azure.storage.blob import ContentSettings

        metadata = metadata or {}
        content_types = content_types or {}
        self.create_containers([container])
        with self.service_client() as client:
            container_client = client.get_container_client(container)

            def upload(name: str) -> None:
                settings = (
                    ContentSettings(content_type=content_types[name]) if name in content_types else None
                )
                container_client.upload_blob(
                    name,
                    blobs[name],
                    overwrite=True,
                    metadata=dict(metadata[name]) if name in metadata else None,
                    content_settings=settings,
                )

            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                for fut in [pool.submit(upload, n) for n in blobs]:
                    fut.result()

    def stage_blocks(self, container: str, blob: str, blocks: Mapping[str, bytes]) -> None:
        """Stage uncommitted blocks (block id -> bytes) on `blob` with the SDK's `stage_block`."""
        self.create_containers([container])
        with self.service_client() as client:
            blob_client = client.get_blob_client(container, blob)
            for block_id, data in blocks.items():
                blob_client.stage_block(block_id, data)

    def list_blobs(self, container: str) -> dict[str, int]:
        """Every committed blob's name and size, flat, via the SDK (the oracle for tests)."""
        with self.service_client() as client:
            return {b.name: b.size for b in client.get_container_client(container).list_blobs()}

    def walk_blobs(self, container: str, prefix: str = "") -> list[tuple[str, bool]]:
        """The SDK's delimiter listing of one prefix: (name, is_prefix) pairs."""
        from azure.storage.blob import BlobPrefix

        with self.service_client() as client:
            items = client.get_container_client(container).walk_blobs(name_starts_with=prefix or None)
            return [(item.name, isinstance(item, BlobPrefix)) for item in items]

    def download(self, container: str, blob: str) -> bytes:
        with self.service_client() as client:
            return client.get_blob_client(container, blob).download_blob().readall()

    def uncommitted_blocks(self, container: str, blob: str) -> list[tuple[str, int]]:
        """(block id, size) of the uncommitted blocks, via the SDK's `get_block_list`."""
        with self.service_client() as client:
            _committed, uncommitted = client.get_blob_client(container, blob).get_block_list("uncommitted")
            return [(b.id, b.size) for b in uncommitted]
