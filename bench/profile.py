"""Profile cold `ls -l` of N Azurite containers: where the mount daemon's GIL time goes, and
when each List Containers request reached the server.

    python3 -m bench.profile [--n 10000] [--reps 3] [--rate 250] [--against DIR] [--no-spy]

Each rep is a fresh mount and at once `ls -l` (as in scripts/bench). With py-spy installed
(`pip install py-spy`; it needs ptrace, so root or CAP_SYS_PTRACE), it samples the daemon with
`--gil` (only the thread holding the GIL) and prints the functions with the most samples,
inclusive. The request timeline comes from the counting proxy: for each request, when it
arrived and when its answer was complete, in seconds from the start of the `ls -l`.
On a busy machine a descheduled thread still holds the GIL: compare profiles of one run only.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench.measure import ls_l
from bench.mounts import StorfsMount
from bench.servers import AzureAccount
from tests.fakes import counting_proxy

_FRAME = re.compile(r"(?P<function>.*) \((?P<path>.*?)(?::\d+)?\)$")


def _timed_proxy() -> list[tuple[float, float]]:
    """Make the counting proxy note (arrived, answered) of every request; the list it fills."""
    spans: list[tuple[float, float]] = []
    handle = counting_proxy._Handler._handle

    def timed(handler: counting_proxy._Handler) -> None:
        arrived = time.perf_counter()
        handle(handler)
        spans.append((arrived, time.perf_counter()))

    counting_proxy._Handler.do_GET = timed  # type: ignore[method-assign]
    return spans


def _frame_name(frame: str) -> str:
    """`parse_containers (parse.py)` from py-spy's `parse_containers (/x/y/parse.py:27)`."""
    match = _FRAME.match(frame)
    if match is None:
        return frame
    return f"{match['function']} ({match['path'].rsplit('/', 1)[-1]})"


def summarise(raw_files: list[Path], top: int = 30) -> str:
    """Inclusive GIL samples per function over py-spy `--format raw` files."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for path in raw_files:
        for line in path.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not count_text.isdigit():
                continue
            count = int(count_text)
            total += count
            frames = {_frame_name(frame) for frame in stack.split(";")[1:]}
            for frame in frames:
                inclusive[frame] += count
    lines = [f"{total} GIL samples over {len(raw_files)} run(s); inclusive per function:"]
    lines += [f"{count:7d}  {frame[:100]}" for frame, count in inclusive.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.profile", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--against", type=Path, help="another storfs checkout, profiled in turn")
    parser.add_argument("--no-spy", action="store_true", help="only the request timeline")
    args = parser.parse_args(argv)
    spy = None if args.no_spy else shutil.which("py-spy")
    if not args.no_spy and spy is None:
        print("py-spy not found (pip install py-spy): request timeline only")
    sources: list[Path | None] = [None] + ([args.against.resolve()] if args.against else [])
    spans = _timed_proxy()
    workdir = Path(tempfile.mkdtemp(prefix="storfs-profile-"))
    raw: dict[str, list[Path]] = {str(s or "this checkout"): [] for s in sources}
    try:
        with AzureAccount(workdir / "azurite", args.n) as account:
            tables = {"azure.bench": account.storfs_table(), "cache": {"ttl": 60, "max_entries": 2 * args.n}}
            with StorfsMount(workdir, "warm-up", tables) as mount:  # Azurite's first pages are slow
                ls_l(mount.mountpoint / "azure" / "bench" / "containers", args.n, 600)
            for rep in range(args.reps):
                for index, source in enumerate(sources):
                    label = str(source or "this checkout")
                    with StorfsMount(workdir, f"m{rep}-{index}", tables, source=source) as mount:
                        sampler = None
                        if spy is not None:
                            out = workdir / f"spy-{rep}-{index}.txt"
                            sampler = subprocess.Popen(
                                [spy, "record", "--pid", str(mount.pid), "--gil", "--threads",
                                 "--rate", str(args.rate), "--format", "raw", "-o", str(out)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            )  # fmt: skip
                            time.sleep(1.0)  # py-spy attaches
                            raw[label].append(out)
                        spans.clear()
                        start = time.perf_counter()
                        seconds, problem = ls_l(
                            mount.mountpoint / "azure" / "bench" / "containers", args.n, 600
                        )
                        if sampler is not None:
                            sampler.send_signal(signal.SIGINT)
                            sampler.wait(60)
                        timeline = ", ".join(f"{a - start:.3f}-{b - start:.3f}" for a, b in spans)
                        result = problem or f"{seconds:.3f}s"
                        print(f"rep {rep + 1} {label}: ls -l {result}; requests at {timeline}", flush=True)
        for label, files in raw.items():
            present = [f for f in files if f.exists()]
            if present:
                print(f"\n== {label}\n{summarise(present)}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
