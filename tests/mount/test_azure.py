"""Azure List Containers through a real mount, checked against the SDK listing the same Azurite."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import AZURE
from tests.fakes.azurite import AZURITE_KEY, Azurite
from tests.fakes.counting_proxy import CountingProxy
from tests.harness import Mount, run, write_config

N_CONTAINERS = 1234
PAGE_SIZE = 100
METADATA = {"audio-0001": {"owner": "ops", "team": "media"}, "images-0002": {"owner": "web"}}
PUBLIC = {"images-0002": "container", "video-0003": "blob"}


def container_names() -> list[str]:
    kinds = ("audio", "images", "video", "logs")
    return [f"{kinds[(i - 1) % 4]}-{i:04d}" for i in range(1, N_CONTAINERS + 1)]


@pytest.fixture(scope="module")
def seeded(azurite: Azurite) -> Azurite:
    azurite.create_containers(container_names(), metadata=METADATA, public_access=PUBLIC)
    return azurite


@pytest.fixture(scope="module")
def proxy(seeded: Azurite) -> Iterator[CountingProxy]:
    with CountingProxy(AZURE.url(seeded)) as p:
        yield p


@pytest.fixture(scope="module")
def mounted(
    seeded: Azurite, proxy: CountingProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mount]:
    root = tmp_path_factory.mktemp("azure-mount")
    account = AZURE.table(seeded, proxy.url, page_size=PAGE_SIZE, key_env="STORFS_TEST_AZURE_KEY")
    del account["key"]  # read from the environment
    config = write_config(root / "config.toml", {"azure.dev": account, "cache": {"ttl": 300}})
    with Mount(config, root / "mnt", env={"STORFS_TEST_AZURE_KEY": AZURITE_KEY}) as m:
        yield m


@pytest.fixture
def containers(mounted: Mount, proxy: CountingProxy) -> Path:
    return mounted.path("azure", "dev", "containers")


def test_cold_ls_l_lists_what_the_sdk_lists_in_ceil_n_over_page_requests(
    mounted: Mount, containers: Path, proxy: CountingProxy, seeded: Azurite
) -> None:
    proxy.reset()
    result = run(["ls", "-l", str(containers)])
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if not line.startswith("total")]
    listed = [line.split()[-1] for line in lines]
    assert listed == sorted(seeded.list_container_names())
    assert len(listed) == N_CONTAINERS
    assert all(line.startswith("dr-xr-xr-x 2 ") for line in lines)
    # Exactly ceil(N / page_size) List Containers calls, and nothing else.
    assert proxy.count_op("list_containers") == math.ceil(N_CONTAINERS / PAGE_SIZE) == 13
    assert len(proxy.requests) == 13
    assert all(dict(r.query).get("maxresults") == str(PAGE_SIZE) for r in proxy.requests)

    proxy.reset()
    again = run(["ls", "-l", str(containers)])
    assert again.stdout == result.stdout
    assert proxy.requests == [], "a repeat within the TTL must not reach the server"


def test_stat_getfattr_and_find_after_listing_cost_nothing(
    containers: Path, proxy: CountingProxy, seeded: Azurite
) -> None:
    run(["ls", str(containers)])
    proxy.reset()
    assert run(["stat", str(containers / "audio-0001")]).returncode == 0
    assert run(["getfattr", "-d", str(containers / "audio-0001")]).returncode == 0
    assert run(["find", str(containers), "-maxdepth", "1"]).returncode == 0
    missing = run(["stat", str(containers / "no-such-container")])
    assert "No such file or directory" in missing.stderr
    assert proxy.requests == []


def test_mtime_is_last_modified(containers: Path, seeded: Azurite) -> None:
    client = seeded.service_client()
    for name in ("audio-0001", "images-0002", "images-1234"):
        props = client.get_container_client(name).get_container_properties()
        result = run(["stat", "-c", "%Y %a %h %F", str(containers / name)])
        assert result.stdout.split() == [str(int(props.last_modified.timestamp())), "555", "2", "directory"]


def test_getfattr_shows_properties_and_user_metadata(containers: Path, seeded: Azurite) -> None:
    props = seeded.service_client().get_container_client("audio-0001").get_container_properties()
    result = run(["getfattr", "-d", "--absolute-names", str(containers / "audio-0001")])
    assert result.returncode == 0, result.stderr
    attrs = dict(line.split("=", 1) for line in result.stdout.splitlines() if line.startswith("user."))
    assert attrs["user.azure.meta.owner"] == '"ops"'
    assert attrs["user.azure.meta.team"] == '"media"'
    assert attrs["user.azure.etag"] == f'"{props.etag.strip(chr(34))}"'
    assert attrs["user.azure.lease_state"] == '"available"'
    assert attrs["user.azure.lease_status"] == '"unlocked"'
    assert attrs["user.azure.public_access"] == '"private"'
    assert attrs["user.azure.has_immutability_policy"] == '"false"'
    assert attrs["user.azure.has_legal_hold"] == '"false"'
    assert "user.azure.last_modified" in attrs

    public = run(
        ["getfattr", "-n", "user.azure.public_access", "--only-values", str(containers / "images-0002")]
    )
    assert public.stdout == "container"
    blob = run(
        ["getfattr", "-n", "user.azure.public_access", "--only-values", str(containers / "video-0003")]
    )
    assert blob.stdout == "blob"


def test_listxattr_lists_exactly_the_served_names(containers: Path) -> None:
    names = os.listxattr(containers / "images-0002")
    assert sorted(names) == sorted(
        [
            "user.azure.etag",
            "user.azure.last_modified",
            "user.azure.lease_status",
            "user.azure.lease_state",
            "user.azure.public_access",
            "user.azure.has_immutability_policy",
            "user.azure.has_legal_hold",
            "user.azure.meta.owner",
        ]
    )
    for name in names:
        assert os.getxattr(containers / "images-0002", name)


def test_missing_xattr_is_enodata_and_other_namespaces_are_not_served(containers: Path) -> None:
    with pytest.raises(OSError) as missing:
        os.getxattr(containers / "audio-0001", "user.azure.nope")
    assert missing.value.errno == 61  # ENODATA
    with pytest.raises(OSError) as other:
        os.getxattr(containers / "audio-0001", "security.selinux")
    assert other.value.errno in (95,)  # ENOTSUP


MUTATIONS = {
    "touch": "touch {c}/new-file",
    "mkdir": "mkdir {c}/new-dir",
    "rmdir": "rmdir {c}/audio-0001",
    "rm": "rm -r {c}/audio-0001",
    "mv": "mv {c}/audio-0001 {c}/renamed",
    "setfattr": "setfattr -n user.azure.meta.x -v 1 {c}/audio-0001",
    "setfattr -x": "setfattr -x user.azure.meta.owner {c}/audio-0001",
    "ln -s": "ln -s target {c}/link",
    "chmod": "chmod 777 {c}/audio-0001",
    "touch existing": "touch {c}/audio-0001",
    "redirect": "echo data > {c}/file",
}


@pytest.mark.parametrize("command", MUTATIONS.values(), ids=list(MUTATIONS))
def test_every_mutation_is_read_only_file_system(
    containers: Path, proxy: CountingProxy, command: str
) -> None:
    run(["ls", str(containers)])
    proxy.reset()
    result = run(command.format(c=containers))
    assert result.returncode != 0
    assert "Read-only file system" in result.stderr
    assert all(r.method in ("GET", "HEAD") for r in proxy.requests)


def test_tree_levels(mounted: Mount) -> None:
    assert run(["ls", str(mounted.mountpoint)]).stdout.split() == ["azure"]
    assert run(["ls", str(mounted.path("azure"))]).stdout.split() == ["dev"]
    assert run(["ls", str(mounted.path("azure", "dev"))]).stdout.split() == ["containers"]
    assert (
        run(["ls", str(mounted.path("azure", "dev", "containers", "audio-0001"))]).stdout
        == "blobs\nuploads\n"
    )
    nope = run(["ls", str(mounted.path("qingstor"))])
    assert "No such file or directory" in nope.stderr


REWIND_SCRIPT = r"""
import ctypes, ctypes.util, sys
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
class Dirent(ctypes.Structure):
    _fields_ = [("d_ino", ctypes.c_ulong), ("d_off", ctypes.c_long), ("d_reclen", ctypes.c_ushort),
                ("d_type", ctypes.c_ubyte), ("d_name", ctypes.c_char * 256)]
libc.opendir.restype = ctypes.c_void_p
libc.readdir.restype = ctypes.POINTER(Dirent)
libc.readdir.argtypes = libc.rewinddir.argtypes = libc.telldir.argtypes = [ctypes.c_void_p]
libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
libc.telldir.restype = ctypes.c_long
def read_all(d, limit=None):
    names = []
    while limit is None or len(names) < limit:
        e = libc.readdir(d)
        if not e: break
        names.append(e.contents.d_name.decode())
    return names
d = libc.opendir(sys.argv[1].encode())
first = read_all(d)
libc.rewinddir(d)
second = read_all(d)
libc.rewinddir(d)
head = read_all(d, 150)
pos = libc.telldir(d)
rest = read_all(d)
libc.seekdir(d, pos)
rest_again = read_all(d)
print(len(first), first == second, head + rest == first, rest == rest_again)
"""


def test_rewind_and_seek_on_one_handle(containers: Path) -> None:
    result = run(["python3", "-c", REWIND_SCRIPT, str(containers)])
    assert result.stdout.split() == [str(N_CONTAINERS + 2), "True", "True", "True"], result.stderr
