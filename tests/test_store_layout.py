"""What an index generation keeps in Chroma's rows (index/store.py chunk_metadata), and that generations written
in the earlier layout (schema 1: the paper's fields and the filter flags as keys of their own) still load and
ingest over."""

from __future__ import annotations

import json
import shutil

from conftest import SEEDS

from assistant.config import Settings
from assistant.index.lexical import Index
from assistant.index.store import Store, chunk_metadata, papers_from_dump
from assistant.ingest.build import ingest
from assistant.ingest.metadata import filter_keys
from assistant.retrieve.filters import build_where
from assistant.types import Chunk, Paper

PAPER = Paper(
    "p1",
    "Lion: Symbolic Discovery",
    "We discover Lion. It is memory-efficient.",
    ("lib.bib",),
    None,
    "https://arxiv.org/abs/2302.06675",
    "Chen, Xiangning; Liang, Chen",
    2023,
    "NeurIPS",
    None,
    "2302.06675",
)


def _old_layout(chunk_id: str, meta: dict, paper: Paper) -> dict:
    """A chunk's metadata as schema 1 wrote it."""
    old = {"paper_id": paper.id, "chunk": int(chunk_id.rsplit("-", 2)[1]), "sentences": meta["sentences"]}
    old.update(filter_keys(paper))
    old.update({f"src:{s}": True for s in paper.sources})
    if "paper" in meta:
        old.update(title=paper.title, sources=json.dumps(list(paper.sources)), abstract=paper.abstract)
        old.update(
            {k: getattr(paper, k) for k in ("date", "url", "authors", "venue", "doi", "arxiv_id") if getattr(paper, k)}
        )
    return old


def test_a_chunk_row_holds_its_paper_id_sentences_and_year_and_chunk_zero_the_paper():
    first = chunk_metadata(Chunk("p1-0-ab", "p1", 0, "", (0, 1)), PAPER)
    later = chunk_metadata(Chunk("p1-1-cd", "p1", 1, "", (1,)), PAPER)
    assert set(later) == {"paper_id", "sentences", "year"} and later["year"] == 2023  # no author/venue flags
    assert set(first) == set(later) | {"paper"}
    assert papers_from_dump({"metadatas": [later, first]}) == {"p1": PAPER}  # every field round-trips


def test_a_generation_in_the_earlier_layout_loads_filters_and_is_ingested_over(settings, fake_embedder, tmp_path):
    ingest(settings, fake_embedder, [SEEDS])
    store = Store(settings)
    dump = store.dump(embeddings=True)
    papers = papers_from_dump(dump)
    # The same chunks and vectors, written the way schema 1 did, and made the active generation.
    col = store.create_generation(dict(store.active().metadata, schema=1))
    metas = [_old_layout(i, m, papers[m["paper_id"]]) for i, m in zip(dump["ids"], dump["metadatas"])]
    store.add(col, dump["ids"], dump["embeddings"], metas)
    store.set_active(col.name)
    shutil.rmtree(settings.data_dir / "index-cache")  # no snapshot: the index is read from Chroma's rows
    assert papers_from_dump(store.dump()) == papers

    index = Index.load(store)
    assert set(index.papers) == set(papers)
    index.vectors, index.hnsw = None, True  # searched through Chroma's `where`, on the old keys' papers
    from assistant.retrieve.hybrid import Retriever

    lion = next(p for p in papers.values() if p.title == "Symbolic Discovery of Optimization Algorithms")
    where = build_where(source=lion.sources[0])
    evidence, _ = Retriever(settings, fake_embedder, index).search("optimizer", k=50, where=where)
    assert lion.id in {e.paper_id for e in evidence}
    assert all(lion.sources[0] in e.sources for e in evidence)
    # An ingest of the same files finds the same papers in the old rows: nothing to do.
    assert ingest(Settings(data_dir=settings.data_dir), fake_embedder, [SEEDS]).unchanged
