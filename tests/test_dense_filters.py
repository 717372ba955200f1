"""Filtered dense search from the snapshot's vectors file (retrieve/dense.py), against Chroma's own `where`.

Real MiniLM and a real persistent Chroma: the bundled seeds plus the reference-manager library, so that filters by
year, author, venue and source keep few or many chunks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.config import Settings
from assistant.index import cache as index_cache
from assistant.index.lexical import Index
from assistant.index.store import Store
from assistant.ingest.build import ingest
from assistant.retrieve import dense
from assistant.retrieve.filters import build_where, chroma_where, table_for
from assistant.text import one_spaced_line

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "tests" / "data" / "library"
FILTERS = [
    build_where(year="2023.."),
    build_where(author="Ye"),
    build_where(venue="ICLR"),
    build_where(source="library.bib"),
    build_where(year="..2022", venue="Association for Computational Linguistics"),
]
QUESTIONS = ["reasoning with few training samples", "graph contrastive learning for recommendation", "video QA"]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, real_embedder) -> Path:
    d = tmp_path_factory.mktemp("dense") / "data"
    ingest(Settings(data_dir=d), real_embedder, [ROOT / "seeds", LIB])
    return d


def _chroma(index, qvec, n, where) -> dict[str, float]:
    """Chroma's own filtered search, on the keys its rows carry (paper_id, year)."""
    res = index.store.query(
        index.collection, qvec.tolist(), n, chroma_where(where, table_for(index)) if where else None
    )
    return {i: 1.0 - d for i, d in zip(res["ids"][0], res["distances"][0])}


@pytest.mark.e2e
def test_ingest_writes_every_chunk_vector_into_the_snapshot(index_dir):
    index = Index.load(Store(Settings(data_dir=index_dir)))
    assert index.vectors is not None and index.vectors.shape == (len(index.chunks), 384)
    got = index.collection.get(ids=[c.id for c in index.chunks[:50]], include=["embeddings"])
    pos = {cid: i for i, cid in enumerate(got["ids"])}
    chroma = np.asarray([got["embeddings"][pos[c.id]] for c in index.chunks[:50]], dtype=np.float32)
    assert np.allclose(np.asarray(index.vectors[:50], dtype=np.float32), chroma, atol=2e-3)  # float16, same order
    assert not list((index_dir / "index-cache").glob(".tmp-*"))  # the temp vectors file was moved in


@pytest.mark.e2e
@pytest.mark.parametrize("exact_max", [dense.EXACT_MAX, 0])  # 0: every filter takes the broad (HNSW) path
def test_filtered_dense_search_gives_what_chroma_where_gives(index_dir, real_embedder, monkeypatch, exact_max):
    monkeypatch.setattr(dense, "EXACT_MAX", exact_max)
    index = Index.load(Store(Settings(data_dir=index_dir)))
    index.hnsw = True  # a session's index (Retriever.warm): broad filters may take the HNSW path
    table = table_for(index)
    for where in FILTERS:
        assert where is not None
        mask = table.chunk_mask(where)
        assert mask is not None and 0 < mask.sum() < len(mask)
        for q in QUESTIONS:
            qvec = real_embedder.embed([q])[0]
            n = 10
            ours = dense.dense_search(index, qvec, n, where)
            theirs = _chroma(index, qvec, n, where)
            assert len(ours) == min(n, int(mask.sum()))  # top-k stays full
            assert all(mask[index.chunk_pos[c]] for c in ours)  # nothing outside the filter
            assert set(ours) == set(theirs), (where, q)
            assert max(abs(ours[c] - theirs[c]) for c in ours) < 2e-3


@pytest.mark.e2e
@pytest.mark.parametrize("exact_max", [dense.EXACT_MAX, 0])  # 0: every filter takes the widened HNSW path
def test_without_a_vectors_file_filters_go_through_chroma_and_agree(index_dir, real_embedder, monkeypatch, exact_max):
    """An older snapshot has no vectors file: a narrow filter is a `where` on its papers' ids, a broad one an HNSW
    query widened until enough pass. Either way: what Chroma's own `where` finds, top-k full."""
    monkeypatch.setattr(dense, "EXACT_MAX", exact_max)
    index = Index.load(Store(Settings(data_dir=index_dir)))
    index.vectors, index.hnsw = None, True
    table = table_for(index)
    for where in FILTERS:
        assert where is not None
        mask = table.chunk_mask(where)
        assert mask is not None
        for q in QUESTIONS:
            qvec = real_embedder.embed([q])[0]
            ours = dense.dense_search(index, qvec, 10, where)
            assert len(ours) == min(10, int(mask.sum())) and all(mask[index.chunk_pos[c]] for c in ours)
            theirs = _chroma(index, qvec, 10, where)
            assert len(set(ours) & set(theirs)) >= len(ours) - 1, (where, q)  # HNSW on both sides: approximate


@pytest.mark.e2e
def test_an_unfiltered_search_is_exact_until_a_session_asks_for_hnsw(index_dir, real_embedder, monkeypatch):
    """A cold reader ranks every chunk from the vectors file (in blocks) without starting Chroma."""
    from assistant.retrieve.hybrid import Retriever

    monkeypatch.setattr(dense, "BLOCK", 7)  # many blocks, and a short last one
    settings = Settings(data_dir=index_dir)
    index = Index.load(Store(settings))
    assert not index.hnsw
    every = np.asarray(index.vectors, dtype=np.float32)
    qvecs = real_embedder.embed(QUESTIONS)
    found = [dense.dense_search(index, qvec, 10, None) for qvec in qvecs]
    assert not index.collection_open  # Chroma never opened
    for qvec, ours in zip(qvecs, found):
        assert set(ours) == {index.chunks[int(i)].id for i in np.argsort(-(every @ qvec))[:10]}  # exact
        assert len(set(ours) & set(_chroma(index, qvec, 10, None))) >= 9  # HNSW is approximate
    session = Index.load(Store(settings))
    Retriever(settings, real_embedder, session).warm()
    assert session.hnsw and session.collection_open


def test_names_are_looked_up_in_the_papers_bm25_finds_as_in_all_papers(settings, fake_embedder):
    """Vocabulary.papers_naming narrows by BM25 postings before its regex; the result is a full scan's."""
    import re

    from assistant.retrieve.coverage import Vocabulary

    ingest(settings, fake_embedder, [ROOT / "seeds", LIB])
    index = Index.load(Store(settings))
    vocab = Vocabulary(index)
    names = [
        "LIMO",
        "USEFUL",
        "Lion",
        "OVQA",
        "GPT-4",
        "GPT",
        "FLAD-trained",
        "CLIP",
        "AndroidControl",
        "The",
        "IT",
        "Transformers",
        "Studies",
        "NoSuch",
    ]
    for name in names:
        pattern = re.compile(r"(?<![\w-])" + re.escape(name) + r"(?![A-Za-z])")
        scan = {pid for pid, p in index.papers.items() if pattern.search(p.title) or pattern.search(p.abstract)}
        assert vocab.papers_naming(name) == scan, name
    assert vocab.papers_naming("LIMO") and not vocab.papers_naming("NoSuch")


def test_the_bm25_an_ingest_saves_scores_as_bm25s_own_build_from_term_strings(settings, fake_embedder):
    """The ingest builds BM25 from packed term ids with the scipy backend (less memory); the matrix must be the one
    bm25s builds by default from the term strings."""
    import bm25s

    from assistant.text import terms

    ingest(settings, fake_embedder, [ROOT / "seeds", LIB])
    index = Index.load(Store(settings))
    texts = [index.chunk_text(c) for c in index.chunks]
    reference = bm25s.BM25()
    reference.index([terms(t) or ["_"] for t in texts], show_progress=False)
    saved = index.bm25
    # Term ids are numbered differently (first seen vs sorted): compare per term, columns of the CSC matrix.
    for term in [*terms("reasoning graph video lion"), *terms(texts[-1])]:
        a, b = saved.vocab_dict[term], reference.vocab_dict[term]
        sa = slice(saved.scores["indptr"][a], saved.scores["indptr"][a + 1])
        sb = slice(reference.scores["indptr"][b], reference.scores["indptr"][b + 1])
        assert list(saved.scores["indices"][sa]) == list(reference.scores["indices"][sb]), term
        assert np.allclose(saved.scores["data"][sa], reference.scores["data"][sb]), term
    assert len(saved.scores["data"]) == len(reference.scores["data"]) > 1000


@pytest.mark.e2e
def test_without_a_vectors_file_filters_go_to_chroma(index_dir, real_embedder, tmp_path):
    settings = Settings(data_dir=index_dir)
    index = Index.load(Store(settings))
    folder = index_cache._folder(settings, index.collection)
    aside = tmp_path / "vectors.npy"
    (folder / index_cache.VECTORS).rename(aside)
    try:
        bare = Index.load(Store(settings))
        assert bare.vectors is None
        qvec = real_embedder.embed([QUESTIONS[0]])[0]
        where = build_where(year="2023..")
        assert set(dense.dense_search(bare, qvec, 10, where)) == set(_chroma(bare, qvec, 10, where))
    finally:
        aside.rename(folder / index_cache.VECTORS)


def test_a_vectors_file_of_the_wrong_length_is_ignored(tmp_path):
    np.save(tmp_path / index_cache.VECTORS, np.zeros((3, 4), dtype=np.float16))
    assert index_cache._vectors(tmp_path, 3) is not None
    assert index_cache._vectors(tmp_path, 4) is None  # a torn or foreign file: filters go to Chroma


def test_vector_writer_leaves_nothing_when_rows_are_missing(tmp_path):
    w = index_cache.VectorWriter(Settings(data_dir=tmp_path), rows=5)
    w.append(np.ones((3, 4), dtype=np.float32))
    assert w.finish() is None  # an interrupted run: 3 of 5 rows
    assert not list((tmp_path / "index-cache").iterdir())
    w = index_cache.VectorWriter(Settings(data_dir=tmp_path), rows=4)
    w.append(np.ones((2, 4), dtype=np.float32))
    w.append(np.full((2, 4), 0.5, dtype=np.float32))
    path = w.finish()
    assert path is not None and np.load(path).tolist() == [[1.0] * 4] * 2 + [[0.5] * 4] * 2


@given(st.text())
def test_one_spaced_line_fast_path_matches_the_character_walk(text):
    slow = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    assert one_spaced_line(text) == slow


def test_chunk_texts_rebuilt_from_the_store_are_what_was_embedded(settings, fake_embedder):
    """Chroma keeps no documents: a reader without the snapshot rebuilds every chunk's text from chunk 0's paper."""
    from assistant.ingest.chunking import chunk_paper
    from assistant.ingest.corpus import load_corpus

    ingest(settings, fake_embedder, [ROOT / "seeds", LIB])
    store = Store(settings)
    rebuilt = Index.from_dump(store, store.active(), store.dump())
    papers, _ = load_corpus([ROOT / "seeds", LIB])
    embedded = {
        c.id: c.text
        for p in papers
        for c in chunk_paper(p, settings.chunk_tokens, fake_embedder.count_tokens, settings.chunk_overlap)
    }
    assert len(rebuilt.chunks) == len(embedded)
    assert {c.id: rebuilt.chunk_text(c) for c in rebuilt.chunks} == embedded
    assert rebuilt._texts == [embedded[c.id] for c in rebuilt.chunks]  # what BM25 is built from


@pytest.mark.e2e
def test_a_snapshot_rebuilt_from_the_store_has_the_vectors_again(index_dir, tmp_path):
    import shutil

    settings = Settings(data_dir=index_dir)
    first = Index.load(Store(settings))
    saved = np.asarray(first.vectors).copy()
    folder = index_cache._folder(settings, first.collection)
    shutil.move(str(folder), str(tmp_path / "snapshot"))
    try:
        rebuilt = Index.load(Store(settings))  # no snapshot: from a Chroma dump, which writes one again
        assert rebuilt.vectors is not None
        order = [first.chunk_pos[c.id] for c in rebuilt.chunks]  # each index keeps its own chunk order
        assert np.allclose(np.asarray(rebuilt.vectors, dtype=np.float32), saved[order], atol=2e-4)  # float16 steps
        again = Index.load(Store(settings))
        assert again.vectors is not None and again.vectors.shape == saved.shape
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.move(str(tmp_path / "snapshot"), str(folder))


def test_a_snapshot_loads_lazily_and_reads_as_the_store_does(settings, fake_embedder):
    """Nothing is decoded at load (papers, sentences), yet every paper, chunk ref, filter and title term is what a
    rebuild from the Chroma store gives."""
    from assistant.index.lazy import ChunkRefs, Papers
    from assistant.index.lexical import Sentences
    from assistant.text import split_sentences

    ingest(settings, fake_embedder, [ROOT / "seeds", LIB])
    store = Store(settings)
    index = Index.load(store)
    assert isinstance(index.papers, Papers) and isinstance(index.chunks, ChunkRefs)
    assert not index.papers._decoded and not index.collection_open  # Chroma not started, no paper decoded
    assert isinstance(index.sentences, Sentences) and not index.sentences._split
    pid = index.paper_ids[3]
    assert index.sentences[pid] == split_sentences(index.papers[pid].abstract) and list(index.papers._decoded) == [pid]
    col = store.active()
    rebuilt = Index.from_dump(store, col, store.dump(col))
    assert dict(index.papers.items()) == rebuilt.papers
    assert {c.id: c for c in index.chunks} == {c.id: c for c in rebuilt.chunks}
    assert index.sentence_count == rebuilt.sentence_count and index.title_terms == rebuilt.title_terms
    assert {p: [c.id for c in cs] for p, cs in index.paper_chunks.items()} == {
        p: [c.id for c in cs] for p, cs in rebuilt.paper_chunks.items()
    }
    for where in FILTERS:
        assert index.table.matching(where) == rebuilt.table.matching(where)
        got, want = index.table.chunk_mask(where), rebuilt.table.chunk_mask(where)
        assert {c.id for c, m in zip(index.chunks, got) if m} == {c.id for c, m in zip(rebuilt.chunks, want) if m}
    assert index.collection.name == col.name and index.collection_open  # opened on first use


def test_the_active_generation_read_from_sqlite_is_chromas(settings, fake_embedder):
    """index/pointer.py reads Chroma's SQLite file directly: it must agree with the client, or give None."""
    from assistant.index.pointer import read_active

    store = Store(settings)
    assert read_active(settings, store.pointer_name) is None  # no store yet
    for _ in range(2):  # a second ingest moves the pointer
        ingest(settings, fake_embedder, [LIB] if _ == 0 else [ROOT / "seeds", LIB])
        ref = read_active(settings, store.pointer_name)
        col = Store(settings).active()
        assert ref is not None and (ref.name, ref.id, ref.metadata) == (col.name, str(col.id), col.metadata)


def test_an_interrupted_ingest_leaves_no_pending_snapshot_and_the_next_one_installs_its_own(
    settings, fake_embedder, monkeypatch
):
    """The snapshot is written before the embedding (index/cache.py prepare) and moved in after the flip."""
    ingest(settings, fake_embedder, [LIB])
    root = settings.data_dir / "index-cache"
    before = sorted(p.name for p in root.iterdir())

    def dying_add(self, col, ids, *a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(Store, "add", dying_add)
    with pytest.raises(KeyboardInterrupt):
        ingest(settings, fake_embedder, [ROOT / "seeds", LIB])
    monkeypatch.undo()
    assert sorted(p.name for p in root.iterdir()) == before  # nothing pending, no stray vectors file
    ingest(settings, fake_embedder, [ROOT / "seeds", LIB])
    (folder,) = [p for p in root.iterdir()]
    assert {"index.json", "bm25", index_cache.VECTORS} <= {p.name for p in folder.iterdir()}
    index = Index.load(Store(settings))
    assert index.vectors is not None and len(index.papers) > 200
