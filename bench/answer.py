"""Answer-path benchmark: retrieval latency, prompt size, time to first token, generation and prompt
tokens/s (in the pipeline and raw llama.cpp), full answer latency, cold `assistant ask`, peak RSS.

    .venv/bin/python bench/answer.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEV, ROOT, llama_bench_reference, median, pct, peak_rss_mb, report  # noqa: E402

from assistant.answer.session import make_embedder, make_pipeline  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.ingest.build import ingest  # noqa: E402


def raw_llama(gen, n_prompt: int = 256, n_gen: int = 128) -> tuple[float, float]:
    """llama-bench-like figures through llama-cpp-python: pp tokens/s on a fresh context, tg tokens/s."""
    llm = gen.llm
    tokens = llm.tokenize(("The quick brown fox jumps over the lazy dog. " * 40).encode())[:n_prompt]
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(tokens)
    pp = len(tokens) / (time.perf_counter() - t0)
    llm.reset()
    llm.eval(tokens[:8])
    t0 = time.perf_counter()
    n = 0
    for _tok in llm.generate(tokens[:8], temp=0.0, reset=False):
        n += 1
        if n >= n_gen:
            break
    tg = n / (time.perf_counter() - t0)
    llm.reset()
    return pp, tg


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--limit", type=int, default=50)
    args = ap.parse_args()
    items = [json.loads(l) for l in DEV.read_text().splitlines() if l.strip()][: args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        embedder = make_embedder(settings)
        ingest(settings, embedder, [ROOT / "seeds"])
        t0 = time.perf_counter()
        pipe = make_pipeline(settings, embedder=embedder)
        load_s = time.perf_counter() - t0
        pipe.ask(items[0]["question"])  # warm
        retrieval = []
        for _ in range(args.runs):
            for it in items:
                t = time.perf_counter()
                pipe.retriever.search(it["question"])
                retrieval.append(time.perf_counter() - t)
        # The default (extractive) answers: no generation with the bundled 135M model.
        answers = [pipe.ask(it["question"]) for it in items]
        answer_s = [a.timings.total_s for a in answers]
        # The generative style runs the model on every answer: the figures compared with llama-bench.
        pipe = make_pipeline(
            Settings(data_dir=Path(tmp), answer_style="generative"), embedder=embedder, generator=pipe.generator
        )
        answers = [pipe.ask(it["question"]) for it in items]
        gen = [a for a in answers if not a.abstained]
        # The chat app's read-ahead: the draft decoded during a typing pause, then the question sent.
        ahead: dict[str, list[float]] = {"complete": [], "last word missing": []}
        for it in items:
            for mode, draft in (("complete", it["question"]), ("last word missing", it["question"].rsplit(" ", 1)[0])):
                pipe.prepare(draft)
                a = pipe.ask(it["question"])
                if not a.abstained:
                    ahead[mode].append(a.timings.first_token_s)
        pp, tg = zip(*[raw_llama(pipe.generator) for _ in range(args.runs)])
        env = {**os.environ, "ASSISTANT_DATA_DIR": tmp}
        cold = []
        for _ in range(args.runs):
            t = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-m", "assistant.cli", "ask", "--json", items[1]["question"]],
                env=env,
                capture_output=True,
                text=True,
            )
            cold.append(time.perf_counter() - t)
            assert out.returncode == 0, out.stderr
        ref = llama_bench_reference()  # bash bench/llama_bench.sh, same machine
        tg_pipe = median([a.timings.tokens_per_s for a in gen if a.timings.tokens_per_s])
        ttft = pct([a.timings.first_token_s for a in gen], 0.5)
        share = [
            (f"generation in pipeline / llama-bench {k}", tg_pipe / ref[k], ">= 0.80" if k == "tg128 fa0" else "")
            for k in ("tg128 fa0", "tg128 @ d400 fa0")
            if k in ref
        ]
        share += [
            (f"raw prompt tok/s / llama-bench {k}", median(list(pp)) / ref[k], ">= 0.90" if k == "pp512 fa0" else "")
            for k in ("pp512 fa0", "pp512 @ d400 fa0")
            if k in ref
        ]
        rows = [
            ("pipeline load s (embedder+index+GGUF)", load_s, ""),
            ("answer time p50 s, default (extractive)", pct(answer_s, 0.5), ""),
            ("answer time p95 s, default (extractive)", pct(answer_s, 0.95), ""),
            ("answer time p50 s, generative style", pct([a.timings.total_s for a in answers], 0.5), ""),
            ("retrieval p50 ms", 1000 * pct(retrieval, 0.5), "<= 20"),
            ("retrieval p95 ms", 1000 * pct(retrieval, 0.95), ""),
            ("prompt tokens p50", median([a.timings.prompt_tokens for a in gen]), ""),
            ("first token p50 s", ttft, "<= 0.5 (issue 7), <= 0.8 (issue 4)"),
            ("first token p95 s", pct([a.timings.first_token_s for a in gen], 0.95), ""),
            *[
                (
                    f"chat app, read ahead ({mode} at the pause): first token p50 / p95 s",
                    f"{pct(v, 0.5):.3f} / {pct(v, 0.95):.3f}",
                    "",
                )
                for mode, v in ahead.items()
            ],
            ("generation tok/s in pipeline p50", tg_pipe, ">= 80% of llama-bench tg128"),
            ("raw llama.cpp prompt tok/s", median(list(pp)), ">= 90% of llama-bench pp512"),
            ("raw llama.cpp generation tok/s", median(list(tg)), ""),
            *[(f"llama-bench {k} tok/s", v, "bench/llama_bench.sh") for k, v in ref.items()],
            *share,
            ("full answer p50 s (generative)", pct([a.timings.total_s for a in answers], 0.5), "<= 1.5"),
            ("full answer p95 s (generative)", pct([a.timings.total_s for a in answers], 0.95), ""),
            ("cold `assistant ask` wall s (median)", median(cold), "<= 4"),
            ("peak RSS of `assistant ask` MB", peak_rss_mb(children=True), "<= 1200"),
            ("peak RSS of this process MB", peak_rss_mb(), ""),
        ]
        report("answer", rows, {"model": pipe.generator.name, "threads": settings.threads, "questions": len(items)})


if __name__ == "__main__":
    main()
