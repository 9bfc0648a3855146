"""Results: one Row per scenario x metric x peer x N, printed as a table and written as CSV."""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass, field
from pathlib import Path

SCENARIO_ORDER = ["1", "F", "2", "3", "4", "5", "6", "7", "8", "9", "10", "B1", "B2", "B3"]


@dataclass
class Measure:
    """Samples of one figure for one tool; FAILED as soon as one sample is incomplete."""

    samples: list[float] = field(default_factory=list)
    failed: str | None = None
    na: str | None = None

    def add(self, value: float | None, problem: str | None = None) -> None:
        if problem is not None:
            if self.failed is None:
                self.failed = problem
            return
        if value is not None:
            self.samples.append(value)

    @property
    def value(self) -> float | None:
        if self.failed or self.na or not self.samples:
            return None
        return statistics.median(self.samples)

    def cell(self, unit: str) -> str:
        if self.failed:
            return "FAILED"
        if self.na:
            return self.na
        value = self.value
        return "-" if value is None else fmt(value, unit)

    @property
    def status(self) -> str:
        if self.failed:
            return f"FAILED: {self.failed}"
        if self.na:
            return self.na
        return "ok" if self.samples else "no samples"


def fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.1f}"


@dataclass
class Row:
    sid: str  # scenario number as in the issue ("1".."7", "F" for the floor)
    label: str  # what is measured
    unit: str  # "s", "requests", "upcalls", "B/entry"
    peer: str  # the peer's name, or "" when there is none
    n: int
    backend: str  # where storfs's figure comes from
    storfs: Measure = field(default_factory=Measure)
    other: Measure = field(default_factory=Measure)
    note: str = ""
    #: Both sides sampled once per round of alternating runs: the ratio is the median of the
    #: rounds' ratios (robust to the machine's speed drifting between rounds).
    paired: bool = False

    def ratio(self) -> float | None:
        if self.paired and not self.storfs.failed and not self.other.failed and not self.other.na:
            pairs = list(zip(self.storfs.samples, self.other.samples, strict=False))
            if pairs and len(self.storfs.samples) == len(self.other.samples) and all(b > 0 for _, b in pairs):
                return statistics.median(a / b for a, b in pairs)
        a, b = self.storfs.value, self.other.value
        if a is None or b is None:
            return None
        if b == 0:
            return 1.0 if a == 0 else None
        return a / b


class Results:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str, int], Row] = {}
        self.notes: list[str] = []

    def row(self, sid: str, label: str, unit: str, peer: str, n: int, backend: str) -> Row:
        key = (sid, label, peer, n)
        if key not in self.rows:
            self.rows[key] = Row(sid, label, unit, peer, n, backend)
        return self.rows[key]

    def kinds(self) -> list[tuple[str, str, str]]:
        seen: dict[tuple[str, str, str], None] = {}
        for sid, label, peer, _n in self.rows:
            seen.setdefault((sid, label, peer), None)
        return sorted(seen, key=lambda kind: SCENARIO_ORDER.index(kind[0]))

    def table(self, sizes: list[int]) -> str:
        """One line per scenario x metric x peer, one column group per N in `sizes`; rows
        measured at another N only (scenario 7) follow, with their N."""
        head = ["#", "scenario (metric)", "peer"]
        head += [f"N={n:,}: storfs | peer | ratio" for n in sizes]
        lines = [head]
        extra = []
        for sid, label, peer in self.kinds():
            rows = [self.rows.get((sid, label, peer, n)) for n in sizes]
            if sid == "7" or not any(rows):  # scenario 7 has its own N (parts)
                extra += [r for (s, lab, p, _n), r in self.rows.items() if (s, lab, p) == (sid, label, peer)]
                continue
            lines.append([sid, label, peer or "-"] + ["" if r is None else _cell(r) for r in rows])
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        out = []
        for i, line in enumerate(lines):
            out.append("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(line)).rstrip())
            if i == 0:
                out.append("  ".join("-" * w for w in widths))
        for row in extra:
            peer = row.peer or "-"
            out.append(f"{row.sid}  {row.label} (N={row.n:,})  peer: {peer}  {_cell(row)}")
        return "\n".join(out)

    def write_csv(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(
                [
                    "scenario", "metric", "unit", "n", "storfs_backend", "storfs", "storfs_samples",
                    "storfs_status", "peer", "peer_value", "peer_samples", "peer_status", "ratio", "note",
                ]
            )  # fmt: skip
            for row in self.rows.values():
                ratio = row.ratio()
                w.writerow(
                    [
                        row.sid, row.label, row.unit, row.n, row.backend,
                        _num(row.storfs.value), " ".join(_num(v) for v in row.storfs.samples),
                        row.storfs.status, row.peer, _num(row.other.value),
                        " ".join(_num(v) for v in row.other.samples), row.other.status,
                        "" if ratio is None else f"{ratio:.4f}", row.note,
                    ]
                )  # fmt: skip

    def plot(self, path: Path) -> str | None:
        """PNG of storfs vs rclone cold `ls -l` wall time by N; an error text if it cannot."""
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:
            return f"no matplotlib ({exc})"
        points = sorted(
            (row.n, row.storfs.value, row.other.value)
            for (sid, _label, peer, _n), row in self.rows.items()
            if sid == "1" and row.unit == "s" and peer == "rclone"
        )
        if not points:
            return "no cold ls -l rows to plot"
        fig, ax = plt.subplots(figsize=(6, 4))
        for index, name in ((1, "storfs"), (2, "rclone mount")):
            xs = [p[0] for p in points if p[index] is not None]
            ys = [p[index] for p in points if p[index] is not None]
            ax.plot(xs, ys, marker="o", label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("containers (N)")
        ax.set_ylabel("cold ls -l wall time (s, median)")
        ax.set_title("Cold ls -l of Azurite containers/")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return None


def _cell(row: Row) -> str:
    ratio = row.ratio()
    ratio_text = "-" if ratio is None else f"{ratio:.2f}x"
    return f"{row.storfs.cell(row.unit)} | {row.other.cell(row.unit)} | {ratio_text}"


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.6g}"
