"""Does the question ask about the literature (several papers), and how: survey, compare or consensus? A fitted
decision over the question's shape, as judge/polar.py decides yes/no form.

- survey:    what is known about a topic: "what have papers found about X", "papers on grokking?", "x-ray report
             generation methods", "which benchmarks are used for X", "known failure modes of X";
- compare:   two or three named methods or papers: "compare A and B", "A vs B", "how does A stack up against B";
- consensus: a yes/no question about a general claim: "does X always help?", "any evidence that X", "X: helpful or
             harmful?";
- single:    one paper's content, however it is phrased ("which datasets does the LIMO paper use").

Features: the question's shape (judge/polar.py: uncommon words folded into one placeholder, word n-grams, first
and last words), the yes/no-form probability, and the hand-written patterns this decision replaced (`pattern_kind`)
as one feature each. judge/train.py fits a multinomial logistic regression on the training questions (the
single-paper kinds, the literature questions of bench/data/qa/*-lit and the form-labelled ones of
bench/data/qa/litforms) and sets the threshold on "single" so that at most a fixed share of the training
split's single-paper questions (out of fold) is taken for a literature question.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from assistant.answer.judge import polar
from assistant.answer.judge.learned import read, sparse_logit

LiteratureKind = Literal["survey", "compare", "consensus"]
LABELS = ("single", "survey", "compare", "consensus")

PAPERS = r"(?:papers?|studies|works|articles|researchers|authors|literature)"
_SURVEY = re.compile(
    rf"^\s*(?:what|which)\s+(?:have|do|did|does)\s+(?:the\s+|these\s+)?{PAPERS}\s+"
    r"(?:found|find|say|show|shown|report|reported|propose|proposed|suggest|conclude|tell)\b"
    r"|\bwhat(?:'s|\s+is)\s+(?:known|the\s+evidence)\s+(?:about|on|for)\b"
    r"|\bsummari[sz]e\b|\boverview\s+of\b|\bstate\s+of\s+the\s+art\b|\bliterature\s+(?:on|about)\b"
    r"|^\s*(?:which|what)\s+(?:main\s+|different\s+|key\s+|common\s+)?(?:approaches|methods|techniques|benchmarks|"
    r"datasets|strategies|limitations|challenges|findings|kinds\s+of|types\s+of)\b"
    rf"|\b(?:according\s+to|across|in)\s+(?:these|the)\s+{PAPERS}\b"
    rf"|^\s*(?:what\s+do|how\s+do)\s+(?:these\s+|the\s+)?{PAPERS}\b"
    rf"|^\s*{PAPERS}\s+(?:on|about)\b[^?]*\?\s*$",
    re.I,
)
_COMPARE = re.compile(
    r"^\s*(?:compare|contrast)\b|\b(?:vs\.?|versus)\s|\bdifferences?\s+between\b"
    r"|^\s*how\s+(?:do|does|did)\s+.+\s+and\s+.+\s+(?:differ|compare)\b",
    re.I,
)
_CONSENSUS = re.compile(
    r"^\s*(?:does|do|is|are|can|will|would|should|has|have)\b[^?]*\b(?:always|generally|in\s+general|usually|"
    r"typically|consistently|necessarily|universally|ever)\b"
    rf"|\b(?:do|does)\s+(?:the\s+|these\s+)?{PAPERS}\s+(?:agree|disagree|show|find|support|conclude)\b"
    r"|\bis\s+there\s+(?:evidence|consensus|agreement)\b",
    re.I,
)


def pattern_kind(text: str) -> LiteratureKind | None:
    """The hand-written reading this decision replaced, kept as one of its features."""
    if _COMPARE.search(text):
        return "compare"
    if _CONSENSUS.search(text):
        return "consensus"
    if _SURVEY.search(text):
        return "survey"
    return None


def features(question: str, vocabulary: frozenset[str]) -> dict[str, float]:
    f = polar.features(question, vocabulary)
    f[f"pattern_kind:{pattern_kind(question) or 'none'}"] = 1.0
    f["polar_probability"] = polar.model().probability(question)
    return f


@dataclass(frozen=True)
class Model:
    vocabulary: frozenset[str]
    labels: tuple[str, ...]
    weights: tuple[dict[str, float], ...]  # one per label
    intercepts: tuple[float, ...]
    single_threshold: float  # "single" wins when its probability is at least this
    data_sha256: str

    def probabilities(self, question: str) -> dict[str, float]:
        f = features(question, self.vocabulary)
        z = [sparse_logit(w, b, f) for w, b in zip(self.weights, self.intercepts)]
        top = max(z)
        e = [math.exp(v - top) for v in z]
        return {label: v / sum(e) for label, v in zip(self.labels, e)}

    def kind(self, question: str) -> LiteratureKind | None:
        p = self.probabilities(question)
        if p["single"] >= self.single_threshold:
            return None
        best = max((k for k in self.labels if k != "single"), key=p.__getitem__)
        return best  # type: ignore[return-value]


@lru_cache(maxsize=1)
def model() -> Model:
    data = read("literature_kind")
    return Model(
        frozenset(data["vocabulary"]),
        tuple(data["labels"]),
        tuple(dict(w) for w in data["weights"]),
        tuple(float(b) for b in data["intercepts"]),
        float(data["single_threshold"]),
        str(data.get("data_sha256", "")),
    )


def literature_kind(question: str) -> LiteratureKind | None:
    """survey, compare or consensus for a question about several papers; None for one about one paper."""
    q = question.strip()
    return model().kind(q) if q else None
