"""Loopback servers for the benchmark: Azurite seeded through its LokiJS database, behind a
CountingProxy; the QingStor test server seeded with buckets x uploads x parts."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.fakes.azurite import AZURITE_ACCOUNT, AZURITE_KEY, Azurite
from tests.fakes.counting_proxy import CountingProxy
from tests.fakes.qingstor_server import QingStorServer

REPO = Path(__file__).resolve().parents[1]
LOKIJS = REPO / "tools" / "azurite" / "node_modules" / "lokijs"
SEEDER = Path(__file__).with_name("azurite_seed.js")
AZURE_BACKEND = "Azurite 3.35.0, seeded via its LokiJS DB"
NAME_PREFIX = "bench-"


def container_names(n: int) -> list[str]:
    """The names azurite_seed.js writes (same padding), for the tmpfs copy of the listing."""
    width = len(str(max(n - 1, 0)))
    return [f"{NAME_PREFIX}{i:0{width}d}" for i in range(n)]


class AzureAccount:
    """Azurite holding exactly `n` containers (written to its LokiJS file before it starts),
    with a CountingProxy in front that storfs, rclone and the floor all go through."""

    def __init__(self, workdir: Path, n: int) -> None:
        self.workdir = workdir
        self.n = n
        self.azurite: Azurite | None = None
        self.proxy: CountingProxy | None = None

    @property
    def endpoint(self) -> str:
        """Path-style account endpoint through the proxy."""
        assert self.proxy is not None
        return f"{self.proxy.url}/{AZURITE_ACCOUNT}"

    def storfs_table(self) -> dict[str, str]:
        return {"account": AZURITE_ACCOUNT, "key": AZURITE_KEY, "endpoint": self.endpoint}

    def rclone_env(self, remote: str) -> dict[str, str]:
        """RCLONE_CONFIG_<REMOTE>_* for an azureblob remote on an account SAS (read + list)."""
        from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

        sas = generate_account_sas(
            AZURITE_ACCOUNT,
            AZURITE_KEY,
            ResourceTypes(service=True, container=True, object=True),
            AccountSasPermissions(read=True, list=True),
            expiry=datetime.now(UTC) + timedelta(hours=12),
        )
        prefix = f"RCLONE_CONFIG_{remote.upper()}_"
        return {prefix + "TYPE": "azureblob", prefix + "SAS_URL": f"{self.endpoint}?{sas}"}

    def seed(self) -> None:
        if not LOKIJS.is_dir():
            raise RuntimeError(f"{LOKIJS} is missing: run scripts/setup (it installs Azurite)")
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True)
        db = self.workdir / "__azurite_db_blob__.json"
        done = subprocess.run(
            ["node", str(SEEDER), str(LOKIJS), str(db), AZURITE_ACCOUNT, str(self.n), NAME_PREFIX],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"azurite_seed.js failed: {done.stderr.strip() or done.stdout.strip()}")

    def __enter__(self) -> AzureAccount:
        try:
            self.seed()
            self.azurite = Azurite(workdir=self.workdir, in_memory=False).start(timeout=120)
            self.proxy = CountingProxy(f"http://127.0.0.1:{self.azurite.port}").start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        if self.azurite is not None:
            self.azurite.stop()
            self.azurite = None
        shutil.rmtree(self.workdir, ignore_errors=True)


def seed_qingstor(server: QingStorServer, buckets: int, uploads: int, parts: int) -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    for b in range(buckets):
        bucket = f"bench-{b:03d}"
        server.add_bucket(bucket, location="pek3a", created="2025-06-01T00:00:00Z")
        for u in range(uploads):
            key = f"data/{b:03d}/object-{u:03d}.bin"
            upload_id = hashlib.md5(f"{bucket}/{key}".encode()).hexdigest()
            stamp = created + timedelta(minutes=u)
            server.add_upload(bucket, key, upload_id=upload_id, created=_iso_ms(stamp))
            for p in range(1, parts + 1):
                server.add_part(
                    bucket, upload_id, p, 4 * 1024 * 1024, created=_iso_ms(stamp + timedelta(seconds=p))
                )


def qingstor_table(server: QingStorServer) -> dict[str, str]:
    return {
        "access_key_id": server.access_key_id,
        "secret_access_key": server.secret_access_key,
        "endpoint": server.url,
    }


def _iso_ms(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
