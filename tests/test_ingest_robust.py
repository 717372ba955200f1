"""Reliability, round two, for ingest: papers sharing a title, folders (recursive, symlink loops, bad files, --strict),
progress without a terminal, resuming an interrupted ingest from its embedding cache, streaming into Chroma, and
readers that lose the race with ingests many times in a row."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from conftest import SEEDS, FakeEmbedder

from assistant.answer import session
from assistant.cli.main import main
from assistant.errors import CorpusError
from assistant.index.lexical import Index
from assistant.index.store import Store, papers_from_dump
from assistant.ingest import build
from assistant.ingest.build import ingest, remove_sources
from assistant.ingest.corpus import load_corpus, read_corpus
from assistant.ingest.embed_cache import cache_root
from assistant.ingest.identity import merge, paper_id
from assistant.ingest.progress import LineProgress
from assistant.retrieve.hybrid import Retriever
from assistant.types import Paper

TITLE = "Attention Is All You Need"
PAGE = (
    "Daily Papers\n\n{title}\n\nWe grow quantum tomatoes in superposition. The harvest is measured at 42 kilograms "
    "per qubit. Our greenhouse uses entangled sprinklers to water the plants every morning.\n"
)


def _abstract(i: int) -> str:
    return (
        f"Study {i} proposes method number {i} for topic {i * 7 % 13}. We evaluate variant {i} on {i % 5 + 2} "
        f"benchmarks and report gains of {i % 9}.{i % 10} points. Code for experiment {i} is released."
    )


def _jsonl(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _papers(settings) -> dict[str, Paper]:
    return papers_from_dump(Store(settings).dump())


# -- 1. papers that share a title -------------------------------------------------------------------------------
def test_distinct_papers_sharing_a_title_stay_distinct_and_the_first_keeps_the_title_id(settings, tmp_path):
    rows = [{"title": TITLE, "abstract": _abstract(i), "url": f"https://arxiv.org/abs/1706.{i:05d}"} for i in range(40)]
    rows += [{"title": TITLE.upper(), "abstract": _abstract(100 + i)} for i in range(10)]  # no URL
    _jsonl(tmp_path / "attention.jsonl", rows)
    corpus = read_corpus([tmp_path / "attention.jsonl"])
    notes: list = []
    papers = corpus.papers(notes)
    assert len(papers) == 50 and len({p.id for p in papers}) == 50
    assert papers[0].id == paper_id(TITLE) and papers[0].abstract == _abstract(0)  # eval maps gold titles this way
    assert papers[1].id == f"{paper_id(TITLE)}-1706.00001"  # the arXiv id when there is one
    assert all(p.id.startswith(paper_id(TITLE) + "-") and len(p.id) == 16 + 1 + 8 for p in papers[40:])  # a hash
    assert [n.kind for n in notes] == ["renamed"] * 49
    assert {n.source for n in notes} == {"attention.jsonl"}


def test_the_same_paper_seen_twice_merges_and_the_dropped_text_is_reported(settings, fake_embedder, tmp_path):
    a = _abstract(1)
    near = a.replace("We evaluate", "We carefully evaluate")  # a re-listing with one word added
    _jsonl(tmp_path / "a.jsonl", [{"title": TITLE, "abstract": a}, {"title": "Other", "abstract": _abstract(2)}])
    _jsonl(tmp_path / "b.jsonl", [{"title": TITLE, "abstract": near}, {"title": TITLE, "abstract": a}])
    report = ingest(settings, fake_embedder, [tmp_path / "a.jsonl", tmp_path / "b.jsonl"])
    papers = _papers(settings)
    assert report.papers == 2 and papers[paper_id(TITLE)].abstract == near  # the longer version is kept
    assert papers[paper_id(TITLE)].sources == ("a.jsonl", "b.jsonl")
    (note,) = report.notes
    assert (note.source, note.kind, note.other, note.dropped) == ("b.jsonl", "merged", "a.jsonl", len(a))
    assert report.to_dict()["notes"][0]["dropped"] == len(a)


def test_seeds_still_give_216_papers_with_one_reported_merge(settings, fake_embedder):
    report = ingest(settings, fake_embedder, [SEEDS])
    assert report.papers == 216
    (note,) = report.notes
    assert note.kind == "merged" and note.title.startswith("Easy2Hard-Bench") and note.dropped == 1407
    assert note.source == "002_a787f75f66e18d45.txt" and note.other == "001_96a867dc4f2e18cb.txt"
    again = ingest(settings, fake_embedder, [SEEDS])
    assert again.unchanged


def test_ids_stay_put_whatever_order_the_files_come_in(settings, fake_embedder, tmp_path):
    _jsonl(tmp_path / "a.jsonl", [{"title": TITLE, "abstract": _abstract(1)}])
    _jsonl(tmp_path / "b.jsonl", [{"title": TITLE, "abstract": _abstract(2), "url": "https://arxiv.org/abs/2401.1"}])
    ingest(settings, fake_embedder, [tmp_path / "a.jsonl", tmp_path / "b.jsonl"])
    ids = {p.abstract: p.id for p in _papers(settings).values()}
    assert ids[_abstract(1)] == paper_id(TITLE) and ids[_abstract(2)] != paper_id(TITLE)
    assert ingest(settings, fake_embedder, [tmp_path / "b.jsonl", tmp_path / "a.jsonl"]).unchanged
    assert ingest(settings, fake_embedder, [tmp_path / "a.jsonl"]).unchanged  # re-reading one file renumbers nothing
    report = remove_sources(settings, fake_embedder, ["a.jsonl"])
    assert {p.id for p in _papers(settings).values()} == {ids[_abstract(2)]} and report.notes == []


def test_five_thousand_rows_with_one_title_merge_in_linear_time():
    rows = [
        Paper(paper_id(TITLE), TITLE, _abstract(i) + " Extra words follow here.", ("big.jsonl",)) for i in range(5000)
    ]
    rows += [
        Paper(paper_id(TITLE), TITLE, rows[i].abstract.replace("Extra", "More"), ("big.jsonl",)) for i in range(50)
    ]
    t0 = time.perf_counter()
    notes: list = []
    papers = merge([rows], notes)
    assert time.perf_counter() - t0 < 20
    assert len(papers) == 5000  # the 50 near-copies (one word changed) found their paper among 5,000
    assert sum(n.kind == "merged" for n in notes) == 50 and sum(n.kind == "renamed" for n in notes) == 4999


# -- 2. folders -----------------------------------------------------------------------------------------------
@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "corpus"
    (root / "2024" / "july").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "top.txt").write_text(PAGE.format(title="Top Level Paper About Tomatoes"))
    (root / "2024" / "july" / "deep.txt").write_text(PAGE.format(title="Deeply Nested Paper About Tomatoes"))
    (root / "2024" / "bad.txt").write_bytes(b"caf\xe9 latin-1 text")
    (root / ".hidden" / "secret.txt").write_text(PAGE.format(title="Hidden Paper"))
    os.symlink(root, root / "2024" / "loop")  # a link back up: walking must end
    return root


def test_folder_ingest_recurses_skips_a_bad_file_with_a_warning_and_follows_a_loop_once(settings, fake_embedder, tree):
    report = ingest(settings, fake_embedder, [tree])
    titles = {p.title: p.sources for p in _papers(settings).values()}
    assert titles == {
        "Top Level Paper About Tomatoes": ("top.txt",),
        "Deeply Nested Paper About Tomatoes": ("2024/july/deep.txt",),  # tracked by its path below the folder
    }
    (skipped,) = report.skipped
    assert "bad.txt" in skipped and "not UTF-8" in skipped
    assert any("bad.txt" in w and "skipped" in w for w in report.warnings)


def test_strict_folder_ingest_aborts_on_the_bad_file_and_keeps_the_index(
    settings, fake_embedder, tree, capsys, monkeypatch
):
    ingest(settings, fake_embedder, [SEEDS])
    before = _papers(settings)
    monkeypatch.setattr(session, "make_embedder", lambda s: fake_embedder)
    assert main(["ingest", str(tree), "--strict", "-q"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.txt" in err and err.count("\n") == 1
    assert _papers(settings) == before
    assert main(["ingest", str(tree), "-q"]) == 0
    err = capsys.readouterr().err
    assert "warning: " in err and "bad.txt" in err and "--strict" in err
    assert len(_papers(settings)) == 218


def test_a_named_bad_file_is_still_an_error_and_help_documents_recursion(tmp_path, capsys):
    (tmp_path / "bad.txt").write_bytes(b"")
    with pytest.raises(CorpusError, match="empty"):
        load_corpus([tmp_path / "bad.txt"])
    with pytest.raises(SystemExit):
        main(["ingest", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "searched recursively" in text and "--strict" in text and "link loop" in text


# -- 3. progress, resume, streaming -------------------------------------------------------------------------
def test_progress_lines_without_a_terminal(settings, fake_embedder, capsys, monkeypatch):
    monkeypatch.setattr(session, "make_embedder", lambda s: fake_embedder)
    monkeypatch.setattr(build, "STREAM_BATCH", 100)
    monkeypatch.setattr("assistant.ingest.progress.EVERY_CHUNKS", 100)
    assert main(["ingest", str(SEEDS)]) == 0  # capsys: stderr is not a terminal
    lines = [l for l in capsys.readouterr().err.splitlines() if l.startswith("ingest: ")]
    assert len(lines) >= 4 and lines[-1].startswith("ingest: 432/432 chunks (100%)")


def test_line_progress_every_n_or_every_few_seconds():
    out: list[str] = []
    now = [0.0]

    class Sink:
        def write(self, s):
            out.append(s)

        def flush(self):
            pass

    p = LineProgress("ingest", Sink(), every=1000, interval=5.0, clock=lambda: now[0])
    for done in range(0, 5001, 100):
        now[0] += 0.1
        p(done, 5000)
    lines = [l for l in "".join(out).splitlines() if l]
    assert len(lines) == 5 and "5,000/5,000 chunks (100%)" in lines[-1] and "about 4 s left" in lines[0]
    out.clear()
    p = LineProgress("ingest", Sink(), every=10**6, interval=5.0, clock=lambda: now[0])
    for done in range(10):
        now[0] += 3.0
        p(done, 100)
    lines = [l for l in "".join(out).splitlines() if l]
    assert len(lines) == 4 and lines[0] == "ingest: 2/100 chunks (2%), 0.3/s, about 4 min 54 s left"  # every 5 s


class Dying(FakeEmbedder):
    """Dies (like Ctrl-C) on its `calls`-th embedding call; counts what it embedded."""

    def __init__(self, calls: int = 10**9):
        self.calls, self.texts = calls, 0

    def embed(self, texts, progress=False):
        self.calls -= 1
        if self.calls < 0:
            raise KeyboardInterrupt
        self.texts += len(texts)
        return super().embed(texts)


def test_an_interrupted_ingest_resumes_from_its_embedding_cache(settings, monkeypatch, tmp_path):
    monkeypatch.setattr(build, "STREAM_BATCH", 64)
    ingest(settings, FakeEmbedder(), [SEEDS / "000_d1fd4c495b64a3a8.txt"])
    before = _papers(settings)
    dying = Dying(calls=4)
    with pytest.raises(KeyboardInterrupt):
        ingest(settings, dying, [SEEDS])
    assert _papers(settings) == before  # the generation switch stays all-or-nothing
    assert dying.texts > 0 and list(cache_root(settings).rglob("*.npz"))
    counting = Dying()
    report = ingest(settings, counting, [SEEDS])
    assert report.resumed == dying.texts and report.embedded == counting.texts
    assert report.reused + report.resumed + report.embedded == report.chunks == 432
    assert not cache_root(settings).exists()  # emptied once the vectors are in the index
    index = Index.load(Store(settings))
    assert len(index.papers) == 216
    got = Store(settings).active().get(include=["embeddings"], limit=1000)
    texts = [index.chunk_text(index.chunks[index.chunk_pos[i]]) for i in got["ids"]]
    assert np.allclose(got["embeddings"], FakeEmbedder().embed(texts), atol=1e-6)  # cached = computed


def test_chunks_stream_into_chroma_in_batches(settings, fake_embedder, monkeypatch):
    monkeypatch.setattr(build, "STREAM_BATCH", 50)
    sizes: list[int] = []
    real_add = Store.add

    def add(self, col, ids, *a, **kw):
        sizes.append(len(ids))
        return real_add(self, col, ids, *a, **kw)

    monkeypatch.setattr(Store, "add", add)
    report = ingest(settings, fake_embedder, [SEEDS])
    assert max(sizes) == 50 and sum(sizes) == report.chunks == 432


# -- 5. readers racing ingests ----------------------------------------------------------------------------------
def _ingest_one(settings, tmp_path, n: int) -> None:
    f = tmp_path / f"race{n}.txt"
    f.write_text(PAGE.format(title=f"Race Paper Number {n} About Tomatoes"))
    ingest(settings, FakeEmbedder(), [f])


def test_a_reader_that_loses_the_race_many_times_in_a_row_still_answers(settings, fake_embedder, tmp_path, monkeypatch):
    """Under load a reader's reload can be slower than a whole ingest: it used to give up after 5 lost races."""
    ingest(settings, fake_embedder, [SEEDS])
    retriever = Retriever(settings, fake_embedder, Index.load(Store(settings)))
    retriever.warm()  # a session's searches go to Chroma's HNSW (a cold one is exact, from the snapshot's files)
    real_query = Store.query
    lost = []

    def query(self, col, *a, **kw):
        if len(lost) < 8:  # an ingest flips and drops the generation just before every query
            lost.append(col.name)
            _ingest_one(settings, tmp_path, len(lost))
        return real_query(self, col, *a, **kw)

    monkeypatch.setattr(Store, "query", query)
    evidence, _ = retriever.search("quantum tomatoes harvest")
    assert evidence and len(lost) == 8 and len(retriever.index.papers) == 224


def test_index_load_survives_the_pointer_moving_between_read_and_open(settings, fake_embedder, tmp_path, monkeypatch):
    """The reader reads the pointer, then the generation's snapshot: an ingest may replace both in between."""
    ingest(settings, fake_embedder, [SEEDS])
    real_ref = Store.active_ref
    flips: list[str | None] = []
    busy: list[int] = []

    def active_ref(self):
        if busy or len(flips) >= 3:  # the ingest's own reads, and the reader once it has lost three times
            return real_ref(self)
        ref = real_ref(self)
        flips.append(ref.name)
        busy.append(1)
        try:  # the generation named by the pointer is replaced and dropped (snapshot too) before the reader reads it
            _ingest_one(settings, tmp_path, len(flips))
        finally:
            busy.pop()
        return ref

    monkeypatch.setattr(Store, "active_ref", active_ref)
    assert len(Index.load(Store(settings)).papers) == 219 and len(flips) == 3
