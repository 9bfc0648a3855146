"""A user-owned Unix socket beside each mount, so tools can steer it without writing to it.

The mount publishes the socket's absolute path in `<mnt>/.storfs/socket`; tools read it there, so
they find the socket whatever their environment (`XDG_RUNTIME_DIR`, `TMPDIR`) or the path they
reached the mount by.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import socketserver
import stat as statmod
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], dict[str, Any]]

#: The control file (under `<mnt>/.storfs/`) holding the socket's absolute path and a newline.
PUBLISHED = "socket"

#: Longest path `sun_path` takes (108 bytes on Linux, with its NUL).
_SUN_PATH_MAX = 107


class ControlError(Exception):
    """The mount publishes no usable control socket."""


def private_dir(env: Mapping[str, str] | None = None) -> tuple[Path, bool]:
    """A directory only this user can enter, and whether it was made fresh (to remove at the end).

    `$XDG_RUNTIME_DIR/storfs-<uid>`, else `storfs-<uid>` in the temp directory, when it is a real
    directory (not a symlink) owned by this user with no group or other permissions; anything
    else there may be another user's trap, so then a fresh `mkdtemp` directory. Never chmods.
    """
    env = os.environ if env is None else env
    base = env.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    shared = os.path.join(os.path.abspath(base), f"storfs-{os.getuid()}")
    with contextlib.suppress(OSError):  # exists already, or base unusable: decided below
        os.mkdir(shared, 0o700)  # never follows a symlink at `shared`
    try:
        st = os.lstat(shared)
    except OSError as exc:
        reason = exc.strerror or str(exc)
    else:
        if not statmod.S_ISDIR(st.st_mode):
            reason = "not a directory (a symlink?)"
        elif st.st_uid != os.getuid():
            reason = f"owned by uid {st.st_uid}"
        elif st.st_mode & 0o077:
            reason = f"mode {statmod.S_IMODE(st.st_mode):04o} lets others in"
        else:
            return Path(shared), False
    log.warning("not using %s for the control socket (%s); using a fresh directory", shared, reason)
    return Path(tempfile.mkdtemp(prefix="storfs-")), True


@contextlib.contextmanager
def _address(path: Path) -> Iterator[str]:
    """An address that reaches `path` for bind/connect, even when `path` is longer than `sun_path`.

    A long path goes through `/proc/self/fd/<n>/` of its directory, opened only for the call;
    the socket itself stays at `path`.
    """
    text = os.fsdecode(path)
    short = len(os.fsencode(text)) <= _SUN_PATH_MAX
    if short or not hasattr(os, "O_PATH") or not os.path.isdir("/proc/self/fd"):  # not Linux: as it is
        yield text
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


class ControlServer:
    """Serves one JSON request per connection: `{"op": ...}` -> the handler's JSON answer."""

    def __init__(self, handler: Handler, env: Mapping[str, str] | None = None) -> None:
        self._handler = handler
        self._env = env
        #: The socket's absolute path while serving, else None.
        self.path: Path | None = None
        self._fresh_dir: Path | None = None
        self._server: socketserver.ThreadingUnixStreamServer | None = None

    def start(self) -> ControlServer:
        directory, fresh = private_dir(self._env)
        path = directory / f"{os.getpid()}-{secrets.token_hex(4)}.sock"
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

        try:
            with _address(path) as address:
                server = socketserver.ThreadingUnixStreamServer(address, Connection)
        except OSError:
            if fresh:
                directory.rmdir()
            raise
        os.chmod(path, 0o600)  # our own new socket, inside our private directory
        server.daemon_threads = True
        self._server, self.path, self._fresh_dir = server, path, directory if fresh else None
        threading.Thread(target=server.serve_forever, name="storfs-control", daemon=True).start()
        return self

    def published(self) -> bytes | None:
        """The content of `<mnt>/.storfs/socket`: the socket's path and a newline; None if not serving."""
        return None if self.path is None else os.fsencode(self.path) + b"\n"

    def stop(self) -> None:
        if self._server is None or self.path is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self.path.unlink(missing_ok=True)
        if self._fresh_dir is not None:
            with contextlib.suppress(OSError):
                self._fresh_dir.rmdir()
        self._server = self.path = self._fresh_dir = None


def published_socket(mountpoint: Path | str) -> Path:
    """The socket the storfs mount at `mountpoint` publishes in `<mnt>/.storfs/socket`.

    FileNotFoundError if there is no such file; ControlError if what it names is not a socket
    of this user's.
    """
    with open(Path(mountpoint) / ".storfs" / PUBLISHED, "rb") as handle:
        content = handle.read(4097)
    text = os.fsdecode(content.removesuffix(b"\n"))
    if not content.endswith(b"\n") or "\n" in text or "\0" in text or not os.path.isabs(text):
        raise ControlError(f"{mountpoint}/.storfs/{PUBLISHED} does not hold a socket path")
    try:
        st = os.lstat(text)
    except OSError as exc:
        raise ControlError(f"the control socket {text} is gone: {exc.strerror}") from None
    if not statmod.S_ISSOCK(st.st_mode):
        raise ControlError(f"{text} is not a socket")
    if st.st_uid != os.getuid():
        raise ControlError(f"the control socket {text} belongs to another user")
    return Path(text)


def ask(mountpoint: Path | str, request: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    """Send one request to the control socket of the mount at `mountpoint` and return its answer."""
    path = published_socket(mountpoint)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        with _address(path) as address:
            conn.connect(address)
        conn.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    answer = json.loads(data or b"{}")
    return answer if isinstance(answer, dict) else {"error": "bad answer"}
