"""The fitting's shared parts: the pipeline's retrieval and planning over one corpus (Run), logistic and
boosted-tree fits, their export to the JSON the assistant loads, out-of-fold probabilities, and the sentence
rankers' fit (single answers and literature quotes). judge/train.py runs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.answer.judge.data import _settings
from assistant.answer.judge.data import write_weights as _write

TREES = 150  # boosted trees of the sentence rankers; depth and count chosen by 5-fold validation by paper
TREE_DEPTH = 4
TWO_QUOTES = 0.25  # at most this share of single answers quote the runner-up sentence as well
MAX_FALSE_REFUSALS = 0.05  # of answerable training questions; chosen on the sweep printed in BENCHMARKS.md


class Run:
    """The retrieval and planning parts of the pipeline over one corpus's index (no generator is needed)."""

    def __init__(self, data_dir: Path, embedder):
        from assistant.answer.plan import Planner
        from assistant.index.lexical import Index
        from assistant.index.store import Store
        from assistant.retrieve.hybrid import Retriever

        self.settings = _settings(data_dir)
        self.retriever = Retriever(self.settings, embedder, Index.load(Store(self.settings)))
        self.planner = Planner(self.settings, self.retriever)
        self.by_title = {p.title: pid for pid, p in self.retriever.index.papers.items()}


def _fit_trees(X, y):
    """Boosted trees (fixed seed, no early stopping: the fit is the same on every run) and their export."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    clf = HistGradientBoostingClassifier(
        max_depth=TREE_DEPTH,
        max_iter=TREES,
        learning_rate=0.1,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=0,
    ).fit(X, y)
    trees = []
    for (predictor,) in clf._predictors:
        trees.append(
            [
                [round(float(n["value"]), 8)]
                if n["is_leaf"]
                else [int(n["feature_idx"]), float(n["num_threshold"]), int(n["left"]), int(n["right"])]
                for n in predictor.nodes
            ]
        )
    return clf, {"model": "trees", "baseline": round(float(clf._baseline_prediction.ravel()[0]), 6), "trees": trees}


def _fit_sentences(
    rows: dict[str, list], sha: str, write: bool, name: str = "sentence", use_trees: bool = True
) -> None:
    import numpy as np

    from assistant.answer.judge import sentence as S

    names = S.FEATURES[name]
    X = np.array([x for group in rows["train"] for x, _ in group])
    y = np.array([lab for group in rows["train"] for _, lab in group])
    mean, scale, coef, intercept = _fit_binary(X, y, balanced=False)
    clf, exported = _fit_trees(X, y)
    trees = _checked_trees(clf, exported, names, sha, X)

    def logistic(x) -> float:
        return float(_probability(x, mean, scale, coef, intercept))

    def top1(groups, score) -> float:
        return sum(group[int(np.argmax([score(x) for x, _ in group]))][1] for group in groups) / max(1, len(groups))

    # Trees weigh a cue by the question it comes with (a number for "how many", the opening sentence for "what
    # is"); the logistic fit on the same cues is printed beside them.
    for label, score in (("logistic", logistic), ("trees", trees.probability)):
        print(
            f"{name} ({label}): top-1 holds the answer: train {top1(rows['train'], score):.3f} "
            f"({len(rows['train'])} papers), validation {top1(rows['val'], score):.3f} ({len(rows['val'])})"
        )

    def with_second(groups, ratio: float) -> tuple[float, float]:
        """(answer in the quote(s), share of answers that quote two) when the runner-up is quoted too whenever its
        probability is at least `ratio` of the best's."""
        hits = two = 0
        for group in groups:
            p = [chosen(x) for x, _ in group]
            order = sorted(range(len(p)), key=lambda i: -p[i])
            quoted = order[:2] if len(order) > 1 and p[order[1]] >= ratio * p[order[0]] else order[:1]
            hits += max(group[i][1] for i in quoted)
            two += len(quoted) == 2
        return hits / max(1, len(groups)), two / max(1, len(groups))

    chosen = trees.probability if use_trees else logistic
    # The runner-up is quoted too when it is nearly as likely: the ratio that finds the most answers while at most
    # TWO_QUOTES of the answers quote two sentences (a reader's budget, not a score's scale).
    grid = [r / 100 for r in range(30, 100, 5)]
    ok = [r for r in grid if with_second(rows["train"], r)[1] <= TWO_QUOTES] or [grid[-1]]
    runner_up = max(ok, key=lambda r: with_second(rows["train"], r)[0])
    for part in ("train", "val"):
        hit, two = with_second(rows[part], runner_up)
        print(f"{name}: runner-up at {runner_up:.2f} of the best: {part} answer quoted {hit:.3f}, two quotes {two:.3f}")
    extra = {"runner_up": runner_up}
    if use_trees:
        payload = _trees_payload(names, exported, 0.5, sha, len(rows["train"]), extra)
    else:
        payload = _logistic_payload(names, mean, scale, coef, intercept, 0.5, sha, len(rows["train"]), extra)
    _write(name, payload, write)


def _out_of_fold(groups: list, folds: int = 5) -> list[list[tuple[float, int]]]:
    """Each question's candidates scored by trees fitted on the other folds' questions ((-1, 1): a gold paper
    retrieval missed)."""
    import numpy as np

    out: list[list[tuple[float, int]]] = [[] for _ in groups]
    for k in range(folds):
        rest = [g for i, g in enumerate(groups) if i % folds != k]
        clf, _ = _fit_trees(
            np.array([x for g in rest for x, _ in g if x]), np.array([lab for g in rest for x, lab in g if x])
        )
        for i, g in enumerate(groups):
            if i % folds == k:
                out[i] = _scored(g, lambda xs, clf=clf: clf.predict_proba(xs)[:, 1])
    return out


def _scored(group: list, predict) -> list[tuple[float, int]]:
    """(probability, label) of each candidate of one question, and (-1, 1) for a gold paper retrieval missed (an
    empty row). `predict` maps an array of rows to their probabilities."""
    import numpy as np

    xs = [x for x, _ in group if x]
    it = iter(predict(np.array(xs)).tolist() if xs else [])
    return [(next(it), lab) if x else (-1.0, 1) for x, lab in group]


def _fit_binary(X, y, balanced: bool):
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    clf = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced" if balanced else None)
    clf.fit((X - scaler.mean_) / scale, y)
    return scaler.mean_, scale, clf.coef_[0], float(clf.intercept_[0])


def _probability(X, mean, scale, coef, intercept):
    """The probability of a logistic fit (from _fit_binary) for one row or many."""
    import numpy as np

    return 1 / (1 + np.exp(-(intercept + ((np.asarray(X, dtype=float) - mean) / scale) @ coef)))


def _checked_trees(clf, exported: dict[str, Any], names: tuple[str, ...], sha: str, X):
    """The exported trees as the assistant loads them, checked to score as scikit-learn does on the training rows."""
    import numpy as np

    from assistant.answer.judge import learned

    trees = learned.Trees(names, tuple(tuple(map(tuple, t)) for t in exported["trees"]), exported["baseline"], 0.5, sha)
    assert np.allclose([trees.logit(list(x)) for x in X[:500]], clf.decision_function(X[:500]), atol=1e-4)
    return trees


def _trees_payload(names, exported, threshold, sha, n, extra) -> dict[str, Any]:
    return {"features": list(names), **exported, "threshold": threshold, "data_sha256": sha, "fitted_on": n, **extra}


def _logistic_payload(names, mean, scale, coef, intercept, threshold, sha, n, extra) -> dict[str, Any]:
    return {
        "features": list(names),
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "coef": [round(float(v), 6) for v in coef],
        "intercept": round(intercept, 6),
        "threshold": round(threshold, 4),
        "data_sha256": sha,
        "fitted_on": n,
        **extra,
    }
