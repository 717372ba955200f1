"""List questions ("which papers study X?"): every retrieved paper that fits, one line each with its citation and
supporting sentence."""

from __future__ import annotations

from assistant.answer import compose
from assistant.answer.judge import papers
from assistant.answer.judge.injection import addressed_to_model
from assistant.answer.judge.sentence import score_sentences
from assistant.answer.plan import Plan
from assistant.retrieve.hybrid import Retriever
from assistant.types import Answer, Timings

LIST_MAX = 10


def list_answer(plan: Plan, retriever: Retriever, timings: Timings, model: str) -> Answer:
    q = plan.question
    # Each candidate is kept by the fitted paper decision (judge/papers.py), never the top k by default.
    keep = [ev for ev, _ in papers.keep(q, plan.evidence, plan.boost, retriever.vocab)][:LIST_MAX]
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
