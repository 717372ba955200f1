"""Batch throughput against a llama_cpp.server model server (concurrency 1, 2, 4) versus the in-process model.

    .venv/bin/python bench/servers.py [--limit N] [--data-dir DIR] [--concurrency 1,2,4]

About parallel slots: llama-cpp-python 0.3.36's server has no parallel-slot setting (its ModelSettings has no
n_parallel / n_seq_max; llama.cpp's own `llama-server --parallel N` has one). It holds one Llama context and
serialises every request through a lock, so extra batch workers can only overlap the client-side work (retrieval,
prompt building, HTTP) with the server's generation; they cannot generate two answers at once. It is started with
`--interrupt_requests False`: by default it cuts a streaming answer short as soon as another request arrives, which
concurrent clients would otherwise trigger constantly. Server and in-process model use the same thread count.

Without --data-dir the bundled seeds are indexed into a temporary folder first (not timed).
Writes bench/results/servers.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import DEV, ROOT  # noqa: E402

sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_llama_server(port: int, threads: int, log: Path) -> subprocess.Popen:
    from assistant.generate.llama import default_model_path

    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(default_model_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        "--interrupt_requests",
        "False",
    ]
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"llama_cpp.server exited ({proc.returncode}); see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise SystemExit(f"llama_cpp.server did not start in 180 s; see {log}")


def timed_batch(qfile: Path, out: Path, settings, pipeline, concurrency: int) -> dict:
    from assistant.cli.batch import run_batch
    from assistant.cli.main import build_parser

    args = build_parser().parse_args(
        ["batch", str(qfile), "-o", str(out), "--quiet", "--overwrite", "--concurrency", str(concurrency)]
    )
    t = time.perf_counter()
    rc = run_batch(args, settings, pipeline)
    wall = time.perf_counter() - t
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    ok = [r for r in rows if not r["error"]]
    lat = sorted(r["timings"]["total_s"] for r in ok)
    return {
        "concurrency": concurrency,
        "wall_s": round(wall, 2),
        "questions_per_s": round(len(rows) / wall, 3),
        "failed": len(rows) - len(ok),
        "exit_code": rc,
        "p50_latency_s": round(lat[len(lat) // 2], 2) if lat else None,
        "errors": sorted({r["error"][:120] for r in rows if r["error"]})[:3],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=20, help="first N dev questions (default 20)")
    ap.add_argument("--data-dir", type=Path, help="an existing index (default: index the seeds into a temp dir)")
    ap.add_argument("--concurrency", default="1,2,4")
    opts = ap.parse_args()

    from assistant.answer.session import make_embedder, make_pipeline, make_retriever
    from assistant.config import load_settings
    from assistant.ingest.build import ingest

    questions = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()][: opts.limit]
    tmp = Path(tempfile.mkdtemp(prefix="bench-servers-"))
    qfile = tmp / "questions.jsonl"
    qfile.write_text("".join(json.dumps(q) + "\n" for q in questions))
    data_dir = opts.data_dir or tmp / "data"
    base = load_settings(data_dir=data_dir)
    embedder = make_embedder(base)
    if opts.data_dir is None:
        print(f"indexing the seeds into {data_dir} ...", file=sys.stderr)
        ingest(base, embedder, [ROOT / "seeds"])
    retriever = make_retriever(base, embedder)
    threads = base.threads
    rows = []

    # in-process llama.cpp: one model load, one warm-up
    pipeline = make_pipeline(base, retriever=retriever)
    pipeline.ask(questions[0]["question"])
    rows.append({"mode": "in-process", **timed_batch(qfile, tmp / "inproc.jsonl", base, pipeline, 1)})
    del pipeline

    port = free_port()
    proc = start_llama_server(port, threads, tmp / "llama-server.log")
    try:
        settings = load_settings(data_dir=data_dir, llm_url=f"http://127.0.0.1:{port}/v1")
        for c in [int(x) for x in opts.concurrency.split(",")]:
            pipeline = make_pipeline(settings, retriever=retriever)
            pipeline.ask(questions[0]["question"])  # warm: model id, token-count cache, server KV cache
            rows.append(
                {"mode": "llama_cpp.server", **timed_batch(qfile, tmp / f"server-{c}.jsonl", settings, pipeline, c)}
            )
            pipeline.generator.close()
    finally:
        proc.terminate()
        proc.wait(15)

    inproc = rows[0]["questions_per_s"]
    print(f"{'backend':<18}{'conc':>5}{'wall s':>9}{'q/s':>8}{'vs in-proc':>11}{'p50 s':>8}{'failed':>8}")
    for r in rows:
        print(
            f"{r['mode']:<18}{r['concurrency']:>5}{r['wall_s']:>9.2f}{r['questions_per_s']:>8.3f}"
            f"{r['questions_per_s'] / inproc:>10.2f}x{r['p50_latency_s'] or 0:>8.2f}{r['failed']:>8}"
        )
    print(
        f"{len(questions)} dev questions, {threads} threads, max_tokens {base.max_tokens}; llama_cpp.server has no "
        "parallel slots (one context, requests serialised), so concurrency only overlaps client-side work"
    )
    result = {
        "questions": len(questions),
        "threads": threads,
        "max_tokens": base.max_tokens,
        "parallel_slots": "not supported by llama-cpp-python 0.3.36 llama_cpp.server (requests are serialised)",
        "server_flags": ["--interrupt_requests", "False", "--n_ctx", "2048", "--n_threads", str(threads)],
        "rows": rows,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "servers.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
