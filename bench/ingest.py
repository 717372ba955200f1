"""Ingest benchmark: model load, cold full ingest, no-change re-ingest (fresh CLI process), peak RSS.

Run: .venv/bin/python bench/ingest.py [--backend auto|openvino|onnx|onnx-int8|torch] [--runs 3]
Prints a table and writes bench/results/ingest.json. Everything happens in a temporary data dir; the ONNX export
(if any) is made there once, outside the timed region.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.config import Settings  # noqa: E402
from assistant.index.embedding import SentenceTransformerEmbedder  # noqa: E402
from assistant.ingest.build import ingest  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default=os.environ.get("ASSISTANT_EMBED_BACKEND", "auto"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seeds", type=Path, default=ROOT / "seeds")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        base = Path(tmp)
        models = base / "shared"  # export cache shared by every run, so the one-time export is not timed
        code = (
            "import time,sys;t=time.perf_counter();from pathlib import Path;"
            "from assistant.config import Settings;from assistant.index.embedding import SentenceTransformerEmbedder;"
            f"e=SentenceTransformerEmbedder(Settings(data_dir=Path({str(models)!r}),embed_backend={args.backend!r}));"
            "e.embed(['warm up']);print(time.perf_counter()-t, 'torch' in sys.modules)"
        )

        def cold_load() -> tuple[float, str]:
            out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
            secs, torch_loaded = out.stdout.split()
            return float(secs), torch_loaded

        first_load_s, _ = cold_load()  # the one-time ONNX export happens here, in its own process
        # model load in a cold process with the export cached: what `assistant ask` pays
        load_runs, flags = zip(*(cold_load() for _ in range(args.runs)))
        torch_loaded = flags[-1]

        settings = Settings(data_dir=models, embed_backend=args.backend)
        embedder = SentenceTransformerEmbedder(settings)
        t = time.perf_counter()
        embedder.embed(["warm up"])
        inproc_load_s = time.perf_counter() - t

        ingest_runs, reingest_runs, report = [], [], None
        for i in range(args.runs):
            data = base / f"run{i}"  # a fresh, empty index each run
            s = Settings(data_dir=data, embed_backend=args.backend)
            t = time.perf_counter()
            report = ingest(s, embedder, [args.seeds])
            ingest_runs.append(time.perf_counter() - t)
            env = dict(os.environ, ASSISTANT_DATA_DIR=str(data), ASSISTANT_EMBED_BACKEND=args.backend)
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "assistant.cli", "ingest", str(args.seeds)],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
            reingest_runs.append(time.perf_counter() - t)

    med = statistics.median
    result = {
        "machine": {
            "cores": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "loadavg_1m": os.getloadavg()[0],
        },
        "backend": embedder.backend,
        "embed_model_id": embedder.name,
        "papers": report.papers,
        "chunks": report.chunks,
        "runs": args.runs,
        "first_use_load_s": round(first_load_s, 3),
        "in_process_load_s": round(inproc_load_s, 3),
        "cold_process_load_s": round(med(load_runs), 3),
        "query_process_imports_torch": torch_loaded == "True",
        "ingest_wall_s": round(med(ingest_runs), 3),
        "papers_per_s": round(report.papers / med(ingest_runs), 1),
        "chunks_per_s": round(report.chunks / med(ingest_runs), 1),
        "reingest_unchanged_cli_s": round(med(reingest_runs), 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "all_runs": {
            "cold_process_load_s": list(load_runs),
            "ingest_wall_s": ingest_runs,
            "reingest_cli_s": reingest_runs,
        },
    }
    rows = [
        ("machine", f"{result['machine']['cores']} cores, load avg {result['machine']['loadavg_1m']:.1f}"),
        ("backend", f"{result['backend']} (index id {result['embed_model_id']})"),
        ("corpus", f"{result['papers']} papers, {result['chunks']} chunks"),
        ("first use, cold process (export + load)", f"{first_load_s:.2f} s"),
        ("model load, cold process", f"{result['cold_process_load_s']:.2f} s (torch imported: {torch_loaded})"),
        (
            "full ingest (model loaded)",
            f"{result['ingest_wall_s']:.2f} s = {result['papers_per_s']} papers/s, {result['chunks_per_s']} chunks/s",
        ),
        ("no-change re-ingest, CLI", f"{result['reingest_unchanged_cli_s']:.2f} s"),
        ("peak RSS (this process)", f"{result['peak_rss_mb']:.0f} MB"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'metric':<{width}}  median of {args.runs}")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    out = ROOT / "bench" / "results" / "ingest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
