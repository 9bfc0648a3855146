"""`python3 -m bench [--quick] [--sizes 1000,10000] [--plot]`: see scripts/bench."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from bench.fleet import fleet_bench
from bench.measure import (
    concurrent_ls_l,
    cpu_seconds,
    find_all,
    first_entry,
    first_getdents,
    ls_l,
    memory,
    read_stats,
)
from bench.mounts import RcloneMount, StorfsMount, rclone_available, tmpfs_tree
from bench.objects import objects_bench
from bench.report import Measure, Results
from bench.s3 import s3_bench
from bench.servers import (
    AZURE_BACKEND,
    AzureAccount,
    container_names,
    qingstor_table,
    seed_qingstor,
)
from tests.fakes.azurite import AZURITE_ACCOUNT, AZURITE_KEY
from tests.fakes.qingstor_server import QingStorServer

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = (1_000, 10_000, 100_000)
QINGSTOR_SHAPE = (50, 20, 10)  # buckets x uploads x parts
QINGSTOR_PAGE = 1000
AZURE_PAGE = 5000
CONCURRENT_CLIENTS = 8
RCLONE_REMOTE = "benchaz"
NO_RCLONE = "n/a (no rclone)"
COLD_LABEL = "cold ls -l, wall s"
CPU_LABEL = "cold ls -l, mount daemon CPU s"
FLOOR_LABEL = "cold ls -l vs floor (requests+ElementTree loop), s"
AGAINST = "storfs --against"

_T0 = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description="storfs vs rclone mount, tmpfs and a bare requests loop, on loopback servers.",
    )
    parser.add_argument("--quick", action="store_true", help="only N=1,000 (smoke test, ~2 minutes)")
    parser.add_argument("--sizes", help="comma-separated N values (default 1000,10000,100000)")
    parser.add_argument("--reps", type=int, default=3, help="cold/warm repetitions per tool (median)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="cold rounds of every tool run first and not recorded (Azurite and the peers warm up)",
    )
    parser.add_argument("--plot", action="store_true", help="also write a PNG (needs matplotlib)")
    parser.add_argument("--out", type=Path, default=REPO / "bench-results", help="output folder")
    parser.add_argument(
        "--only-cold", action="store_true", help="only the cold ls -l rows (1, F): storfs, rclone, floor"
    )
    parser.add_argument(
        "--against",
        type=Path,
        metavar="DIR",
        help="also time a cold ls -l of the storfs in DIR (another checkout), alternating with this one",
    )
    parser.add_argument(
        "--skip-peers", action="store_true", help="with --only-cold --against: no rclone and floor runs"
    )
    args = parser.parse_args(argv)
    if args.skip_peers and not (args.only_cold and args.against):
        parser.error("--skip-peers needs --only-cold and --against")
    if args.against is not None:
        args.against = args.against.resolve()
        if not (args.against / "storfs" / "__main__.py").is_file():
            parser.error(f"--against {args.against}: no storfs package there")
    if args.sizes:
        try:
            args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
        except ValueError:
            parser.error("--sizes wants integers, e.g. --sizes 1000,10000")
        if not args.sizes or any(n < 1 or n > 1_000_000 for n in args.sizes):
            parser.error("--sizes: each N must be 1..1,000,000")
    elif args.quick:
        args.sizes = [1_000]
    else:
        args.sizes = list(DEFAULT_SIZES)
    if not 1 <= args.reps <= 20:
        parser.error("--reps must be 1..20")
    if not 0 <= args.warmup <= 10:
        parser.error("--warmup must be 0..10")
    return args


def _round(rep: int) -> str:
    """How the log names round `rep` (negative: a warm-up round, not recorded)."""
    return f"warm-up {rep}" if rep < 0 else f"rep {rep + 1}"


def tool_timeout(n: int) -> float:
    """Generous bound for one listing tool run on N entries (rclone's 100k ls -l takes ~40 s)."""
    return 120 + n * 0.004


class AzureBench:
    """Scenarios 1-6 and the floor for one N, against one seeded Azurite."""

    def __init__(
        self,
        results: Results,
        workdir: Path,
        n: int,
        reps: int,
        *,
        warmup: int = 0,
        only_cold: bool = False,
        against: Path | None = None,
        skip_peers: bool = False,
    ) -> None:
        self.results = results
        self.workdir = workdir
        self.n = n
        self.reps = reps
        self.warmup = warmup
        self.warming = False  # a warm-up round: its figures go to `_discarded`
        self._discarded = Results()
        self.only_cold = only_cold
        self.against = against
        self.skip_peers = skip_peers
        self.account: AzureAccount | None = None
        self.rclone = rclone_available()
        self.storfs_tables: dict[str, dict[str, object]] = {}
        self.rclone_env: dict[str, str] = {}
        self.mounts = 0
        self.pending: list[Measure] = []  # what the running step would fill: FAILED if it raises

    # -- rows -------------------------------------------------------------------------------
    def row(self, sid: str, label: str, unit: str, peer: str, *, paired: bool = False):
        results = self._discarded if self.warming else self.results
        row = results.row(sid, label, unit, peer, self.n, AZURE_BACKEND)
        row.paired = paired
        if peer == "rclone" and not self.rclone:
            row.other.na = NO_RCLONE
        return row

    def storfs_mount(self, source: Path | None = None) -> StorfsMount:
        self.mounts += 1
        return StorfsMount(self.workdir, f"storfs-{self.mounts}", self.storfs_tables, source=source)

    def rclone_mount(self) -> RcloneMount:
        self.mounts += 1
        return RcloneMount(self.workdir, f"rclone-{self.mounts}", self.rclone_env, RCLONE_REMOTE)

    @property
    def proxy(self):
        assert self.account is not None and self.account.proxy is not None
        return self.account.proxy

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> None:
        n = self.n
        started = time.monotonic()
        with contextlib.ExitStack() as stack:
            self.account = stack.enter_context(AzureAccount(self.workdir / "azurite", n))
            took = time.monotonic() - started
            say(f"N={n:,}: Azurite seeded with {n:,} containers and started ({took:.1f}s)")
            self.storfs_tables = {
                "azure.bench": self.account.storfs_table(),
                "cache": {"ttl": 60, "max_entries": max(100_000, 2 * n)},
            }
            if self.rclone:
                self.rclone_env = self.account.rclone_env(RCLONE_REMOTE)
            shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else self.workdir
            tmpfs = stack.enter_context(
                tmpfs_tree(shm / f"storfs-bench-{os.getpid()}-{n}", container_names(n))
            )
            # One round per rep: every tool once, in an order that rotates, so each pair of
            # figures of one round saw the same machine (rows 1 and F take pairwise ratios).
            # The first `warmup` rounds are not recorded: Azurite serves its first pages of a
            # run up to twice as slowly (its JIT warming), which moves the ratios.
            cold: list[Callable[[int], None]] = [self.cold_storfs]
            cold += [] if self.skip_peers else [self.cold_rclone, self.floor]
            if self.against is not None:
                cold.append(self.cold_against)
            if self.warmup == 0:
                self.warming = True
                self.floor(-1)  # at least the floor once, not recorded
            for rep in range(-self.warmup, self.reps):
                self.warming = rep < 0
                shift = rep % len(cold)
                for step in cold[shift:] + cold[:shift]:
                    self.safely(step, rep)
                if not self.warming:
                    self.safely(self.tmpfs, tmpfs, rep)
            self.warming = False
            if self.only_cold:
                say(f"N={n:,}: done in {time.monotonic() - started:.1f}s (cold rows only)")
                return
            for rep in range(self.reps):
                order = [self.first_entry_storfs, self.first_entry_rclone]
                if rep % 2:
                    order.reverse()
                for step in order:
                    self.safely(step, rep)
            self.safely(self.concurrent, "storfs")
            self.safely(self.concurrent, "rclone")
        say(f"N={n:,}: done in {time.monotonic() - started:.1f}s")

    def safely(self, step: Callable[..., None], *args: object) -> None:
        """Run one step; if it raises (storfs would not mount, a server died), its figures are
        FAILED with the reason and the benchmark goes on."""
        self.pending = []
        try:
            step(*args)
        except Exception as exc:
            reason = _reason(exc)
            for measure in self.pending:
                measure.add(None, reason)
            say(f"N={self.n:,}: {step.__name__}{args!r} failed: {reason}")
        finally:
            self.pending = []

    def _listing_dir(self, mount: StorfsMount) -> Path:
        return mount.mountpoint / "azure" / "bench" / "containers"

    def cold_storfs(self, rep: int) -> None:
        n = self.n
        cold = self.row("1", COLD_LABEL, "s", "rclone", paired=True)
        reqs = self.row("1", "cold ls -l, List Containers reqs", "requests", "rclone")
        floor = self.row("F", FLOOR_LABEL, "s", "floor", paired=True)
        against = self.row("1", COLD_LABEL, "s", AGAINST, paired=True) if self.against else None
        cpu = self.row("1", CPU_LABEL, "s", "rclone", paired=True)
        against_cpu = self.row("1", CPU_LABEL, "s", AGAINST, paired=True) if self.against else None
        warm = self.row("2", "warm ls -l, wall s", "s", "rclone")
        warm_tmpfs = self.row("2", "warm ls -l, wall s", "s", "tmpfs")
        warm_reqs = self.row("2", "warm ls -l, List Containers reqs", "requests", "rclone")
        rss = self.row("5", "peak RSS growth after ls -l, B/entry", "B/entry", "rclone")
        ups = {
            (phase, op): self.row("4", f"{op} upcalls per {phase} ls -l", "upcalls", "")
            for phase in ("cold", "warm")
            for op in ("getattr", "readdir")
        }
        for row in ups.values():
            row.other.na = "-"
        self.pending = [cold.storfs, reqs.storfs, floor.storfs, warm.storfs, warm_tmpfs.storfs]
        self.pending += [warm_reqs.storfs, rss.storfs] + [row.storfs for row in ups.values()]
        self.pending += [against.storfs] if against else []
        self.pending += [cpu.storfs] + ([against_cpu.storfs] if against_cpu else [])
        with self.storfs_mount() as mount:
            directory = self._listing_dir(mount)
            rss0 = memory(mount.pid).get("VmRSS")
            cpu0 = cpu_seconds(mount.pid)
            self.proxy.reset()
            # Cold: the first thing after the mount answers is a user's `ls -l` (the stats file
            # is read only afterwards, so nothing has woken the daemon's listing path before).
            seconds, problem = ls_l(directory, n, tool_timeout(n))
            if problem:
                problem += f" (storfs log: {mount.log_tail(300)!r})"
            list_reqs = self.proxy.count_op("list_containers")
            cpu1 = cpu_seconds(mount.pid)
            hwm = memory(mount.pid).get("VmHWM")
            s2 = read_stats(mount.mountpoint)
            s2b = read_stats(mount.mountpoint)
            self.proxy.reset()
            warm_seconds, warm_problem = ls_l(directory, n, tool_timeout(n))
            warm_list_reqs = self.proxy.count_op("list_containers")
            s3 = read_stats(mount.mountpoint)
        cold.storfs.add(seconds, problem)
        floor.storfs.add(seconds, problem)
        if against:
            against.storfs.add(seconds, problem)
        _cpu(cpu.storfs, cpu0, cpu1, problem)
        if against_cpu:
            _cpu(against_cpu.storfs, cpu0, cpu1, problem)
        reqs.storfs.add(None if problem else list_reqs, problem)
        warm.storfs.add(warm_seconds, warm_problem)
        warm_tmpfs.storfs.add(warm_seconds, warm_problem)
        warm_reqs.storfs.add(None if warm_problem else warm_list_reqs, warm_problem)
        _rss(rss.storfs, rss0, hwm, n, problem)
        if s2 is None or s2b is None or s3 is None:
            for row in ups.values():
                row.storfs.na = "n/a (no stats file)"
        else:
            for op in ("getattr", "readdir"):
                overhead = _upcalls(s2b, op) - _upcalls(s2, op)  # one read of the stats file
                # cold: from the mount's start (its readiness check included) to the ls's end
                cold_ups = max(0, _upcalls(s2, op) - overhead)
                warm_ups = max(0, _upcalls(s3, op) - _upcalls(s2b, op) - overhead)
                ups["cold", op].storfs.add(cold_ups, problem)
                ups["warm", op].storfs.add(warm_ups, warm_problem)
        say(
            f"N={n:,} {_round(rep)}: storfs cold ls -l {_s(seconds, problem)} ({list_reqs} list reqs), "
            f"warm {_s(warm_seconds, warm_problem)} ({warm_list_reqs} reqs)"
        )

    def cold_rclone(self, rep: int) -> None:
        if not self.rclone:
            return
        n = self.n
        cold = self.row("1", COLD_LABEL, "s", "rclone", paired=True)
        reqs = self.row("1", "cold ls -l, List Containers reqs", "requests", "rclone")
        warm = self.row("2", "warm ls -l, wall s", "s", "rclone")
        warm_reqs = self.row("2", "warm ls -l, List Containers reqs", "requests", "rclone")
        rss = self.row("5", "peak RSS growth after ls -l, B/entry", "B/entry", "rclone")
        cpu = self.row("1", CPU_LABEL, "s", "rclone", paired=True)
        self.pending = [cold.other, reqs.other, warm.other, warm_reqs.other, rss.other, cpu.other]
        with self.rclone_mount() as mount:
            rss0 = memory(mount.pid).get("VmRSS")
            cpu0 = cpu_seconds(mount.pid)
            self.proxy.reset()
            seconds, problem = ls_l(mount.mountpoint, n, tool_timeout(n))
            cpu1 = cpu_seconds(mount.pid)
            list_reqs = self.proxy.count_op("list_containers")
            hwm = memory(mount.pid).get("VmHWM")
            self.proxy.reset()
            warm_seconds, warm_problem = ls_l(mount.mountpoint, n, tool_timeout(n))
            warm_list_reqs = self.proxy.count_op("list_containers")
        cold.other.add(seconds, problem)
        reqs.other.add(None if problem else list_reqs, problem)
        warm.other.add(warm_seconds, warm_problem)
        warm_reqs.other.add(None if warm_problem else warm_list_reqs, warm_problem)
        _rss(rss.other, rss0, hwm, n, problem)
        _cpu(cpu.other, cpu0, cpu1, problem)
        say(
            f"N={n:,} {_round(rep)}: rclone cold ls -l {_s(seconds, problem)} ({list_reqs} list reqs), "
            f"warm {_s(warm_seconds, warm_problem)} ({warm_list_reqs} reqs)"
        )

    def cold_against(self, rep: int) -> None:
        """A cold `ls -l` of the storfs checkout given by --against (its own fresh mount)."""
        row = self.row("1", COLD_LABEL, "s", AGAINST, paired=True)
        cpu = self.row("1", CPU_LABEL, "s", AGAINST, paired=True)
        self.pending = [row.other, cpu.other]
        with self.storfs_mount(source=self.against) as mount:
            cpu0 = cpu_seconds(mount.pid)
            seconds, problem = ls_l(self._listing_dir(mount), self.n, tool_timeout(self.n))
            cpu1 = cpu_seconds(mount.pid)
        row.other.add(seconds, problem)
        _cpu(cpu.other, cpu0, cpu1, problem)
        say(f"N={self.n:,} {_round(rep)}: {AGAINST} ({self.against}) cold ls -l {_s(seconds, problem)}")

    def floor(self, rep: int) -> None:
        """One run of the bare requests loop (bench/floor.py) in its own process."""
        command = [
            sys.executable, "-m", "bench.floor", "--root-url", self.account.endpoint if self.account else "",
            "--account", AZURITE_ACCOUNT, "--expect", str(self.n), "--page-size", str(AZURE_PAGE),
        ]  # fmt: skip
        env = {**os.environ, "BENCH_FLOOR_KEY": AZURITE_KEY}
        seconds: float | None = None
        row = self.row("F", FLOOR_LABEL, "s", "floor", paired=True)
        self.pending = [row.other]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, env=env, cwd=REPO,
                timeout=tool_timeout(self.n), check=False,
            )  # fmt: skip
            lines = done.stdout.strip().splitlines()
            result = json.loads(lines[-1]) if lines else {"error": done.stderr.strip()[-300:]}
        except (subprocess.TimeoutExpired, ValueError) as exc:
            result = {"error": str(exc)}
        if "error" in result or "seconds" not in result:
            problem: str | None = f"floor: {result.get('error')}"
        elif result["entries"] != self.n:
            problem = f"floor listed {result['entries']} entries, want {self.n}"
        else:
            seconds, problem = float(result["seconds"]), None
        row.other.add(seconds, problem)
        say(f"N={self.n:,} {_round(rep)}: floor {_s(seconds, problem)}")

    def tmpfs(self, directory: Path, rep: int) -> None:
        row = self.row("2", "warm ls -l, wall s", "s", "tmpfs")
        self.pending = [row.other]
        seconds, problem = ls_l(directory, self.n, tool_timeout(self.n))
        row.other.add(seconds, problem)

    def first_entry_storfs(self, rep: int) -> None:
        row = self.row("3", "cold find -maxdepth 1 | head -n 2, s", "s", "rclone")
        row2 = self.row("3", "cold first getdents (os.scandir, 1st entry), s", "s", "rclone")
        self.pending = [row.storfs, row2.storfs]
        with self.storfs_mount() as mount:
            seconds, problem = first_entry(self._listing_dir(mount), tool_timeout(self.n))
        with self.storfs_mount() as mount:
            seconds2, problem2 = first_getdents(self._listing_dir(mount), tool_timeout(self.n))
        row.storfs.add(seconds, problem)
        row2.storfs.add(seconds2, problem2)
        say(
            f"N={self.n:,} rep {rep + 1}: storfs first entry: find|head {_s(seconds, problem)}, "
            f"getdents {_s(seconds2, problem2)}"
        )

    def first_entry_rclone(self, rep: int) -> None:
        row = self.row("3", "cold find -maxdepth 1 | head -n 2, s", "s", "rclone")
        row2 = self.row("3", "cold first getdents (os.scandir, 1st entry), s", "s", "rclone")
        if not self.rclone:
            return
        self.pending = [row.other, row2.other]
        with self.rclone_mount() as mount:
            seconds, problem = first_entry(mount.mountpoint, tool_timeout(self.n))
        with self.rclone_mount() as mount:
            seconds2, problem2 = first_getdents(mount.mountpoint, tool_timeout(self.n))
        row.other.add(seconds, problem)
        row2.other.add(seconds2, problem2)
        say(
            f"N={self.n:,} rep {rep + 1}: rclone first entry: find|head {_s(seconds, problem)}, "
            f"getdents {_s(seconds2, problem2)}"
        )

    def concurrent(self, tool: str) -> None:
        """Scenario 6: CONCURRENT_CLIENTS simultaneous `ls -l` on one fresh mount."""
        label = f"{CONCURRENT_CLIENTS}x concurrent cold ls -l"
        wall = self.row("6", f"{label}, wall s", "s", "rclone")
        reqs = self.row("6", f"{label}, List Containers reqs", "requests", "rclone")
        if tool == "rclone" and not self.rclone:
            return
        side = (wall.storfs, reqs.storfs) if tool == "storfs" else (wall.other, reqs.other)
        self.pending = list(side)
        mount: StorfsMount | RcloneMount
        mount = self.storfs_mount() if tool == "storfs" else self.rclone_mount()
        with mount:
            directory = self._listing_dir(mount) if isinstance(mount, StorfsMount) else mount.mountpoint
            self.proxy.reset()
            scratch = self.workdir / "scratch"
            timeout = tool_timeout(self.n) * 2
            seconds, problem = concurrent_ls_l(directory, self.n, CONCURRENT_CLIENTS, scratch, timeout)
            list_reqs = self.proxy.count_op("list_containers")
        side[0].add(seconds, problem)
        side[1].add(None if problem else list_reqs, problem)
        say(f"N={self.n:,}: {tool} {label} {_s(seconds, problem)}, {list_reqs} list reqs")


def qingstor_bench(results: Results, workdir: Path, reps: int) -> None:
    """Scenario 7: `find` over a whole seeded QingStor account (no peer shows multipart uploads)."""
    buckets, uploads, parts = QINGSTOR_SHAPE
    shape = f"{buckets}x{uploads}x{parts}"
    total = buckets * uploads * parts
    backend = "QingStor test server (tests/fakes)"
    wall = results.row("7", f"find whole QingStor account {shape}, wall s", "s", "", total, backend)
    label = f"find whole QingStor account {shape}"
    reqs = results.row("7", f"{label}, requests", "requests", "API minimum", total, backend)
    wall.other.na = "n/a (no peer lists uploads)"
    minimum = math.ceil(buckets / QINGSTOR_PAGE) + buckets * math.ceil(uploads / QINGSTOR_PAGE)
    minimum += buckets * uploads * math.ceil(parts / QINGSTOR_PAGE)
    minimum += buckets  # each bucket's (empty) objects/ listing
    reqs.other.add(minimum)
    # account dir, buckets/, each bucket, its objects/ and uploads/, each upload, its parts/, each part
    expect = 2 + 3 * buckets + 2 * buckets * uploads + total
    server = QingStorServer()
    try:
        server.start()
        seed_qingstor(server, buckets, uploads, parts)
        tables = {"qingstor.bench": qingstor_table(server), "cache": {"ttl": 60, "max_entries": 100_000}}
        for rep in range(reps):
            try:
                with StorfsMount(workdir, f"storfs-qs-{rep}", tables) as mount:
                    server.reset_log()
                    seconds, problem = find_all(mount.mountpoint / "qingstor" / "bench", expect, 600)
                    count = server.count()
            except Exception as exc:
                seconds, problem, count = None, _reason(exc), 0
            wall.storfs.add(seconds, problem)
            reqs.storfs.add(None if problem else count, problem)
            say(f"QingStor {shape} rep {rep + 1}: storfs find {_s(seconds, problem)}, {count} requests")
    finally:
        server.stop()


def _reason(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    first = lines[0] if lines else ""
    text = first if first == last else f"{first} ... {last}"
    return f"{type(exc).__name__}: {text}"[:300]


def _upcalls(stats: dict, op: str) -> int:
    value = stats.get("upcalls", {}).get(op, 0)
    return value if isinstance(value, int) else 0


def _rss(measure: Measure, rss0: int | None, hwm: int | None, n: int, problem: str | None) -> None:
    if problem:
        measure.add(None, problem)
    elif rss0 is None or hwm is None:
        measure.add(None, "process gone before /proc/<pid>/status was read")
    else:
        measure.add(max(0, hwm - rss0) / n)


def _cpu(measure: Measure, before: float | None, after: float | None, problem: str | None) -> None:
    if problem:
        measure.add(None, problem)
    elif before is None or after is None:
        measure.add(None, "process gone before /proc/<pid>/stat was read")
    else:
        measure.add(after - before)


def _s(seconds: float | None, problem: str | None) -> str:
    return f"FAILED ({problem})" if problem else f"{seconds:.3f}s"


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so every finally (mounts, servers) runs."""

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def _remove_workdir(workdir: Path) -> None:
    mounted = [p for p in workdir.iterdir() if os.path.ismount(p)] if workdir.is_dir() else []
    if mounted:
        say(f"left {workdir} in place: still mounted: {', '.join(map(str, mounted))}")
        return
    shutil.rmtree(workdir, ignore_errors=True)


def _other_scenarios(results: Results, workdir: Path, args: argparse.Namespace) -> int:
    """QingStor, S3, fleet and blob scenarios (not run with --only-cold); 1 if one broke."""
    status = 0
    try:
        qingstor_bench(results, workdir / "qingstor", 1 if args.quick else args.reps)
    except Exception as exc:
        results.notes.append(f"QingStor scenario not run: {_reason(exc)}")
        say(results.notes[-1])
        status = 1
    try:
        s3_bench(results, workdir / "s3", 1 if args.quick else args.reps, say)
    except Exception as exc:
        results.notes.append(f"S3 scenarios not run: {_reason(exc)}")
        say(results.notes[-1])
        status = 1
    try:
        fleet_bench(results, workdir / "fleet", 1 if args.quick else args.reps, say, quick=args.quick)
    except Exception as exc:
        results.notes.append(f"Fleet scenario (shared cache) not run: {_reason(exc)}")
        say(results.notes[-1])
        status = 1
    if not args.quick:  # seeding 20,000 blobs through the SDK takes minutes
        try:
            objects_bench(results, workdir / "objects", args.reps)
        except Exception as exc:
            results.notes.append(f"blob scenarios not run: {_reason(exc)}")
            say(results.notes[-1])
            status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = Results()
    stamp = datetime.now().strftime("%Y-%m-%d-%H%M%S")
    status = 0
    if not rclone_available():
        say("rclone not found: peer columns will say n/a (STORFS_WITH_RCLONE=1 scripts/setup installs it)")
    workdir = Path(tempfile.mkdtemp(prefix="storfs-bench-"))
    with _signals_raise():
        try:
            for n in args.sizes:
                try:
                    bench = AzureBench(
                        results,
                        workdir / f"n{n}",
                        n,
                        args.reps,
                        warmup=args.warmup,
                        only_cold=args.only_cold,
                        against=args.against,
                        skip_peers=args.skip_peers,
                    )
                    bench.run()
                except Exception as exc:  # Azurite would not start: the other N still run
                    results.notes.append(f"N={n:,}: Azure scenarios not run: {_reason(exc)}")
                    say(results.notes[-1])
                    status = 1
            if not args.only_cold:  # the cold rows are Azure's
                status = _other_scenarios(results, workdir, args) or status
        except KeyboardInterrupt:
            say("interrupted: servers and mounts stopped; partial results follow")
            status = 130
        finally:
            _remove_workdir(workdir)
    csv_path = args.out / f"bench-{stamp}.csv"
    results.write_csv(csv_path)
    print(results.table(args.sizes))
    for note in results.notes:
        print(f"NOTE: {note}")
    reasons: dict[str, int] = {}
    for row in results.rows.values():
        for measure in (row.storfs, row.other):
            if measure.failed:
                reasons[measure.failed] = reasons.get(measure.failed, 0) + 1
    for reason, count in list(reasons.items())[:10]:
        print(f"FAILED ({count} figure{'s' if count > 1 else ''}): {reason}")
    if reasons:
        status = status or 1
    print(f"\nstorfs figures: Azure rows from {AZURE_BACKEND} (all N); row 7 from the QingStor test server.")
    print("ratio = storfs / peer (lower is better for storfs); figures are medians of the runs;")
    print("rows 1 and F: one round per run, every tool once in a rotating order, ratio = median of")
    print("the rounds' ratios. Cold = a fresh mount (or process), then at once the first ls -l.")
    print(f"The first {args.warmup} round(s) of every tool were run and not recorded (warm-up).")
    print("FAILED = a listing came back incomplete or a step broke (reasons above).")
    print(f"CSV: {csv_path}  (total {time.monotonic() - _T0:.0f}s)")
    if args.plot:
        png = args.out / f"bench-{stamp}.png"
        problem = results.plot(png)
        print(f"plot: {png}" if problem is None else f"plot: not written ({problem})")
    return status
