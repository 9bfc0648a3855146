"""Writes through the mount fail with EROFS and send nothing but GET or HEAD to any server.

(Every other fault test gets the same "only GET and HEAD" check after it, from conftest.)"""

from __future__ import annotations

from tests.faults.conftest import MakeBackend, MountFactory
from tests.faults.tooling import KINDS, methods_of, mutating_requests
from tests.harness import run

WRITES = [
    "touch {d}/new",
    "mkdir {d}/new",
    "rmdir {d}/entry-001",
    "mv {d}/entry-001 {d}/moved",
    "setfattr -n user.x -v 1 {d}/entry-001",
    "chmod 777 {d}/entry-001",
    "truncate -s 0 {d}/entry-001",
    "ln -s x {d}/link",
    "rm -rf {d}/entry-002",
]


def test_no_mutating_request_was_ever_sent(make: MakeBackend, mounts: MountFactory) -> None:
    backends = [make(kind) for kind in KINDS]
    m = mounts({f"{b.provider}.main": b.table() for b in backends})
    for backend in backends:
        top = backend.listing(m)
        assert run(["ls", str(top)]).returncode == 0
        for command in WRITES:
            result = run(command.format(d=top))
            assert result.returncode != 0, command
            refusal = ("Read-only file system", "Is a directory")  # truncate opens a directory
            assert any(text in result.stderr for text in refusal), (command, result.stderr)
    recorders = [backend.proxy for backend in backends]
    seen = [methods_of(r) for r in recorders]
    assert all(sum(counts.values()) > 0 for counts in seen), "a proxy recorded nothing"
    assert mutating_requests(recorders) == {}, "a mutating HTTP method reached a proxy"
