"""Everyday use: accounts from the environment, stats, refresh, -v logs, the fstab form."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import AZURE, QINGSTOR
from tests.fakes.azurite import AZURITE_KEY, Azurite
from tests.fakes.qingstor_server import QingStorServer
from tests.harness import Mount, fusermount, run, write_config

STORFS = [sys.executable, "-m", "storfs"]


@pytest.fixture(scope="module")
def seeded(azurite: Azurite) -> Azurite:
    azurite.create_containers(["alpha", "bravo", "charlie"])
    return azurite


@pytest.fixture
def qingstor() -> Iterator[QingStorServer]:
    with QingStorServer() as qs:
        qs.add_bucket("mybucket")
        qs.add_bucket("myphotos", location="sh1a")
        yield qs


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment with no storfs config, no cloud variables, and HOME at `home`."""
    drop = ("STORFS_CONFIG", "XDG_CONFIG_HOME", "AZURE_STORAGE", "ALIBABA_CLOUD", "STORFS_OAS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, "HOME": str(home), **extra}


def qingstor_yaml(home: Path, qs: QingStorServer) -> None:
    (home / ".qingstor").mkdir(parents=True)
    (home / ".qingstor" / "config.yaml").write_text(
        f"access_key_id: '{qs.access_key_id}'\nsecret_access_key: '{qs.secret_access_key}'\n"
        f"host: '127.0.0.1'\nport: {qs.port}\nprotocol: 'http'\n"
    )


def test_accounts_from_the_environment_mount_without_any_config(
    seeded: Azurite, qingstor: QingStorServer, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    qingstor_yaml(home, qingstor)
    env = clean_env(home, AZURE_STORAGE_CONNECTION_STRING=seeded.connection_string)
    listed = run([*STORFS, "accounts"], env=env)
    assert listed.returncode == 0, listed.stderr
    assert "azure/default" in listed.stdout and "AZURE_STORAGE_CONNECTION_STRING" in listed.stdout
    assert "qingstor/default" in listed.stdout and ".qingstor/config.yaml" in listed.stdout
    assert AZURITE_KEY not in listed.stdout and qingstor.secret_access_key not in listed.stdout

    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = run([*STORFS, "mount", "--log-file", str(tmp_path / "log"), str(mnt)], env=env)
    try:
        assert mounted.returncode == 0, mounted.stderr
        assert run(["ls", str(mnt / "azure" / "default" / "containers")]).stdout.split() == [
            "alpha",
            "bravo",
            "charlie",
        ]
        buckets = run(["ls", str(mnt / "qingstor" / "default" / "buckets")]).stdout.split()
        assert buckets == ["mybucket", "myphotos"]
    finally:
        run([*STORFS, "unmount", str(mnt)])


def test_a_config_table_of_the_same_name_wins(seeded: Azurite, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.toml",
        {"azure.default": AZURE.table(seeded)},
    )
    env = clean_env(tmp_path, AZURE_STORAGE_ACCOUNT="other", AZURE_STORAGE_KEY="QUFBQQ==")
    listed = run([*STORFS, "accounts", "--config", str(config)], env=env)
    assert listed.stdout.count("azure/default") == 1 and "config file" in listed.stdout


def test_oas_account_from_the_environment(tmp_path: Path) -> None:
    env = clean_env(
        tmp_path,
        ALIBABA_CLOUD_ACCESS_KEY_ID="id",
        ALIBABA_CLOUD_ACCESS_KEY_SECRET="very-secret-value",
        STORFS_OAS_ENDPOINT="http://127.0.0.1:9",
    )
    listed = run([*STORFS, "accounts"], env=env)
    assert "oas/default" in listed.stdout and "very-secret-value" not in listed.stdout


def test_no_accounts_anywhere_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "mnt").mkdir()
    result = run([*STORFS, "mount", str(tmp_path / "mnt")], env=clean_env(tmp_path))
    assert result.returncode == 2
    assert "no accounts configured" in result.stderr and "AZURE_STORAGE_CONNECTION_STRING" in result.stderr


@pytest.fixture
def qs_mount(qingstor: QingStorServer, mount) -> Mount:
    return mount(qs_tables(qingstor))


def test_refresh_and_sighup_make_the_next_ls_refetch_and_only_then(
    qingstor: QingStorServer, qs_mount: Mount
) -> None:
    buckets = qs_mount.path("qingstor", "main", "buckets")
    assert run(["ls", str(buckets)]).stdout.split() == ["mybucket", "myphotos"]
    qingstor.add_bucket("newbucket")
    qingstor.reset_log()
    assert run(["ls", str(buckets)]).stdout.split() == ["mybucket", "myphotos"], "cached within the TTL"
    assert qingstor.count() == 0

    refreshed = run([*STORFS, "refresh", str(buckets)])
    assert refreshed.returncode == 0, refreshed.stderr
    assert qingstor.count() == 0, "refresh itself sends nothing"
    assert run(["ls", str(buckets)]).stdout.split() == ["mybucket", "myphotos", "newbucket"]
    assert qingstor.count("list_buckets") == 1
    run(["ls", str(buckets)])
    assert qingstor.count("list_buckets") == 1

    qingstor.add_bucket("zbucket")
    assert qs_mount.process is not None
    os.kill(qs_mount.process.pid, signal.SIGHUP)
    for _ in range(100):
        if "SIGHUP: dropped" in qs_mount.log():
            break
        time.sleep(0.05)
    assert os.path.ismount(qs_mount.mountpoint), "SIGHUP must not unmount"
    assert run(["ls", str(buckets)]).stdout.split() == ["mybucket", "myphotos", "newbucket", "zbucket"]
    assert qingstor.count("list_buckets") == 2


def test_refresh_of_a_subtree_keeps_the_rest(qingstor: QingStorServer, qs_mount: Mount) -> None:
    upload = qingstor.add_upload("mybucket", "videos/a.mp4")
    qingstor.add_part("mybucket", upload, 1, 100)
    root = qs_mount.path("qingstor", "main", "buckets")
    run(["find", str(root)])
    qingstor.reset_log()
    run([*STORFS, "refresh", str(root / "mybucket")])
    run(["find", str(root)])
    # mybucket's uploads and parts are fetched again; the buckets listing and myphotos are not.
    assert (qingstor.count("list_buckets"), qingstor.count("list_uploads"), qingstor.count("list_parts")) == (
        0,
        1,
        1,
    )


def qs_tables(qingstor: QingStorServer) -> dict[str, dict[str, object]]:
    return {"qingstor.main": QINGSTOR.table(qingstor), "cache": {"ttl": 300}}


def published_socket(m: Mount) -> Path:
    """What the mount publishes in <mnt>/.storfs/socket: an absolute path and a newline."""
    text = m.path(".storfs", "socket").read_text()
    assert text.endswith("\n") and text.count("\n") == 1, repr(text)
    path = Path(text[:-1])
    assert path.is_absolute() and stat.S_ISSOCK(path.lstat().st_mode), text
    assert stat.S_IMODE(path.lstat().st_mode) == 0o600
    directory = path.parent.lstat()
    assert stat.S_ISDIR(directory.st_mode) and directory.st_uid == os.getuid()
    assert stat.S_IMODE(directory.st_mode) & 0o077 == 0, "a directory private to the user"
    return path


def assert_refresh_works(qingstor: QingStorServer, buckets: Path, env: dict[str, str], through: Path) -> None:
    """`storfs refresh THROUGH` (with `env`) makes the next ls of `buckets` show a new bucket."""
    assert "zz-new" not in run(["ls", str(buckets)]).stdout.split()
    qingstor.add_bucket("zz-new")
    refreshed = run([*STORFS, "refresh", str(through)], env=env)
    assert refreshed.returncode == 0, refreshed.stderr
    assert "zz-new" in run(["ls", str(buckets)]).stdout.split()


@pytest.mark.parametrize("how", ["another environment", "a symlink to the mountpoint"])
def test_refresh_finds_the_mount_socket_whatever_the_environment(
    how: str, qingstor: QingStorServer, mount, tmp_path: Path
) -> None:
    # As a mount started by systemd (no XDG_RUNTIME_DIR) and a login shell (with one) would disagree.
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    m = mount(qs_tables(qingstor), env={"XDG_RUNTIME_DIR": str(runtime)})
    buckets = m.path("qingstor", "main", "buckets")
    other_tmp = tmp_path / "other-tmp"
    other_tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    if how == "another environment":
        env["TMPDIR"] = str(other_tmp)
        through = buckets
    else:
        env["XDG_RUNTIME_DIR"] = str(runtime)
        link = tmp_path / "link"
        link.symlink_to(m.mountpoint)
        through = link / "qingstor" / "main" / "buckets"
    assert_refresh_works(qingstor, buckets, env, through)
    assert published_socket(m).parent == runtime / f"storfs-{os.getuid()}"


@pytest.mark.parametrize("trap", ["symlink", "group-readable", "another user's"])
def test_a_trapped_socket_directory_is_refused_and_never_chmodded(
    trap: str, qingstor: QingStorServer, mount, tmp_path: Path
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    shared = tmp / f"storfs-{os.getuid()}"  # where the socket would go: pre-created by someone else
    victim = tmp_path / "victim"
    victim.mkdir()
    victim.chmod(0o755)
    watched = shared
    if trap == "symlink":  # to a directory the victim owns
        shared.symlink_to(victim)
        watched = victim
    elif trap == "group-readable":
        shared.mkdir()
        shared.chmod(0o750)
    else:
        if os.getuid() != 0:
            pytest.skip("needs root to make a directory owned by another user")
        shared.mkdir(mode=0o700)
        os.chown(shared, 65534, 65534)
    before = watched.lstat()
    env = {"XDG_RUNTIME_DIR": "", "TMPDIR": str(tmp)}
    m = mount(qs_tables(qingstor), env=env)
    after = watched.lstat()
    assert (stat.S_IMODE(after.st_mode), after.st_uid) == (stat.S_IMODE(before.st_mode), before.st_uid)
    assert list(watched.iterdir()) == [], "no socket in the trap"
    assert_refresh_works(qingstor, m.path("qingstor", "main", "buckets"), {**os.environ, **env}, m.mountpoint)
    socket_path = published_socket(m)
    assert socket_path.parent.parent == tmp and socket_path.parent.name.startswith("storfs-")
    assert socket_path.parent != shared
    assert f"not using {shared}" in m.log()
    m.stop()
    assert not socket_path.parent.exists(), "the fresh directory goes with the mount"


def test_refresh_of_names_with_dots_at_either_end(qingstor: QingStorServer, mount) -> None:
    m = mount(qs_tables(qingstor))
    buckets = m.path("qingstor", "main", "buckets")
    for name in ("dots", "dots..", ".dots"):
        qingstor.add_bucket(name)
        qingstor.add_upload(name, "k", upload_id=f"{name}-1")
    for name in ("dots..", ".dots"):
        uploads = buckets / name / "uploads"
        assert run(["ls", "-A", str(uploads)]).stdout.split() == [f"{name}-1"]
        qingstor.add_upload(name, "k", upload_id=f"{name}-2")
        qingstor.reset_log()
        refreshed = run([*STORFS, "refresh", str(buckets / name)])
        assert refreshed.returncode == 0, refreshed.stderr
        assert run(["ls", "-A", str(uploads)]).stdout.split() == [f"{name}-1", f"{name}-2"]
        assert qingstor.count("list_uploads") == 1
    at_root = run([*STORFS, "refresh", str(m.mountpoint)])
    assert at_root.returncode == 0, at_root.stderr
    assert run([*STORFS, "refresh", str(m.mountpoint.parent)]).returncode == 1


def test_stats_command_and_counters_move(qs_mount: Mount, qingstor: QingStorServer) -> None:
    stats_file = qs_mount.path(".storfs", "stats")
    before = json.loads(stats_file.read_text())
    run(["ls", "-l", str(qs_mount.path("qingstor", "main", "buckets"))])
    after = json.loads(stats_file.read_text())
    assert after["requests_total"] == before["requests_total"] + 1
    assert after["requests"]["qingstor/main"]["list_buckets"]["200"] >= 1
    assert after["cache"]["misses"] > before["cache"].get("misses", 0)
    shown = run([*STORFS, "stats", str(qs_mount.mountpoint)])
    assert shown.returncode == 0 and "qingstor/main list_buckets" in shown.stdout
    with pytest.raises(OSError):
        stats_file.write_text("{}")


def test_verbose_logs_one_line_per_request_without_secrets(qingstor: QingStorServer, mount) -> None:
    m = mount({"qingstor.main": QINGSTOR.table(qingstor)}, options=())
    m.stop()
    config = m.config
    log = m.mountpoint.parent / "verbose.log"
    mnt = m.mountpoint.parent / "mnt-verbose"
    mnt.mkdir()
    mounted = run([*STORFS, "mount", "-v", "--config", str(config), "--log-file", str(log), str(mnt)])
    try:
        assert mounted.returncode == 0, mounted.stderr
        run(["ls", str(mnt / "qingstor" / "main" / "buckets")])
    finally:
        run([*STORFS, "unmount", str(mnt)])
    lines = [line for line in log.read_text().splitlines() if " GET 127.0.0.1:" in line]
    assert len(lines) == 1 and lines[0].split()[-2:][0] == "200" and lines[0].endswith("ms")
    assert qingstor.secret_access_key not in log.read_text()


def test_fstab_form_mounts_with_mount_t_fuse_storfs(seeded: Azurite, tmp_path: Path) -> None:
    assert shutil.which("mount.fuse3"), "fuse3 (installed by scripts/setup) provides mount.fuse3"
    config = write_config(
        tmp_path / "c.toml",
        {"azure.dev": AZURE.table(seeded)},
    )
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    storfs_bin = shutil.which("storfs")
    assert storfs_bin, "pip install -e . puts storfs on PATH"
    env = {**os.environ, "PATH": f"{Path(storfs_bin).parent}:{os.environ['PATH']}"}
    result = run(
        ["mount", "-t", "fuse.storfs", "storfs", str(mnt), "-o", f"config={config},ttl=30,_netdev"], env=env
    )
    try:
        assert result.returncode == 0, result.stderr
        assert os.path.ismount(mnt)
        assert run(["ls", str(mnt / "azure" / "dev" / "containers")]).stdout.split() == [
            "alpha",
            "bravo",
            "charlie",
        ]
        assert "storfs" in run(["findmnt", "-no", "FSTYPE", str(mnt)]).stdout
    finally:
        if os.path.ismount(mnt):
            run([fusermount(), "-u", str(mnt)])


def test_refresh_and_sighup_also_drop_what_the_kernel_cached(
    qingstor: QingStorServer, qs_mount: Mount
) -> None:
    uploads = qs_mount.path("qingstor", "main", "buckets", "mybucket", "uploads")
    qingstor.add_upload("mybucket", "a.bin", upload_id="old")
    assert run(["stat", "-c", "%n", str(uploads / "old")]).returncode == 0
    assert run(["ls", "-d", str(uploads / "new")]).returncode == 2  # now a negative entry in the kernel
    qingstor.add_upload("mybucket", "b.bin", upload_id="new")
    with qingstor._lock:  # the upload is completed or aborted on the server
        del qingstor._uploads["mybucket", "old"]
    # Within the TTL (300 s) the kernel answers both from its own cache, without asking storfs.
    assert run(["ls", "-d", str(uploads / "new")]).returncode == 2
    assert run(["stat", "-c", "%n", str(uploads / "old")]).returncode == 0

    refreshed = run([*STORFS, "refresh", str(uploads)])
    assert refreshed.returncode == 0, refreshed.stderr
    shown = run(["ls", "-d", str(uploads / "new")])
    assert shown.returncode == 0 and shown.stdout.strip() == str(uploads / "new"), shown.stderr
    gone = run(["stat", "-c", "%n", str(uploads / "old")])
    assert gone.returncode == 1 and "No such file or directory" in gone.stderr

    buckets = qs_mount.path("qingstor", "main", "buckets")
    assert run(["ls", "-d", str(buckets / "fresh")]).returncode == 2
    qingstor.add_bucket("fresh")
    assert qs_mount.process is not None
    os.kill(qs_mount.process.pid, signal.SIGHUP)
    for _ in range(100):
        if "SIGHUP: dropped" in qs_mount.log():
            break
        time.sleep(0.05)
    assert run(["ls", "-d", str(buckets / "fresh")]).returncode == 0
