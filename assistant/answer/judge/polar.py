"""Does the question want a yes or a no? A fitted decision over the question's shape.

The shape is the question with every uncommon word folded into one placeholder ("does W improve W ?", "W - true
or false ?", "W , right ?"): the words kept are those that many training questions use (question words, auxiliaries,
"true", "or", ...), so the decision learns how people ask, not what they ask about. Its features are the shape's
word n-grams, its first and last words, whether a question word comes before the first auxiliary, and the
hand-written pattern reading this decision replaced ("Does X beat Y?", "whether ...", "Title: a claim?"), now one
feature among the rest. judge/train.py fits a logistic regression on the training questions (yes/no ones against
named, paraphrased, count, definition and list ones; consensus against survey and compare; and bench/data/qa/forms/,
written for the forms patterns miss: "..., right?", "true or false: ...", "can you tell me what ...", "is X or Y
better?") and writes calibration/polar.json with the kept words, the weights and the data's hash.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from assistant.answer.judge.learned import read, sigmoid, sparse_logit

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+|[?:;,\"'\-–—]")
OTHER = "W"  # every word outside the kept vocabulary


def tokens(question: str) -> list[str]:
    return _TOKEN.findall(question.lower())


def shape(words: list[str], vocabulary: frozenset[str]) -> list[str]:
    """The question's words (tokens()) with the uncommon ones folded into one placeholder per run."""
    out = ["<s>"]
    for t in words:
        t = t if t in vocabulary else OTHER
        if not (t == OTHER and out[-1] == OTHER):
            out.append(t)
    return [*out, "</s>"]


_WH_WORDS = frozenset("what which who whom whose how where when why".split())
_AUX_WORDS = frozenset("do does did is are was were can could should will would has have had may might must".split())


def features(question: str, vocabulary: frozenset[str]) -> dict[str, float]:
    words = tokens(question)
    seq = shape(words, vocabulary)
    wh = next((i for i, t in enumerate(words) if t in _WH_WORDS), None)
    aux = next((i for i, t in enumerate(words) if t in _AUX_WORDS), None)
    grams = Counter("g:" + " ".join(seq[i : i + n]) for n in (1, 2, 3) for i in range(len(seq) - n + 1))
    f: dict[str, float] = {k: float(v) for k, v in grams.items()}
    for i, t in enumerate(seq[1:4]):
        f[f"first{i}:{t}"] = 1.0
    for i, t in enumerate(seq[-4:-1]):
        f[f"last{i}:{t}"] = 1.0
    f["wh_before_aux"] = float(wh is not None and (aux is None or wh < aux))
    f["pattern"] = float(pattern_says(question))
    return f


@dataclass(frozen=True)
class Model:
    vocabulary: frozenset[str]
    weights: dict[str, float]
    intercept: float
    threshold: float
    data_sha256: str

    def probability(self, question: str) -> float:
        return sigmoid(sparse_logit(self.weights, self.intercept, features(question, self.vocabulary)))


@lru_cache(maxsize=1)
def model() -> Model:
    data = read("polar")
    return Model(
        frozenset(data["vocabulary"]),
        dict(data["weights"]),
        float(data["intercept"]),
        float(data.get("threshold", 0.5)),
        str(data.get("data_sha256", "")),
    )


_AUX = (
    r"(?:do|does|did|is|are|was|were|can|could|should|will|would|has|have|had|may|might|must|shall"
    r"|isn't|aren't|doesn't|don't|didn't|wasn't|weren't|can't|won't)"
)
# The clause a yes/no question starts with: the whole question, or the part after a title's colon or dash.
_POLAR = re.compile(
    r"(?:^|[:;?.,]\s+|\s[-–—]\s+|--)" + _AUX + r"\s+(?!you\s+(?:tell|explain|list|show|give|name|find|describe))\S",
    re.I,
)
# "Drug X: a new risk factor for falls?": a title whose question part states a claim.
_TITLE_CLAIM = re.compile(r"(?:[:.]\s+|--|\s[-–—]\s|,\s+(?=an?\s))[^:?]{3,200}\?\s*$")
_WH = re.compile(r"\b(?:what|which|who|whom|whose|how|where|when|why)\b", re.I)
_WHETHER = re.compile(r"\bwhether\b", re.I)
# "Can you tell me which ...", "Do you know what ...": a wh-question in polite form, not a yes/no one.
_POLITE_WH = re.compile(
    r"^\s*(?:can|could|would|will|do|does)\s+(?:you|anyone|someone)\s+(?:\w+\s+){0,3}?"
    r"(?:what|which|who|how|where|when|why)\b",
    re.I,
)
_ALTERNATIVE = re.compile(r"\bor\b(?!\s+not\b)", re.I)  # "Is X or Y better?" asks to choose, not yes/no


def pattern_says(question: str) -> bool:
    """The hand-written reading this decision replaced, kept as one of its features."""
    q = question.strip()
    if not q or _POLITE_WH.search(q):
        return False
    if _WHETHER.search(q):
        return True
    m = _POLAR.search(q)
    if not m:
        claim = _TITLE_CLAIM.search(q)
        return claim is not None and not _WH.search(claim.group())
    if _WH.search(q[: m.start() + 1]) and m.start() > 0:
        return False  # "Which scores, computed early, are proposed ...?" is a wh-question with a comma
    rest = q[m.start() :]
    # "Is X or Y better?" asks to pick one; "is it safe or not?" is still yes/no.
    choice = (
        _ALTERNATIVE.search(rest) is not None
        and not re.search(r"\bor\s+not\b", rest, re.I)
        and rest.count(",") == 0
        and re.search(r"\b(?:better|more|which|prefer\w*)\b", rest, re.I) is not None
    )
    return not choice


def is_polar(question: str) -> bool:
    q = question.strip()
    if not q:
        return False
    m = model()
    return m.probability(q) >= m.threshold
