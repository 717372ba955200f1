"""Shared helpers for the benchmarks: machine description, medians, tables, JSON output."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"
if not DEV.is_file():  # a clone without ../shared: the copy the tests use
    DEV = ROOT / "tests" / "data" / "dev.jsonl"


def machine() -> dict:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_avg": round(os.getloadavg()[0], 2),
        "commit": commit,
    }


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))] if v else 0.0


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def peak_rss_mb(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def report(
    name: str, rows: list[tuple[str, object, str]], extra: dict | None = None, folder: Path | None = None
) -> None:
    """Print a table (metric, value, target) and write <folder>/<name>.json (default bench/results/)."""
    width = max(len(r[0]) for r in rows)
    print(f"\n{name} on {machine()}")
    for metric, value, target in rows:
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        print(f"  {metric:<{width}}  {shown:>12}  {target}")
    folder = folder or RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "machine": machine(),
        "metrics": {r[0]: r[1] for r in rows},
        "targets": {r[0]: r[2] for r in rows},
        **(extra or {}),
    }
    (folder / f"{name}.json").write_text(json.dumps(data, indent=1))
    print(f"  (written to {folder / (name + '.json')})")


def llama_bench_reference() -> dict[str, float]:
    """t/s by test and flash attention ("tg128 fa0", "pp512 @ d400 fa0", ...) from the last
    `bash bench/llama_bench.sh` run on this machine; empty when it has not been run."""
    path = RESULTS / "llama-bench" / "results.md"
    out: dict[str, float] = {}
    if not path.is_file():
        return out
    lines = [l for l in path.read_text().splitlines() if l.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        row = dict(zip(head, (c.strip() for c in line.strip("|").split("|"))))
        fa = row.get("fa", "0")
        out[f"{row['test']} fa{fa}"] = float(row["t/s"].split("±")[0])
    return out
