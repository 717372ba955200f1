"""The dense side of retrieval: Chroma's HNSW, and filtered searches that stay fast at 100,000 papers.

Chroma evaluates a metadata `where` in SQLite before its vector search: 0.4 s for `--year 2020..` and 1.4 s for
`--year 2023 --venue ICLR` at 100,000 papers (200,000 chunks), whatever the filter keeps. Our own filters
(retrieve/filters.py) are a boolean mask over the loaded index's chunks in under a millisecond, so a filtered
search is done from that mask:

- a filter that keeps few chunks (up to EXACT_MAX): exact cosine over just those rows of the snapshot's vectors
  file (index/cache.py VECTORS), a few milliseconds, and exact rather than approximate;
- a broad filter: one unfiltered HNSW query for enough candidates that, at the share the filter keeps, twice the
  wanted number are expected to pass, then the mask; if fewer than wanted pass, the exact path.

Either way the top n are drawn from the matching chunks only, so top-k stays full. An index without a vectors
file (an older snapshot) does the same through Chroma: the broad path as above, widened until enough pass, and a
narrow filter as a `where` on the matching papers' ids (Chroma's rows carry no author, venue or source keys:
index/store.py chunk_metadata). A `where` that is not one of ours goes to Chroma as it is (filters.chroma_where).

Unless the session asked for Chroma's HNSW (`index.hnsw`, set by Retriever.warm for chat and batch), a search is
exact over the vectors file, in blocks: 0.3 s for 200,000 chunks, against 1.8 s to start Chroma and load its
HNSW. So a one-question `ask` never starts Chroma, and a session pays for the HNSW once, to search in
milliseconds after.
"""

from __future__ import annotations

import numpy as np

from assistant.retrieve.filters import chroma_where, table_for

EXACT_MAX = 30_000  # matching chunks scored exactly: ~10 ms of gathering and dot products on 2 cores
BLOCK = 32_768  # rows converted from float16 at a time: the whole file at once would double its memory


def dense_search(index, qvec: np.ndarray, n: int, where: dict | None) -> dict[str, float]:
    """Chunk id -> cosine similarity of the n nearest chunks that pass `where`."""
    n = min(n, len(index.chunks))
    mask = table_for(index).chunk_mask(where) if where else None
    if index.vectors is not None:
        if mask is not None:
            return _masked(index, qvec, n, mask)
        if not where and not index.hnsw:
            return exact(index, qvec, n, None)
    elif mask is not None:
        return _masked_in_chroma(index, qvec, n, mask)
    return _query(index, qvec, n, chroma_where(where, table_for(index)) if where else None)


def _query(index, qvec: np.ndarray, n: int, where: dict | None) -> dict[str, float]:
    res = index.store.query(index.collection, qvec.tolist(), n, where)
    return {i: 1.0 - d for i, d in zip(res["ids"][0], res["distances"][0])}


def _masked(index, qvec: np.ndarray, n: int, mask: np.ndarray) -> dict[str, float]:
    rows = np.flatnonzero(mask)
    if len(rows) == 0:
        return {}
    if len(rows) > EXACT_MAX and index.hnsw:
        out = _broad(index, qvec, n, mask, len(rows), widen=False)
        if len(out) == n:
            return out
    return exact(index, qvec, n, rows)


def _masked_in_chroma(index, qvec: np.ndarray, n: int, mask: np.ndarray) -> dict[str, float]:
    """No vectors file: a broad filter through an unfiltered HNSW query, widened until n pass; a narrow one as a
    `where` on its papers' ids (at most EXACT_MAX of them: SQLite takes 32,766 values in one statement)."""
    rows = np.flatnonzero(mask)
    if len(rows) == 0:
        return {}
    if len(rows) > EXACT_MAX:
        return _broad(index, qvec, n, mask, len(rows), widen=True)
    table = table_for(index)
    chunk_paper = table.chunk_paper
    assert chunk_paper is not None  # a chunk mask was made from it
    pids = [table.pids[int(i)] for i in np.unique(chunk_paper[rows])]
    return _query(index, qvec, n, {"paper_id": {"$in": pids}})


def _broad(index, qvec: np.ndarray, n: int, mask: np.ndarray, kept: int, widen: bool) -> dict[str, float]:
    """The n nearest chunks that pass `mask`, from unfiltered HNSW queries for enough candidates that, at the share
    the filter keeps, twice n are expected to pass; `widen`: ask for four times as many until n pass."""
    k = min(len(mask), int(2 * n * len(mask) / kept) + 20)
    while True:
        out: dict[str, float] = {}
        for cid, sim in _query(index, qvec, k, None).items():
            pos = index.chunk_pos.get(cid)
            if pos is not None and mask[pos]:
                out[cid] = sim
                if len(out) == n:
                    return out
        if not widen or k >= len(mask):
            return out
        k = min(len(mask), 4 * k)


def exact(index, qvec: np.ndarray, n: int, rows: np.ndarray | None) -> dict[str, float]:
    """The n best of `rows` (chunk positions; None: every chunk) by cosine, from the vectors file."""
    total = len(index.vectors) if rows is None else len(rows)
    n = min(n, total)
    if n <= 0:
        return {}
    q = np.asarray(qvec, dtype=np.float32)
    sims = np.empty(total, dtype=np.float32)
    for s in range(0, total, BLOCK):
        block = index.vectors[s : s + BLOCK] if rows is None else index.vectors[rows[s : s + BLOCK]]
        sims[s : s + BLOCK] = np.asarray(block, dtype=np.float32) @ q
    top = np.argpartition(-sims, n - 1)[:n] if total > n else np.arange(total)
    pos = top if rows is None else rows[top]
    return {index.chunks[int(p)].id: float(sims[i]) for i, p in zip(top, pos)}
