"""What a new user trips over in the first hour (issue 11), driven as the user did: stderr text,
exit status, `df`, `stat -f`, `jq` on the stats, a README pipeline."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import QINGSTOR
from tests.fakes.azurite import AZURITE_KEY
from tests.fakes.qingstor_server import QingStorServer
from tests.harness import Mount, fusermount, run, write_config

STORFS = [sys.executable, "-m", "storfs"]
KEY = "photos/2026/a b.jpg"


@pytest.fixture
def qingstor() -> Iterator[QingStorServer]:
    with QingStorServer() as qs:
        qs.add_bucket("mybucket")
        upload = qs.add_upload("mybucket", KEY, upload_id="u-0001", created="2026-01-02T03:04:05Z")
        qs.add_part("mybucket", upload, 1, 1000)
        qs.add_part("mybucket", upload, 2, 234)
        yield qs


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """No storfs config, no cloud variables, HOME at `home`."""
    drop = ("STORFS_", "XDG_CONFIG_HOME", "AZURE_STORAGE", "ALIBABA_CLOUD")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(drop)}, "HOME": str(home), **extra}


def private_config(path: Path, tables: dict[str, dict[str, Any]]) -> Path:
    write_config(path, tables)
    path.chmod(0o600)
    return path


@pytest.fixture
def background(tmp_path: Path) -> Iterator[Any]:
    """`background(config, *options)` runs `storfs mount CONFIG MNT` as a user does; unmounted after."""
    mountpoints: list[Path] = []

    def start(
        config: Path, *options: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        mnt = tmp_path / f"mnt{len(mountpoints)}"
        mnt.mkdir()
        mountpoints.append(mnt)
        log = tmp_path / f"mnt{len(mountpoints)}.log"
        argv = [*STORFS, "mount", "--config", str(config), "--log-file", str(log), *options, str(mnt)]
        result = run(argv, env=env or clean_env(tmp_path))
        result.mountpoint = mnt  # type: ignore[attr-defined]
        return result

    try:
        yield start
    finally:
        for mnt in mountpoints:
            if os.path.ismount(mnt) and run([*STORFS, "unmount", str(mnt)]).returncode != 0:
                run([fusermount(), "-uz", str(mnt)])


# -- errors that hid their cause ------------------------------------------------------------------


def test_a_mount_failure_prints_libfuses_reason_once(
    qingstor: QingStorServer, background, tmp_path: Path
) -> None:
    config = private_config(tmp_path / "c.toml", {"qingstor.main": QINGSTOR.table(qingstor)})
    result = background(config, "-o", "bogusopt")
    assert result.returncode == 2
    assert "unknown option(s)" in result.stderr and "bogusopt" in result.stderr, result.stderr
    assert result.stderr.startswith("storfs: mount failed: ") and result.stderr.count("storfs:") == 1
    assert not os.path.ismount(result.mountpoint)


INVALID = {
    "no-account": ({"azure.dev": {"key": AZURITE_KEY}}, "set `account`"),
    "page-size-text": (
        {"azure.dev": {"account": "a", "key": AZURITE_KEY, "page_size": "7"}},
        "page_size must be an integer",
    ),
    "key-not-base64": ({"azure.dev": {"account": "a", "key": "not base64!"}}, "base64"),
    "endpoint-without-scheme": (
        {"azure.dev": {"account": "a", "key": AZURITE_KEY, "endpoint": "127.0.0.1:10000"}},
        "`endpoint` must look like",
    ),
    "conflicting-credentials": (
        {
            "azure.dev": {
                "account": "a",
                "key": AZURITE_KEY,
                "sas": "sv=2020-10-02&sig=abc",
                "connection_string": f"AccountName=other;AccountKey={AZURITE_KEY}",
            }
        },
        "conflicting credentials key, sas, connection_string",
    ),
}


@pytest.mark.parametrize("case", INVALID)
def test_every_command_refuses_what_mount_refuses(case: str, tmp_path: Path) -> None:
    tables, expected = INVALID[case]
    config = private_config(tmp_path / "c.toml", tables)
    (tmp_path / "mnt").mkdir()
    env = clean_env(tmp_path)
    for argv in (["accounts"], ["ls"], ["stat", "azure"], ["mount", str(tmp_path / "mnt")]):
        result = run([*STORFS, *argv, "--config", str(config)], env=env)
        assert result.returncode == 2, (argv, result.stdout, result.stderr)
        assert (
            result.stderr == f"storfs: {config}: [azure.dev]: {result.stderr.split(': [azure.dev]: ', 1)[1]}"
        )
        assert expected in result.stderr and result.stderr.count("\n") == 1, (argv, result.stderr)
    doctor = run([*STORFS, "doctor", "--config", str(config)], env=env)
    assert doctor.returncode == 1
    assert f"✘ config: {config}: [azure.dev]: " in doctor.stdout and expected in doctor.stdout
    assert not os.path.ismount(tmp_path / "mnt")


def test_the_mount_warns_once_per_failing_account_and_serves_the_others(
    qingstor: QingStorServer, background, tmp_path: Path
) -> None:
    tables = {
        "qingstor.main": QINGSTOR.table(qingstor),
        "qingstor.wrong": QINGSTOR.table(qingstor, secret_access_key="wrong-secret-0123456789"),
        "azure.dead": {"account": "a", "key": AZURITE_KEY, "endpoint": "http://127.0.0.1:9/a"},
    }
    config = private_config(tmp_path / "c.toml", tables)
    qingstor.reset_log()
    result = background(config)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("storfs: warning: ")]
    assert len(warnings) == 2, result.stderr
    wrong = next(line for line in warnings if "qingstor/wrong" in line)
    assert "Permission denied" in wrong or "HTTP 401" in wrong or "HTTP 403" in wrong, wrong
    assert f"check access_key_id / secret_access_key in [qingstor.wrong] of {config}" in wrong
    dead = next(line for line in warnings if "azure/dead" in line)
    assert "cannot reach the server" in dead and "check endpoint in [azure.dead]" in dead, dead
    assert "qingstor/main" not in result.stderr and "wrong-secret" not in result.stderr
    probes = [r for r in qingstor.requests if r.op == "list_buckets"]
    assert len(probes) == 2 and all(("limit", "1") in r.query for r in probes), "one page of one entry each"
    buckets = run(["ls", str(result.mountpoint / "qingstor" / "main" / "buckets")])
    assert buckets.stdout.split() == ["mybucket"]


def test_a_config_readable_by_others_warns_on_stderr_and_doctor_flags_it(
    qingstor: QingStorServer, background, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.toml", {"qingstor.main": QINGSTOR.table(qingstor)})
    config.chmod(0o644)
    result = background(config)
    assert result.returncode == 0, result.stderr
    assert f"storfs: warning: config file {config} holds secrets" in result.stderr
    assert f"run chmod 600 {config}" in result.stderr
    doctor = run([*STORFS, "doctor", "--config", str(config)], env=clean_env(tmp_path))
    assert doctor.returncode == 1
    lines = doctor.stdout.splitlines()
    flagged = [i for i, line in enumerate(lines) if line.startswith(f"✘ config file {config}")]
    assert len(flagged) == 1 and lines[flagged[0] + 1] == f"    fix: chmod 600 {config}", doctor.stdout
    config.chmod(0o600)
    assert run([*STORFS, "doctor", "--config", str(config)], env=clean_env(tmp_path)).returncode == 0


def test_unmount_of_a_path_that_is_not_a_mount(tmp_path: Path) -> None:
    result = run([*STORFS, "unmount", str(tmp_path)])
    assert (result.returncode, result.stderr) == (1, f"storfs: {tmp_path} is not a storfs mount\n")


# -- messages -------------------------------------------------------------------------------------


def test_config_messages_say_what_to_write_and_where(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    account = {"azure.dev": {"account": "a", "key": AZURITE_KEY}}

    config = private_config(tmp_path / "retries.toml", {**account, "http": {"retries": "3"}})
    said = run([*STORFS, "accounts", "--config", str(config)], env=env).stderr
    assert said == f"storfs: {config}: [http]: retries must be an integer, got '3'\n"

    unnamed = tmp_path / "unnamed.toml"
    unnamed.write_text(f'[azure]\naccount = "a"\nkey = "{AZURITE_KEY}"\n')
    said = run([*STORFS, "accounts", "--config", str(unnamed)], env=env).stderr
    assert said.startswith(f"storfs: {unnamed}: [azure] needs an account name: write [azure.<name>]")

    missing = tmp_path / "nope.toml"
    said = run([*STORFS, "accounts"], env={**env, "STORFS_CONFIG": str(missing)}).stderr
    assert (
        said
        == f"storfs: config file {missing} (named by $STORFS_CONFIG) does not exist (give one with --config)\n"
    )

    said = run([*STORFS, "accounts"], env={**env, "AZURE_STORAGE_ACCOUNT": "a"}).stderr
    assert (
        "AZURE_STORAGE_ACCOUNT is set, but neither AZURE_STORAGE_KEY nor AZURE_STORAGE_SAS_TOKEN is" in said
    )


def test_a_page_size_above_the_apis_is_clamped_and_said_once(
    qingstor: QingStorServer, background, tmp_path: Path
) -> None:
    config = private_config(tmp_path / "c.toml", {"qingstor.main": QINGSTOR.table(qingstor, page_size=6000)})
    result = background(config)
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if "page_size" in line]
    assert (
        len(said) == 1
        and f"{config}: [qingstor.main]: page_size 6000 is more than the API serves; using 1000" in said[0]
    )
    run(["ls", str(result.mountpoint / "qingstor" / "main" / "buckets")])
    assert ("limit", "1000") in [r for r in qingstor.requests if r.op == "list_buckets"][-1].query


def test_doctor_shows_file_names_whole_even_when_a_short_secret_occurs_in_them(tmp_path: Path) -> None:
    with QingStorServer(secret_access_key="configs") as qs:
        qs.add_bucket("mybucket")
        folder = tmp_path / "team-configs"
        folder.mkdir()
        config = private_config(folder / "storfs.toml", {"qingstor.main": QINGSTOR.table(qs)})
        doctor = run([*STORFS, "doctor", "--config", str(config)], env=clean_env(tmp_path))
    assert doctor.returncode == 0, doctor.stdout
    assert f"✔ config: {config} (1 account(s))" in doctor.stdout
    assert f"config file {config})" in doctor.stdout, "the account line names the file whole"


# -- noise, counters, df ---------------------------------------------------------------------------


@pytest.fixture
def served(qingstor: QingStorServer, tmp_path: Path) -> Iterator[Mount]:
    config = private_config(
        tmp_path / "served.toml", {"qingstor.main": QINGSTOR.table(qingstor), "cache": {"ttl": 300}}
    )
    with Mount(config, tmp_path / "served") as m:
        yield m


def test_no_libfuse_warning_about_max_threads(served: Mount) -> None:
    run(["ls", str(served.path("qingstor", "main", "buckets"))])
    assert "max threads" not in served.log() and "Ignoring" not in served.log(), served.log()


def test_stats_show_every_counter_and_retries(qingstor: QingStorServer, served: Mount) -> None:
    stats = str(served.path(".storfs", "stats"))
    fresh = run(["jq", "-e", ".cache.evictions == 0 and .cache.hits == 0 and .retries_total == 0", stats])
    assert fresh.returncode == 0 and fresh.stdout.strip() == "true", fresh.stdout + fresh.stderr
    qingstor.fail_next(503, "service_unavailable")
    assert run(["ls", str(served.path("qingstor", "main", "buckets"))]).stdout.split() == ["mybucket"]
    retried = run(
        ["jq", "-r", '.retries_total, .retries["qingstor/main list_buckets"], .cache.misses', stats]
    )
    assert retried.stdout.split() == ["1", "1", "1"], retried.stdout + retried.stderr
    shown = run([*STORFS, "stats", str(served.mountpoint)]).stdout
    assert "retries       1" in shown and "  qingstor/main list_buckets: 1" in shown, shown
    assert "0 evictions" in shown


def test_df_and_stat_f_show_cached_entries_as_inodes_in_use(served: Mount) -> None:
    run(["ls", "-R", str(served.path("qingstor"))])
    entries = json.loads(served.path(".storfs", "stats").read_text())["cache"]["entries"]
    assert entries == 5, "1 bucket, 1 upload, 2 parts, and the empty objects/ listing (counted as 1)"
    df = run(["df", "--output=itotal,iused,iavail,size,used,avail", str(served.mountpoint)])
    assert df.returncode == 0, df.stderr
    assert df.stdout.splitlines()[1].split() == [str(entries), str(entries), "0", "0", "0", "0"]
    inodes = run(["df", "-i", str(served.mountpoint)])
    assert inodes.returncode == 0 and "100%" in inodes.stdout, inodes.stdout
    st = run(["stat", "-f", "-c", "%T %b %f %a %c %d %l %S", str(served.mountpoint)])
    assert st.returncode == 0 and st.stdout.split()[1:] == [
        "0",
        "0",
        "0",
        str(entries),
        "0",
        "255",
        "4096",
    ], st.stdout


# -- visible upload keys ---------------------------------------------------------------------------


def test_ls_l_of_uploads_shows_each_key(qingstor: QingStorServer, tmp_path: Path) -> None:
    config = private_config(tmp_path / "c.toml", {"qingstor.main": QINGSTOR.table(qingstor)})
    path = "qingstor/main/buckets/mybucket/uploads"
    listed = run([*STORFS, "ls", "-l", path, "--config", str(config)], env=clean_env(tmp_path))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].endswith(f" Jan  2  2026 u-0001  {KEY}"), listed.stdout
    buckets = run(
        [*STORFS, "ls", "-l", "qingstor/main/buckets", "--config", str(config)], env=clean_env(tmp_path)
    )
    assert buckets.stdout.rstrip().endswith(" mybucket"), "no extra column where there is no key"


#: The README's recipe ("Abandoned uploads"): id, key, age in days and size, one line per upload.
RECIPE = r"""cd "$1" && du -sb */parts | while read -r size dir; do id=${dir%/parts}
  printf '%s\t%s\t%sd\t%s\n' "$id" "$(getfattr --only-values -e text -n user.qingstor.key "$id")" \
    $(( ($(date +%s) - $(stat -c %Y "$id")) / 86400 )) "$size"; done"""


def test_the_readme_recipe_prints_id_key_age_and_size(served: Mount) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert RECIPE.split("\n")[1].strip() in readme, "the recipe tested here is the README's"
    uploads = served.path("qingstor", "main", "buckets", "mybucket", "uploads")
    result = run(["bash", "-c", RECIPE, "recipe", str(uploads)])
    assert result.returncode == 0, result.stderr
    upload_id, key, age, size = result.stdout.rstrip("\n").split("\t")
    assert (upload_id, key, size) == ("u-0001", KEY, "1234")
    assert age.endswith("d") and int(age[:-1]) >= 300
    assert [p.name for p in uploads.iterdir()] == ["u-0001"], "keys stay out of paths"


def test_a_foreground_mount_on_a_terminal_warns_too(qingstor: QingStorServer, tmp_path: Path) -> None:
    tables = {
        "qingstor.main": QINGSTOR.table(qingstor),
        "qingstor.wrong": QINGSTOR.table(qingstor, secret_access_key="nope-0123"),
    }
    config = private_config(tmp_path / "c.toml", tables)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    primary, secondary = pty.openpty()
    argv = [
        *STORFS,
        "mount",
        "--foreground",
        "--log-file",
        str(tmp_path / "log"),
        "--config",
        str(config),
        str(mnt),
    ]
    child = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, env=clean_env(tmp_path)
    )
    os.close(secondary)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while b"storfs: warning:" not in seen or not seen.endswith(b"\n") or not os.path.ismount(mnt):
            assert time.monotonic() < deadline and child.poll() is None, seen
            ready, _, _ = select.select([primary], [], [], 0.1)
            if ready:
                seen += os.read(primary, 4096)
        assert run(["ls", str(mnt / "qingstor" / "main" / "buckets")]).stdout.split() == ["mybucket"]
    finally:
        if os.path.ismount(mnt):
            run([fusermount(), "-u", str(mnt)])
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
        os.close(primary)
    warnings = [line for line in seen.decode().splitlines() if line.startswith("storfs: warning: ")]
    assert len(warnings) == 1 and "qingstor/wrong" in warnings[0], seen
