"""Verdicts for yes/no questions: "Yes.", "No." or "The abstracts do not settle it." (PubMedQA's maybe), put
before the quoted deciding sentence.

Two deciders, and which one is used depends on the model (calibration/verdict.json):
- rule:  a multinomial logistic model over 19 general cues of the deciding sentence and the paper's closing
         sentences (verdict_features.py: negation, null results, hedging, negated question words, the direction
         of the effect, a plain comparison of the asked thing). Fitted by assistant/answer/judge/train.py on the
         training set's yes/no questions and PubMedQA dev; instant, any model.
- model: a constrained choice. The model reads the deciding sentences and the question once; the options are
         scored by the log-probability of their first token after that one prompt decode (no free text).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from assistant.answer.extract import closing
from assistant.answer.judge.injection import unquotable
from assistant.answer.judge.learned import read
from assistant.answer.judge.verdict_features import NAMES, conclusion_for, features, speaks_to

log = logging.getLogger(__name__)
LABELS = ("yes", "no", "maybe")
LEAD = {"yes": "Yes.", "no": "No.", "maybe": "The abstracts do not settle it."}
# A verdict the decision is not sure of (below the fitted `sure_at` probability): said as what it is. On held-out
# questions a plain "Yes."/"No." below that level was right about half the time.
UNSURE = {"yes": "Probably yes.", "no": "Probably no.", "maybe": LEAD["maybe"]}
# What the model is asked to choose from, and the words whose first token stands for each option.
OPTION_WORDS = {"yes": ["Yes", "yes"], "no": ["No", "no"], "maybe": ["Maybe", "maybe", "Unclear"]}


@dataclass
class Verdict:
    label: str  # yes | no | maybe
    by: str  # rule | model | rule+model
    probs: dict[str, float]
    sure: bool = True  # the label's probability reaches the fitted `sure_at`

    @property
    def lead(self) -> str:
        return LEAD[self.label] if self.sure else UNSURE[self.label]


@lru_cache(maxsize=1)
def calibration() -> dict[str, Any]:
    data = read("verdict")
    if data["features"] != NAMES:
        raise RuntimeError("calibration/verdict.json was fitted on other features; run bench/calibrate_verdict.py")
    return data


def deciding_ending(question: str, deciding: str, sentences: list[str] | tuple[str, ...]) -> list[str]:
    """The closing sentences whose cues decide with `deciding` (verdict_features.conclusion_for), never one
    addressed to a model: the single answer, the consensus stance and the fit script all read them so."""
    bad = unquotable(sentences)
    return conclusion_for(question, deciding, [s for s in closing(list(sentences)) if s not in bad])


def _softmax(z: list[float]) -> list[float]:
    top = max(z)
    e = [math.exp(v - top) for v in z]
    s = sum(e)
    return [v / s for v in e]


def rule_probs(question: str, deciding: str, closing: list[str]) -> dict[str, float]:
    weights = calibration()["weights"]  # one row per feature, one column per label
    x = features(question, deciding, closing)
    z = [sum(xi * row[j] for xi, row in zip(x, weights)) for j in range(len(LABELS))]
    return dict(zip(LABELS, _softmax(z)))


def mode_for(n_params: int | None, setting: str) -> str:
    """rule | model | both, for a model of this size: `verdict = "auto"` follows the calibration."""
    if setting != "auto":
        return setting
    if n_params is None:
        return "rule"  # a server model: no log-probabilities through the chat API
    return "both" if n_params >= int(calibration()["model_min_params"]) else "rule"


def model_probs(choose, messages: list[dict[str, str]]) -> dict[str, float] | None:
    try:
        logps = choose(messages, OPTION_WORDS)
    except (RuntimeError, ValueError) as exc:
        log.warning("the model could not score the verdict options (%s); using the rule", exc)
        return None
    if not logps:
        return None
    probs = _softmax([logps[label] for label in LABELS])
    return dict(zip(LABELS, probs))


def decide(
    question: str, deciding: str, closing: list[str], mode: str, model: dict[str, float] | None = None
) -> Verdict:
    rule = rule_probs(question, deciding, closing)
    if mode == "rule" or model is None:
        probs, by = rule, "rule"
    elif mode == "model":
        probs, by = model, "model"
    else:
        w = float(calibration().get("model_weight", 0.5))
        mixed = {k: math.exp((1 - w) * math.log(rule[k] + 1e-9) + w * math.log(model[k] + 1e-9)) for k in LABELS}
        s = sum(mixed.values())
        probs, by = {k: v / s for k, v in mixed.items()}, "rule+model"
    label = max(LABELS, key=lambda k: probs[k])
    if not speaks_to(question, deciding) and not any(speaks_to(question, s) for s in closing):
        # Nothing quoted shares a content word with the question: whatever the cues say, these sentences do not
        # settle it ("Was the study retracted?" of an abstract that never speaks of retraction).
        label = "maybe"
    sure = probs[label] >= float(calibration().get("sure_at", 0.0))
    return Verdict(label, by, {k: round(v, 3) for k, v in probs.items()}, sure)
