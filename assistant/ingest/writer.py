"""Chroma writes beside the embedding: batch N is added to the new generation while batch N+1 is embedded.

Chroma's add (SQLite rows, the HNSW insert) costs about 0.6-1.4 ms a chunk, against ~13 ms to embed one on two
cores. It holds Python's GIL for the whole call (a Python thread ran at 4 % of its speed during adds), so the
embedding's Python steps wait for it: the overlap is mostly the embedder's own runtime threads, and on two cores
the adds cost about what they would cost in line (BENCHMARKS.md: same speed either way, and the same with the
embedder in a process of its own). At most one add is in flight, so memory holds one extra batch and an error
surfaces at the next batch. The same thread appends each batch's vectors to the snapshot's vectors file
(index/cache.py VectorWriter).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class BatchWriter:
    def __init__(self, store, col, report, vectors=None):
        self.store = store
        self.vectors = vectors
        self.col = col
        self.report = report
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chroma-add")
        self._pending: Future | None = None

    def _add(self, ids: list[str], vecs, metas: list[dict[str, Any]]) -> None:
        t0 = time.perf_counter()
        self.store.add(self.col, ids, vecs, metas)
        if self.vectors is not None:
            self.vectors.append(vecs)
        self.report.store_s += time.perf_counter() - t0

    def submit(self, ids: list[str], vecs, metas: list[dict[str, Any]]) -> None:
        """Queue one batch after the previous one has been written (its error, if any, is raised here)."""
        self.wait()
        self._pending = self._pool.submit(self._add, ids, vecs, metas)

    def wait(self, raise_error: bool = True) -> None:
        """Until the batch in flight is written. With raise_error=False (cleaning up after another error), its own
        error is dropped: the caller is already failing for a reason of its own."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            pending.result()
        except BaseException:
            if raise_error:
                raise

    def close(self) -> None:
        self._pool.shutdown(wait=True)
