"""Scenarios 8 and 9: S3 on moto, storfs beside rclone mount and s3fs, requests counted in a proxy.

8. cold `ls -l` of `buckets/` (ListBuckets);
9. `find` over one bucket of 10,000 objects in 100 prefixes (ListObjectsV2). s3fs mounts one
   bucket, rclone the same bucket as `remote:bucket`, storfs the bucket's `objects/`; beside
   them the floor, "a perfect client": a bare `requests` loop over the bucket's flat pages
   (`python3 -m bench.s3 --floor URL`, in a process of its own), what any client receiving
   every key from this server pays at least.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.etree.ElementTree import fromstring

import requests

from bench.measure import find_all, ls_l
from bench.mounts import MOUNT_TIMEOUT, RcloneMount, StorfsMount, rclone_available, stop_peer
from bench.report import Measure, Results
from storfs.providers.s3.signer import SigV4Auth
from tests.fakes.counting_proxy import CountingProxy
from tests.fakes.moto_server import ACCESS_KEY_ID, REGION, SECRET, MotoServer

BACKEND = "moto (S3) behind a counting proxy"
BUCKETS = 500
PREFIXES, PER_PREFIX = 100, 100
WALK_BUCKET = "walk"
REMOTE = "benchs3"
WALK_REMOTE = "benchs3walk"  # an rclone alias of benchs3:walk
S3_PAGE = 1000
FLOOR = "floor: bare requests loop"
REPO = Path(__file__).resolve().parent.parent


class S3Rows:
    """The rows of scenarios 8 and 9 (one `find` row per peer, plus the request target)."""

    def __init__(self, results: Results) -> None:
        objects = PREFIXES * PER_PREFIX
        label = f"cold ls -l of {BUCKETS} S3 buckets"
        self.ls_wall = results.row("8", f"{label}, wall s", "s", "rclone", BUCKETS, BACKEND)
        self.ls_reqs = results.row("8", f"{label}, ListBuckets reqs", "requests", "rclone", BUCKETS, BACKEND)
        label = f"find over 1 bucket, {objects:,} objects in {PREFIXES} prefixes"
        self.peers = {"rclone": rclone_available(), "s3fs": shutil.which("s3fs") is not None}
        self.walls = {p: results.row("9", f"{label}, wall s", "s", p, objects, BACKEND) for p in self.peers}
        reqs = f"{label}, ListObjects reqs"
        self.reqs = {p: results.row("9", reqs, "requests", p, objects, BACKEND) for p in self.peers}
        self.target = results.row("9", reqs, "requests", "target ceil(N/1000)+2", objects, BACKEND)
        self.target.other.add(math.ceil(objects / S3_PAGE) + 2)
        self.floor_wall = results.row("9", f"{label}, wall s", "s", FLOOR, objects, BACKEND)
        self.floor_reqs = results.row("9", reqs, "requests", FLOOR, objects, BACKEND)
        for peer, present in self.peers.items():
            if not present:
                self.walls[peer].other.na = self.reqs[peer].other.na = f"n/a (no {peer})"


def s3_bench(results: Results, workdir: Path, reps: int, say: Callable[[str], None]) -> None:
    rows = S3Rows(results)
    with MotoServer() as moto:
        started = time.monotonic()
        seed(moto)
        took = time.monotonic() - started
        say(f"S3: moto seeded with {BUCKETS} buckets and {PREFIXES * PER_PREFIX:,} objects ({took:.1f}s)")
        with CountingProxy(moto.url) as proxy:
            for rep in range(reps):
                _storfs(rows, workdir, rep, moto.table(endpoint=proxy.url), proxy, say)
                _floor(rows, rep, proxy, say)
                if rows.peers["rclone"]:
                    _rclone(rows, workdir, rep, proxy, say)
                if rows.peers["s3fs"]:
                    _s3fs(rows, workdir, rep, proxy, say)


EXPECT_FIND = 1 + PREFIXES + PREFIXES * PER_PREFIX  # the bucket's root, the prefixes, the objects


def _storfs(rows: S3Rows, workdir: Path, rep: int, table: dict, proxy: CountingProxy, say: Callable) -> None:
    tables = {"s3.bench": table, "cache": {"ttl": 60, "max_entries": 100_000}}
    with StorfsMount(workdir, f"storfs-s3-{rep}", tables) as mount:
        buckets = mount.mountpoint / "s3" / "bench" / "buckets"
        measure(rows.ls_wall.storfs, rows.ls_reqs.storfs, proxy, "/", ls_l, buckets, BUCKETS, 300)
    wall, count = Measure(), Measure()
    with StorfsMount(workdir, f"storfs-s3w-{rep}", tables) as mount:
        walk = mount.mountpoint / "s3" / "bench" / "buckets" / WALK_BUCKET / "objects"
        measure(wall, count, proxy, "list", find_all, walk, EXPECT_FIND, 600)
    for peer in rows.peers:  # one cold walk, set beside each peer's
        for source, sink in ((wall, rows.walls[peer].storfs), (count, rows.reqs[peer].storfs)):
            sink.add(source.samples[0] if source.samples else None, source.failed)
    rows.target.storfs.add(count.samples[0] if count.samples else None, count.failed)
    for source, sink in ((wall, rows.floor_wall.storfs), (count, rows.floor_reqs.storfs)):
        sink.add(source.samples[0] if source.samples else None, source.failed)
    listed = _last(rows.ls_wall.storfs)
    say(f"S3 rep {rep + 1}: storfs ls -l {listed}s, find {_last(wall)}s, {_last(count)} reqs")


def _floor(rows: S3Rows, rep: int, proxy: CountingProxy, say: Callable) -> None:
    """One run of the floor (`floor_walk`) through the same proxy, in a process of its own (so
    the proxy in this process does not share its GIL); only the loop is timed."""
    proxy.reset()
    command = [sys.executable, "-m", "bench.s3", "--floor", proxy.url]
    seconds: float | None = None
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600, check=False)
        lines = done.stdout.strip().splitlines()
        result = json.loads(lines[-1]) if lines else {"error": done.stderr.strip()[-300:]}
    except (subprocess.TimeoutExpired, ValueError) as exc:
        result = {"error": str(exc)}
    if "error" in result:
        problem: str | None = f"floor: {result['error']}"
    elif result["keys"] != PREFIXES * PER_PREFIX:
        problem = f"floor listed {result['keys']} keys, want {PREFIXES * PER_PREFIX}"
    else:
        seconds, problem = float(result["seconds"]), None
    rows.floor_wall.other.add(seconds, problem)
    listed = sum(1 for r in proxy.requests if r.method == "GET" and r.path.rstrip("/") == f"/{WALK_BUCKET}")
    rows.floor_reqs.other.add(None if problem else listed, problem)
    took = f"{seconds:.3f}s" if seconds is not None else f"FAILED ({problem})"
    say(f"S3 rep {rep + 1}: floor {took}, {listed} reqs")


def floor_walk(endpoint: str, bucket: str = WALK_BUCKET, page: int = S3_PAGE) -> tuple[int, int]:
    """(keys, pages) of `bucket` listed flat by a bare `requests` loop: ListObjectsV2 pages one
    after the other (continuation tokens are sequential), each parsed by ElementTree for its
    keys and next token, signed by storfs's SigV4 signer (microseconds a request)."""
    auth = SigV4Auth(ACCESS_KEY_ID, SECRET, REGION)
    keys = pages = 0
    token: str | None = None
    with requests.Session() as session:
        session.trust_env = False
        while pages < 1000:
            query = {"list-type": "2", "max-keys": str(page)}
            if token is not None:
                query["continuation-token"] = token
            response = session.get(f"{endpoint}/{bucket}", params=query, auth=auth, timeout=(5, 120))
            response.raise_for_status()
            root = fromstring(response.content)
            keys += len(root.findall("{*}Contents/{*}Key"))
            pages += 1
            if (root.findtext("{*}IsTruncated") or "").strip() != "true":
                return keys, pages
            token = root.findtext("{*}NextContinuationToken") or ""
    raise RuntimeError("more than 1000 pages")


def _rclone(rows: S3Rows, workdir: Path, rep: int, proxy: CountingProxy, say: Callable) -> None:
    env = rclone_remote(proxy.url)
    with RcloneMount(workdir, f"rclone-s3-{rep}", env, REMOTE) as rclone:
        measure(rows.ls_wall.other, rows.ls_reqs.other, proxy, "/", ls_l, rclone.mountpoint, BUCKETS, 300)
    wall, reqs = rows.walls["rclone"].other, rows.reqs["rclone"].other
    with RcloneMount(workdir, f"rclone-s3w-{rep}", env, WALK_REMOTE) as rclone:
        measure(wall, reqs, proxy, "list", find_all, rclone.mountpoint, EXPECT_FIND, 600)
    listed = _last(rows.ls_wall.other)
    say(f"S3 rep {rep + 1}: rclone ls -l {listed}s, find {_last(wall)}s, {_last(reqs)} reqs")


def _s3fs(rows: S3Rows, workdir: Path, rep: int, proxy: CountingProxy, say: Callable) -> None:
    wall, reqs = rows.walls["s3fs"].other, rows.reqs["s3fs"].other
    try:
        with S3fsMount(workdir, f"s3fs-{rep}", proxy.url, WALK_BUCKET) as s3fs:
            measure(wall, reqs, proxy, "list", find_all, s3fs.mountpoint, EXPECT_FIND, 900)
    except RuntimeError as exc:
        wall.add(None, str(exc)[:200])
        reqs.add(None, str(exc)[:200])
    say(f"S3 rep {rep + 1}: s3fs find {_last(wall)}s, {_last(reqs)} reqs")


def measure(
    wall: Measure,
    reqs: Measure,
    proxy: CountingProxy,
    what: str,
    tool: Callable[..., tuple[float | None, str | None]],
    *args: object,
) -> None:
    """Run `tool(*args)`; record its seconds and its ListBuckets ("/") or ListObjectsV2 requests."""
    proxy.reset()
    seconds, problem = tool(*args)
    wall.add(seconds, problem)
    if what == "/":
        count = proxy.count("GET", path="/")
    else:  # object listings: GETs of the bucket itself (V2 for storfs; rclone and s3fs use V1)
        count = sum(
            1
            for r in proxy.requests
            if r.method == "GET"
            and r.path.rstrip("/") == f"/{WALK_BUCKET}"
            and "uploads" not in dict(r.query)
        )
    reqs.add(None if problem else count, problem)


def _last(m: Measure) -> str:
    return f"FAILED ({m.failed})" if m.failed else (f"{m.samples[-1]:.3f}" if m.samples else "-")


def seed(moto: MotoServer) -> None:
    client = moto.client()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: client.create_bucket(Bucket=f"bucket-{i:04d}"), range(BUCKETS - 1)))
        client.create_bucket(Bucket=WALK_BUCKET)
        keys = [f"dir-{p:03d}/object-{o:04d}.bin" for p in range(PREFIXES) for o in range(PER_PREFIX)]
        list(pool.map(lambda key: client.put_object(Bucket=WALK_BUCKET, Key=key, Body=b"x" * 100), keys))


def rclone_remote(endpoint: str) -> dict[str, str]:
    prefix = f"RCLONE_CONFIG_{REMOTE.upper()}_"
    return {
        prefix + "TYPE": "s3",
        prefix + "PROVIDER": "Other",
        prefix + "ACCESS_KEY_ID": ACCESS_KEY_ID,
        prefix + "SECRET_ACCESS_KEY": SECRET,
        prefix + "ENDPOINT": endpoint,
        prefix + "REGION": REGION,
        prefix + "FORCE_PATH_STYLE": "true",
        f"RCLONE_CONFIG_{WALK_REMOTE.upper()}_TYPE": "alias",
        f"RCLONE_CONFIG_{WALK_REMOTE.upper()}_REMOTE": f"{REMOTE}:{WALK_BUCKET}",
    }


class S3fsMount:
    """`s3fs BUCKET MNT -f -o ro,url=...,use_path_request_style`: one bucket, stopped by us."""

    def __init__(self, workdir: Path, name: str, endpoint: str, bucket: str) -> None:
        self.mountpoint = workdir / name
        self.passwd = workdir / f"{name}.passwd"
        self.log_path = workdir / f"{name}.log"
        self.endpoint, self.bucket = endpoint, bucket
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> S3fsMount:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self.passwd.write_text(f"{ACCESS_KEY_ID}:{SECRET}\n")
        os.chmod(self.passwd, 0o600)
        options = f"ro,url={self.endpoint},use_path_request_style,passwd_file={self.passwd},endpoint={REGION}"
        command = ["s3fs", self.bucket, str(self.mountpoint), "-f", "-o", options]
        env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env
            )
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not os.path.ismount(self.mountpoint):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"s3fs did not mount: {self.log_path.read_text(errors='replace')[-500:]}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        proc, self.process = self.process, None
        stop_peer(self.mountpoint, proc)


def main(argv: list[str] | None = None) -> int:
    """`python3 -m bench.s3`: scenarios 8 and 9 alone."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python3 -m bench.s3", description=__doc__)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--floor", metavar="URL", help="only the floor's loop against URL; prints JSON")
    args = parser.parse_args(argv)
    if args.floor:
        try:
            start = time.perf_counter()
            keys, pages = floor_walk(args.floor.rstrip("/"))
            seconds = time.perf_counter() - start
        except Exception as exc:
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
            return 1
        print(json.dumps({"seconds": seconds, "keys": keys, "pages": pages}))
        return 0
    results = Results()
    with tempfile.TemporaryDirectory(prefix="storfs-bench-s3-") as tmp:
        s3_bench(results, Path(tmp), args.reps, lambda line: print(line, file=sys.stderr, flush=True))
    print(results.table([]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
