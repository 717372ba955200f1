"""Batch throughput: `assistant batch` over the dev questions versus the same questions asked one by one.

    .venv/bin/python bench/batch.py [--limit N] [--data-dir DIR]

One model load and one warm-up question, then (1) every question through `pipeline.ask` in a loop and (2) the same
questions through `run_batch` (reading a JSONL file, writing a JSONL file, flushing per line), in the order
loop, batch, batch, loop so that a drifting load from other processes affects both alike. Reported: questions/s
for each, and the batch overhead: batch wall time minus the sum of the per-question `timings.total_s` it recorded
(retrieval + prompt + generation), i.e. what reading, resume bookkeeping, JSON and flushing cost.
Without --data-dir the bundled seeds are indexed into a temporary folder first (not timed).
Writes bench/results/batch.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import DEV, ROOT  # noqa: E402

sys.path.insert(0, str(ROOT))


def build_index(data_dir: Path, embedder) -> None:
    from assistant.config import Settings
    from assistant.ingest.build import ingest

    ingest(Settings(data_dir=data_dir), embedder, [ROOT / "seeds"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=0, help="only the first N dev questions (default: all)")
    ap.add_argument("--data-dir", type=Path, help="an existing index (default: index the seeds into a temp dir)")
    ap.add_argument("--questions", type=Path, default=DEV)
    opts = ap.parse_args()

    from assistant.answer.session import make_embedder, make_pipeline
    from assistant.cli.batch import run_batch
    from assistant.cli.main import build_parser
    from assistant.config import load_settings

    questions = [json.loads(line) for line in opts.questions.read_text().splitlines() if line.strip()]
    if opts.limit:
        questions = questions[: opts.limit]
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    data_dir = opts.data_dir or tmp / "data"
    settings = load_settings(data_dir=data_dir)
    embedder = make_embedder(settings)
    if opts.data_dir is None:
        print(f"indexing the seeds into {data_dir} ...", file=sys.stderr)
        build_index(data_dir, embedder)

    t = time.perf_counter()
    pipeline = make_pipeline(settings, embedder=embedder)
    load_s = time.perf_counter() - t
    pipeline.ask(questions[0]["question"])  # warm-up: page the model in, fill caches

    # ABBA: loop, batch, batch, loop. The machine may be shared, so load drifts; alternating cancels a linear drift.
    qfile, out = tmp / "questions.jsonl", tmp / "answers.jsonl"
    qfile.write_text("".join(json.dumps(q) + "\n" for q in questions))
    args = build_parser().parse_args(["batch", str(qfile), "-o", str(out), "--quiet", "--overwrite"])
    individual: list[dict] = []
    rows: list[dict] = []
    loop_s = batch_s = 0.0
    rc = 0
    for mode in ("loop", "batch", "batch", "loop"):
        t = time.perf_counter()
        if mode == "loop":
            for q in questions:
                a = pipeline.ask(q["question"])
                individual.append({"total_s": a.timings.total_s})
            loop_s += time.perf_counter() - t
        else:
            rc = max(rc, run_batch(args, settings, pipeline))
            batch_s += time.perf_counter() - t
            rows += [json.loads(line) for line in out.read_text().splitlines()]
        print(f"{mode}: {time.perf_counter() - t:.2f} s", file=sys.stderr)
    failed = sum(1 for r in rows if r["error"])
    batch_pure = sum(r["timings"]["total_s"] for r in rows if r["timings"])
    batch_gen = sum(r["timings"]["generation_s"] for r in rows if r["timings"])
    loop_pure = sum(r["total_s"] for r in individual)

    n = 2 * len(questions)  # each mode ran every question twice
    result = {
        "questions": len(questions),
        "runs_per_mode": 2,
        "order": "loop, batch, batch, loop",
        "failed": failed,
        "exit_code": rc,
        "model": pipeline.generator.name,
        "model_load_s": round(load_s, 2),
        "threads": settings.threads,
        "max_tokens": settings.max_tokens,
        "individual": {
            "wall_s": round(loop_s, 2),
            "questions_per_s": round(n / loop_s, 3),
            "sum_total_s": round(loop_pure, 2),
        },
        "batch": {
            "wall_s": round(batch_s, 2),
            "questions_per_s": round(n / batch_s, 3),
            "sum_total_s": round(batch_pure, 2),
            "sum_generation_s": round(batch_gen, 2),
            "overhead_s": round(batch_s - batch_pure, 3),
            "overhead_per_question_ms": round(1000 * (batch_s - batch_pure) / n, 2),
            "overhead_pct": round(100 * (batch_s - batch_pure) / batch_pure, 2) if batch_pure else None,
        },
        "batch_vs_individual": round((n / batch_s) / (n / loop_s), 3),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    print(f"{'mode':<24}{'wall s':>9}{'q/s':>8}{'sum total_s':>13}")
    print(f"{'pipeline.ask loop':<24}{loop_s:>9.2f}{n / loop_s:>8.3f}{loop_pure:>13.2f}")
    print(f"{'assistant batch':<24}{batch_s:>9.2f}{n / batch_s:>8.3f}{batch_pure:>13.2f}")
    b = result["batch"]
    print(
        f"{len(questions)} questions x 2 per mode ({failed} failed), model load {load_s:.2f} s (once, not in the rows above); batch overhead "
        f"over sum(timings.total_s): {b['overhead_s']:.3f} s = {b['overhead_per_question_ms']:.1f} ms/question "
        f"({b['overhead_pct']}%); batch/loop throughput {result['batch_vs_individual']:.3f}x"
    )
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "batch.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
