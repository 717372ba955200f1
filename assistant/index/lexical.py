"""A loaded, read-only view of one index generation: papers, chunk refs, sentences, BM25 and IDF."""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from assistant.errors import IndexMissingError, StoreError
from assistant.index import cache as index_cache
from assistant.index.store import Store, papers_from_dump
from assistant.text import split_sentences, terms
from assistant.types import Paper

# A reader retries only while ingests keep replacing the generation it read; each retry needs one finished ingest.
FLIP_RETRY_S = 120.0


def generation_replaced(store: Store, name: str | None, deadline: float) -> bool:
    """After a read of generation `name` failed: has an ingest moved the pointer on since? Then the failure was the
    old generation being dropped, and reading the new one is right. False for a real failure (the pointer still
    names what failed, or there is no index) and once `deadline` has passed."""
    if time.monotonic() > deadline:
        return False
    now = store.active_name()
    return now is not None and now != name


@dataclass
class ChunkRef:
    id: str
    paper_id: str
    sentences: tuple[int, ...]


class Sentences(Mapping[str, list[str]]):
    """Each paper's abstract split into sentences, on first use. A snapshot used to carry them all (half of its
    280 MB at 100,000 papers, and as much memory), while a question reads those of a few papers; splitting one
    abstract takes microseconds. Iterating values() splits without keeping, for the one-off passes (IDF)."""

    def __init__(self, papers: dict[str, Paper]):
        self.papers = papers
        self._split: dict[str, list[str]] = {}

    def __getitem__(self, pid: str) -> list[str]:
        got = self._split.get(pid)
        if got is None:
            got = self._split[pid] = split_sentences(self.papers[pid].abstract)
        return got

    def __iter__(self) -> Iterator[str]:
        return iter(self.papers)

    def __len__(self) -> int:
        return len(self.papers)

    def values(self):  # type: ignore[override]
        for pid in self.papers:
            yield self._split.get(pid) or split_sentences(self.papers[pid].abstract)


class Index:
    """A loaded, read-only view of one index generation: papers, chunk refs, sentences, BM25 and IDF."""

    def __init__(
        self,
        store: Store,
        collection,
        papers: dict[str, Paper],
        chunks: list[ChunkRef],
        sentences: Mapping[str, list[str]] | None = None,
        texts: list[str] | None = None,
        bm25=None,
        idf: dict[str, float] | None = None,
        vectors=None,
    ):
        self.store = store
        self.collection = collection
        self.name = collection.name
        self.metadata = collection.metadata or {}
        self.papers = papers
        self.chunks = chunks
        self.chunk_pos = {c.id: n for n, c in enumerate(self.chunks)}
        self.paper_chunks: dict[str, list[ChunkRef]] = {}
        for c in self.chunks:
            self.paper_chunks.setdefault(c.paper_id, []).append(c)
        self.sentences: Mapping[str, list[str]] = sentences if sentences is not None else Sentences(papers)
        self._texts = texts or []
        # Every chunk's vector in chunk order (a read-only memory map), or None: see index/cache.py VECTORS.
        self.vectors = vectors
        if bm25 is not None:
            self.__dict__["bm25"] = bm25  # fills the cached properties below
        if idf is not None:
            self.__dict__["idf"] = idf

    @classmethod
    def from_dump(cls, store: Store, collection, dump: dict) -> Index:
        papers = papers_from_dump(dump)
        chunks = [
            ChunkRef(i, m["paper_id"], tuple(json.loads(m["sentences"])))
            for i, m in zip(dump["ids"], dump["metadatas"])
        ]
        index = cls(store, collection, papers, chunks)
        docs = dump.get("documents") or []
        # Generations written before chunk texts left Chroma have them as documents; newer ones are rebuilt.
        index._texts = docs if docs and all(d is not None for d in docs) else [index.chunk_text(c) for c in chunks]
        return index

    def chunk_text(self, ref: ChunkRef) -> str:
        """What was embedded for a chunk: its paper's title, then its sentences (ingest/chunking.py)."""
        paper, sents = self.papers[ref.paper_id], self.sentences[ref.paper_id]
        return paper.title.rstrip(".") + ". " + " ".join(sents[i] for i in ref.sentences if i < len(sents))

    @classmethod
    def from_snapshot(cls, store: Store, collection, parts: dict, bm25, vectors=None) -> Index:
        papers = {d["id"]: Paper.from_dict(d) for d in parts["papers"]}
        chunks = [ChunkRef(i, pid, tuple(sents)) for i, pid, sents in parts["chunks"]]
        # Snapshots from before Sentences carry the split sentences; newer ones split on demand.
        index = cls(store, collection, papers, chunks, parts.get("sentences"), None, bm25, parts["idf"], vectors)
        if "sentence_count" in parts:
            index.__dict__["sentence_count"] = parts["sentence_count"]
        return index

    def snapshot(self) -> dict:
        """What index/cache.py writes; the lists are generators, written item by item (no second copy in memory)."""
        return {
            "papers": (p.to_dict() for p in self.papers.values()),
            "chunks": ([c.id, c.paper_id, list(c.sentences)] for c in self.chunks),
            "idf": self.idf,
            "sentence_count": self.sentence_count,
        }

    @classmethod
    def load(cls, store: Store) -> Index:
        """The active generation. An ingest may flip the pointer and drop the generation being read at any
        moment (between reading the pointer and opening the collection, or mid-dump): then read the new one."""
        deadline = time.monotonic() + FLIP_RETRY_S
        while True:
            tried = store.active_name()
            try:
                return cls._load_active(store)
            except (IndexMissingError, StoreError):
                if not generation_replaced(store, tried, deadline):
                    raise

    @classmethod
    def _load_active(cls, store: Store) -> Index:
        col = store.active()
        cached = index_cache.read(store.settings, col)
        if cached is not None:
            return cls.from_snapshot(store, col, *cached)
        dump = store.dump(col, embeddings=True)
        index = cls.from_dump(store, col, dump)
        if len(dump["embeddings"]) == len(index.chunks) and index.chunks:  # in chunk order, as the ingest writes
            index.vectors = np.asarray(dump["embeddings"], dtype=np.float16)
        del dump
        # Only for the generation still in use: writing a snapshot deletes the others', and a slow reader of a
        # replaced generation would delete the one the ingest just wrote for the new generation.
        if store.active_name() == col.name:
            vectors = None
            if index.vectors is not None:
                writer = index_cache.VectorWriter(store.settings, len(index.chunks))
                writer.append(index.vectors)
                vectors = writer.finish()
            index_cache.write(store.settings, col, index.snapshot(), index.bm25, vectors)
        return index

    @cached_property
    def bm25(self):
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs each build at DEBUG otherwise
        model = bm25s.BM25()
        # Term ids, not lists of term strings: one object per distinct term instead of one per occurrence (at
        # 20,000 papers the string lists held 150 MB more at the peak of an ingest). Same scores as from strings.
        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(t, len(vocab)) for t in terms(text) or ["_"]] for text in self._texts]
        model.index((ids, vocab), show_progress=False)
        return model

    @cached_property
    def idf(self) -> dict[str, float]:
        df: Counter[str] = Counter()
        n = 0
        for sents in self.sentences.values():
            n += len(sents)
            for s in sents:
                df.update(set(terms(s)))
        self.__dict__.setdefault("sentence_count", n)
        return {t: math.log(1 + max(n, 1) / c) for t, c in df.items()}

    @cached_property
    def sentence_count(self) -> int:
        """Sentences in the corpus (what the IDF counts documents in)."""
        return sum(len(s) for s in self.sentences.values())
