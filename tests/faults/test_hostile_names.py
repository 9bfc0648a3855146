"""Names and data an attacker controls (bucket and vault names, upload ids, dates, sizes): never a
crash, never an alias of another entry; unusable names and repeats are skipped with ONE warning per
listing that says how many; a date or size that does not parse is EIO, never made up."""

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
        {"VaultName": "ok-1", "VaultId": "A1", "CreationDate": "Tue, 18 Mar 2014 12:00:00 GMT"},
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


def test_dates_and_sizes_that_do_not_parse_are_eio_never_made_up(
    make: MakeBackend, mounts: MountFactory
) -> None:
    """A 1970 date would make `find -mtime +7` call a fresh upload abandoned, a size of 0 make `du`
    lie: the page is refused (EIO, one log line naming the field), and the mount goes on."""
    qingstor: Backend = make("qingstor")
    oas: Backend = make("oas")
    azure: Backend = make("azure")
    qs, vaults = qingstor.server, oas.server
    assert qs is not None and vaults is not None
    qs.add_bucket("good", created="2015-07-11T04:45:57Z")
    upload = qs.add_upload("good", "some/key", upload_id="up-1", created="2015-07-11T04:45:57Z")
    qs.add_part("good", upload, 1, 100)
    m = mounts({"qingstor.main": qingstor.table(), "oas.main": oas.table(), "azure.main": azure.table()})
    parts = qingstor.listing(m) / "good" / "uploads" / "up-1" / "parts"

    def refused(path: Path, field: str) -> None:
        watch = LogWatch(m)
        with pytest.raises(OSError) as raised:
            os.listdir(path)
        assert raised.value.errno == errno.EIO, raised.value
        problems = watch.problems()
        assert any(f"`{field}` that is not a" in line for line in problems), problems
        assert "Traceback" not in watch.text()

    assert os.stat(parts.parent).st_mtime == 1436589957  # the bucket and the upload listed, not the parts
    for part in ({"size": 2**63, "created": "2015-07-11T04:45:57Z"}, {"size": 100, "created": "soon"}):
        canned = {"count": 1, "object_parts": [{"part_number": 1, "etag": "e", **part}]}
        qingstor.answer(json.dumps(canned).encode())
        refused(parts, "size" if part["size"] != 100 else "created")
    assert listed(parts) == ["00001"]  # the server's own answer again: nothing was cached short

    vaults.add_vault("bad-vault", creation_date="yesterday", size_in_bytes=7)
    refused(oas.listing(m), "CreationDate")
    azure.answer(azure_page([], "", containers=azure_container("odd", last_modified="not a date")))
    refused(azure.listing(m), "Last-Modified")
    qs.add_bucket("bad-date", created="the day before yesterday")
    assert listed(parts) == ["00001"]  # the listings cached before are still served
    assert m.alive
    m = mounts({"qingstor.main": qingstor.table()})  # a fresh mount lists the buckets again
    refused(qingstor.listing(m), "created")
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
