"""corpus -> chunks -> embeddings -> a new Chroma generation -> pointer flip. Incremental, locked, all-or-nothing.

Chunks stream through in batches: each batch's vectors are reused from the active generation, read back from the
embedding cache of an interrupted run, or computed (and cached), then added to the new generation at once. Memory
stays flat with the corpus size, and a killed ingest keeps its computed vectors while the index stays as it was.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from assistant.config import Settings
from assistant.errors import CorpusError, IndexBusyError, StoreError
from assistant.index import cache as index_cache
from assistant.index.embedding import Embedder, embed_model_id
from assistant.index.store import Store, carries_paper, chunk_metadata, papers_from_dump
from assistant.ingest import memory
from assistant.ingest.chunking import chunk_papers
from assistant.ingest.corpus import Corpus, read_corpus
from assistant.ingest.embed_cache import EmbedCache
from assistant.ingest.identity import MergeNote, count_merges, file_lines, merge, summarise
from assistant.ingest.writer import BatchWriter
from assistant.text import split_sentences
from assistant.types import Chunk, Paper

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
STREAM_BATCH = 512  # chunks per streamed batch: one Chroma add, one cache file, at most this much lost to a kill
# Texts per embedder call (at least): the embedder batches each call by token count, and a wider call pads less.
# 64 texts ordered by characters padded 14 % more tokens than they held; 256 ordered by tokens, 3.7 % (19 % more
# chunks/s on the synthetic arXiv texts).
EMBED_CALL = 256


@dataclass
class IngestReport:
    papers: int = 0
    chunks: int = 0
    embedded: int = 0  # chunks whose vectors were computed this run
    reused: int = 0  # chunks whose vectors were copied from the previous generation
    resumed: int = 0  # chunks whose vectors an interrupted run had computed (the embedding cache)
    added: list[str] = field(default_factory=list)  # paper ids
    removed: list[str] = field(default_factory=list)
    rebuilt: bool = False  # settings changed: nothing reused
    unchanged: bool = False
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files that could not be read ("path: reason")
    notes: list[MergeNote] = field(default_factory=list)  # records merged into or kept apart from a same-titled one
    files: list[dict] = field(default_factory=list)  # per reference-format file (BibTeX, RIS, ...): its counts
    flagged: list[str] = field(default_factory=list)  # "title: sentence" of added papers that `flag` caught
    collection: str = ""
    embed_s: float = 0.0  # computing vectors
    store_s: float = 0.0  # Chroma adds
    lexical_s: float = 0.0  # sentences, BM25 and IDF, and the snapshot file
    total_s: float = 0.0

    def note_lines(self) -> list[str]:
        return summarise(self.notes)

    def file_lines(self) -> list[str]:
        """'library.ris (RIS): 9 entries, 8 papers, 8 of them already read (from library.bib; 8 by DOI or arXiv
        id); 1 without an abstract, skipped: 'Attention is All you Need''."""
        return file_lines(self.files)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def index_lock(settings: Settings, wait: float) -> FileLock:
    """An OS-level lock (flock): a crashed holder releases it automatically, so no stale locks."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return FileLock(str(settings.lock_path), timeout=wait)


def _plan(
    old: dict[str, Paper], corpus: Corpus, files: list[str], prune: bool, notes: list[MergeNote]
) -> dict[str, Paper]:
    """The new corpus: each ingested file's contribution replaces what it contributed before."""
    keep: list[Paper] = []
    for p in old.values():
        sources = tuple(s for s in p.sources if s not in files)
        if sources and not prune:
            keep.append(replace(p, sources=sources))
    found: list[MergeNote] = []
    merged = merge([keep, *(r.papers for r in corpus.results)], found, prior=old.values())
    # Only what this run's files did: papers kept from other files met each other in earlier runs.
    notes[:] = [n for n in found if n.source in files]
    return {p.id: p for p in merged}


def remove_sources(
    settings: Settings, embedder: Embedder, names: list[str], wait: float = 0.0, progress: Progress | None = None
) -> IngestReport:
    """Forget source files: papers found only in them leave the index."""
    notes: list[MergeNote] = []

    def plan(old: dict[str, Paper]) -> dict[str, Paper]:
        # A name no paper comes from is a typo or a file already removed: say so instead of "index up to date".
        known = {s for p in old.values() for s in p.sources}
        unknown = [n for n in names if n not in known]
        if unknown:
            hint = (
                f"; indexed sources: {', '.join(sorted(known)[:8])}{' ...' if len(known) > 8 else ''}" if known else ""
            )
            raise CorpusError(
                f"no indexed source named {unknown[0]!r}{hint} (see: assistant sources); nothing was changed"
            )
        return _plan(old, Corpus(), names, False, notes)

    report = _run(settings, embedder, plan, wait, progress)
    return report


def ingest(
    settings: Settings,
    embedder: Embedder,
    paths: list[Path],
    prune: bool = False,
    wait: float = 0.0,
    progress: Progress | None = None,
    strict: bool = False,
    flag: Callable[[list[str]], list[int]] | None = None,
) -> IngestReport:
    """Index `paths` (files, or folders searched recursively). A file found in a folder that cannot be parsed is
    skipped and reported; `strict` makes it abort the run instead, leaving the index as it was. `flag` marks
    abstract sentences to report (the CLI passes the answer stage's "addressed to an assistant" check); they are
    indexed as they are: the answer stage keeps them from the model and from quotes."""
    corpus = read_corpus(paths, strict)  # every file is read and checked before the store is touched
    files = corpus.files
    notes: list[MergeNote] = []
    flagged: list[str] = []

    def plan(old: dict[str, Paper]) -> dict[str, Paper]:
        new = _plan(old, corpus, files, prune, notes)
        corpus.results.clear()  # merged into `new`: the parsed records need not stay for the rest of the run
        if flag is not None:
            for pid in sorted(set(new) - set(old)):
                paper = new[pid]
                # The title counts as one more sentence (an instruction can hide there), checked with the abstract so
                # that an instruction split over two sentences is caught whole.
                texts = [paper.title, *split_sentences(paper.abstract)]
                flagged.extend(f"{paper.title}: {'(title) ' if i == 0 else ''}{texts[i]}" for i in flag(texts))
        return new

    report = _run(settings, embedder, plan, wait, progress)
    report.warnings, report.skipped = corpus.warnings, corpus.skipped
    # Records that simply were a paper already read are counted per file, not reported one by one.
    report.notes = [n for n in notes if n.kind != "same"]
    report.files = count_merges(corpus.counts, notes)
    report.flagged = flagged
    return report


def _run(settings, embedder, plan, wait, progress) -> IngestReport:
    start = time.perf_counter()
    try:
        with index_lock(settings, wait):
            report = _ingest_locked(settings, embedder, plan, progress)
    except Timeout:
        raise IndexBusyError(
            f"another ingest is running on {settings.data_dir} (lock {settings.lock_path}); "
            "wait for it or pass --wait SECONDS"
        ) from None
    except OSError as exc:
        # A read-only or full disk, a file where the data dir should be: the new generation was never
        # activated (see _ingest_locked), so the previous index is still the one in use.
        where = exc.filename or settings.data_dir
        raise StoreError(
            f"{where}: cannot write the index ({exc.strerror or exc}); the previous index is unchanged"
        ) from None
    report.total_s = time.perf_counter() - start
    return report


def _old_papers(store: Store, col) -> tuple[dict[str, Paper], set[str]]:
    """The active generation's papers and chunk ids, read in pages of metadata only (no documents, no vectors)."""
    total = store._call("count", col.count)
    metadatas: list[dict] = []
    ids: set[str] = set()
    for offset in range(0, total, 5000):
        got = store._call("get", col.get, include=["metadatas"], limit=5000, offset=offset)
        ids.update(got["ids"])
        metadatas += [m for m in got["metadatas"] if carries_paper(m)]
    return papers_from_dump({"metadatas": metadatas}), ids


def _ingest_locked(settings: Settings, embedder: Embedder, plan, progress) -> IngestReport:
    store = Store(settings)
    report = IngestReport()
    model_id = embed_model_id(settings)
    info = store.info()
    compatible = (
        info is not None
        and info.embed_model == model_id
        and info.chunk_tokens == settings.chunk_tokens
        and info.chunk_overlap == settings.chunk_overlap
    )
    active = store.active() if info is not None else None
    old, old_ids = _old_papers(store, active) if active is not None else ({}, set())
    new = plan(old)
    if not new:
        raise StoreError("this would leave the index empty; nothing was changed")
    report.papers = len(new)
    report.added = sorted(set(new) - set(old))
    report.removed = sorted(set(old) - set(new))
    if info is not None and compatible and new == old:
        report.unchanged = True
        report.chunks = len(old_ids)
        report.collection = info.collection
        return report
    report.rebuilt = info is not None and not compatible

    chunks: list[tuple[Chunk, Paper]] = list(
        chunk_papers(
            list(new.values()),
            settings.chunk_tokens,
            embedder.count_tokens,
            settings.chunk_overlap,
            getattr(embedder, "count_tokens_many", None),
        )
    )
    report.chunks = len(chunks)
    cache = EmbedCache(settings, model_id)
    segments_before = _segment_dirs(settings)
    col = store.create_generation(
        {
            "embed_model": model_id,
            "chunk_tokens": settings.chunk_tokens,
            "chunk_overlap": settings.chunk_overlap,
            "papers": len(new),
            "chunks": len(chunks),
        }
    )
    t0 = time.perf_counter()
    # Now, while the embedder and Chroma hold little memory; written at once, so that none of it is held while
    # the vectors stream in (installed after the flip).
    pending = _prepare_snapshot(settings, _lexical_index(store, col, new, chunks))
    report.lexical_s += time.perf_counter() - t0
    # Each batch is let go once written: its texts are in Chroma, and the snapshot needs none of them. So are
    # the papers (held from here on by the batches that hold their chunks): 100,000 of them are ~170 MB, which
    # the dicts kept until the end, when Chroma's HNSW is largest.
    batches = [chunks[i : i + STREAM_BATCH] for i in range(0, len(chunks), STREAM_BATCH)]
    del chunks, new, old
    reuse = old_ids if compatible and active is not None else set()
    done = 0
    memory.start_trim_budget()
    writer = BatchWriter(
        store, col, report, index_cache.VectorWriter(settings, report.chunks) if pending is not None else None
    )
    try:
        while batches:
            batch = batches.pop(0)
            vecs = _batch_vectors(store, active, reuse, cache, embedder, batch, settings, report, done, progress)
            writer.submit(
                [c.id for c, _ in batch],
                vecs,
                [chunk_metadata(c, p) for c, p in batch],
            )
            done += len(batch)
            del batch, vecs
            memory.release_freed_memory()
            if progress:
                progress(done, report.chunks)
        writer.wait()
        store.set_active(col.name)  # the commit point
    except BaseException:
        # Ctrl-C, a crash or a full disk before the flip: the old generation stays active. (kill -9 skips this:
        # the next ingest's drop_stale removes the orphan.) The embedding cache keeps what was computed.
        writer.wait(raise_error=False)  # an add still in flight would race the delete below
        if writer.vectors is not None:
            writer.vectors.discard()
        if pending is not None:
            shutil.rmtree(pending, ignore_errors=True)
        try:
            store.client.delete_collection(col.name)
        except Exception:
            pass
        _remove_new_segments(settings, segments_before)
        raise
    finally:
        writer.close()
    report.collection = col.name
    cache.clear(settings)
    store.drop_stale(keep=col.name)
    if pending is not None:
        index_cache.install(settings, col, pending, writer.vectors.finish() if writer.vectors is not None else None)
    return report


def _batch_vectors(store, active, reuse: set[str], cache, embedder, batch, settings, report, done, progress):
    """Vectors for one batch, cheapest source first: the active generation, the cache, the embedder."""
    ids = [c.id for c, _ in batch]
    vectors: dict[int, np.ndarray] = {}
    wanted = [i for i, cid in enumerate(ids) if cid in reuse]
    if wanted:
        got = store._call("get", active.get, ids=[ids[i] for i in wanted], include=["embeddings"])
        pos = {cid: i for i, cid in enumerate(ids)}
        for cid, vec in zip(got["ids"], got["embeddings"]):
            vectors[pos[cid]] = np.asarray(vec, dtype=np.float32)
        report.reused += len(got["ids"])
    missing = [i for i in range(len(batch)) if i not in vectors]
    for j, vec in cache.get([batch[i][0].text for i in missing]).items():
        vectors[missing[j]] = vec
        report.resumed += 1
    # Similar lengths in one embedding call waste less work on padding.
    todo = sorted((i for i in range(len(batch)) if i not in vectors), key=lambda i: len(batch[i][0].text))
    t0 = time.perf_counter()
    step = max(settings.embed_batch_size, EMBED_CALL)
    for s in range(0, len(todo), step):
        sel = todo[s : s + step]
        texts = [batch[i][0].text for i in sel]
        vecs = embedder.embed(texts)
        cache.put(texts, vecs)
        for i, v in zip(sel, vecs):
            vectors[i] = v
        report.embedded += len(sel)
        if progress and s + step < len(todo):
            progress(done + len(batch) - len(todo) + s + len(sel), report.chunks)
    report.embed_s += time.perf_counter() - t0
    return np.stack([vectors[i] for i in range(len(batch))])


def _segment_dirs(settings: Settings) -> set[str]:
    """The segment folders of the embedded store (one per vector segment, named by uuid)."""
    root = settings.data_dir / "chroma"
    if settings.chroma_url or not root.is_dir():
        return set()
    return {p.name for p in root.iterdir() if p.is_dir()}


def _remove_new_segments(settings: Settings, before: set[str]) -> None:
    """A run that failed (a full disk) removes the segment folders it created: Chroma's own delete needs to write
    SQLite, which a full disk refuses, and left a 1.7 MB orphan folder behind. Under the ingest lock nobody else
    creates segments, and the failed generation was never active, so no reader uses them."""
    root = settings.data_dir / "chroma"
    for name in _segment_dirs(settings) - before:
        log.info("removing the failed generation's segment folder %s", root / name)
        shutil.rmtree(root / name, ignore_errors=True)


def _lexical_index(store: Store, col, papers: dict[str, Paper], chunks: list[tuple[Chunk, Paper]]):
    """What the snapshot holds (sentences, BM25, IDF), built before the embedding starts: its transient memory then
    does not add to that of the embedder's runtime and Chroma's vectors at the end. None if it fails: readers
    rebuild the snapshot themselves."""
    from assistant.index.lexical import ChunkRef, Index

    try:
        index = Index(
            store,
            col,
            papers,
            [ChunkRef(c.id, p.id, tuple(c.sentences)) for c, p in chunks],
            texts=[c.text for c, _ in chunks],
        )
        index.bm25, index.idf  # noqa: B018 - cached properties, built here
        index._texts = []  # only the BM25 build needed them
        return index
    except Exception as exc:  # noqa: BLE001 - only a speed-up for the first reader
        log.warning("could not build the index snapshot (%s: %s)", type(exc).__name__, exc)
        return None


def _prepare_snapshot(settings: Settings, index) -> Path | None:
    """Write the new generation's snapshot (index/cache.py prepare) so the first `ask` does not rebuild it. None
    when there is no index or it cannot be written: readers rebuild the snapshot themselves."""
    if index is None:
        return None
    try:
        return index_cache.prepare(settings, index.snapshot(), index.bm25)
    except Exception as exc:  # noqa: BLE001 - only a speed-up for the first reader
        log.warning("could not save the index snapshot (%s: %s)", type(exc).__name__, exc)
        return None
