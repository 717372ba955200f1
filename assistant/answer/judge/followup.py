"""In a conversation: does this question continue the previous answer's paper, or start a new topic?

One fitted logistic decision (calibration/followup.json, fitted by judge/train.py on the training conversations'
turns: follow-ups against topic switches and off-corpus turns). Its features are what the planner's old chain of
rules looked at, now weighed together: pronouns that point back, names the previous paper lacks, whether the
question on its own finds another paper, how much of it the previous paper and that other paper each cover (terms
and MiniLM similarity), and whether it describes a paper of its own ("the other grokking paper", "LCBM paper").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.answer.judge import learned
from assistant.retrieve.coverage import RARE_DF, Coverage, Vocabulary
from assistant.retrieve.question import Question
from assistant.text import terms

NAMES = (
    "refers_back",
    "new_names",
    "new_names_unknown",
    "standalone_covered",
    "standalone_names_other",
    "standalone_is_previous",
    "coverage_previous",
    "coverage_standalone",
    "coverage_gap",
    "rare_elsewhere",
    "similarity_previous",
    "similarity_standalone",
    "similarity_gap",
    "topic_terms",
    "describes_a_paper",
)

# "the other grokking paper", "LCBM paper -", "the self-supervised item recommendation study": a paper picked out by
# what it is about, not "the paper" / "this paper" / "their paper", which point back.
_DESCRIBED = re.compile(
    r"\b(?!(?:the|this|that|their|its|same|his|her)\b)[\w-]+\s+(?:paper|study|article|work)\b|\bother\s+\w+", re.I
)


@dataclass(frozen=True)
class Context:
    """What the decision reads about the previous turn's paper and the question's own retrieval."""

    previous: str  # paper id of the previous answer's first citation
    standalone: Coverage  # the question's coverage judged on its own
    top_dense: float  # MiniLM cosine of the question's own best paper
    previous_similarity: float  # best MiniLM cosine of the question with a sentence of the previous paper
    new_names: list[str]  # names of the question that the previous paper does not use


def uses(term: str, have: set[str]) -> bool:
    """The paper uses the term, or a longer form of it ("qwen" in "qwen2.5")."""
    return term in have or any(h.startswith(term) for h in have)


def rare_elsewhere(q: Question, vocab: Vocabulary, standalone: Coverage, previous: str) -> bool:
    """A rare term of the question that the standalone top paper has and the previous paper lacks."""
    pid = standalone.paper_id
    if pid is None or pid == previous:
        return False
    have, prev = vocab.paper_terms(pid), vocab.paper_terms(previous)
    return any(0 < vocab.df(t) <= RARE_DF and t in have and not uses(t, prev) for t in q.topic if t not in q.name_terms)


def features(q: Question, vocab: Vocabulary, c: Context) -> list[float]:
    s = c.standalone
    top = s.paper_id
    cov_prev = vocab.coverage(q, c.previous)
    cov_top = vocab.coverage(q, top) if top is not None and top != c.previous else 0.0
    sim_top = c.top_dense if top != c.previous else 0.0
    x = {
        "refers_back": float(q.refers_back),
        "new_names": float(len(c.new_names)),
        "new_names_unknown": float(any(not vocab.known(t) for n in c.new_names for t in terms(n))),
        "standalone_covered": float(s.covered),
        "standalone_names_other": float(bool(s.matched) and top != c.previous),
        "standalone_is_previous": float(top == c.previous),
        "coverage_previous": cov_prev,
        "coverage_standalone": cov_top,
        "coverage_gap": cov_prev - cov_top,
        "rare_elsewhere": float(rare_elsewhere(q, vocab, s, c.previous)),
        "similarity_previous": c.previous_similarity,
        "similarity_standalone": sim_top,
        "similarity_gap": c.previous_similarity - sim_top,
        "topic_terms": float(len(q.topic)),
        "describes_a_paper": float(bool(_DESCRIBED.search(q.text))),
    }
    return [x[n] for n in NAMES]


def model() -> learned.Logistic:
    return learned.logistic("followup", NAMES)


def continues(x: list[float]) -> bool:
    m = model()
    return m.probability(x) >= m.threshold
