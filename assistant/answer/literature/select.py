"""The papers a literature answer cites, and from each the sentence that speaks to the question.

Candidates are the top CANDIDATES papers of a hybrid search for the question's topic; each is kept by the fitted
paper decision (judge/papers.py, the one list answers use), up to CAP. From each kept paper the fitted sentence
ranker (judge/sentence.py) picks the sentence for the question, never one addressed to a model, and the runner-up
as well when the ranker finds it nearly as likely (the fitted `runner_up` ratio, as single answers quote two).
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.answer.judge import papers
from assistant.answer.judge.sentence import ranked, runner_up, score_sentences
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
    second: str = ""  # the runner-up sentence, when nearly as likely as the quote


def pick_quote(
    q: Question, ev: Evidence, retriever: Retriever, sims: list[float] | None, title_sims: list[float] | None
) -> tuple[str, str, tuple[str, ...]]:
    """The paper's best sentence for the question, the runner-up when nearly as likely ("" otherwise), and all its
    sentences. `sims`: the sentences' similarity with the question; `title_sims`: with the paper's title."""
    sentences = tuple(retriever.index.sentences.get(ev.paper_id) or ev.sentences)
    scores = score_sentences(
        q, list(sentences), retriever.index.idf, ev.title, sims, name="literature_sentence", title_sims=title_sims
    )
    order = ranked(sentences, scores)
    if not order:
        return "", "", sentences
    close = runner_up(order, scores, "literature_sentence")
    return sentences[order[0]], (sentences[close] if close is not None else ""), sentences


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
    ids = [ev.paper_id for ev, _ in kept]
    sims, title_sims = retriever.sentence_sims_of(query, ids), retriever.title_sims_of(ids)
    out = []
    for ev, p in kept:
        quote, second, sentences = pick_quote(q, ev, retriever, sims.get(ev.paper_id), title_sims.get(ev.paper_id))
        if quote:
            out.append(Picked(ev, quote, p, sentences, second))
    return out
