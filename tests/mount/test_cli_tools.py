"""`storfs ls`, `storfs stat` and `storfs doctor`: the mount's tree without FUSE, against real servers."""

from __future__ import annotations

import ast
import fcntl
import json
import math
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import AZURE, QINGSTOR
from tests.fakes.azurite import Azurite
from tests.fakes.qingstor_server import QingStorServer
from tests.harness import run, write_config

STORFS = [sys.executable, "-m", "storfs"]
N_BUCKETS = 11
BUSY_BUCKETS = ("bucket-01", "bucket-04", "bucket-09")
PAGE = 3
N_CONTAINERS = 23
METADATA = {"audio-00": {"owner": "ops", "team": "media"}}
PUBLIC = {"images-01": "container"}
WRONG_SECRETS = {"azure": "B" * 86 + "==", "qingstor": "wrong-secret-0123456789abcdef"}


class Seed:
    def __init__(self) -> None:
        self.parts: dict[tuple[str, str], dict[str, int]] = {}  # (bucket, upload id) -> {part: size}


@pytest.fixture(scope="module")
def qingstor() -> Iterator[tuple[QingStorServer, Seed]]:
    seed = Seed()
    with QingStorServer() as qs:
        for i in range(N_BUCKETS):
            qs.add_bucket(f"bucket-{i:02d}", location="sh1a" if i % 4 == 0 else "pek3a")
        for b, bucket in enumerate(BUSY_BUCKETS):
            for u in range(2 + 2 * b):
                upload_id = qs.add_upload(bucket, f"dir/{u}/../odd key {u}.bin")
                parts = {}
                for n in range(0, 2 * u + 1, 1 + u % 2):  # gaps in the numbering, and 0
                    size = 5 * 1024 * 1024 + n if n % 3 else 1000 + n
                    qs.add_part(bucket, upload_id, n, size)
                    parts[f"{n:05d}"] = size
                seed.parts[(bucket, upload_id)] = parts
        yield qs, seed


@pytest.fixture(scope="module")
def seeded(azurite: Azurite) -> Azurite:
    kinds = ("audio", "images", "video")
    names = [f"{kinds[i % 3]}-{i:02d}" for i in range(N_CONTAINERS)]
    azurite.create_containers(names, metadata=METADATA, public_access=PUBLIC)
    return azurite


def qingstor_table(qs: QingStorServer, **extra: Any) -> dict[str, Any]:
    return QINGSTOR.table(qs, **{"page_size": PAGE, **extra})


def azure_table(server: Azurite, **extra: Any) -> dict[str, Any]:
    return AZURE.table(server, **{"page_size": 5, **extra})


def clean_env(home: Path) -> dict[str, str]:
    """No accounts from the environment or ~/.qingstor: only the config the test writes."""
    prefixes = ("AZURE_STORAGE_", "ALIBABA_CLOUD_", "STORFS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**env, "HOME": str(home)}


@pytest.fixture
def storfs(tmp_path: Path):
    """`storfs(tables, "ls", "-l", path)` runs the CLI with that config, as a user would."""

    def call(
        tables: dict[str, dict[str, Any]], *argv: str, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        config = write_config(tmp_path / "cli.toml", tables)
        config.chmod(0o600)  # holds secrets: readable by its owner only, as doctor asks
        return run([*STORFS, *argv, "--config", str(config)], env=clean_env(tmp_path), **kwargs)

    return call


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


# -- ls ------------------------------------------------------------------------------------------


def test_ls_recursive_json_equals_find_on_the_mount(qingstor, storfs, mount) -> None:
    qs, seed = qingstor
    tables = {"qingstor.main": qingstor_table(qs), "cache": {"ttl": 300}}
    result = storfs(tables, "ls", "-R", "--json", "qingstor/main")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    objects = json_lines(result.stdout)
    listed = {
        o["path"].removeprefix("qingstor/main/"): (o["type"][0], o["size"] if o["type"] == "file" else 0)
        for o in objects
    }
    assert len(listed) == len(objects), "every path once"

    m = mount(tables)
    account = m.path("qingstor", "main")
    found = run(["find", str(account), "-mindepth", "1", "-printf", r"%P\t%y\t%s\n"])
    assert found.returncode == 0, found.stderr
    on_mount = {}
    for line in found.stdout.splitlines():
        path, kind, size = line.split("\t")
        on_mount[path] = (kind, int(size) if kind == "f" else 0)
    assert listed == on_mount

    # What the seed holds: every bucket (with empty objects/), upload and part, with the parts' sizes.
    n_uploads = len(seed.parts)
    n_parts = sum(len(parts) for parts in seed.parts.values())
    assert len(listed) == 1 + 3 * N_BUCKETS + 2 * n_uploads + n_parts  # each bucket: objects/, uploads/
    for (bucket, upload_id), parts in seed.parts.items():
        for name, size in parts.items():
            assert listed[f"buckets/{bucket}/uploads/{upload_id}/parts/{name}"] == ("f", size)

    # Depth first: each path comes after its parent, and a directory's subtree is contiguous.
    order = [o["path"] for o in objects]
    seen: set[str] = set()
    for path in order:
        parent = path.rsplit("/", 1)[0]
        assert parent == "qingstor/main" or parent in seen, path
        seen.add(path)
    for i, path in enumerate(order[:-1]):
        following = order[i + 1]
        if not following.startswith(path + "/"):
            later = order[i + 1 :]
            assert not any(p.startswith(path + "/") for p in later), path
    upload = next(o for o in objects if "upload_id" in "".join(o["xattrs"]))
    assert upload["type"] == "dir"
    assert upload["mtime"].endswith("Z")
    assert upload["xattrs"]["user.qingstor.key"].startswith("dir/")


def test_ls_recursive_streams_as_pages_arrive(qingstor, storfs, tmp_path: Path) -> None:
    qs, _ = qingstor
    config = write_config(tmp_path / "slow.toml", {"qingstor.main": qingstor_table(qs)})
    qs.delay = 0.1
    try:
        started = time.monotonic()
        process = subprocess.Popen(
            [*STORFS, "ls", "-R", "qingstor/main", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(tmp_path),
        )
        arrivals = []
        assert process.stdout is not None
        for line in process.stdout:
            arrivals.append((time.monotonic() - started, line.rstrip("\n")))
        process.wait(60)
        ended = time.monotonic() - started
    finally:
        qs.delay = 0.0
    assert process.returncode == 0
    first_bucket = next(t for t, path in arrivals if path == "qingstor/main/buckets/bucket-00")
    assert ended - first_bucket > 0.8, "the first bucket must be printed long before the walk ends"
    assert len({round(t, 1) for t, _ in arrivals}) > 5, "lines come in many bursts, not all at once"


def test_ls_recursive_progress_bar_only_on_a_terminal(qingstor, storfs, tmp_path: Path) -> None:
    qs, _ = qingstor
    tables = {"qingstor.main": qingstor_table(qs)}
    piped = storfs(tables, "ls", "-R", "--json", "qingstor/main")
    assert piped.returncode == 0 and piped.stderr == ""

    config = write_config(tmp_path / "tty.toml", tables)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        on_tty = subprocess.run(
            [*STORFS, "ls", "-R", "--json", "qingstor/main", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=60,
            env=clean_env(tmp_path),
            check=False,
        )
    finally:
        os.close(follower)
        reader.join(10)
        os.close(leader)
    assert on_tty.returncode == 0

    # The same lines (fixed directories carry the time of the run, so leave their times out).
    def strip(text: str) -> list[dict[str, Any]]:
        return [
            {**o, "mtime": o["mtime"] if o["xattrs"] else None, "ctime": o["ctime"] if o["xattrs"] else None}
            for o in json_lines(text)
        ]

    assert strip(on_tty.stdout) == strip(piped.stdout), "the bar never mixes into the output"
    assert b"entries" in b"".join(chunks)


def test_ls_plain_and_long_against_azurite_match_the_sdk(seeded: Azurite, storfs) -> None:
    tables = {"azure.dev": azure_table(seeded)}
    sdk = seeded.list_container_names()
    plain = storfs(tables, "ls", "azure/dev/containers")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines() == sdk
    long = storfs(tables, "ls", "-l", "/azure/dev/containers/")
    assert long.returncode == 0, long.stderr
    rows = [line.split() for line in long.stdout.splitlines()]
    assert [row[-1] for row in rows] == sdk
    assert all(row[:3] == ["dr-xr-xr-x", "2", "0"] for row in rows)
    assert storfs(tables, "ls", "azure/dev").stdout == "containers\n"
    assert storfs(tables, "ls").stdout == "azure\n"
    objects = json_lines(storfs(tables, "ls", "--json", "azure/dev/containers").stdout)
    assert [o["name"] for o in objects] == sdk
    audio = next(o for o in objects if o["name"] == "audio-00")
    assert audio["path"] == "azure/dev/containers/audio-00"
    assert audio["xattrs"]["user.azure.meta.owner"] == "ops"


def test_ls_of_a_missing_path(seeded: Azurite, storfs) -> None:
    tables = {"azure.dev": azure_table(seeded)}
    for path in ("azure/dev/containers/no-such-container", "azure/nobody", "gcs"):
        result = storfs(tables, "ls", path)
        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr == f"storfs: {path}: No such file or directory\n"
    below_file = storfs(tables, "stat", "azure/dev/containers/audio-00/x")
    assert below_file.returncode == 1
    assert "No such file or directory" in below_file.stderr


def test_ls_recursive_reports_a_failing_account_and_lists_the_rest(qingstor, storfs) -> None:
    qs, _ = qingstor
    tables = {
        "qingstor.main": qingstor_table(qs),
        "qingstor.wrong": qingstor_table(qs, secret_access_key=WRONG_SECRETS["qingstor"]),
    }
    result = storfs(tables, "ls", "-R", "qingstor")
    assert result.returncode == 1
    assert "qingstor/main/buckets/bucket-10" in result.stdout.splitlines()
    assert "qingstor/wrong/buckets" in result.stdout.splitlines()
    assert not any(line.startswith("qingstor/wrong/buckets/") for line in result.stdout.splitlines())
    assert "storfs: qingstor/wrong/buckets: HTTP 401 signature_not_matched" in result.stderr
    assert "secret_access_key in [qingstor.wrong]" in result.stderr
    assert WRONG_SECRETS["qingstor"] not in result.stdout + result.stderr


def test_bad_config_exits_2_and_names_the_key(seeded: Azurite, storfs) -> None:
    for command in ("ls", "stat"):
        result = storfs({"azure.dev": azure_table(seeded, colour="blue")}, command, "azure/dev")
        assert result.returncode == 2
        assert "colour" in result.stderr and "[azure.dev]" in result.stderr


def test_no_libfuse_needed(seeded: Azurite, tmp_path: Path) -> None:
    """As on a machine without FUSE: mfusepy cannot be imported, and storfs.binding never is."""
    config = write_config(tmp_path / "c.toml", {"azure.dev": azure_table(seeded)})
    code = (
        "import sys\n"
        "sys.modules['mfusepy'] = None\n"
        "from storfs.cli import main\n"
        f"rc = main(sys.argv[1:] + ['--config', {str(config)!r}])\n"
        "assert 'storfs.binding' not in sys.modules and 'storfs.fuse_ops' not in sys.modules\n"
        "sys.exit(rc)\n"
    )
    for argv in (["ls", "-l", "-R", "azure"], ["stat", "azure/dev/containers/audio-00"]):
        result = run([sys.executable, "-c", code, *argv], env=clean_env(tmp_path))
        assert result.returncode == 0, result.stderr
        assert "audio-00" in result.stdout


# -- stat ----------------------------------------------------------------------------------------


def test_stat_json_of_a_container_shows_its_metadata(seeded: Azurite, storfs) -> None:
    tables = {"azure.dev": azure_table(seeded)}
    result = storfs(tables, "stat", "--json", "azure/dev/containers/audio-00")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["type"] == "dir" and data["mode"] == "0555" and data["mode_string"] == "dr-xr-xr-x"
    assert data["nlink"] == 2 and data["size"] == 0 and data["blocks"] == 0
    assert data["uid"] == os.getuid()
    xattrs = data["xattrs"]
    assert xattrs["user.azure.meta.owner"] == "ops"
    assert xattrs["user.azure.meta.team"] == "media"
    assert xattrs["user.azure.public_access"] == "private"
    assert data["mtime"] == data["ctime"]
    assert data["mtime"].endswith("Z")
    public = json.loads(storfs(tables, "stat", "--json", "azure/dev/containers/images-01").stdout)
    assert public["xattrs"]["user.azure.public_access"] == "container"
    plain = storfs(tables, "stat", "azure/dev/containers/audio-00")
    assert 'user.azure.meta.owner="ops"' in plain.stdout.splitlines()


def test_stat_of_a_part_shows_its_size(qingstor, storfs) -> None:
    qs, seed = qingstor
    (bucket, upload_id), parts = max(seed.parts.items(), key=lambda item: len(item[1]))
    name, size = max(parts.items(), key=lambda item: item[1])
    path = f"qingstor/main/buckets/{bucket}/uploads/{upload_id}/parts/{name}"
    result = storfs({"qingstor.main": qingstor_table(qs)}, "stat", path)
    assert result.returncode == 0, result.stderr
    rows = [line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line]
    fields = {label.strip(): value for label, value in rows}
    assert fields["Size"].strip() == str(size)
    assert fields["Blocks"].strip() == str(math.ceil(size / 512))
    assert fields["Mode"].strip() == "0444 (-r--r--r--)"
    assert f'user.qingstor.size="{size}"' in result.stdout
    as_json = json.loads(storfs({"qingstor.main": qingstor_table(qs)}, "stat", "--json", path).stdout)
    assert as_json["type"] == "file" and as_json["size"] == size


def test_stat_of_a_fixed_directory(seeded: Azurite, storfs) -> None:
    data = json.loads(storfs({"azure.dev": azure_table(seeded)}, "stat", "--json", "/azure/dev").stdout)
    assert (data["type"], data["mode"], data["xattrs"]) == ("dir", "0555", {})


# -- names from servers: escaped like `ls -b`, raw in JSON ---------------------------------------

EVIL = {  # bucket name -> how ls and stat show it
    "red\x1b[31mtext": "red\\033[31mtext",
    "two\nlines": "two\\nlines",
    "tab\there": "tab\\there",
    "c1\x9bcsi": "c1\\233csi",
    "del\x7fx": "del\\177x",
    "back\\slash": "back\\\\slash",
    "plain-é": "plain-é",
}
UNSAFE_CHARS = {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]} - {"\n"}


def assert_safe(text: str) -> None:
    assert not UNSAFE_CHARS & set(text), repr(text)


def test_ls_and_stat_escape_control_characters_in_names(tmp_path: Path) -> None:
    with QingStorServer() as qs:
        for name in EVIL:
            qs.add_bucket(name)
        upload = qs.add_upload("two\nlines", 'key\x1b[2J"q"', upload_id="id\x1b]0;title\x07")
        config = write_config(tmp_path / "c.toml", {"qingstor.main": qingstor_table(qs)})

        def storfs(*argv: str) -> subprocess.CompletedProcess[str]:
            result = run([*STORFS, *argv, "--config", str(config)], env=clean_env(tmp_path))
            assert result.returncode == 0, result.stderr
            assert_safe(result.stdout + result.stderr)
            return result

        buckets = "qingstor/main/buckets"
        in_order = sorted(EVIL)  # as the server lists them
        shown_names = [EVIL[name] for name in in_order]
        assert storfs("ls", buckets).stdout.splitlines() == shown_names
        long = storfs("ls", "-l", buckets).stdout.splitlines()
        assert all(line.endswith(f" {name}") for line, name in zip(long, shown_names, strict=True)), long
        recursive = storfs("ls", "-R", buckets).stdout.splitlines()
        assert f"{buckets}/two\\nlines/uploads/id\\033]0;title\\a" in recursive
        as_json = json_lines(storfs("ls", "-R", "--json", buckets).stdout)
        assert len(recursive) == len(as_json), "one line per entry"
        assert [o["name"] for o in as_json if o["path"].count("/") == 3] == in_order, "raw in JSON"

        upload_path = f"{buckets}/two\nlines/uploads/{upload}"
        shown = storfs("stat", upload_path).stdout.splitlines()
        assert f"{'Path'.rjust(6)}: {buckets}/two\\nlines/uploads/id\\033]0;title\\a" in shown
        assert 'user.qingstor.key="key\\033[2J\\"q\\""' in shown
        full = json.loads(storfs("stat", "--json", upload_path).stdout)
        assert full["name"] == upload and full["xattrs"]["user.qingstor.key"] == 'key\x1b[2J"q"'
        listed = next(o for o in as_json if o["name"] == upload)
        assert listed == {key: full[key] for key in listed}, "ls --json and stat --json agree"

        missing = run(
            [*STORFS, "ls", f"{buckets}/no\x1bsuch", "--config", str(config)], env=clean_env(tmp_path)
        )
        assert missing.returncode == 1 and "no\\033such" in missing.stderr
        assert_safe(missing.stderr)


def test_command_helpers_are_defined_once() -> None:
    """Commands share helpers through commands/common.py and tree_walk.py, never through each other."""
    import storfs.commands
    import storfs.tree_walk

    files = [*sorted(Path(storfs.commands.__file__).parent.glob("*.py")), Path(storfs.tree_walk.__file__)]
    defined: dict[str, list[str]] = {}
    for file in files:
        module = ast.parse(file.read_text())
        for node in module.body:
            if isinstance(node, ast.FunctionDef) and node.name not in ("configure", "run", "render"):
                defined.setdefault(node.name, []).append(file.name)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("storfs.commands."):
                assert node.module == "storfs.commands.common", f"{file.name} imports {node.module}"
    assert {name: where for name, where in defined.items() if len(where) > 1} == {}


# -- doctor --------------------------------------------------------------------------------------


def test_doctor_with_a_good_config(seeded: Azurite, qingstor, storfs) -> None:
    qs, _ = qingstor
    result = storfs({"azure.dev": azure_table(seeded), "qingstor.main": qingstor_table(qs)}, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(line.startswith("✔ ") for line in lines), result.stdout
    assert any(line.startswith("✔ libfuse") for line in lines)
    assert any(line.startswith("✔ /dev/fuse") for line in lines)
    assert any(line.startswith("✔ fusermount") for line in lines)
    assert any(line.startswith("✔ config: ") for line in lines)
    assert any(line.startswith("✔ azure/dev/containers") for line in lines)
    assert any(line.startswith("✔ qingstor/main/buckets") for line in lines)


@pytest.mark.parametrize("wrong", ["azure", "qingstor"])
def test_doctor_names_the_account_with_a_wrong_secret(
    seeded: Azurite, qingstor, storfs, tmp_path, wrong
) -> None:
    qs, _ = qingstor
    secret = WRONG_SECRETS[wrong]
    tables = {
        "azure.dev": azure_table(seeded),
        "qingstor.main": qingstor_table(qs),
        "azure.bad": azure_table(seeded, key=secret) if wrong == "azure" else azure_table(seeded),
        "qingstor.bad": qingstor_table(qs, secret_access_key=secret)
        if wrong == "qingstor"
        else qingstor_table(qs),
    }
    result = storfs(tables, "doctor")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    failed = [i for i, line in enumerate(lines) if line.startswith("✘ ")]
    assert len(failed) == 1, result.stdout
    line, fix = lines[failed[0]], lines[failed[0] + 1].strip()
    assert line.startswith(f"✘ {wrong}/bad/")
    key = "key" if wrong == "azure" else "secret_access_key"
    config = tmp_path / "cli.toml"
    assert (
        fix.startswith("fix: check ") and f"{key} in [{wrong}.bad] of {config}: the server said HTTP" in fix
    )
    assert any(line.startswith(f"✔ {wrong}/dev/") or line.startswith(f"✔ {wrong}/main/") for line in lines)
    assert secret not in result.stdout + result.stderr
    assert secret.rstrip("=") not in result.stdout + result.stderr


def test_every_command_has_examples() -> None:
    for command in ("ls", "stat", "doctor"):
        result = run([*STORFS, command, "--help"])
        assert result.returncode == 0
        assert "examples:" in result.stdout
        assert f"storfs {command}" in result.stdout
