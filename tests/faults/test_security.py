"""Secrets stay secret, config files holding them are guarded like ssh's, TLS is verified, nothing
but GET/HEAD ever leaves, and the mount is `default_permissions` without `allow_other`."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

from tests.fakes.azurite import AZURITE_KEY
from tests.fakes.counting_proxy import CountingProxy
from tests.faults.conftest import MakeBackend, MountFactory
from tests.faults.tooling import (
    EIO_TEXT,
    STORFS,
    Backend,
    is_mounted,
    mount_entry,
    storfs_unmount,
    timed,
)
from tests.harness import fusermount, run, write_config

WRONG_AZURE_KEY = base64.b64encode(hashlib.sha512(b"storfs wrong azure key").digest()).decode()
WRONG_QS_SECRET = "WrongQingStorSecretKEY0123456789abcdefXYZ"
WRONG_OAS_SECRET = "WrongOasSecretKey0123456789abcdeF"
WRONG_S3_SECRET = "WrongS3SecretAccessKey0123456789abcdefXYZ"
S3_SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLEsessionTOKEN0123456789/+="


# -------------------------------------------------------------------------------------------
# Secrets in logs, attributes and error messages


def signatures(proxies: list[CountingProxy]) -> set[str]:
    """Every signature and SAS `sig` the proxies saw on the wire."""
    found: set[str] = set()
    for proxy in proxies:
        for request in proxy.requests:
            for name, value in request.headers.items():
                if name.lower() == "authorization":
                    found.add(value)
                    found.add(value.rpartition(":")[2])  # SharedKey a:SIG, QS id:SIG, OAS id:SIG
                    found.add(value.rpartition("Signature=")[2])  # SigV4
            found.update(value for name, value in request.query if name == "sig")
    return {s for s in found if len(s) >= 16}


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def needles(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote(secret), quote(secret, safe="").lower()}


def test_no_secret_or_signature_in_any_log_line_attribute_or_error(
    make: MakeBackend, mounts: MountFactory
) -> None:
    azure: Backend = make("azure")
    qingstor: Backend = make("qingstor")
    oas: Backend = make("oas")
    s3: Backend = make("s3")
    s3_token = s3.extra_proxy()
    sas_proxy = azure.extra_proxy()
    conn_proxy = azure.extra_proxy()
    account = azure.server.account
    sas = generate_account_sas(
        account,
        AZURITE_KEY,
        resource_types=ResourceTypes(service=True),
        permission=AccountSasPermissions(read=True, list=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    sig = dict(part.split("=", 1) for part in sas.split("&"))["sig"]
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={conn_proxy.url}/{account};"
    )
    tables = {
        "azure.key": azure.table(),
        "azure.sas": {"account": account, "sas": sas, "endpoint": f"{sas_proxy.url}/{account}"},
        "azure.conn": {"connection_string": connection_string},
        # Unreachable: the failure's cause (logged at debug) names the URL, its sig included.
        "azure.gone": {"account": account, "sas": sas, "endpoint": f"{closed_port_url()}/x"},
        "azure.wrong": azure.table(key=WRONG_AZURE_KEY),
        "qingstor.main": qingstor.table(),
        "qingstor.wrong": qingstor.table(secret_access_key=WRONG_QS_SECRET),
        "oas.main": oas.table(),
        "oas.wrong": oas.table(access_key_secret=WRONG_OAS_SECRET),
        "s3.main": s3.table(),
        "s3.token": s3.table(endpoint=s3_token.url, session_token=S3_SESSION_TOKEN),
        "s3.wrong": s3.table(secret_access_key=WRONG_S3_SECRET),
        "http": {"retries": 2, "backoff": 0.01, "deadline": 10.0},
    }
    m = mounts(tables, args=("--debug",))
    # Retries and failures log the most: a 503 with Retry-After on the SAS account (its URL holds
    # the sig), a 502 on QingStor, a 500 on OAS.
    sas_proxy.fail_next(503, times=1, headers={"Retry-After": "0"})
    qingstor.proxy.fail_next(502, times=1)
    oas.proxy.fail_next(500, times=1)
    s3.proxy.fail_next(503, times=1, body=b"<Error><Code>SlowDown</Code></Error>")

    outputs: list[str] = []

    def do(*command: str) -> subprocess.CompletedProcess[str]:
        result = run(list(command), timeout=60)
        outputs.extend((result.stdout, result.stderr))
        return result

    for provider, accounts, top in (
        ("azure", ("key", "sas", "conn"), "containers"),
        ("qingstor", ("main",), "buckets"),
        ("oas", ("main",), "vaults"),
        ("s3", ("main", "token"), "buckets"),
    ):
        for account in accounts:
            listed = do("ls", "-l", str(m.path(provider, account, top)))
            assert listed.returncode == 0, f"{provider}/{account}: {listed.stderr}"
            dumped = do("getfattr", "-d", "-R", "--absolute-names", str(m.path(provider, account, top)))
            assert "user." in dumped.stdout
        denied = do("ls", str(m.path(provider, "wrong", top)))
        assert denied.returncode != 0 and "Permission denied" in denied.stderr, denied.stderr
        do("stat", str(m.path(provider, "wrong", top, "entry-001")))
    gone = do("ls", str(m.path("azure", "gone", "containers")))
    assert gone.returncode != 0 and EIO_TEXT in gone.stderr, gone.stderr
    outputs.append(m.path(".storfs", "stats").read_text())
    assert sas_proxy.failures_pending == 0 and qingstor.proxy.failures_pending == 0

    secrets = {
        "Azure key": AZURITE_KEY,
        "wrong Azure key": WRONG_AZURE_KEY,
        "SAS token": sas,
        "SAS sig": sig,
        "SAS sig (decoded)": unquote(sig),
        "connection string": connection_string,
        "QingStor secret": qingstor.table()["secret_access_key"],
        "wrong QingStor secret": WRONG_QS_SECRET,
        "OAS secret": oas.table()["access_key_secret"],
        "wrong OAS secret": WRONG_OAS_SECRET,
        "S3 secret": s3.table()["secret_access_key"],
        "wrong S3 secret": WRONG_S3_SECRET,
        "S3 session token": S3_SESSION_TOKEN,
    }
    proxies = [azure.proxy, sas_proxy, conn_proxy, qingstor.proxy, oas.proxy, s3.proxy, s3_token]
    for i, signature in enumerate(sorted(signatures(proxies))):
        secrets[f"signature #{i}"] = signature
    assert sum(1 for k in secrets if k.startswith("signature")) >= 8, "the wire should carry signatures"

    log = m.log()
    assert " DEBUG " in log, "the mount ran with --debug"
    assert "Max retries exceeded with url: /x/?" in log, "the unreachable account's cause is logged"
    haystacks = {"the mount log": log, "command output, attributes and errors": "\n".join(outputs)}
    leaks = [
        f"{what} in {where}"
        for what, secret in secrets.items()
        for needle in needles(secret)
        for where, text in haystacks.items()
        if needle in text
    ]
    assert not leaks, "secrets leaked:\n" + "\n".join(sorted(set(leaks)))


# -------------------------------------------------------------------------------------------
# Config files readable by others


@pytest.fixture
def background(tmp_path: Path) -> Iterator[list[Path]]:
    """Mountpoints of background mounts, unmounted at the end whatever happened."""
    points: list[Path] = []
    yield points
    for point in points:
        if is_mounted(point) and storfs_unmount(point).returncode != 0:
            run([fusermount(), "-uz", str(point)])


def mount_in_background(
    config: Path, point: Path, background: list[Path], env=None
) -> subprocess.CompletedProcess[str]:
    point.mkdir()
    background.append(point)
    command = [*STORFS, "mount", "--config", str(config), "--log-file", str(point) + ".log", str(point)]
    result = run(command, timeout=60, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    assert storfs_unmount(point).returncode == 0
    return result


@pytest.mark.parametrize(
    ("mode", "secret_inline", "warned"),
    [(0o644, True, True), (0o640, True, True), (0o600, True, False), (0o644, False, False)],
    ids=["644-with-secret", "640-with-secret", "600-with-secret", "644-env-secrets-only"],
)
def test_a_config_holding_secrets_readable_by_others_gets_a_warning(
    make: MakeBackend, tmp_path: Path, background: list[Path], mode: int, secret_inline: bool, warned: bool
) -> None:
    qingstor: Backend = make("qingstor")
    table = qingstor.table()
    env = {}
    if not secret_inline:
        env["STORFS_TEST_QS_SECRET"] = table.pop("secret_access_key")
        table["secret_access_key_env"] = "STORFS_TEST_QS_SECRET"
    config = write_config(tmp_path / "config.toml", {"qingstor.main": table})
    config.chmod(mode)
    result = mount_in_background(config, tmp_path / "mnt", background, env)
    if warned:
        assert str(config) in result.stderr, f"the warning must name the file: {result.stderr!r}"
        assert "chmod 600" in result.stderr, result.stderr
    else:
        assert "chmod" not in result.stderr and str(config) not in result.stderr, result.stderr


# -------------------------------------------------------------------------------------------
# TLS


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    result = run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return str(cert), str(key)


def test_tls_is_verified_by_default_and_verify_tls_false_turns_it_off(
    backend: Backend, mounts: MountFactory, self_signed: tuple[str, str]
) -> None:
    front = backend.extra_proxy(tls=self_signed)
    assert front.url.startswith("https://")
    http = {"retries": 1, "backoff": 0.01, "deadline": 5.0, "connect_timeout": 2.0}
    strict = mounts({f"{backend.provider}.main": backend.table(endpoint=front.url), "http": http})
    refused = timed(["ls", str(backend.listing(strict))], timeout=30)
    assert refused.returncode != 0, "a self-signed certificate was accepted"
    assert EIO_TEXT in refused.stderr, refused.stderr
    assert refused.seconds < 8
    assert front.requests == [], "no request may cross an unverified TLS connection"

    relaxed = mounts(
        {f"{backend.provider}.main": backend.table(endpoint=front.url), "http": {**http, "verify_tls": False}}
    )
    backend.prime(relaxed)
    listed = timed(["ls", str(backend.listing(relaxed))], timeout=30)
    assert listed.returncode == 0, listed.stderr
    assert sorted(listed.stdout.splitlines()) == backend.names()
    assert front.requests, "the listing went through the TLS front"


# -------------------------------------------------------------------------------------------
# Only GET and HEAD


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch", "PROPFIND"])
def test_the_session_refuses_mutating_methods_before_any_network_traffic(method: str) -> None:
    from storfs.transport import HttpSettings, make_session

    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/bucket/object"
        session = make_session(HttpSettings())
        with pytest.raises(Exception) as refused:
            if method.islower():
                getattr(session, method)(url, data=b"payload", timeout=1)
            else:
                session.request(method, url, timeout=1)
        assert not isinstance(refused.value, TimeoutError)
        time.sleep(0.1)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody even connected
        # Control: a GET does connect (so the check above can see a connection).
        with contextlib.suppress(Exception):  # we never answer it
            session.get(url, timeout=0.3)
        time.sleep(0.1)
        connection, _ = listener.accept()
        connection.close()


# -------------------------------------------------------------------------------------------
# Mount options


def test_the_mount_has_default_permissions_and_no_allow_other_unless_asked(
    make: MakeBackend, mounts: MountFactory
) -> None:
    qingstor: Backend = make("qingstor")
    plain = mounts({"qingstor.main": qingstor.table()})
    entry = mount_entry(plain.mountpoint)
    assert entry is not None
    _point, options, fstype, super_options = entry
    assert fstype.startswith("fuse"), fstype
    assert "ro" in options.split(","), options
    assert "default_permissions" in super_options.split(","), super_options
    assert "allow_other" not in super_options.split(","), super_options

    asked = mounts({"qingstor.main": qingstor.table()}, options=("allow_other",))
    entry = mount_entry(asked.mountpoint)
    assert entry is not None
    assert "allow_other" in entry[3].split(","), "control: -o allow_other shows in mountinfo"
    assert "default_permissions" in entry[3].split(",")
