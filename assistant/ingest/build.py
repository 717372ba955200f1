"""corpus -> chunks -> embeddings -> a new Chroma generation -> pointer flip. Incremental, locked, all-or-nothing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from assistant.config import Settings
from assistant.errors import IndexBusyError, StoreError
from assistant.index.embedding import Embedder, embed_model_id
from assistant.index.store import Store, chunk_metadata, papers_from_dump
from assistant.ingest.chunking import chunk_paper
from assistant.ingest.corpus import ParseResult, load_corpus, merge
from assistant.types import Chunk, Paper

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


@dataclass
class IngestReport:
    papers: int = 0
    chunks: int = 0
    embedded: int = 0  # chunks whose vectors were computed this run
    reused: int = 0  # chunks whose vectors were copied from the previous generation
    added: list[str] = field(default_factory=list)  # paper ids
    removed: list[str] = field(default_factory=list)
    rebuilt: bool = False  # settings changed: nothing reused
    unchanged: bool = False
    warnings: list[str] = field(default_factory=list)
    collection: str = ""
    embed_s: float = 0.0
    total_s: float = 0.0


def index_lock(settings: Settings, wait: float) -> FileLock:
    """An OS-level lock (flock): a crashed holder releases it automatically, so no stale locks."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return FileLock(str(settings.lock_path), timeout=wait)


def _plan(old: dict[str, Paper], parsed: list[Paper], files: list[str], prune: bool) -> dict[str, Paper]:
    """The new corpus: each ingested file's contribution replaces what it contributed before."""
    keep: list[Paper] = []
    for p in old.values():
        sources = tuple(s for s in p.sources if s not in files)
        if sources and not prune:
            keep.append(Paper(p.id, p.title, p.abstract, sources, p.date, p.url, p.authors))
    merged = merge([ParseResult(papers=keep), ParseResult(papers=parsed)])
    return {p.id: p for p in merged}


def remove_sources(
    settings: Settings, embedder: Embedder, names: list[str], wait: float = 0.0, progress: Progress | None = None
) -> IngestReport:
    """Forget source files: papers found only in them leave the index."""
    return _run(settings, embedder, lambda old: _plan(old, [], names, prune=False), [], wait, progress)


def ingest(
    settings: Settings,
    embedder: Embedder,
    paths: list[Path],
    prune: bool = False,
    wait: float = 0.0,
    progress: Progress | None = None,
) -> IngestReport:
    parsed, warnings = load_corpus(paths)  # every file is read and checked before the store is touched
    files = sorted({s for p in parsed for s in p.sources})
    report = _run(settings, embedder, lambda old: _plan(old, parsed, files, prune), warnings, wait, progress)
    return report


def _run(settings, embedder, plan, warnings, wait, progress) -> IngestReport:
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
    report.warnings = warnings
    report.total_s = time.perf_counter() - start
    return report


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
    dump = store.dump(store.active(), embeddings=False) if info else {"ids": [], "metadatas": []}
    old = papers_from_dump(dump) if info else {}
    new = plan(old)
    if not new:
        raise StoreError("this would leave the index empty; nothing was changed")
    report.papers = len(new)
    report.added = sorted(set(new) - set(old))
    report.removed = sorted(set(old) - set(new))
    if compatible and new == old:
        report.unchanged = True
        report.chunks = len(dump["ids"])
        report.collection = info.collection
        return report
    report.rebuilt = info is not None and not compatible

    chunks: list[tuple[Chunk, Paper]] = [
        (c, p)
        for p in new.values()
        for c in chunk_paper(p, settings.chunk_tokens, embedder.count_tokens, settings.chunk_overlap)
    ]
    ids = [c.id for c, _ in chunks]
    old_ids = set(dump["ids"])
    reuse_ids = [i for i in ids if i in old_ids] if compatible else []
    vectors: dict[str, np.ndarray] = {}
    if reuse_ids:
        got = store._call("get", store.active().get, ids=reuse_ids, include=["embeddings"])
        vectors = dict(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32)))
    todo = [(c, p) for c, p in chunks if c.id not in vectors]
    t0 = time.perf_counter()
    vectors.update(_embed(embedder, todo, settings.embed_batch_size, progress))
    report.embed_s = time.perf_counter() - t0
    report.embedded, report.reused, report.chunks = len(todo), len(chunks) - len(todo), len(chunks)

    col = store.create_generation(
        {
            "embed_model": model_id,
            "chunk_tokens": settings.chunk_tokens,
            "chunk_overlap": settings.chunk_overlap,
            "papers": len(new),
            "chunks": len(chunks),
        }
    )
    try:
        store.add(
            col,
            ids,
            np.stack([vectors[i] for i in ids]),
            [c.text for c, _ in chunks],
            [chunk_metadata(c, p) for c, p in chunks],
        )
        store.set_active(col.name)  # the commit point
    except BaseException:
        # Ctrl-C, a crash or a full disk before the flip: the old generation stays active.
        try:
            store.client.delete_collection(col.name)
        except Exception:
            pass
        raise
    report.collection = col.name
    store.drop_stale(keep=col.name)
    _snapshot(store, col, new, chunks)
    return report


def _snapshot(store: Store, col, papers: dict[str, Paper], chunks: list[tuple[Chunk, Paper]]) -> None:
    """Save the new generation's index snapshot now, from memory, so the first `ask` does not rebuild it."""
    from assistant.index import cache as index_cache
    from assistant.index.lexical import ChunkRef, Index

    try:
        index = Index(
            store,
            col,
            papers,
            [ChunkRef(c.id, p.id, tuple(c.sentences)) for c, p in chunks],
            texts=[c.text for c, _ in chunks],
        )
        index_cache.write(store.settings, col, index.snapshot(), index.bm25)
    except Exception as exc:  # noqa: BLE001 - the ingest has committed; readers rebuild the snapshot themselves
        log.warning("could not save the index snapshot (%s: %s)", type(exc).__name__, exc)


def _embed(
    embedder: Embedder, todo: list[tuple[Chunk, Paper]], batch: int, progress: Progress | None
) -> dict[str, np.ndarray]:
    # Similar lengths in one batch waste less work on padding.
    order = sorted(range(len(todo)), key=lambda i: len(todo[i][0].text))
    out: dict[str, np.ndarray] = {}
    step = max(batch, 16)
    for start in range(0, len(order), step):
        sel = order[start : start + step]
        vecs = embedder.embed([todo[i][0].text for i in sel])
        for i, v in zip(sel, vecs):
            out[todo[i][0].id] = v
        if progress:
            progress(min(start + step, len(order)), len(order))
    return out
