"""Compare answers: the named papers side by side on four aspects, each cell a quoted sentence.

Each aspect is asked of each paper as a question of its own ("what problem does it address?" ...) and answered by
the fitted sentence ranker with that question's MiniLM similarities; a sentence already in the row is not used
twice. The result is the paper's finding, which the literature quote ranker (fitted on the key points of the
literature data) picks better: compare key points val 0.618 -> 0.632, train 0.593 -> 0.606, synthesis-dev 0.764 ->
0.875. The same ranker for every aspect covered more key points (val 0.735) but filled "problem" with the method
and "result" with the code's address: it ranks what matters in a paper, not what answers an aspect.

Which papers: those the question's parts name (a rare name, as single answers find them), else the best search hit
for each part.
"""

from __future__ import annotations

import re
from dataclasses import replace

from assistant.answer.judge import papers
from assistant.answer.judge.injection import unquotable
from assistant.answer.judge.polar import is_polar
from assistant.answer.judge.sentence import score_sentences
from assistant.answer.literature.select import CANDIDATES
from assistant.retrieve.hybrid import Retriever
from assistant.retrieve.question import analyse
from assistant.types import Comparison, Evidence

ASPECTS = (
    ("problem", "what problem or question does the paper address"),
    ("method", "what method or approach does the paper propose"),
    ("data", "what data, datasets, benchmarks or samples does the paper use"),
    ("result", "what results or findings does the paper report"),
)


def find_papers(parts: list[str], retriever: Retriever, named_papers, where: dict | None) -> list[Evidence]:
    """One paper per part: the one its name picks out, else its best search hit, when the fitted relevance decision
    of literature answers (judge/papers.py) keeps it: a part no indexed paper speaks to finds none, and the question
    is answered (or refused) as a single one. Two parts whose best hit is the same paper are compared inside that
    paper, not across it and the next hit (that would be an unrelated paper)."""
    out: list[Evidence] = []
    for part in parts:
        kept = _kept(part, retriever, named_papers, where)
        if kept and kept[0].paper_id not in {e.paper_id for e in out}:
            out.append(kept[0])
    return out


def _kept(text: str, retriever: Retriever, named_papers, where: dict | None) -> list[Evidence]:
    """The papers the compare relevance decision keeps for one part or description, best first, among as many
    candidates as select() scores (judge/train.py fits it on the compare questions' parts, searched so)."""
    q = analyse(text)
    named = named_papers(q)
    hits, _ = retriever.search(text, k=CANDIDATES, where=where, boost=named)
    return [ev for ev, _ in papers.keep(q, hits, named, retriever.vocab, name="compare_papers", fallback=False)]


_HOW_MANY = re.compile(r"\b(both|two|three|2|3)\b", re.I)


def find_described(part: str, retriever: Retriever, named_papers, where: dict | None) -> list[Evidence]:
    """The papers a compare question describes instead of naming ("compare the two great depression papers"): those
    the compare relevance decision keeps for the description, best first, as many as it says (else up to 3)."""
    m = _HOW_MANY.search(part)
    n = {"both": 2, "two": 2, "2": 2, "three": 3, "3": 3}[m.group(1).lower()] if m else 3
    return _kept(part, retriever, named_papers, where)[:n]


def table(papers: list[tuple[int, Evidence]], retriever: Retriever) -> Comparison:
    ids = [ev.paper_id for _, ev in papers]
    sims = {name: retriever.sentence_sims_of(query, ids) for name, query in ASPECTS}
    title_sims = retriever.title_sims_of(ids)
    rows = []
    for number, ev in papers:
        sentences = list(retriever.index.sentences.get(ev.paper_id) or ev.sentences)
        used: set[str] = unquotable(sentences)  # never quoted: text addressed to a model or a system
        cells = []
        for name, query in ASPECTS:
            q = replace(analyse(query), polar=is_polar(query))
            scores = score_sentences(
                q,
                sentences,
                retriever.index.idf,
                ev.title,
                sims[name].get(ev.paper_id),
                name="literature_sentence" if name == "result" else "sentence",
                title_sims=title_sims.get(ev.paper_id),
            )
            order = sorted(range(len(sentences)), key=lambda i: -scores[i])
            best = next((sentences[i] for i in order if sentences[i] not in used), "")
            used.add(best)
            cells.append(best)
        rows.append((number, ev.title, tuple(cells)))
    return Comparison(tuple(name for name, _ in ASPECTS), tuple(rows))
