"""A real `redis-server` (Debian's package) on a free loopback port, without persistence.

`stop()` and `start()` again reuse the same port, so a client sees an outage and then the server
back. Never imports storfs.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from typing import Self

from tests.harness import stop_process


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, password: str | None = None, tls: tuple[str, str] | None = None) -> None:
        """`tls=(certfile, keyfile)`: TLS only (rediss://), the certificate also its own CA."""
        self.password = password
        self.tls = tls
        self.port = _free_port()
        self._dir = tempfile.mkdtemp(prefix="storfs-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is missing: run scripts/setup (Debian package redis-server)")
        ports = ["--port", str(self.port)]
        if self.tls:
            cert, key = self.tls
            ports = [
                "--port",
                "0",
                "--tls-port",
                str(self.port),
                "--tls-cert-file",
                cert,
                "--tls-key-file",
                key,
            ]
            ports += ["--tls-ca-cert-file", cert, "--tls-auth-clients", "no"]
        args = [binary, "--bind", "127.0.0.1", *ports, "--save", "", "--appendonly", "no"]
        args += ["--dir", self._dir, "--daemonize", "no", "--loglevel", "warning"]
        if self.password:
            args += ["--requirepass", self.password]
        self._proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self._proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as raw:
                    conn = raw
                    if self.tls:
                        context = ssl.create_default_context(cafile=self.tls[0])
                        conn = context.wrap_socket(raw, server_hostname="127.0.0.1")
                    conn.sendall(b"PING\r\n")
                    answer = conn.recv(64)
                if answer.startswith((b"+PONG", b"-NOAUTH")):
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on 127.0.0.1:{self.port} within {timeout}s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        stop_process(proc)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
