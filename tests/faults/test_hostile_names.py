"""Names and data an attacker controls (bucket and vault names, upload ids, dates, sizes): never a
crash, never an alias of another entry; unusable names and repeats are skipped with ONE warning per
listing that says how many; unparsable dates and sizes keep the entry and the raw value."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import pytest

from tests.backends import azure_container, azure_page, qingstor_bucket
from tests.faults.conftest import MakeBackend, MountFactory
from tests.faults.tooling import Backend, LogWatch
from tests.harness import run

# Names a file system cannot hold; the listing must skip each of them.
UNUSABLE = ["", ".", "..", "a/b", "../escape", "/", "nul\0byte", "x" * 256, "é" * 128]
# Hostile-looking names that are valid file names; each must appear exactly as sent.
USABLE = ["a", "b", "with space", "été", "x" * 255, "é" * 127 + "x", "-rf", "*", "new\\nline", "ok"]


def listed(path: Path) -> list[str]:
    return sorted(os.listdir(path))


def skip_warning(watch: LogWatch, skipped: int) -> None:
    problems = watch.problems()
    assert len(problems) == 1, f"expected ONE warning for the listing, got {len(problems)}:\n" + "\n".join(
        problems
    )
    assert re.search(rf"\b{skipped}\b", problems[0]), (
        f"the warning must say {skipped} were skipped: {problems[0]}"
    )
    assert "Traceback" not in watch.text()


def test_qingstor_bucket_names(make: MakeBackend, mounts: MountFactory) -> None:
    backend: Backend = make("qingstor")
    qs = backend.server
    assert qs is not None
    for name in USABLE + UNUSABLE:
        qs.add_bucket(name, location="pek3a")
    m = mounts({"qingstor.main": backend.table()})
    top = backend.listing(m)
    watch = LogWatch(m)
    names = listed(top)
    expected = sorted(set(backend.names()) | set(USABLE))
    assert names == expected
    skip_warning(watch, len(UNUSABLE))
    for name in USABLE:  # each is itself, not an alias of another entry
        assert os.getxattr(top / name, "user.qingstor.name").decode() == name
        assert sorted(os.listdir(top / name)) == ["objects", "uploads"]
    with pytest.raises(FileNotFoundError):
        os.stat(top / "a" / "b")  # "a/b" is not "a" plus a child
    with pytest.raises(FileNotFoundError):
        os.stat(top / "nul")
    assert m.alive


def test_qingstor_upload_ids(make: MakeBackend, mounts: MountFactory) -> None:
    backend: Backend = make("qingstor")
    qs = backend.server
    assert qs is not None
    qs.add_bucket("hostile")
    bad = [".", "..", "a/b", "nul\0byte", "u" * 256, "../../etc"]
    good = ["a", "good 1", "upload-ü", "u" * 255]
    for i, upload_id in enumerate(good + bad):
        qs.add_upload("hostile", f"key-{i:02d}", upload_id=upload_id)
    m = mounts({"qingstor.main": backend.table()})
    uploads = m.path("qingstor", "main", "buckets", "hostile", "uploads")
    assert "hostile" in os.listdir(backend.listing(m))
    watch = LogWatch(m)
    assert listed(uploads) == sorted(good)
    skip_warning(watch, len(bad))
    for upload_id in good:
        assert os.getxattr(uploads / upload_id, "user.qingstor.upload_id").decode() == upload_id
        assert os.listdir(uploads / upload_id) == ["parts"]


def test_oas_vault_names_and_a_duplicate_where_the_first_wins(
    make: MakeBackend, mounts: MountFactory
) -> None:
    backend: Backend = make("oas")
    oas = backend.server
    assert oas is not None
    for i, name in enumerate(USABLE + UNUSABLE):
        oas.add_vault(name, vault_id=f"H{i:031X}", size_in_bytes=10 + i)
    # Same name twice: "dup" with the smaller VaultId is listed first and must win.
    oas.add_vault("dup", vault_id="D" + "0" * 31, size_in_bytes=111)
    oas.add_vault("dup", vault_id="D" + "0" * 30 + "1", size_in_bytes=222)
    m = mounts({"oas.main": backend.table()})
    top = backend.listing(m)
    watch = LogWatch(m)
    assert listed(top) == sorted(set(backend.names()) | set(USABLE) | {"dup"})
    skip_warning(watch, len(UNUSABLE) + 1)
    assert os.getxattr(top / "dup", "user.oas.vault_id").decode() == "D" + "0" * 31
    assert os.stat(top / "dup").st_size == 111
    for name in USABLE:
        assert os.getxattr(top / name, "user.oas.vault_name").decode() == name


def test_lone_surrogates_and_invalid_utf8_names_are_skipped(make: MakeBackend, mounts: MountFactory) -> None:
    qingstor: Backend = make("qingstor")
    oas: Backend = make("oas")
    m = mounts({"qingstor.main": qingstor.table(page_size=100), "oas.main": oas.table(page_size=10)})
    buckets = [qingstor_bucket(n) for n in ("ok-1", "\ud800", "lone\udfffsurrogate", "ok-2")]
    # A good name whose other fields hold a lone surrogate: its attributes must not crash anything.
    buckets.append(qingstor_bucket("ok-3", location="\ud800"))
    qingstor.answer(json.dumps({"count": len(buckets), "buckets": buckets}).encode())
    vaults = [
        {"VaultName": "ok-1", "VaultId": "A1", "CreationDate": "x"},
        {"VaultName": "\ud800", "VaultId": "A2"},
        {"VaultName": "bad\udc80", "VaultId": "A3"},
        {"VaultName": "ok-2", "VaultId": "A4", "Note": "\udc80"},
    ]
    oas.answer(json.dumps({"Marker": "", "VaultList": vaults}).encode())

    watch = LogWatch(m)
    assert listed(qingstor.listing(m)) == ["ok-1", "ok-2", "ok-3"]
    skip_warning(watch, 2)
    watch = LogWatch(m)
    assert listed(oas.listing(m)) == ["ok-1", "ok-2"]
    skip_warning(watch, 2)
    for path in (qingstor.listing(m) / "ok-3", oas.listing(m) / "ok-2"):
        dumped = run(["getfattr", "-d", "--absolute-names", str(path)])
        assert dumped.returncode == 0, dumped.stderr
    assert "Traceback" not in m.log()
    assert m.alive


def test_unparsable_dates_and_sizes_keep_the_entry_and_the_raw_value(
    make: MakeBackend, mounts: MountFactory
) -> None:
    qingstor: Backend = make("qingstor")
    oas: Backend = make("oas")
    azure: Backend = make("azure")
    qs, vaults = qingstor.server, oas.server
    assert qs is not None and vaults is not None
    qs.add_bucket("bad-date", created="the day before yesterday")
    upload = qs.add_upload("bad-date", "some/key", upload_id="up-1", created="2016-13-45T99:99:99Z")
    qs.add_part("bad-date", upload, 1, 100)
    vaults.add_vault(
        "bad-vault",
        creation_date="yesterday",
        last_inventory_date="31/02/2014 25:61",
        size_in_bytes=-12,  # an integer, as documented, that no file can have
        number_of_archives=2**64,
    )
    m = mounts({"qingstor.main": qingstor.table(), "oas.main": oas.table(), "azure.main": azure.table()})

    bucket = qingstor.listing(m) / "bad-date"
    assert os.stat(bucket).st_mtime == 0
    assert os.getxattr(bucket, "user.qingstor.created") == b"the day before yesterday"
    upload_dir = bucket / "uploads" / "up-1"
    assert os.stat(upload_dir).st_mtime == 0
    assert os.getxattr(upload_dir, "user.qingstor.created") == b"2016-13-45T99:99:99Z"
    # A part whose size and date do not parse (the fake only stores integers: a canned answer).
    parts = {"count": 1, "object_parts": [{"part_number": 1, "size": 2**63, "created": "soon", "etag": "e"}]}
    qingstor.answer(json.dumps(parts).encode())
    part = upload_dir / "parts" / "00001"
    assert os.listdir(upload_dir / "parts") == ["00001"]
    st = os.stat(part)
    assert (st.st_size, st.st_mtime) == (0, 0)
    assert os.getxattr(part, "user.qingstor.size") == str(2**63).encode()
    assert os.getxattr(part, "user.qingstor.created") == b"soon"

    vault = oas.listing(m) / "bad-vault"
    st = os.stat(vault)
    assert (st.st_size, st.st_mtime) == (0, 0)
    assert os.getxattr(vault, "user.oas.size_in_bytes") == b"-12"
    assert os.getxattr(vault, "user.oas.creation_date") == b"yesterday"
    assert os.getxattr(vault, "user.oas.last_inventory_date") == b"31/02/2014 25:61"
    assert os.getxattr(vault, "user.oas.number_of_archives") == str(2**64).encode()

    azure.answer(azure_page([], "", containers=azure_container("odd", last_modified="not a date")))
    container = azure.listing(m) / "odd"
    assert os.listdir(azure.listing(m)) == ["odd"]
    assert os.stat(container).st_mtime == 0
    assert os.getxattr(container, "user.azure.last_modified") == b"not a date"
    with pytest.raises(OSError) as opened:
        open(part, "rb")  # noqa: SIM115
    assert opened.value.errno == errno.EOPNOTSUPP
    assert m.alive


def test_an_azure_container_with_an_empty_name_is_skipped_not_the_listing(
    make: MakeBackend, mounts: MountFactory
) -> None:
    """The README says unusable names are skipped; an empty <Name> once failed the whole listing."""
    azure: Backend = make("azure")
    m = mounts({"azure.main": azure.table()})
    containers = "".join(azure_container(n) for n in ("", "ok-1", "", "ok-2"))
    azure.answer(azure_page([], "", containers=containers))
    watch = LogWatch(m)
    result = run(["ls", str(azure.listing(m))])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok-1", "ok-2"]
    skip_warning(watch, 2)
    assert os.getxattr(azure.listing(m) / "ok-2", "user.azure.lease_state") == b"available"


def test_colliding_field_names_stay_apart_and_readable(make: MakeBackend, mounts: MountFactory) -> None:
    """`métier`/`mètier` and `a b`/`a_b` once became one xattr name, hiding the later value."""
    qingstor: Backend = make("qingstor")
    m = mounts({"qingstor.main": qingstor.table(page_size=100)})
    extra = {"métier": "1", "mètier": "2", "a b": "3", "a_b": "4", "100%": "5"}
    qingstor.answer(json.dumps({"count": 1, "buckets": [qingstor_bucket("b", **extra)]}).encode())
    bucket = qingstor.listing(m) / "b"
    assert os.listdir(qingstor.listing(m)) == ["b"]
    for key, value in extra.items():
        name = "user.qingstor." + "".join(
            c if c.isascii() and (c.isalnum() or c in "_.-") else "".join(f"%{b:02X}" for b in c.encode())
            for c in key
        )
        assert os.getxattr(bucket, name) == value.encode(), name
    dumped = run(["getfattr", "-d", "--absolute-names", str(bucket)])
    assert dumped.returncode == 0, dumped.stderr
    assert "user.qingstor.a%20b=" in dumped.stdout and "user.qingstor.m%C3%A9tier=" in dumped.stdout
