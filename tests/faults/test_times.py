"""Times a server writes reach every surface exactly: `st_*time_ns`, `ls --full-time`, `stat -c`,
and `storfs ls --json` / `storfs stat --json` agree to the nanosecond, before 1970 and in year 1."""

from __future__ import annotations

import json
import os
import sys

from tests.faults.conftest import MakeBackend, MountFactory
from tests.faults.tooling import Backend
from tests.harness import run

NS = 10**9
UTC = {**os.environ, "TZ": "UTC", "LC_ALL": "C"}
TIMES = {
    "frac": ("2016-12-25T16:02:05.678Z", 1482681725 * NS + 678_000_000, "2016-12-25 16:02:05.678000000"),
    "pre-epoch": ("1969-12-31T23:59:59.5Z", -NS // 2, "1969-12-31 23:59:59.500000000"),
    "year-1": ("0001-01-01T00:00:00Z", -62_135_596_800 * NS, "0001-01-01 00:00:00.000000000"),
}
JSON_TIMES = {
    "frac": "2016-12-25T16:02:05.678000000Z",
    "pre-epoch": "1969-12-31T23:59:59.500000000Z",
    "year-1": "0001-01-01T00:00:00Z",
}


def test_times_agree_on_every_surface(make: MakeBackend, mounts: MountFactory) -> None:
    qingstor: Backend = make("qingstor")
    assert qingstor.server is not None
    for name, (created, _, _) in TIMES.items():
        qingstor.server.add_bucket(name, created=created)
    m = mounts({"qingstor.main": qingstor.table(page_size=100)})
    top = qingstor.listing(m)

    # readdirplus fills the attributes here...
    listing = run(["ls", "--full-time", str(top)], env=UTC)
    assert listing.returncode == 0, listing.stderr
    for name, (_, _ns, shown) in TIMES.items():
        assert any(line.endswith(f" {shown} +0000 {name}") for line in listing.stdout.splitlines()), (
            name,
            listing.stdout,
        )
    # ...and a lookup of each name answers getattr from the stat dict: both must be exact.
    for name, (_, ns, shown) in TIMES.items():
        st = os.stat(top / name)
        assert (st.st_mtime_ns, st.st_ctime_ns) == (ns, ns), name
        stat = run(["stat", "-c", "%y|%z|%Y", str(top / name)], env=UTC)
        assert stat.stdout.strip() == f"{shown} +0000|{shown} +0000|{ns // NS}", stat.stdout

    command = [
        sys.executable,
        "-m",
        "storfs",
        "ls",
        "--json",
        "--config",
        str(m.config),
        "qingstor/main/buckets",
    ]
    result = run(command, env=UTC)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}
    for name in TIMES:
        row = rows[name]
        assert (row["mtime"], row["ctime"], row["mode"], row["type"]) == (JSON_TIMES[name],) * 2 + (
            "0555",
            "dir",
        )
    one = run(
        [
            sys.executable,
            "-m",
            "storfs",
            "stat",
            "--json",
            "--config",
            str(m.config),
            "qingstor/main/buckets/frac",
        ],
        env=UTC,
    )
    assert one.returncode == 0, one.stderr
    described = json.loads(one.stdout)
    assert (described["mtime"], described["ctime"]) == (JSON_TIMES["frac"],) * 2
