"""Scale benchmark: synthesise 2,000 and 20,000 abstracts from the seeds by sentence recombination
(generated here, never committed) and report how ingest and retrieval costs grow.

Embedding 20,000 abstracts for real takes ~15-20 minutes on 2 cores, so by default the 20,000 run
gives each synthetic chunk the normalised sum of its sentences' real MiniLM vectors (each unique seed
sentence is embedded once, for real). Store, BM25, index load and retrieval then run on realistic
vectors; the embedding throughput itself is the one measured at 2,000 papers. `--full` embeds everything.

    .venv/bin/python bench/scale.py [--sizes 216 2000 20000] [--full]
    .venv/bin/python bench/scale.py --arxiv [--n 100000] [--vectors real|sentence-sum]   (bench/scale_arxiv.py)
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DEV, ROOT, pct, peak_rss_mb, report  # noqa: E402

from assistant.answer.session import make_embedder  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.index.lexical import Index  # noqa: E402
from assistant.index.store import Store  # noqa: E402
from assistant.ingest.build import ingest  # noqa: E402
from assistant.ingest.corpus import load_corpus  # noqa: E402
from assistant.retrieve.hybrid import Retriever
from assistant.text import split_sentences  # noqa: E402


class SentenceSumEmbedder:
    """Chunk vector = normalised sum of the real vectors of its sentences (see the module docstring)."""

    def __init__(self, real, sentences: list[str]):
        self.real = real
        self.name = real.name
        self.count_tokens = real.count_tokens
        self.vec = dict(zip(sentences, real.embed(sentences)))

    def embed(self, texts, progress=False):
        out = []
        for t in texts:
            parts = [self.vec[s] for s in split_sentences(t) if s in self.vec]
            if len(texts) == 1 or not parts:  # queries and evidence sentences: real embedding
                out.append(self.real.embed([t])[0])
                continue
            v = np.sum(parts, axis=0)
            out.append(v / np.linalg.norm(v))
        return np.asarray(out, dtype=np.float32)


def synthesise(papers, n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    sents = [s for p in papers for s in split_sentences(p.abstract)]
    words = [w for p in papers for w in p.title.split()]
    out = []
    for i in range(n):
        title = f"{' '.join(rng.sample(words, 6))} {i}"
        out.append({"title": title, "abstract": " ".join(rng.sample(sents, rng.randint(6, 11)))})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[216, 2000, 20000])
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--arxiv", action="store_true", help="the arXiv-metadata run instead (bench/scale_arxiv.py)")
    ap.add_argument("--n", type=int, default=100_000, help="records of the arXiv-metadata run")
    ap.add_argument("--vectors", choices=["real", "sentence-sum"], default="real", help="of the arXiv-metadata run")
    ap.add_argument("--keep", type=Path, help="arXiv run: keep the records and the data dir in this folder")
    args = ap.parse_args()
    import json

    papers, _ = load_corpus([ROOT / "seeds"])
    questions = [json.loads(l)["question"] for l in DEV.read_text().splitlines() if l.strip()]
    base = Settings(data_dir=Path(tempfile.mkdtemp()))
    real = make_embedder(base)
    real.embed(["warm"])
    if args.arxiv:
        from scale_arxiv import arxiv_run

        rows, detail = arxiv_run(args.n, args.vectors, papers, real, questions, args.keep)
        print(json.dumps(detail, indent=1), flush=True)
        report(f"scale-arxiv-{args.n}-{args.vectors}", rows, {"detail": detail})
        return
    all_sents = sorted({s for p in papers for s in split_sentences(p.abstract)})
    rows, detail = [], {}
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp))
            corpus = Path(tmp) / "corpus"
            corpus.mkdir()
            if n <= len(papers):
                paths = [ROOT / "seeds"]
            else:
                f = corpus / f"synthetic_{n}.jsonl"
                f.write_text("\n".join(json.dumps(r) for r in synthesise(papers, n)))
                paths = [ROOT / "seeds", f]
            emb = real if (args.full or n <= 2000) else SentenceSumEmbedder(real, all_sents)
            t0 = time.perf_counter()
            rep = ingest(settings, emb, paths)
            ingest_s = time.perf_counter() - t0
            store = Store(settings)
            t0 = time.perf_counter()
            col = store.active()
            rebuilt = Index.from_dump(store, col, store.dump(col))
            _ = rebuilt.bm25, rebuilt.idf
            rebuild_s = time.perf_counter() - t0  # what every cold process paid before the snapshot
            del rebuilt
            t0 = time.perf_counter()
            index = Index.load(Store(settings))  # reads the snapshot the ingest wrote
            _ = index.bm25, index.idf
            load_s = time.perf_counter() - t0
            retr = Retriever(settings, real, index)
            retr.search(questions[0])
            lat = []
            for q in questions:
                t = time.perf_counter()
                retr.search(q)
                lat.append(time.perf_counter() - t)
            # A whole cold `assistant ask` process on this index (snapshot, HNSW load, model, answer).
            cold = []
            for _ in range(3):
                t = time.perf_counter()
                out = subprocess.run(
                    [sys.executable, "-m", "assistant.cli", "ask", "--json", questions[1]],
                    env={**os.environ, "ASSISTANT_DATA_DIR": tmp},
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                )
                cold.append(time.perf_counter() - t)
                assert out.returncode == 0, out.stderr
            vectors = "real" if emb is real else "sentence-sum"
            detail[n] = {
                "papers": rep.papers,
                "chunks": rep.chunks,
                "ingest_s": ingest_s,
                "embed_s": rep.embed_s,
                "papers_per_s_excl_model_load": rep.papers / ingest_s,
                "index_load_s": load_s,
                "index_rebuild_s": rebuild_s,
                "cold_ask_s": sorted(cold)[1],
                "retrieval_p50_ms": 1000 * pct(lat, 0.5),
                "retrieval_p95_ms": 1000 * pct(lat, 0.95),
                "vectors": vectors,
            }
            rows += [
                (
                    f"{n}: papers/s ingest ({vectors} vectors)",
                    rep.papers / ingest_s,
                    ">= 30" if vectors == "real" else "store cost only",
                ),
                (f"{n}: index load from the snapshot s", load_s, ""),
                (f"{n}: index rebuild from Chroma (dump, sentences, BM25, IDF) s", rebuild_s, "no snapshot"),
                (f"{n}: retrieval p50 ms", 1000 * pct(lat, 0.5), ""),
                (f"{n}: retrieval p95 ms", 1000 * pct(lat, 0.95), "<= 50 at 20000"),
                (f"{n}: cold `assistant ask` s (median of 3)", sorted(cold)[1], "<= 4 at 216"),
            ]
            print(n, detail[n], flush=True)
    rows.append(("peak RSS MB", peak_rss_mb(), ""))
    report("scale", rows, {"detail": detail})


if __name__ == "__main__":
    main()
