"""Aliyun OAS vaults through a real mount: sizes for `ls -l`/`du`, dates, every field as xattr."""

from __future__ import annotations

import os
from collections.abc import Iterator
from email.utils import formatdate

import pytest

from tests.backends import OAS
from tests.fakes.oas_server import OASServer
from tests.harness import Mount, run, write_config

N_VAULTS = 95
CREATED = 1395180407  # Tue, 18 Mar 2014 22:06:47 GMT


def size_of(i: int) -> int:
    return 0 if i % 10 == 0 else i * 12334


@pytest.fixture(scope="module")
def server() -> Iterator[OASServer]:
    with OASServer() as oas:
        oas.add_vault(
            "myvault1", vault_id="79D2D8F33B7C287037286185863B6823", number_of_archives=2, size_in_bytes=12334
        )
        # The seed's second sample carries a stray trailing space on its CreationDate.
        oas.add_vault("myvault2", creation_date="Tue, 18 Mar 2014 22:06:47 GMT ", last_inventory_date=None)
        oas.add_vault("small", creation_date=formatdate(CREATED, usegmt=True), size_in_bytes=7)
        for i in range(3, N_VAULTS):
            oas.add_vault(
                f"vault-{i:03d}",
                size_in_bytes=size_of(i),
                number_of_archives=i,
                creation_date=formatdate(CREATED, usegmt=True),
                last_inventory_date=formatdate(CREATED + i * 86400, usegmt=True),
            )
        yield oas


@pytest.fixture(scope="module")
def vaults(server: OASServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[os.PathLike[str]]:
    root = tmp_path_factory.mktemp("oas")
    table = OAS.table(server, access_key_secret_env="STORFS_TEST_OAS_SECRET")
    del table["access_key_secret"]  # read from the environment
    config = write_config(root / "config.toml", {"oas.archive": table})
    env = {"STORFS_TEST_OAS_SECRET": server.access_key_secret}
    with Mount(config, root / "mnt", env=env) as m:
        yield m.path("oas", "archive", "vaults")


def test_95_vaults_in_10_requests(vaults, server: OASServer) -> None:
    server.reset_log()
    listed = run(["ls", str(vaults)]).stdout.split()
    assert len(listed) == N_VAULTS
    assert server.count("list_vaults") == server.count() == 10
    assert all(dict(r.query).get("limit") == "10" for r in server.requests)


def test_ls_l_and_du_show_vault_sizes(vaults, server: OASServer) -> None:
    rows = {row.split()[-1]: row.split() for row in run(["ls", "-l", str(vaults)]).stdout.splitlines()[1:]}
    assert rows["myvault1"][0] == "dr-xr-xr-x" and rows["myvault1"][4] == "12334"
    du = run(f"du -sb {vaults}/*")
    sizes = {
        line.split("\t")[1].rsplit("/", 1)[1]: int(line.split("\t")[0]) for line in du.stdout.splitlines()
    }
    assert len(sizes) == N_VAULTS
    for i in range(3, N_VAULTS):
        assert sizes[f"vault-{i:03d}"] == size_of(i)
        assert int(rows[f"vault-{i:03d}"][4]) == size_of(i)
    assert sizes["myvault1"] == 12334
    assert server.count("list_vaults") <= 10


def test_mtime_is_last_inventory_and_ctime_is_creation(vaults) -> None:
    st = os.stat(vaults / "vault-005")
    assert (int(st.st_mtime), int(st.st_ctime)) == (CREATED + 5 * 86400, CREATED)
    assert st.st_blocks == (size_of(5) + 511) // 512
    # No LastInventoryDate: the creation date (with its stray space) stands in.
    assert int(os.stat(vaults / "myvault2").st_mtime) == CREATED


def test_getfattr_shows_all_six_fields(vaults) -> None:
    result = run(["getfattr", "-d", "--absolute-names", str(vaults / "myvault1")])
    attrs = dict(line.split("=", 1) for line in result.stdout.splitlines() if line.startswith("user."))
    assert attrs == {
        "user.oas.creation_date": '"Tue, 18 Mar 2014 22:06:47 GMT"',
        "user.oas.last_inventory_date": '"Tue, 18 Mar 2014 12:00:00 GMT"',
        "user.oas.number_of_archives": '"2"',
        "user.oas.size_in_bytes": '"12334"',
        "user.oas.vault_id": '"79D2D8F33B7C287037286185863B6823"',
        "user.oas.vault_name": '"myvault1"',
    }
