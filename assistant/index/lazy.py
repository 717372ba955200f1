"""Views of an index snapshot that decode what a question touches, not the whole corpus.

A cold `ask` at 100,000 papers spent 3 s turning the snapshot into 100,000 Paper objects and 200,000 chunk refs,
of which one question reads a few dozen. Here papers stay as lines of `papers.jsonl` (memory-mapped, decoded on
first access) and chunk refs as arrays (built per access). Both behave as the dict and list they replace.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np

from assistant.types import Paper


@dataclass
class ChunkRef:
    id: str
    paper_id: str
    sentences: tuple[int, ...]


def loads(data: bytes) -> Any:
    try:
        import orjson  # 3-4x faster than json; chromadb needs it too
    except ImportError:  # pragma: no cover - a dependency; json reads the same bytes
        import json

        return json.loads(data)
    return orjson.loads(data)


def dumps(item: Any) -> bytes:
    """What `loads` reads back: one JSON value as UTF-8 bytes (a line of papers.jsonl)."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - a dependency
        import json

        return json.dumps(item, ensure_ascii=False).encode()
    return orjson.dumps(item)


class Papers(Mapping[str, Paper]):
    """Paper id -> Paper, one JSON line each, decoded on first access and then kept. The file stays mapped, so a
    snapshot an ingest replaces (and deletes) mid-session still reads."""

    def __init__(self, ids: list[str], path: Path, offsets: np.ndarray):
        self.ids = ids
        self.pos = {pid: i for i, pid in enumerate(ids)}
        self.offsets = offsets
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size != offsets[-1]:  # torn or replaced: the snapshot is rebuilt rather than failing mid-question
                raise ValueError(f"{path.name} has {size} bytes, its offsets say {offsets[-1]}")
            self._data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        self._decoded: dict[str, Paper] = {}

    def __getitem__(self, pid: str) -> Paper:
        got = self._decoded.get(pid)
        if got is None:
            i = self.pos[pid]
            got = self._decoded[pid] = Paper.from_dict(loads(self._data[self.offsets[i] : self.offsets[i + 1]]))
        return got

    def __contains__(self, pid: object) -> bool:
        return pid in self.pos

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


class ChunkRefs(Sequence[ChunkRef]):
    """Chunk position -> ChunkRef, from the snapshot's arrays: chunk ids, each chunk's paper position and its
    sentence indices (flat, with offsets)."""

    def __init__(self, ids: list[str], paper_ids: list[str], chunk_paper: np.ndarray, sent_off, sent_flat):
        self.ids = ids
        self.paper_ids = paper_ids
        self.chunk_paper = chunk_paper
        self.sent_off = sent_off
        self.sent_flat = sent_flat

    @overload
    def __getitem__(self, i: int) -> ChunkRef: ...

    @overload
    def __getitem__(self, i: slice) -> list[ChunkRef]: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        sents = self.sent_flat[self.sent_off[i] : self.sent_off[i + 1]]
        return ChunkRef(self.ids[i], self.paper_ids[self.chunk_paper[i]], tuple(int(s) for s in sents))

    def __len__(self) -> int:
        return len(self.ids)


def chunk_arrays(chunks: Sequence[ChunkRef], paper_pos: Mapping[str, int]) -> dict[str, np.ndarray]:
    """What ChunkRefs reads, for the snapshot writer."""
    if isinstance(chunks, ChunkRefs):
        return {"chunk_paper": chunks.chunk_paper, "sent_off": chunks.sent_off, "sent_flat": chunks.sent_flat}
    lengths = np.fromiter((len(c.sentences) for c in chunks), dtype=np.int64, count=len(chunks))
    off = np.zeros(len(chunks) + 1, dtype=np.int64)
    np.cumsum(lengths, out=off[1:])
    flat = np.fromiter((s for c in chunks for s in c.sentences), dtype=np.int32, count=int(off[-1]))
    paper = np.fromiter((paper_pos[c.paper_id] for c in chunks), dtype=np.int32, count=len(chunks))
    return {"chunk_paper": paper, "sent_off": off, "sent_flat": flat}
