"""Hybrid retrieval: dense (Chroma) + lexical (BM25), fused per paper, with the best evidence sentences."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from assistant.config import Settings
from assistant.errors import ConfigError, IndexMissingError, StoreError
from assistant.index.embedding import Embedder, embed_model_id
from assistant.index.lexical import FLIP_RETRY_S, Index, generation_replaced
from assistant.ingest.metadata import paper_meta
from assistant.retrieve.coverage import Vocabulary
from assistant.retrieve.dense import dense_search
from assistant.retrieve.filters import combine, describe, table_for
from assistant.text import terms
from assistant.types import Evidence

log = logging.getLogger(__name__)
QUERY_CACHE = 64  # query vectors kept: the turns of a conversation and a literature answer's aspect queries
SENTENCE_CACHE = 50_000  # sentence vectors kept (~77 MB) before the cache starts over


class Retriever:
    def __init__(self, settings: Settings, embedder: Embedder, index: Index):
        self.settings = settings
        self.embedder = embedder
        self.index = index
        self._sentence_cache: dict[str, np.ndarray] = {}
        self._query_cache: dict[str, np.ndarray] = {}
        self.last_evidence_s = 0.0
        self._filtered = False
        # A standing filter (chat --year 2024.., batch --author X) that every search adds to its own `where`.
        self.scope: dict | None = None
        self._vocab: Vocabulary | None = None
        self._lock = threading.Lock()  # a search sees one index generation, even when another thread reloads
        self._check(index)

    def _check(self, index: Index) -> None:
        built_with = index.metadata.get("embed_model")
        if built_with and built_with != embed_model_id(self.settings):
            raise IndexMissingError(
                f"the index was built with {built_with}, but the embedder is now "
                f"{embed_model_id(self.settings)}; rebuild with: assistant ingest seeds/"
            )

    @property
    def vocab(self) -> Vocabulary:
        """Term statistics of the index generation this retriever reads (rebuilt when it moves to a new one)."""
        if self._vocab is None or self._vocab.index is not self.index:
            self._vocab = Vocabulary(self.index)
        return self._vocab

    def query_vector(self, query: str) -> np.ndarray:
        """The query's unit vector. One question is searched, its sentences ranked and its follow-up decided, each
        with this vector: it is embedded once (a few recent queries are kept)."""
        with self._lock:
            vec = self._query_cache.get(query)
        if vec is None:
            vec = self.embedder.embed([query])[0]
            with self._lock:
                if len(self._query_cache) >= QUERY_CACHE:
                    self._query_cache.clear()
                self._query_cache[query] = vec
        return vec

    def sentence_sims(self, query: str, pid: str) -> list[float]:
        """Cosine of the query with each sentence of one paper (sentences embedded once, then cached)."""
        qvec = self.query_vector(query)
        with self._lock:
            return self._sentence_sims(qvec, [pid])[pid]

    def sentence_sims_of(self, query: str, pids: list[str]) -> dict[str, list[float]]:
        """sentence_sims for several papers with one query embedding (a literature answer quotes up to 12)."""
        qvec = self.query_vector(query)
        with self._lock:
            return self._sentence_sims(qvec, pids)

    def sentence_vectors(self, sentences: list[str]) -> np.ndarray:
        """Unit vectors of sentences of indexed papers (from the same cache as the similarities)."""
        with self._lock:
            cache = self._embedded(sentences)
            return np.array([cache[s] for s in sentences])

    def title_sims_of(self, pids: list[str]) -> dict[str, list[float]]:
        """Cosine of each paper's title with each of its sentences (a literature quote's cue: what the paper is
        about); the title is embedded once, beside the sentences, in the same cache."""
        with self._lock:
            titles = {pid: self.index.papers[pid].title for pid in pids}
            cache = self._embedded([*titles.values(), *(s for pid in pids for s in self.index.sentences[pid])])
            return {pid: [float(cache[s] @ cache[titles[pid]]) for s in self.index.sentences[pid]] for pid in pids}

    def _embedded(self, texts) -> dict[str, np.ndarray]:
        """The sentence cache, holding `texts` (those missing embedded now); called under the lock."""
        cache = self._sentence_cache
        wanted = list(dict.fromkeys(texts))
        todo = [t for t in wanted if t not in cache]
        if todo and len(cache) > SENTENCE_CACHE:
            # Emptied before the embedding, so that what is asked for is all in it afterwards (clearing after
            # the lookup lost the texts already cached, and the caller's lookup of them failed).
            cache.clear()
            todo = wanted
        if todo:
            cache.update(zip(todo, self.embedder.embed(todo)))
        return cache

    def warm(self, hnsw: bool = True) -> None:
        """Pay the first-query costs now (embedder's first inference, Chroma's lazy HNSW load, the BM25 and
        IDF builds), so they overlap the model load instead of delaying the first answer. `hnsw=False` (one
        question) leaves Chroma unstarted: the search is then exact over the vectors file (retrieve/dense.py)."""
        qvec = self.embedder.embed(["warm up"])[0]
        with self._lock:
            try:
                self.index.hnsw = hnsw or self.index.vectors is None
                self.dense(qvec, 1, None)  # with hnsw: opens the collection and loads its HNSW
            except StoreError:
                pass  # the first real search handles a replaced generation
            self.index.bm25, self.index.idf, self.vocab  # noqa: B018 - cached properties, built here

    def dense(self, qvec: np.ndarray, n: int, where: dict | None) -> dict[str, float]:
        return dense_search(self.index, qvec, n, where)

    def lexical(self, query: str, n: int, allowed: set[str] | None, mask: np.ndarray | None = None) -> dict[str, float]:
        """BM25 over the chunks; `mask` (one bool per chunk) scores only the chunks a filter allows."""
        q = terms(query)
        if not q:
            return {}
        scores = self.index.bm25.get_scores(q)
        if mask is not None:
            scores[~mask] = 0.0
        # Top n among the chunks that score at all: bm25s's own top-k partitions every chunk's score, and a
        # filter's mask leaves mostly ties at zero, which took numpy's partition 14 ms at 200,000 chunks.
        hits = np.flatnonzero(scores > 0)
        if len(hits) > n:
            hits = hits[np.argpartition(-scores[hits], n - 1)[:n]]
        out = {}
        for pos in hits:
            ref = self.index.chunks[int(pos)]
            if allowed is None or ref.paper_id in allowed:
                out[ref.id] = float(scores[pos])
        return out

    def search(
        self, query: str, k: int | None = None, where: dict | None = None, boost: list[str] | None = None
    ) -> tuple[list[Evidence], float]:
        """Top-k papers with evidence, and the time taken. `where` filters on chunk metadata,
        e.g. {"src:000.txt": True} or {"date": "Jul 30"}; `boost` favours papers of the previous turn."""
        t0 = time.perf_counter()
        k = k or self.settings.top_k
        where = combine(self.scope, where)
        qvec = self.query_vector(query)
        with self._lock:
            deadline = time.monotonic() + FLIP_RETRY_S
            while True:
                try:
                    dense = self.dense(qvec, self.settings.candidates, where)
                    break
                except StoreError:
                    # An ingest (this or another process) replaced and dropped the generation this index was
                    # loaded from: move to the new one. Under load a reader can lose this race several times in
                    # a row (each reload is slower than an ingest of one file), so no fixed number of tries: it
                    # retries while the pointer keeps moving, and a real store failure (pointer unchanged) still
                    # fails at once.
                    if not generation_replaced(self.index.store, self.index.name, deadline):
                        raise
                    index = Index.load(self.index.store)
                    self._check(index)
                    index.hnsw = self.index.hnsw or index.vectors is None
                    self.index = index
            return self._search_loaded(query, qvec, dense, k, where, boost, t0)

    def _search_loaded(self, query, qvec, dense, k, where, boost, t0) -> tuple[list[Evidence], float]:
        allowed, mask = None, None
        if where:
            # The lexical side keeps to the same papers as Chroma's `where`: masked over the whole index when the
            # filter is one of ours (retrieve/filters.py), else limited to the papers the dense side found.
            mask = table_for(self.index).chunk_mask(where)
            if mask is None:
                allowed = {self.index.chunks[self.index.chunk_pos[i]].paper_id for i in dense}
            elif not mask.any():
                raise ConfigError(
                    f"no indexed paper matches the filter ({describe(where)}); "
                    "`assistant sources` lists the papers with their authors, years and venues"
                )
        lexical = self.lexical(query, self.settings.candidates, allowed, mask)
        self._filtered = where is not None
        evidence = self._fuse(query, qvec, dense, lexical, k, boost or [])
        return evidence, time.perf_counter() - t0

    def _fuse(
        self, query: str, qvec: np.ndarray, dense: dict[str, float], lexical: dict[str, float], k: int, boost: list[str]
    ) -> list[Evidence]:
        idx = self.index
        best_dense: dict[str, float] = {}
        for cid, sim in dense.items():
            pid = idx.chunks[idx.chunk_pos[cid]].paper_id
            best_dense[pid] = max(best_dense.get(pid, -1.0), sim)
        best_lex: dict[str, float] = {}
        for cid, score in lexical.items():
            pid = idx.chunks[idx.chunk_pos[cid]].paper_id
            best_lex[pid] = max(best_lex.get(pid, 0.0), score)
        fused: dict[str, float] = {}
        for ranking in (best_dense, best_lex):
            for rank, pid in enumerate(sorted(ranking, key=lambda p: ranking[p], reverse=True)):
                fused[pid] = fused.get(pid, 0.0) + 1.0 / (self.settings.rrf_k + rank + 1)
        # Papers the question names (or the paper a follow-up is about) rank first, retrieved or not: a short
        # question naming a paper can miss it in both rankings when the name is a common word ("USEFUL").
        for pid in boost:
            if pid in idx.papers and (pid in fused or not self._filtered):
                fused[pid] = fused.get(pid, 0.0) + 2.0 / (self.settings.rrf_k + 1)
        top = sorted(fused, key=lambda p: fused[p], reverse=True)[:k]
        t0 = time.perf_counter()
        sims = self._chunk_sims(dense, top)
        sims.update(self._sentence_sims(qvec, top[: self.settings.sentence_rerank]))
        out = []
        for n, pid in enumerate(top, 1):
            sents, scores = self._evidence(query, pid, sims[pid])
            p = idx.papers[pid]
            out.append(
                Evidence(
                    pid,
                    p.title,
                    round(fused[pid], 5),
                    round(best_dense.get(pid, 0.0), 4),
                    sents,
                    scores,
                    list(p.sources),
                    n,
                    paper_meta(p),
                )
            )
        self.last_evidence_s = time.perf_counter() - t0
        return out

    def _chunk_sims(self, dense: dict[str, float], pids: list[str]) -> dict[str, list[float]]:
        """A sentence's similarity approximated by the best dense score of the chunks holding it."""
        out = {}
        for pid in pids:
            sims = [0.0] * len(self.index.sentences[pid])
            for ref in self.index.paper_chunks.get(pid, []):
                if ref.id not in dense:
                    continue
                for i in ref.sentences:
                    if i < len(sims):
                        sims[i] = max(sims[i], dense[ref.id])
            out[pid] = sims
        return out

    def _sentence_sims(self, qvec: np.ndarray, pids: list[str]) -> dict[str, list[float]]:
        """Cosine of the query with every sentence of the top papers (embedded once, then cached).
        Costs ~15 ms per paper on 2 cores, so only the top `sentence_rerank` papers get it."""
        cache = self._embedded(s for pid in pids for s in self.index.sentences[pid])
        return {pid: [float(cache[s] @ qvec) for s in self.index.sentences[pid]] for pid in pids}

    def _evidence(self, query: str, pid: str, sims: list[float]) -> tuple[list[str], list[float]]:
        """Rank a paper's sentences: query-term overlap (IDF-weighted) plus half their dense similarity
        (the mix that found the answer-bearing sentence most often on the dev set)."""
        sents = self.index.sentences[pid]
        q = set(terms(query))
        idf = self.index.idf
        qmass = sum(idf.get(t, 0.0) for t in q) or 1.0
        scored = []
        for i, s in enumerate(sents):
            overlap = sum(idf.get(t, 0.0) for t in q & set(terms(s))) / qmass
            scored.append((overlap + 0.5 * sims[i], i))
        scored.sort(reverse=True)
        # Best sentence first: small models lean on what they read first.
        keep = scored[: self.settings.evidence_sentences]
        return [sents[i] for _, i in keep], [round(sc, 4) for sc, _ in keep]
