"""Does the corpus cover this question? Decided from dense and lexical evidence together.

A short question that names a paper ("What is LIMO?") has a low dense cosine and a very strong lexical match;
a long off-corpus question can share many generic words with some abstract and score a fair cosine. So:

1. A name the question relies on (an acronym, CamelCase or a word with digits: SimCLR, DINOv2,
   EfficientNet-B7) that no indexed paper mentions -> not covered.
2. A rare name or rare term of the question that occurs in the top paper (a sentence-level document
   frequency of at most RARE_DF) -> covered: the question names something that paper is about.
3. Otherwise covered when dense cosine + lexical coverage >= MIN_SCORE, where lexical coverage is the
   IDF-weighted share of the question's topic terms (frame words such as "which papers" dropped) found in
   the paper, and a term the corpus never uses weighs as much as the rarest one.

Calibrated on dev.jsonl + realistic-dev.jsonl (see README, "Abstention"): answerable questions score
>= 0.95 on rule 3, off-corpus ones <= 0.83.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from assistant.index.lexical import Index
from assistant.retrieve.question import Question
from assistant.text import STOPWORDS, stem, terms
from assistant.types import Evidence

_RUN = re.compile(r"[a-z0-9]+")
RARE_DF = 3  # sentences in the whole corpus that may contain a term for it to identify a paper
MIN_SCORE = 0.9  # dense + coverage below this: not covered


@dataclass
class Coverage:
    covered: bool
    reason: str
    score: float = 0.0  # dense + coverage of the best paper (rule 3)
    missing: list[str] = field(default_factory=list)  # names no paper mentions
    matched: list[str] = field(default_factory=list)  # rare names/terms found in the best paper
    paper_id: str | None = None  # the paper that covers it


class Vocabulary:
    """Corpus-level term statistics for one loaded index (document frequencies from its IDF table)."""

    def __init__(self, index: Index):
        self.index = index
        self.idf = index.idf
        self.n = index.sentence_count or 1
        self.max_idf = max(self.idf.values(), default=1.0)
        self.title_vocab: set[str] = index.title_terms
        self._titles: dict[str, set[str]] = {}
        self._paper_terms: dict[str, set[str]] = {}
        self._named: dict[str, set[str]] = {}

    def known(self, term: str) -> bool:
        return term in self.idf or term in self.title_vocab

    def df(self, term: str) -> float:
        """Sentences containing the term (inverted from the IDF: idf = log(1 + n / df))."""
        idf = self.idf.get(term)
        if idf is None:
            return 1.0 if term in self.title_vocab else 0.0
        return self.n / max(math.exp(idf) - 1.0, 1e-9)

    def weight(self, term: str) -> float:
        return self.idf.get(term, self.max_idf)

    def title_terms(self, pid: str) -> set[str]:
        got = self._titles.get(pid)
        if got is None:
            got = self._titles[pid] = set(terms(self.index.papers[pid].title))
        return got

    def paper_terms(self, pid: str) -> set[str]:
        got = self._paper_terms.get(pid)
        if got is None:
            p = self.index.papers[pid]
            got = set(terms(p.title + " " + p.abstract))
            if len(self._paper_terms) > 5000:
                self._paper_terms.clear()
            self._paper_terms[pid] = got
        return got

    def name_known(self, term: str) -> bool:
        """A name is known when the corpus uses it, or (for hyphenated names like FLAD-trained, CLIP-style)
        its first part."""
        if self.known(term):
            return True
        parts = [p for p in term.split("-") if len(p) >= 2]
        return bool(parts) and self.known(parts[0]) and len(parts[0]) >= 3

    def papers_naming(self, name: str) -> set[str]:
        """Papers whose title or abstract contains the name exactly as written (case-sensitive, whole word):
        "USEFUL" or "DRM" identify one paper even where the lowercase word is common."""
        got = self._named.get(name)
        if got is None:
            pattern = re.compile(r"(?<![\w-])" + re.escape(name) + r"(?![A-Za-z])")
            papers = self.index.papers
            got = {
                pid
                for pid in self._holding_terms(name)
                if pattern.search(papers[pid].title) or pattern.search(papers[pid].abstract)
            }
            if len(self._named) > 1000:
                self._named.clear()
            self._named[name] = got
        return got

    def _holding_terms(self, name: str):
        """Papers with a chunk term that starts as the name does (BM25's vocabulary and postings): a superset of
        those writing the name, found without decoding every paper (a scan of 100,000 abstracts took most of a
        second). A written name starts a term ("GPT-4" in "GPT-4-Turbo", "GPT4s"), and stemming only strips
        letters at a term's end; chunk texts hold the title and every sentence."""
        run = _RUN.search(name.lower())
        if run is None or len(run.group()) < 2 or run.group() in STOPWORDS:  # no term to narrow by
            return list(self.index.papers)
        word = run.group()
        prefix = word[:-3] if word.endswith("ies") and len(word) >= 6 else stem(word)
        bm25 = self.index.bm25
        tokens = [t for t in bm25.vocab_dict if t.startswith(prefix)]
        if not tokens:
            return []
        rows = np.flatnonzero(bm25.get_scores(tokens) > 0)
        ids = self.index.paper_ids
        return list(dict.fromkeys(ids[int(p)] for p in self.index.chunk_paper[rows]))

    def has(self, term: str, have: set[str]) -> bool:
        # A hyphenated term the paper spells differently ("CLIP-style", "FLAD-trained") counts by its first part.
        if term in have:
            return True
        head = term.split("-")[0]
        return "-" in term and len(head) >= 3 and head in have

    def coverage(self, q: Question, pid: str) -> float:
        return self.share(q.topic or terms(q.text), pid)

    def share(self, topic: list[str], pid: str) -> float:
        """The IDF-weighted share of these terms that the paper has."""
        if not topic:
            return 0.0
        have = self.paper_terms(pid)
        mass = sum(self.weight(t) for t in topic) or 1.0
        return sum(self.weight(t) for t in topic if self.has(t, have)) / mass

    def rare_matches(self, q: Question, pid: str) -> list[str]:
        """Names of the question written verbatim in few papers (this one among them), and rare topic terms
        in this paper's title."""
        out = []
        for name in q.names:
            named = self.papers_naming(name)
            if pid in named and len(named) <= RARE_DF:
                out.append(name)
        have = self.paper_terms(pid)
        title = self.title_terms(pid)
        for t in q.topic:
            if t in have and t in title and 0 < self.df(t) <= RARE_DF and t not in out:
                out.append(t)
        return out


def judge(
    q: Question, evidence: list[Evidence], vocab: Vocabulary, consider: int = 3, min_score: float = MIN_SCORE
) -> Coverage:
    """Rules 1-3 of the module docstring over the top `consider` papers; a negative min_score turns refusal off."""
    if min_score < 0 and evidence:
        return Coverage(True, "refusal is off (abstain_threshold < 0)", paper_id=evidence[0].paper_id)
    if q.kind == "list":
        consider = max(consider, 5)  # "X or Y": any one fitting paper shows the corpus covers it
    if not evidence:
        return Coverage(False, "nothing was retrieved")
    missing = [t for t in q.name_terms if not vocab.name_known(t) and not t.isdigit()]
    if missing:
        return Coverage(False, f"no indexed paper mentions {', '.join(missing)}", missing=missing)
    best: Coverage | None = None
    for ev in evidence[:consider]:
        matched = vocab.rare_matches(q, ev.paper_id)
        if matched:
            return Coverage(True, f"names {', '.join(matched)}", matched=matched, paper_id=ev.paper_id)
        score = ev.dense + vocab.coverage(q, ev.paper_id)
        if best is None or score > best.score:
            best = Coverage(score >= min_score, f"dense + coverage {score:.2f}", round(score, 3), paper_id=ev.paper_id)
    assert best is not None
    return best
