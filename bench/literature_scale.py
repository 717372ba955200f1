"""How long an extractive literature answer (survey, compare, consensus) takes on an index, warm: the pipeline is
built once, then each question is asked ROUNDS times and the latency of every ask is kept.

    .venv/bin/python bench/literature_scale.py [--data-dir DIR] [--questions FILE]

DIR: an index (default: the configured one; for 100,000 papers, `bench/scale.py --arxiv --n 100000 --vectors
sentence-sum --keep DIR` leaves one in DIR/data). FILE: JSONL with `question` fields (default: the public
synthesis-dev questions). The issue's targets: p50 <= 0.5 s on the bundled corpus, <= 1.5 s at 100,000 papers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.answer.session import make_pipeline  # noqa: E402
from assistant.config import Settings  # noqa: E402

ROUNDS = 3
SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--questions", type=Path, default=SHARED / "synthesis-dev.jsonl")
    args = ap.parse_args()
    settings = Settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    t0 = time.perf_counter()
    pipe = make_pipeline(settings)
    print(f"pipeline ready in {time.perf_counter() - t0:.1f} s ({len(pipe.retriever.index.papers):,} papers)")
    lines = args.questions.read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    by_kind: dict[str, list[float]] = {}
    for _ in range(ROUNDS):
        for q in questions:
            t = time.perf_counter()
            answer = pipe.ask(q)
            by_kind.setdefault(answer.kind or "single", []).append(time.perf_counter() - t)
    every = [s for v in by_kind.values() for s in v]
    for kind, secs in sorted(by_kind.items()) + [("all", every)]:
        secs = sorted(secs)
        p95 = secs[min(len(secs) - 1, int(0.95 * len(secs)))]
        print(f"{kind:<10} n={len(secs):4d} p50 {statistics.median(secs):.3f} s  p95 {p95:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
