"""The papers a literature answer cites, and from each the sentence that speaks to the question.

Candidates are the top CANDIDATES papers of a hybrid search for the question's topic; each is kept by the fitted
paper decision (judge/papers.py, the one list answers use), up to CAP. From each kept paper the fitted sentence
ranker (judge/sentence.py) picks the sentence for the question, never one addressed to a model.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.answer.judge import papers
from assistant.answer.judge.sentence import ranked, score_sentences
from assistant.retrieve.hybrid import Retriever
from assistant.retrieve.question import Question
from assistant.types import Evidence

CANDIDATES = 30
CAP = 12


@dataclass(frozen=True)
class Picked:
    evidence: Evidence
    quote: str
    relevance: float  # the paper decision's probability
    sentences: tuple[str, ...]  # the paper's sentences, for verdicts and comparisons


def pick_quote(
    q: Question, ev: Evidence, retriever: Retriever, sims: list[float] | None
) -> tuple[str, tuple[str, ...]]:
    sentences = tuple(retriever.index.sentences.get(ev.paper_id) or ev.sentences)
    scores = score_sentences(q, list(sentences), retriever.index.idf, ev.title, sims, name="literature_sentence")
    order = ranked(sentences, scores)
    return (sentences[order[0]] if order else ""), sentences


def select(
    q: Question,
    query: str,
    retriever: Retriever,
    named: list[str],
    where: dict | None = None,
    cap: int = CAP,
    refuse: bool = True,
) -> list[Picked]:
    evidence, _ = retriever.search(query, k=CANDIDATES, where=where, boost=named)
    if not evidence:
        return []
    kept = papers.keep(q, evidence, named, retriever.vocab, name="literature_papers", fallback=not refuse)[:cap]
    sims = retriever.sentence_sims_of(query, [ev.paper_id for ev, _ in kept])
    out = []
    for ev, p in kept:
        quote, sentences = pick_quote(q, ev, retriever, sims.get(ev.paper_id))
        if quote:
            out.append(Picked(ev, quote, p, sentences))
    return out
