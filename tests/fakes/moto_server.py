"""moto's standalone S3 server in a subprocess on a free loopback port, with a boto3 client for it.

moto is an independent S3 implementation (it accepts any signature and ignores some paging
parameters, which the strict fake in ``s3_server.py`` covers). Run as a module, it serves until
stdin closes: ``python -m tests.fakes.moto_server`` prints ``PORT <n>`` once it listens.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Self

ACCESS_KEY_ID = "AKIAMOTOEXAMPLE00001"
SECRET = "motoSecretExampleKey0000000000000000000001"
REGION = "us-east-1"
START_TIMEOUT = 60.0


class MotoServer:
    """`with MotoServer() as moto:` -> `moto.url`, `moto.client()` (boto3, path style)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
        for name in ("AWS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY"):
            env.pop(name, None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.moto_server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        line = self.process.stdout.readline()
        if not line.startswith("PORT ") or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"moto did not start (said {line!r})")
        self.port = int(line.split()[1])
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def client(self, region: str = REGION) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def table(self, **overrides: Any) -> dict[str, Any]:
        """A `[s3.<name>]` table for this server."""
        return {
            "access_key_id": ACCESS_KEY_ID,
            "secret_access_key": SECRET,
            "endpoint": self.url,
            "region": REGION,
            **overrides,
        }

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve() -> None:
    import threading

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(f"PORT {server.get_host_and_port()[1]}", flush=True)
    stopper = threading.Thread(target=sys.stdin.read, daemon=True)
    stopper.start()
    stopper.join()
    server.stop()


if __name__ == "__main__":
    _serve()
