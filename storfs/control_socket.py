"""A user-owned Unix socket beside each mount, so tools can steer it without writing to it."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import socketserver
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def socket_path(mountpoint: Path | str, env: dict[str, str] | None = None) -> Path:
    """Where the control socket of the mount at `mountpoint` lives (private to this user)."""
    env = dict(os.environ) if env is None else env
    base = Path(env["XDG_RUNTIME_DIR"]) if env.get("XDG_RUNTIME_DIR") else Path(tempfile.gettempdir())
    name = hashlib.sha256(str(Path(mountpoint).absolute()).encode()).hexdigest()[:16]
    return base / f"storfs-{os.getuid()}" / f"{name}.sock"


class ControlServer:
    """Serves one JSON request per connection: `{"op": ...}` -> the handler's JSON answer."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self._handler = handler
        self._server: socketserver.ThreadingUnixStreamServer | None = None

    def start(self) -> ControlServer:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.path.parent.stat().st_uid != os.getuid():
            raise PermissionError(f"{self.path.parent} belongs to another user")
        os.chmod(self.path.parent, 0o700)
        self.path.unlink(missing_ok=True)
        handler = self._handler

        class Connection(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                try:
                    request = json.loads(self.rfile.readline(65536) or b"{}")
                    answer = handler(request) if isinstance(request, dict) else {"error": "bad request"}
                except Exception as exc:  # one bad request must not stop the server
                    log.warning("control request failed: %s", exc)
                    answer = {"error": str(exc)}
                self.wfile.write(json.dumps(answer).encode() + b"\n")

        self._server = socketserver.ThreadingUnixStreamServer(str(self.path), Connection)
        self._server.daemon_threads = True
        os.chmod(self.path, 0o600)
        threading.Thread(target=self._server.serve_forever, name="storfs-control", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self.path.unlink(missing_ok=True)


def ask(mountpoint: Path | str, request: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    """Send one request to the mount's control socket and return its answer."""
    path = socket_path(mountpoint)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(str(path))
        conn.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    answer = json.loads(data or b"{}")
    return answer if isinstance(answer, dict) else {"error": "bad answer"}
