"""The fitted decisions' weights: one JSON file each in calibration/, written by judge/train.py.

Each file holds the feature names it was fitted on, the model, the decision threshold and the sha256 of the
training data. The model is logistic (standardisation and weights) or, where the cues interact (the sentence
ranker: a number matters for "how many", not for "what is"), boosted trees ("model": "trees": each tree a list of
nodes, a split [feature, threshold, left, right] or a leaf [value]). Loading checks the names against the code's: a
feature added, dropped or renamed without a refit fails loudly rather than scoring with shifted weights.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from assistant.errors import AssistantError


class StaleWeights(AssistantError):
    """The code's features differ from those the weights were fitted on."""


def read(name: str) -> dict:
    """calibration/<name>.json, as written by the fit script."""
    path = resources.files("assistant.answer.judge").joinpath(f"calibration/{name}.json")
    return json.loads(path.read_text(encoding="utf-8"))


def sparse_logit(weights: dict[str, float], intercept: float, features: dict[str, float]) -> float:
    """A linear score over named features (the question-shape decisions: most n-grams have no weight)."""
    return intercept + sum(weights.get(k, 0.0) * v for k, v in features.items())


def sigmoid(z: float) -> float:
    """The logistic function, clamped so that no logit overflows exp."""
    return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))


@dataclass(frozen=True)
class Logistic:
    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    data_sha256: str
    floor: float = 0.0  # papers decision: below this even the best candidate is not kept (the answer refuses)
    runner_up: float = 1.0  # sentence ranker: quote the second sentence too when it is this close to the best

    def logit(self, x: list[float]) -> float:
        return self.intercept + sum(c * (v - m) / s for c, v, m, s in zip(self.coef, x, self.mean, self.scale))

    def probability(self, x: list[float]) -> float:
        return sigmoid(self.logit(x))

    def contributions(self, x: list[float]) -> list[tuple[float, str]]:
        """Each feature's share of the logit, most negative first: what speaks against the decision."""
        return sorted((c * (v - m) / s, n) for n, c, v, m, s in zip(self.names, self.coef, x, self.mean, self.scale))


@dataclass(frozen=True)
class Trees:
    """A sum of regression trees on the log-odds (scikit-learn's HistGradientBoostingClassifier, exported)."""

    names: tuple[str, ...]
    trees: tuple[tuple[tuple[float, ...], ...], ...]
    baseline: float
    threshold: float
    data_sha256: str
    runner_up: float = 1.0
    floor: float = 0.0  # as Logistic.floor

    def logit(self, x: list[float]) -> float:
        z = self.baseline
        for tree in self.trees:
            node = tree[0]
            while len(node) == 4:  # a split: left when the feature is at most the threshold (as scikit-learn)
                node = tree[int(node[2] if x[int(node[0])] <= node[1] else node[3])]
            z += node[0]
        return z

    def probability(self, x: list[float]) -> float:
        return sigmoid(self.logit(x))


def logistic(name: str, names: tuple[str, ...]) -> Logistic:
    """A decision that must be logistic: its reasons come from each feature's share of the logit."""
    m = load(name, names)
    if not isinstance(m, Logistic):
        raise StaleWeights(f"calibration/{name}.json holds trees; this decision needs a logistic fit")
    return m


@lru_cache(maxsize=8)
def load(name: str, names: tuple[str, ...]) -> Logistic | Trees:
    data = read(name)
    if tuple(data["features"]) != names:
        raise StaleWeights(
            f"calibration/{name}.json was fitted on other features; refit: python -m assistant.answer.judge.train"
        )
    if data.get("model") == "trees":
        return Trees(
            tuple(data["features"]),
            tuple(tuple(tuple(node) for node in tree) for tree in data["trees"]),
            float(data["baseline"]),
            float(data.get("threshold", 0.5)),
            str(data.get("data_sha256", "")),
            float(data.get("runner_up", 1.0)),
            float(data.get("floor", 0.0)),
        )
    return Logistic(
        tuple(data["features"]),
        tuple(data["mean"]),
        tuple(data["scale"]),
        tuple(data["coef"]),
        float(data["intercept"]),
        float(data.get("threshold", 0.5)),
        str(data.get("data_sha256", "")),
        float(data.get("floor", 0.0)),
        float(data.get("runner_up", 1.0)),
    )
