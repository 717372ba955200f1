"""List questions ("which papers study X?"): every retrieved paper that fits, one line each with its citation and
supporting sentence."""

from __future__ import annotations

from assistant.answer import compose
from assistant.answer.judge import papers
from assistant.answer.judge.sentence import ranked, score_sentences
from assistant.answer.plan import Plan
from assistant.retrieve.hybrid import Retriever
from assistant.types import Answer, Evidence, Timings

LIST_MAX = 10


def list_answer(plan: Plan, retriever: Retriever, timings: Timings, model: str) -> Answer:
    q = plan.question
    # Each candidate is kept by the fitted paper decision (judge/papers.py), never the top k by default.
    keep = [ev for ev, _ in papers.keep(q, plan.evidence, plan.boost, retriever.vocab)][:LIST_MAX]
    items: list[tuple[Evidence, str]] = []
    for ev in keep:
        sentences = retriever.index.sentences.get(ev.paper_id) or ev.sentences
        scores = score_sentences(q, sentences, retriever.index.idf, "", None)
        order = ranked(sentences, scores)
        quote = sentences[order[0]] if order else ""
        if not quote:
            continue  # every sentence of it addresses a model: nothing to quote
        items.append((ev.quoting([quote]).numbered(len(items) + 1), quote))
    text, citations = compose.listing(items)
    cited = [ev for ev, _ in items]
    return Answer(q.text, text, citations, cited, timings=timings, model=model, made_by="list")
