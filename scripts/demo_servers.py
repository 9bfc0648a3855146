#!/usr/bin/env python3
"""Local fake cloud endpoints for `scripts/demo`: Azurite, QingStor and OAS servers, and moto (S3).

    python3 scripts/demo_servers.py --state-dir DIR

Starts the three servers with sample data, writes DIR/config.toml (a storfs config for them),
DIR/servers.pid (this process) and, once everything answers, DIR/ready. Runs until SIGTERM or
SIGINT, then stops every server. The config only has tables for providers storfs registers
(`storfs.providers.PROVIDERS`), so providers still being written are picked up when they land.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.fakes.azurite import AZURITE_ACCOUNT, AZURITE_KEY, Azurite  # noqa: E402
from tests.fakes.moto_server import MotoServer  # noqa: E402
from tests.fakes.oas_server import OASServer  # noqa: E402
from tests.fakes.qingstor_server import QingStorServer  # noqa: E402

MIB = 1024 * 1024
ACCOUNT = "demo"  # the account name under every provider: <mnt>/<provider>/demo/...

CONTAINERS = ["audio", "images", "backups", "logs-2026", "videos", "web-assets"]
CONTAINER_METADATA = {
    "audio": {"owner": "ops", "project": "podcast"},
    "backups": {"owner": "ops", "retention": "90d"},
    "images": {"owner": "design"},
}
CONTAINER_ACCESS = {"audio": "container", "images": "blob", "web-assets": "blob"}

# bucket -> zone, created
BUCKETS = {
    "mybucket": ("pek3a", "2015-07-11T04:45:57Z"),
    "myphotos": ("pek3a", "2019-03-02T10:20:30Z"),
    "archive-sh": ("sh1a", "2021-11-08T08:00:00Z"),
}
# bucket, key, created this long ago, part numbers and sizes
UPLOADS: list[tuple[str, str, timedelta, list[tuple[int, int]]]] = [
    ("mybucket", "videos/2026/launch.mp4", timedelta(days=23, hours=4),
     [(1, 10 * MIB), (2, 10 * MIB), (3, 3 * MIB + 217_088)]),
    ("mybucket", "backups/db dump.tar", timedelta(hours=2, minutes=13),
     [(0, 10 * MIB), (1, 10 * MIB), (2, 10 * MIB), (3, 1_048_576 + 4_321)]),
    ("mybucket", "docs/résumé été 2026.pdf", timedelta(minutes=7),
     [(1, 2_345_678)]),
    ("myphotos", "albums/夏天/beach-001.jpg", timedelta(days=41),
     [(1, 10 * MIB), (2, 10 * MIB), (4, 812_345)]),
    ("myphotos", "raw/2026-04-18/IMG_0042.CR3", timedelta(hours=26),
     [(1, 10 * MIB), (2, 5_123_456)]),
    ("archive-sh", "nightly/2026-03-30.tar.zst", timedelta(days=17, hours=9),
     [(1, 10 * MIB), (2, 10 * MIB), (3, 10 * MIB), (4, 10 * MIB), (5, 7 * MIB + 99)]),
]  # fmt: skip

SEED_VAULT_ID = "79D2D8F33B7C287037286185863B6823"  # myvault1 in the OAS seed


def iso_ms(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def rfc1123(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


def seed_qingstor(server: QingStorServer, now: datetime) -> None:
    for name, (zone, created) in BUCKETS.items():
        server.add_bucket(name, location=zone, created=created)
    for bucket, key, age, parts in UPLOADS:
        created = now.replace(microsecond=0) - age
        upload_id = hashlib.md5(f"{bucket}/{key}".encode()).hexdigest()
        server.add_upload(bucket, key, upload_id=upload_id, created=iso_ms(created))
        for i, (number, size) in enumerate(parts):
            part_created = created + timedelta(seconds=40 * (i + 1))
            server.add_part(bucket, upload_id, number, size, created=iso_ms(part_created))


def seed_oas(server: OASServer, now: datetime) -> None:
    server.add_vault("myvault1", vault_id=SEED_VAULT_ID, number_of_archives=2, size_in_bytes=12334)
    server.add_vault(
        "photos-2025",
        creation_date=rfc1123(now - timedelta(days=200)),
        last_inventory_date=rfc1123(now - timedelta(days=3)),
        number_of_archives=1873,
        size_in_bytes=48_318_382_080,
    )
    server.add_vault(
        "compliance-logs",
        creation_date=rfc1123(now - timedelta(days=2)),
        last_inventory_date=None,
    )


S3_OBJECTS = {
    "site/index.html": 5_120,
    "site/css/main.css": 2_048,
    "site/img/logo.png": 48_213,
    "reports/2026/q1.pdf": 812_345,
    "reports/2026/q2.pdf": 790_001,
    "README.txt": 310,
}


def seed_s3(server: MotoServer) -> None:
    """Two buckets with objects, and an upload abandoned half way (two parts, never completed)."""
    client = server.client()
    for bucket in ("media", "website"):
        client.create_bucket(Bucket=bucket)
    for key, size in S3_OBJECTS.items():
        client.put_object(Bucket="website", Key=key, Body=b"." * size)
    upload = client.create_multipart_upload(Bucket="media", Key="raw/2026/keynote 4k.mov")
    for number, size in ((1, 5 * MIB), (2, 5 * MIB + 123_456)):
        client.upload_part(
            Bucket="media", Key="raw/2026/keynote 4k.mov", UploadId=upload["UploadId"],
            PartNumber=number, Body=b"\0" * size,
        )  # fmt: skip


def toml_str(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def registered_providers() -> set[str]:
    """Providers storfs knows now (the config may only have tables for these)."""
    try:
        from storfs.providers import PROVIDERS
    except Exception as exc:  # storfs mid-edit: write every table, `storfs mount` will tell
        print(f"demo_servers: cannot import storfs.providers ({exc}); writing all tables", file=sys.stderr)
        return {"azure", "qingstor", "oas", "s3"}
    return set(PROVIDERS)


def write_config(path: Path, tables: dict[str, dict[str, str]]) -> None:
    lines = ["# written by scripts/demo_servers.py for local fake servers; not real credentials", ""]
    for provider, settings in tables.items():
        lines.append(f"[{provider}.{ACCOUNT}]")
        lines += [f"{key} = {toml_str(value)}" for key, value in settings.items()]
        lines.append("")
    lines += ["[cache]", "ttl = 60", ""]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", type=Path, required=True, metavar="DIR")
    args = parser.parse_args()
    state: Path = args.state_dir.absolute()
    state.mkdir(parents=True, exist_ok=True)
    ready = state / "ready"
    pid_file = state / "servers.pid"
    ready.unlink(missing_ok=True)
    pid_file.write_text(f"{os.getpid()}\n")

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())

    stoppers: list[Callable[[], None]] = []
    status = 0
    try:
        now = datetime.now(UTC)
        azurite = Azurite(workdir=state / "azurite", in_memory=True)
        stoppers.append(azurite.stop)
        azurite.start(timeout=45)
        azurite.create_containers(CONTAINERS, metadata=CONTAINER_METADATA, public_access=CONTAINER_ACCESS)

        qingstor = QingStorServer()
        stoppers.append(qingstor.stop)
        qingstor.start()
        seed_qingstor(qingstor, now)

        oas = OASServer()
        stoppers.append(oas.stop)
        oas.start()
        seed_oas(oas, now)

        moto = MotoServer()
        stoppers.append(moto.stop)
        moto.start()
        seed_s3(moto)

        tables = {
            "azure": {"account": AZURITE_ACCOUNT, "key": AZURITE_KEY, "endpoint": azurite.endpoint},
            "qingstor": {
                "access_key_id": qingstor.access_key_id,
                "secret_access_key": qingstor.secret_access_key,
                "endpoint": qingstor.url,
            },
            "oas": {
                "access_key_id": oas.access_key_id,
                "access_key_secret": oas.access_key_secret,
                "endpoint": oas.url,
            },
            "s3": {key: str(value) for key, value in moto.table().items()},
        }
        known = registered_providers()
        skipped = [name for name in tables if name not in known]
        if skipped:
            print(
                f"demo_servers: storfs has no {', '.join(skipped)} provider yet; left out of config.toml",
                file=sys.stderr,
            )
        write_config(state / "config.toml", {k: v for k, v in tables.items() if k in known})
        if not stop.is_set():
            ready.write_text(
                f"azure {azurite.endpoint}\nqingstor {qingstor.url}\noas {oas.url}\ns3 {moto.url}\n"
            )
        stop.wait()
    except Exception as exc:
        print(f"demo_servers: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 1
    finally:
        ready.unlink(missing_ok=True)
        for stopper in reversed(stoppers):
            try:
                stopper()
            except Exception as exc:
                print(f"demo_servers: while stopping: {exc}", file=sys.stderr)
        with contextlib.suppress(OSError):
            if pid_file.read_text().strip() == str(os.getpid()):
                pid_file.unlink()
    return status


if __name__ == "__main__":
    sys.exit(main())
