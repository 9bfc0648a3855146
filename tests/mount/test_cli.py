"""The command line as a user meets it: mount in the background, unmount, and clear refusals."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

from tests.backends import AZURE
from tests.fakes.azurite import AZURITE_KEY, Azurite
from tests.harness import fusermount, run, write_config

STORFS = [sys.executable, "-m", "storfs"]


@pytest.fixture(scope="module")
def seeded(azurite: Azurite) -> Azurite:
    azurite.create_containers(["alpha", "bravo", "charlie"], metadata={"alpha": {"owner": "ops"}})
    return azurite


def test_version() -> None:
    result = run([*STORFS, "--version"])
    assert result.returncode == 0
    assert result.stdout.startswith("storfs ")


def test_background_mount_returns_when_live_and_unmount_ends_it(seeded: Azurite, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", {"azure.dev": AZURE.table(seeded)})
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    result = run([*STORFS, "mount", "--config", str(config), "--log-file", str(tmp_path / "log"), str(mnt)])
    try:
        assert result.returncode == 0, result.stderr
        assert os.path.ismount(mnt), "mount must be live when `storfs mount` returns"
        listing = run(["ls", str(mnt / "azure" / "dev" / "containers")])
        assert listing.stdout.split() == ["alpha", "bravo", "charlie"]
    finally:
        unmounted = run([*STORFS, "unmount", str(mnt)])
        if unmounted.returncode != 0:
            run([fusermount(), "-uz", str(mnt)])
    assert unmounted.returncode == 0, unmounted.stderr
    assert not os.path.ismount(mnt)


def test_config_from_environment_variable(seeded: Azurite, tmp_path: Path, mount) -> None:
    config = write_config(tmp_path / "env.toml", {"azure.dev": AZURE.table(seeded)})
    mnt = tmp_path / "m"
    mnt.mkdir()
    env = {**os.environ, "STORFS_CONFIG": str(config)}
    result = run([*STORFS, "mount", "--log-file", str(tmp_path / "log"), str(mnt)], env=env)
    try:
        assert result.returncode == 0, result.stderr
        assert "alpha" in run(["ls", str(mnt / "azure" / "dev" / "containers")]).stdout
    finally:
        run([*STORFS, "unmount", str(mnt)])


def test_sas_and_connection_string_accounts(seeded: Azurite, mount) -> None:
    sas = generate_account_sas(
        seeded.account,
        AZURITE_KEY,
        resource_types=ResourceTypes(service=True),
        permission=AccountSasPermissions(read=True, list=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    m = mount(
        {
            "azure.sas": {"account": seeded.account, "sas": sas, "endpoint": seeded.endpoint},
            "azure.conn": {"connection_string": seeded.connection_string},
        }
    )
    assert run(["ls", str(m.path("azure"))]).stdout.split() == ["conn", "sas"]
    for account in ("sas", "conn"):
        listed = run(["ls", str(m.path("azure", account, "containers"))])
        assert listed.stdout.split() == ["alpha", "bravo", "charlie"], listed.stderr
    assert sas.split("sig=")[1].split("&")[0] not in m.log()


def test_wrong_key_is_permission_denied_and_never_logged(seeded: Azurite, mount) -> None:
    wrong = "A" * 86 + "=="
    m = mount({"azure.dev": AZURE.table(seeded, key=wrong)})
    result = run(["ls", str(m.path("azure", "dev", "containers"))])
    assert result.returncode != 0
    assert "Permission denied" in result.stderr
    log = m.log()
    assert "azure/dev List Containers: HTTP 403" in log
    assert wrong not in log and AZURITE_KEY not in log


def test_dead_endpoint_fails_fast_with_io_error(seeded: Azurite, mount) -> None:
    m = mount(
        {"azure.dead": AZURE.table(seeded, "http://127.0.0.1:9"), "http": {"retries": 1, "backoff": 0.01}}
    )
    result = run(["ls", str(m.path("azure", "dead", "containers"))], timeout=30)
    assert result.returncode != 0
    assert "Input/output error" in result.stderr
    # The mount is still alive and answers the fixed levels.
    assert run(["ls", str(m.path("azure"))]).stdout.split() == ["dead"]


@pytest.mark.parametrize(
    ("tables", "expected"),
    [
        ({"azure.dev": {"account": "a", "key": AZURITE_KEY, "colour": "blue"}}, "unknown key 'colour'"),
        ({"dropbox.me": {"token": "x"}}, "unknown provider 'dropbox'"),
        ({"azure.dev": {"account": "a"}}, "set one of `key`, `sas` or `connection_string`"),
        (
            {"azure.dev": {"account": "a", "key_env": "STORFS_NOT_SET_ANYWHERE"}},
            "key_env names an environment",
        ),
        ({"azure.dev": {"account": "a", "key": AZURITE_KEY}, "cache": {"ttl": "soon"}}, "ttl must be"),
        ({"azure.dev": {"account": "a", "key": AZURITE_KEY, "page_size": 0}}, "page_size"),
        ({}, "no accounts configured"),
    ],
    ids=[
        "unknown-key",
        "unknown-provider",
        "no-credentials",
        "unset-env",
        "bad-ttl",
        "bad-page-size",
        "empty",
    ],
)
def test_bad_config_is_one_clear_line_and_exit_2(tmp_path: Path, tables, expected: str) -> None:
    config = write_config(tmp_path / "bad.toml", tables)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    result = run([*STORFS, "mount", "--config", str(config), str(mnt)])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert not os.path.ismount(mnt)


def test_bad_mountpoints_exit_2(seeded: Azurite, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", {"azure.dev": AZURE.table(seeded)})
    full = tmp_path / "full"
    full.mkdir()
    (full / "something").write_text("x")
    cases = {
        str(tmp_path / "missing"): "does not exist",
        str(full): "not empty",
        str(config): "not a directory",
    }
    for mountpoint, expected in cases.items():
        result = run([*STORFS, "mount", "--config", str(config), mountpoint])
        assert result.returncode == 2, mountpoint
        assert expected in result.stderr and result.stderr.count("\n") == 1


def test_missing_config_file_exit_2(tmp_path: Path) -> None:
    (tmp_path / "mnt").mkdir()
    result = run([*STORFS, "mount", "--config", str(tmp_path / "nope.toml"), str(tmp_path / "mnt")])
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_unmount_of_something_not_mounted_says_so(tmp_path: Path) -> None:
    result = run([*STORFS, "unmount", str(tmp_path)])
    assert result.returncode == 1
    assert result.stderr == f"storfs: {tmp_path} is not a storfs mount\n"
