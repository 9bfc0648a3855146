"""The control socket works wherever the temp or runtime directory is, however deep."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storfs.control_socket import PUBLISHED, ControlServer, ask


@pytest.mark.parametrize("depth", [0, 6])
def test_a_socket_in_a_deep_directory_is_served_and_reached(tmp_path: Path, depth: int) -> None:
    runtime = tmp_path.joinpath(*["d" * 30] * depth)
    runtime.mkdir(parents=True, mode=0o700, exist_ok=True)
    server = ControlServer(lambda request: {"echo": request["op"]}, env={"XDG_RUNTIME_DIR": str(runtime)})
    server.start()
    path = server.path
    try:
        assert path is not None and path.parent == runtime / f"storfs-{os.getuid()}"
        if depth:
            assert len(os.fsencode(path)) > 108, "longer than an AF_UNIX address can be"
        mnt = tmp_path / "mnt"
        (mnt / ".storfs").mkdir(parents=True)
        (mnt / ".storfs" / PUBLISHED).write_bytes(server.published() or b"")
        assert ask(mnt, {"op": "ping"}) == {"echo": "ping"}
    finally:
        server.stop()
    assert not path.exists(), "the socket goes with the server"
