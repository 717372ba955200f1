"""A loaded, read-only view of one index generation: papers, chunk refs, sentences, BM25 and IDF.

Loaded from the generation's snapshot (index/cache.py) it touches Chroma only when a search needs its HNSW: papers
and chunk refs are lazy views (index/lazy.py), and the active generation is read from SQLite (index/pointer.py).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from array import array
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property

import numpy as np

from assistant.errors import IndexMissingError, StoreError
from assistant.index import cache as index_cache
from assistant.index.lazy import ChunkRef, ChunkRefs, Papers, chunk_arrays
from assistant.index.pointer import GenerationRef
from assistant.index.store import Store, papers_from_dump
from assistant.index.table import PaperTable
from assistant.text import split_sentences, terms
from assistant.types import Paper

__all__ = ["ChunkRef", "Index", "Sentences", "generation_replaced"]

# A reader retries only while ingests keep replacing the generation it read; each retry needs one finished ingest.
FLIP_RETRY_S = 120.0
_WORDS = re.compile(r"\w+")
TITLE_WORDS = 40  # no title is longer; bounds the spans a question is searched for


def generation_replaced(store: Store, name: str | None, deadline: float) -> bool:
    """After a read of generation `name` failed: has an ingest moved the pointer on since? Then the failure was the
    old generation being dropped, and reading the new one is right. False for a real failure (the pointer still
    names what failed, or there is no index) and once `deadline` has passed."""
    if time.monotonic() > deadline:
        return False
    now = store.active_name()
    return now is not None and now != name


class Sentences(Mapping[str, list[str]]):
    """Each paper's abstract split into sentences, on first use. A snapshot used to carry them all (half of its
    280 MB at 100,000 papers, and as much memory), while a question reads those of a few papers; splitting one
    abstract takes microseconds. Iterating values() splits without keeping, for the one-off passes (IDF)."""

    def __init__(self, papers: Mapping[str, Paper]):
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
    """A loaded, read-only view of one index generation (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        collection,
        papers: Mapping[str, Paper],
        chunks: Sequence[ChunkRef],
        sentences: Mapping[str, list[str]] | None = None,
        texts: list[str] | None = None,
        bm25=None,
        idf: dict[str, float] | None = None,
        vectors=None,
    ):
        self.store = store
        # A Chroma collection, or a GenerationRef that `collection` opens on first use (a snapshot's reader needs
        # Chroma only for an HNSW query: see retrieve/dense.py).
        self._collection = collection
        self.name = collection.name
        self.metadata = collection.metadata or {}
        self.papers = papers
        self.chunks = chunks
        self.sentences: Mapping[str, list[str]] = sentences if sentences is not None else Sentences(papers)
        self._texts = texts or []
        # Every chunk's vector in chunk order (a read-only memory map), or None: see index/cache.py VECTORS.
        self.vectors = vectors
        # Dense searches through Chroma's HNSW (a session) rather than exact over `vectors`: retrieve/dense.py.
        self.hnsw = vectors is None
        if bm25 is not None:
            self.__dict__["bm25"] = bm25  # fills the cached properties below
        if idf is not None:
            self.__dict__["idf"] = idf

    @property
    def collection(self):
        """The Chroma collection, opened now if the index was loaded from its snapshot. StoreError when it is
        gone (an ingest replaced and dropped it): the retriever then moves to the new generation."""
        if isinstance(self._collection, GenerationRef):
            name = self._collection.name
            try:
                self._collection = self.store.client.get_collection(name)
            except (IndexMissingError, StoreError):
                raise
            except Exception as exc:
                raise StoreError(f"the index collection {name!r} is gone ({type(exc).__name__})") from exc
        return self._collection

    @property
    def collection_open(self) -> bool:
        return not isinstance(self._collection, GenerationRef)

    @cached_property
    def chunk_pos(self) -> dict[str, int]:
        ids = self.chunks.ids if isinstance(self.chunks, ChunkRefs) else [c.id for c in self.chunks]
        return {cid: n for n, cid in enumerate(ids)}

    @cached_property
    def paper_ids(self) -> list[str]:
        """The paper order (what chunk_paper and the filter table count in)."""
        return self.papers.ids if isinstance(self.papers, Papers) else list(self.papers)

    @cached_property
    def paper_pos(self) -> dict[str, int]:
        return self.papers.pos if isinstance(self.papers, Papers) else {pid: n for n, pid in enumerate(self.paper_ids)}

    @cached_property
    def chunk_paper(self) -> np.ndarray:
        """Each chunk's paper, as a position in the paper order."""
        return chunk_arrays(self.chunks, self.paper_pos)["chunk_paper"]

    @cached_property
    def paper_chunks(self) -> Mapping[str, list[ChunkRef]]:
        return _PaperChunks(self)

    @cached_property
    def table(self) -> PaperTable:
        """The filter table (index/table.py): from the snapshot, or built on the first filtered search."""
        table = PaperTable(self.papers)
        table.chunk_paper = self.chunk_paper
        return table

    @cached_property
    def title_terms(self) -> set[str]:
        """Every term of every title (what makes a name "known" to the corpus besides the IDF table)."""
        return set().union(*(terms(p.title) for p in self.papers.values())) if self.papers else set()

    @cached_property
    def titles(self) -> dict[str, str]:
        """Each title of three words or more, lowercased words joined by spaces, to its paper."""
        out: dict[str, str] = {}
        for pid, p in self.papers.items():
            words = _WORDS.findall(p.title.lower())
            if len(words) >= 3:
                out.setdefault(" ".join(words), pid)
        return out

    def paper_titled(self, text: str) -> str | None:
        """The paper whose whole title the text contains (a pasted title asks about that paper), else None."""
        words = _WORDS.findall(text.lower())
        titles = self.titles
        for n in range(min(len(words), TITLE_WORDS), 2, -1):  # the longest first: a title may hold a shorter one
            for i in range(len(words) - n + 1):
                pid = titles.get(" ".join(words[i : i + n]))
                if pid is not None:
                    return pid
        return None

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
        """From what index/cache.py read: papers and chunk refs stay lazy views of the files."""
        index = cls(store, collection, parts["papers"], parts["chunks"], None, None, bm25, parts["idf"], vectors)
        index.__dict__.update(
            sentence_count=parts["sentence_count"],
            title_terms=set(parts["title_terms"]),
            table=PaperTable.from_arrays(parts["paper_ids"], parts["filter_keys"], parts["arrays"], index.chunk_paper),
        )
        return index

    def snapshot(self) -> dict:
        """What index/cache.py writes: small parts as JSON, each paper as one line (written as the generator
        goes), chunk refs and the filter table as arrays."""
        ids = self.paper_ids
        table = self.table
        return {
            "json": {
                "paper_ids": ids,
                "chunk_ids": [c.id for c in self.chunks],
                "idf": self.idf,
                "sentence_count": self.sentence_count,
                "title_terms": sorted(self.title_terms),
                "filter_keys": table.keys,
            },
            "papers": (self.papers[pid].to_dict() for pid in ids),
            "arrays": {**chunk_arrays(self.chunks, self.paper_pos), **table.arrays()},
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
        ref = store.active_ref()
        cached = index_cache.read(store.settings, ref)
        if cached is not None:
            return cls.from_snapshot(store, ref, *cached)
        if store.active_name() != ref.name:  # replaced (with its snapshot) while being read: load() reads anew
            raise StoreError(f"the index generation {ref.name!r} was replaced while loading")
        col = store.active()
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
        # scipy builds the sparse matrix in place; bm25s's default ("numpy") sorts through four int64 copies of
        # every posting: at 100,000 papers that was the ingest's peak (+530 MiB for under a second). Same scores.
        model = bm25s.BM25(csc_backend="scipy")
        # Term ids, not lists of term strings: one object per distinct term instead of one per occurrence (at
        # 20,000 papers the string lists held 150 MB more at the peak of an ingest), packed 4 bytes per
        # occurrence in an int array instead of 8 in a list. Same scores as from strings.
        vocab: dict[str, int] = {}
        ids = [array("i", [vocab.setdefault(t, len(vocab)) for t in terms(text) or ["_"]]) for text in self._texts]
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


class _PaperChunks(Mapping[str, list[ChunkRef]]):
    """Paper id -> its chunk refs, from the chunk -> paper array (one stable sort, not 200,000 refs built)."""

    def __init__(self, index: Index):
        self.index = index
        self.order = np.argsort(index.chunk_paper, kind="stable")
        self.bounds = np.searchsorted(index.chunk_paper[self.order], np.arange(len(index.papers) + 1))

    def __getitem__(self, pid: str) -> list[ChunkRef]:
        n = self.index.paper_pos[pid]
        rows = self.order[self.bounds[n] : self.bounds[n + 1]]
        if not len(rows):
            raise KeyError(pid)
        return [self.index.chunks[int(r)] for r in rows]

    def __iter__(self) -> Iterator[str]:
        return (pid for pid in self.index.papers if pid in self)

    def __len__(self) -> int:
        return len(np.unique(self.index.chunk_paper))
