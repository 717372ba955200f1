"""List questions ("which papers study X?"): every retrieved paper that fits, one line each with its citation and
supporting sentence."""

from __future__ import annotations

from assistant.answer import compose
from assistant.answer.extract import score_sentences
from assistant.answer.judge.injection import addressed_to_model
from assistant.answer.plan import Plan
from assistant.retrieve.hybrid import Retriever
from assistant.types import Answer, Timings

LIST_FLOOR = 0.8
LIST_SHARE = 0.7
LIST_MAX = 10


def list_answer(plan: Plan, retriever: Retriever, timings: Timings, model: str) -> Answer:
    vocab = retriever.vocab
    q = plan.question
    key = sorted(q.topic, key=lambda t: -vocab.weight(t))[:2]
    scored = []
    for ev in plan.evidence:
        have = vocab.paper_terms(ev.paper_id)
        keys = sum(vocab.has(t, have) for t in key) / (len(key) or 1)
        scored.append((ev.dense + vocab.coverage(q, ev.paper_id), keys, ev))
    top = max(s for s, _, _ in scored)
    # A relevance floor, relative and absolute, and at least half of the question's two rarest topic terms
    # (calibrated on realistic-dev's list questions: README, "List questions").
    # Papers that use a name the question gives ("the ARC benchmark") fit whatever their score.
    keep = [
        ev
        for s, keys, ev in scored
        if ev.paper_id in plan.boost or (s >= max(LIST_FLOOR, LIST_SHARE * top) and keys >= 0.5)
    ]
    keep = (keep or [plan.evidence[0]])[:LIST_MAX]
    items = []
    for n, ev in enumerate(keep, 1):
        ev.number = n
        sentences = retriever.index.sentences.get(ev.paper_id) or ev.sentences
        scores = score_sentences(q, sentences, retriever.index.idf, "", None)
        order = sorted(range(len(sentences)), key=lambda i: -scores[i])
        quote = next((sentences[i] for i in order if not addressed_to_model(sentences[i])), sentences[order[0]])
        ev.sentences, ev.sentence_scores = [quote], [1.0]
        items.append((ev, quote))
    text, citations = compose.listing(items)
    return Answer(q.text, text, citations, keep, timings=timings, model=model, made_by="list")
