"""Which sentence of a paper answers the question: a fitted logistic ranker over general cues of each sentence.

The cues were the hand-weighted sum this replaced (answer/extract.py's sentence scoring): IDF overlap with the
question's topic (the paper's naming terms at a quarter), MiniLM similarity, what the question's kind looks for (a
number near the counted word, an acronym's expansion, the defining sentence, the noun after "which"), boilerplate,
and the sentence's place in the abstract. judge/train.py fits their weights on the training questions' answer
sentences (bench/data/qa); calibration/sentence.json holds them.
"""

from __future__ import annotations

import re

from assistant.answer.extract import (
    _BOILERPLATE,
    _DEFINE,
    _NUMBER,
    CLOSING,
    _conceded,
    _counts_unit,
    _enumerator,
    _number_near_topic,
    _subject_pattern,
    _weights,
    answer_type,
    counted_terms,
    expansion,
    same_unit,
    with_units,
)
from assistant.answer.judge import learned
from assistant.answer.judge.injection import unquotable
from assistant.answer.judge.verdict_features import speaks_to
from assistant.retrieve.question import Question
from assistant.text import terms

BASE = (
    "overlap",
    "similarity",
    "boilerplate",
    "answer_type",
    "count_number",
    "count_near_topic",
    "count_unit",
    "acronym_expansion",
    "definition_subject",
    "definition_pattern",
    "definition_first",
    "polar_closing",
    "position",
    "first",
    "last",
    "length",
    "names_paper",
    "asked_share",
    "overlap_below_best",
    "similarity_below_best",
    "definition_similarity",
    "count_similarity",
    "contribution",
    "background",
    "names_question",
    "polar_asked_share",
    "polar_similarity",
    "polar_position",
)
# A literature answer quotes each paper's finding on the question's topic, and the sentence closest in meaning to
# the paper's own title (what the paper is about) more often holds it. 5-fold cross-validation over the 1,044
# key-point papers of the literature data, four fold seeds: top-1 0.436 -> 0.462 (every seed gained). The single
# answers' ranker gained nothing from it (0.714 -> 0.718) and does without.
TITLE = ("title_similarity", "title_similarity_below_best")
NAMES = BASE + TITLE
FEATURES = {"sentence": BASE, "literature_sentence": NAMES}
# An abstract's background ("Recent work ...", "However, existing methods ...", "The problem is challenging
# since ...") sets up the question the paper answers; its contribution ("we propose", "X is a ...") answers it.
# Cues of rhetorical role, in any field; their weights are fitted.
_BACKGROUND = re.compile(
    r"^\W*(?:recent(?:ly)?|existing|previous|prior|traditional(?:ly)?|conventional(?:ly)?|however|although|"
    r"despite|while|whereas|many|most|current|in\s+recent|over\s+the\s+past|the\s+problem|it\s+remains)\b",
    re.I,
)


# A link's words are an address, not what the sentence says: "The code for this benchmark is available at
# https://github.com/x/GraphFM" names GraphFM only in its URL, and matched "what does GraphFM benchmark?" in full.
_LINK = re.compile(r"\b(?:https?://|www\.|github\.com/)\S*", re.I)


def features(
    q: Question,
    sentences: list[str],
    idf: dict[str, float],
    title: str,
    sims: list[float] | None = None,
    title_sims: list[float] | None = None,
    name: str = "sentence",
) -> list[list[float]]:
    """One row per sentence, of the features ranker `name` was fitted on (FEATURES: a prefix of NAMES).
    `sims`: each sentence's MiniLM similarity with the question; `title_sims`: with the paper's title."""
    naming = set(q.name_terms) | set(terms(title))
    weights = _weights(q, idf, naming)
    mass = sum(weights.values()) or 1.0
    asked = [t for t in q.topic if t not in naming]
    subject_re = _subject_pattern(q)
    wanted = answer_type(q) if q.kind not in ("count", "acronym", "definition") else []
    units = {u: t for t in q.topic for u in same_unit(t) if u != t} if q.kind == "count" else {}
    counted = counted_terms(q) if q.kind == "count" else []
    n = len(sentences)
    first_subject = None
    rows = []
    for i, sent in enumerate(sentences):
        have = set(terms(_LINK.sub(" ", sent)))
        have |= {t for u, t in units.items() if u in have}
        x = dict.fromkeys(NAMES, 0.0)
        x["overlap"] = sum(w for t, w in weights.items() if t in have) / mass
        x["similarity"] = sims[i] if sims and i < len(sims) else 0.0
        x["boilerplate"] = float(bool(_BOILERPLATE.search(sent)))
        x["answer_type"] = float(bool(wanted) and any(t in have for t in wanted))
        if q.kind == "count":
            nums = [
                m
                for m in _NUMBER.finditer(sent)
                if m.group().strip() and not _conceded(sent, m.start()) and not _enumerator(sent, m)
            ]
            x["count_number"] = float(bool(nums))
            x["count_near_topic"] = float(bool(nums) and _number_near_topic(sent, nums, with_units(q.topic)))
            x["count_unit"] = float(any(_counts_unit(sent, m, counted) for m in nums))
        elif q.kind == "acronym" and q.subject:
            x["acronym_expansion"] = float(expansion(q.subject, sent) is not None)
        elif q.kind == "definition" and subject_re is not None and subject_re.search(sent):
            x["definition_subject"] = 1.0
            x["definition_pattern"] = float(bool(_DEFINE.search(sent)))
            if first_subject is None:
                first_subject = i
                x["definition_first"] = 1.0
        x["polar_closing"] = float(q.polar and i >= n - CLOSING and speaks_to(q.text, sent))
        x["position"] = i / (n - 1) if n > 1 else 0.0
        x["first"] = float(i == 0)
        x["last"] = float(i == n - 1)
        x["length"] = min(len(sent.split()), 80) / 80
        x["names_paper"] = float(any(t in have for t in naming))
        x["asked_share"] = sum(t in have for t in asked) / len(asked) if asked else 0.0
        x["definition_similarity"] = x["similarity"] if q.kind in ("definition", "acronym") else 0.0
        x["count_similarity"] = x["similarity"] if q.kind == "count" else 0.0
        x["contribution"] = float(bool(_DEFINE.search(sent)))
        x["background"] = float(bool(_BACKGROUND.search(sent)))
        x["names_question"] = float(any(t in have for t in q.name_terms))
        # A yes/no question is settled by the sentence that states what it asks, wherever it stands.
        x["polar_asked_share"] = x["asked_share"] if q.polar else 0.0
        x["polar_similarity"] = x["similarity"] if q.polar else 0.0
        x["polar_position"] = x["position"] if q.polar else 0.0
        x["title_similarity"] = title_sims[i] if title_sims and i < len(title_sims) else 0.0
        rows.append(x)
    # How far each sentence is from the paper's best on the main cues: the ranker compares sentences of one
    # paper, and an absolute overlap means different things in a short and a long question.
    for key in ("overlap", "similarity", "title_similarity"):
        best = max((x[key] for x in rows), default=0.0)
        for x in rows:
            x[f"{key}_below_best"] = best - x[key]
    return [[x[k] for k in FEATURES[name]] for x in rows]


def ranked(sentences: list[str] | tuple[str, ...], scores: list[float]) -> list[int]:
    """Indices of the sentences best first, without those that may never be quoted (judge/injection.py)."""
    bad = unquotable(sentences)
    return [i for i in sorted(range(len(sentences)), key=lambda i: -scores[i]) if sentences[i] not in bad]


def runner_up(order: list[int], scores: list[float], name: str = "sentence") -> int | None:
    """The second-ranked sentence of `ranked`'s order when the ranker finds it nearly as likely as the best (the
    fitted `runner_up` ratio of that ranker): an answer quotes it too."""
    if len(order) > 1 and scores[order[1]] >= model(name).runner_up * scores[order[0]] > 0:
        return order[1]
    return None


def model(name: str = "sentence") -> learned.Logistic | learned.Trees:
    """`sentence` for single answers; `literature_sentence` for a paper's quote in a literature answer (fitted on
    the key points of the training data's literature questions)."""
    return learned.load(name, FEATURES[name])


def score_sentences(
    q: Question,
    sentences: list[str],
    idf: dict[str, float],
    title: str,
    sims: list[float] | None = None,
    name: str = "sentence",
    title_sims: list[float] | None = None,
) -> list[float]:
    """The ranker's probability that each sentence holds the answer."""
    m = model(name)
    return [m.probability(x) for x in features(q, sentences, idf, title, sims, title_sims, name)]
