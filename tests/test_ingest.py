"""Ingest into a real persistent Chroma: incremental, idempotent, all-or-nothing, locked."""

from __future__ import annotations

import shutil
import threading

import pytest
from conftest import SEEDS
from filelock import FileLock

from assistant.config import Settings
from assistant.errors import CorpusError, IndexBusyError
from assistant.index.lexical import Index
from assistant.index.store import Store, papers_from_dump
from assistant.ingest.build import ingest, remove_sources

NEW_PAGE = (
    "Header\n\nA Brand New Paper About Quantum Gardening\n\n"
    + (
        "We grow quantum tomatoes in superposition. The harvest is measured at 42 kilograms per qubit. "
        "Our greenhouse uses entangled sprinklers to water plants. "
    )
    * 2
)


def _snapshot(settings):
    store = Store(settings)
    dump = store.dump()
    return store.active_name(), sorted(dump["ids"]), papers_from_dump(dump)


@pytest.fixture
def seeds_copy(tmp_path):
    d = tmp_path / "corpus"
    shutil.copytree(SEEDS, d)
    return d


def test_real_index_of_the_seeds(seeded_dir, real_embedder):
    s = Settings(data_dir=seeded_dir)
    info = Store(s).info()
    assert info.papers == 216 and info.embed_model == "all-MiniLM-L6-v2"
    papers = papers_from_dump(Store(s).dump())
    assert len(papers) == 216 and sum(len(p.sources) > 1 for p in papers.values()) == 41


def test_reingest_with_no_change_embeds_nothing(tmp_path, seeded_dir, real_embedder):
    d = tmp_path / "d"
    shutil.copytree(seeded_dir, d)
    s = Settings(data_dir=d)
    before = _snapshot(s)
    report = ingest(s, real_embedder, [SEEDS])
    assert report.unchanged and report.embedded == 0
    assert _snapshot(s) == before


def test_adding_a_file_embeds_only_its_papers_and_remove_takes_them_out(
    tmp_path, seeded_dir, real_embedder, seeds_copy
):
    d = tmp_path / "d"
    shutil.copytree(seeded_dir, d)
    s = Settings(data_dir=d)
    (seeds_copy / "new.txt").write_text(NEW_PAGE)
    report = ingest(s, real_embedder, [seeds_copy / "new.txt"])
    assert len(report.added) == 1 and report.papers == 217
    assert 0 < report.embedded <= 2 and report.reused > 500
    name, ids, papers = _snapshot(s)
    assert any(p.title.startswith("A Brand New Paper") for p in papers.values())

    report = remove_sources(s, real_embedder, ["new.txt"])
    assert report.papers == 216 and report.embedded == 0 and len(report.removed) == 1
    # papers in several files lose one source but stay
    report = remove_sources(s, real_embedder, ["000_d1fd4c495b64a3a8.txt"])
    _, _, left = _snapshot(s)
    assert all("000_d1fd4c495b64a3a8.txt" not in p.sources for p in left.values())
    assert len(left) < 216


def test_prune_drops_papers_of_files_not_given(settings, fake_embedder, seeds_copy):
    ingest(settings, fake_embedder, [seeds_copy])
    report = ingest(settings, fake_embedder, [seeds_copy / "001_96a867dc4f2e18cb.txt"], prune=True)
    _, _, papers = _snapshot(settings)
    assert all(p.sources == ("001_96a867dc4f2e18cb.txt",) for p in papers.values())
    assert report.removed


def test_changed_chunk_settings_force_a_rebuild(settings, fake_embedder):
    ingest(settings, fake_embedder, [SEEDS])
    other = settings.model_copy(update={"chunk_tokens": 120})
    report = ingest(other, fake_embedder, [SEEDS])
    assert report.rebuilt and report.reused == 0 and report.embedded == report.chunks


def test_interrupted_ingest_keeps_the_previous_index(settings, fake_embedder, seeds_copy, monkeypatch):
    ingest(settings, fake_embedder, [SEEDS])
    before = _snapshot(settings)
    (seeds_copy / "new.txt").write_text(NEW_PAGE)
    real_add = Store.add

    def add_then_die(self, col, ids, *a, **kw):
        real_add(self, col, ids[:3], *[x[:3] for x in a], **kw)
        raise KeyboardInterrupt  # Ctrl-C half-way through writing

    monkeypatch.setattr(Store, "add", add_then_die)
    with pytest.raises(KeyboardInterrupt):
        ingest(settings, fake_embedder, [seeds_copy])
    monkeypatch.undo()
    assert _snapshot(settings) == before
    assert len(Index.load(Store(settings)).papers) == 216
    # no half-written generation is left behind
    names = [c.name for c in Store(settings).client.list_collections()]
    assert sorted(names) == sorted([before[0], "papers-active"])


def test_bad_file_mid_way_changes_nothing_with_strict(settings, fake_embedder, seeds_copy):
    ingest(settings, fake_embedder, [SEEDS])
    before = _snapshot(settings)
    (seeds_copy / "zz_bad.txt").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CorpusError, match="zz_bad.txt"):
        ingest(settings, fake_embedder, [seeds_copy], strict=True)
    assert _snapshot(settings) == before
    # without --strict the folder's other files are indexed and the bad one is reported (tests/test_ingest_robust.py)


def test_second_ingest_fails_clearly_while_the_lock_is_held(settings, fake_embedder):
    ingest(settings, fake_embedder, [SEEDS])
    with FileLock(str(settings.lock_path)):
        with pytest.raises(IndexBusyError, match="another ingest"):
            ingest(settings, fake_embedder, [SEEDS], wait=0)


def test_concurrent_ingests_are_serialised(settings, fake_embedder, seeds_copy):
    (seeds_copy / "new.txt").write_text(NEW_PAGE)
    errors: list[BaseException] = []

    def run(paths):
        try:
            ingest(settings, fake_embedder, paths, wait=120)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=([SEEDS],)),
        threading.Thread(target=run, args=([seeds_copy / "new.txt"],)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    _, ids, papers = _snapshot(settings)
    assert len(papers) in (216, 217) and len(ids) == len(set(ids))
    assert len(Store(settings).client.list_collections()) == 2  # the active generation + the pointer


def test_ingest_with_nothing_left_refuses(settings, fake_embedder):
    ingest(settings, fake_embedder, [SEEDS / "000_d1fd4c495b64a3a8.txt"])
    from assistant.errors import StoreError

    with pytest.raises(StoreError, match="empty"):
        remove_sources(settings, fake_embedder, ["000_d1fd4c495b64a3a8.txt"])
    assert Store(settings).info().papers > 0


def _results(retriever, questions):
    return [[(e.paper_id, e.sentences, e.score) for e in retriever.search(q)[0]] for q in questions]


def test_index_snapshot_is_written_by_ingest_read_back_identically_and_replaced_per_generation(
    settings, fake_embedder, seeds_copy
):
    from assistant.index import cache as index_cache
    from assistant.retrieve.hybrid import Retriever

    ingest(settings, fake_embedder, [seeds_copy])
    store = Store(settings)
    col = store.active()
    assert index_cache.read(settings, col) is not None  # written by the ingest itself
    cached = Index.load(store)
    assert {"bm25", "idf"} <= set(vars(cached))  # nothing rebuilt
    rebuilt = Index.from_dump(store, col, store.dump(col))
    questions = ["symbolic optimizer momentum", "crowdsourcing instructions tasks", "graph neural networks", "zzz"]
    assert _results(Retriever(settings, fake_embedder, cached), questions) == _results(
        Retriever(settings, fake_embedder, rebuilt), questions
    )
    assert len(cached.papers) == 216 and cached.papers == rebuilt.papers and cached.sentences == rebuilt.sentences

    (seeds_copy / "new.txt").write_text(NEW_PAGE)
    ingest(settings, fake_embedder, [seeds_copy])
    folders = list((settings.data_dir / "index-cache").iterdir())
    assert len(folders) == 1 and Store(settings).active_name() in folders[0].name  # the old one is gone
    assert len(Index.load(Store(settings)).papers) == 217


def test_a_damaged_snapshot_is_ignored_and_rebuilt(settings, fake_embedder, caplog):
    from assistant.index import cache as index_cache

    ingest(settings, fake_embedder, [SEEDS])
    folder = next((settings.data_dir / "index-cache").iterdir())
    (folder / "index.json").write_text('{"papers": [')  # a torn or tampered file
    index = Index.load(Store(settings))
    assert len(index.papers) == 216 and "ignoring the index snapshot" in caplog.text
    assert index_cache.read(settings, Store(settings).active()) is not None  # and written afresh
    # A truncated papers file is caught at load, not when a question reads the paper it lost.
    folder = next((settings.data_dir / "index-cache").iterdir())
    papers = folder / "papers.jsonl"
    papers.write_bytes(papers.read_bytes()[:-100])
    caplog.clear()
    index = Index.load(Store(settings))
    assert "papers.jsonl has" in caplog.text and len(index.papers) == 216
    assert all(p.abstract for p in index.papers.values())
