"""The decisions read off a question's shape alone, fitted from the training data (judge/train.py runs them first:
every plan reads them): does it want a yes or no (judge/polar.py), and does it ask about one paper or the
literature, and how (judge/literature_kind.py)."""

from __future__ import annotations

from collections import Counter, defaultdict

from assistant.answer.judge.data import Corpus, forms, litforms, question_split, split_of, write_weights

POLAR_MIN_DF = 25  # a word is part of a question's shape when this many training questions use it
KIND_MIN_DF = 5  # the same for the literature-kind decision, whose cue words are rarer ("versus", "findings")
MISROUTED = 0.08  # at most this share of the training split's single-paper questions is taken for literature


def polar_examples(corpora: dict[str, Corpus]) -> dict[str, list[tuple[str, int, str]]]:
    """(question, wants yes/no, corpus) by split: yes/no questions against those that ask for a name, a number, a
    definition or a list, consensus questions against survey and compare ones, and the questions written for their
    form alone (forms/: "can you tell me what ...", "is X or Y better", "..., right?"). Conversation turns and
    off-corpus questions carry no label of their form and are left out."""
    out: dict[str, list[tuple[str, int, str]]] = defaultdict(list)
    for name, c in corpora.items():
        for q in c.questions:
            if q["kind"] in ("yesno", "named", "paraphrase", "count", "definition", "list"):
                out[question_split(q)].append((q["question"], int(q["kind"] == "yesno"), name))
        for q in c.literature:
            out[split_of(q["id"])].append((q["question"], int(q["kind"] == "consensus"), name + "-lit"))
    for q in forms():
        out[split_of(q["question"])].append((q["question"], int(q["polar"]), "forms"))
    return out


def fit_polar(corpora: dict[str, Corpus], sha: str, write: bool) -> None:
    import numpy as np
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    from assistant.answer.judge import polar as P

    data = polar_examples(corpora)
    df = Counter(t for q, _, _ in data["train"] for t in set(P.tokens(q)))
    vocabulary = frozenset(t for t, n in df.items() if n >= POLAR_MIN_DF)
    vec = DictVectorizer()
    X = vec.fit_transform([P.features(q, vocabulary) for q, _, _ in data["train"]])
    y = np.array([lab for _, lab, _ in data["train"]])
    clf = LogisticRegression(C=1.0, max_iter=3000).fit(X, y)
    names = vec.get_feature_names_out()
    weights = {str(n): round(float(w), 5) for n, w in zip(names, clf.coef_[0]) if abs(w) >= 1e-4}
    m = P.Model(vocabulary, weights, float(clf.intercept_[0]), 0.5, sha)
    for part in ("train", "val"):
        by: dict[str, list[bool]] = defaultdict(list)
        for q, lab, corpus in data[part]:
            by[corpus].append((m.probability(q) >= 0.5) == bool(lab))
        every = [ok for oks in by.values() for ok in oks]
        print(
            f"polar/{part}: {len(every)} questions, form right {np.mean(every):.3f} ("
            + ", ".join(f"{c} {np.mean(v):.2f}" for c, v in sorted(by.items()))
            + ")"
        )
    payload = {
        "vocabulary": sorted(vocabulary),
        "weights": weights,
        "intercept": round(float(clf.intercept_[0]), 6),
        "threshold": 0.5,
        "data_sha256": sha,
        "fitted_on": len(y),
        "min_df": POLAR_MIN_DF,
    }
    write_weights("polar", payload, write)
    P.model.cache_clear()


def kind_examples(corpora: dict[str, Corpus]) -> dict[str, list[tuple[str, str, str]]]:
    """(question, kind, source) by split: the single-paper questions (every kind but the converted claims, whose
    "is it true that ..." wording was made by a script, not typed) and conversations' first turns as "single"; the
    literature questions of <corpus>-lit/ with their kind; and litforms/, labelled by kind alone."""
    out: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for name, c in corpora.items():
        for q in c.questions:
            if q.get("claim"):
                continue
            text = q["turns"][0]["question"] if q["kind"] == "conversation" else q["question"]
            out[question_split(q)].append((text, "single", name))
        for q in c.literature:
            out[split_of(q["id"])].append((q["question"], q["kind"], name + "-lit"))
    for q in litforms():
        out[split_of(q["question"])].append((q["question"], q["kind"], "litforms"))
    return out


def fit_literature_kind(corpora: dict[str, Corpus], sha: str, write: bool) -> None:
    import numpy as np
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    from assistant.answer.judge import literature_kind as K

    data = kind_examples(corpora)
    df = Counter(t for q, _, _ in data["train"] for t in set(K.polar.tokens(q)))
    vocabulary = frozenset(t for t, n in df.items() if n >= KIND_MIN_DF)
    vec = DictVectorizer()
    X = vec.fit_transform([K.features(q, vocabulary) for q, _, _ in data["train"]])
    y = np.array([k for _, k, _ in data["train"]])
    clf = LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced")
    # The threshold on "single" from out-of-fold probabilities: in-sample ones would all but never misroute.
    oof = cross_val_predict(clf, X, y, cv=5, method="predict_proba")
    clf.fit(X, y)
    labels = [str(c) for c in clf.classes_]
    single = labels.index("single")
    threshold = float(np.quantile(oof[y == "single", single], MISROUTED))
    names = vec.get_feature_names_out()
    weights = [{str(n): round(float(w), 5) for n, w in zip(names, row) if abs(w) >= 1e-4} for row in clf.coef_]
    m = K.Model(vocabulary, tuple(labels), tuple(weights), tuple(float(b) for b in clf.intercept_), threshold, sha)
    for part in ("train", "val"):
        said = [(k, m.kind(q) or "single", src) for q, k, src in data[part]]
        parts = []
        for k in ("survey", "compare", "consensus"):
            got = [s == k for gold, s, _ in said if gold == k]
            parts.append(f"{k} {np.mean(got):.2f} of {len(got)}")
        singles = [s != "single" for gold, s, _ in said if gold == "single"]
        misrouted = {src: sum(s != "single" for g, s, x in said if g == "single" and x == src) for *_, src in said}
        print(
            f"literature_kind/{part}: " + ", ".join(parts) + f"; single taken for literature {sum(singles)} of "
            f"{len(singles)} (" + ", ".join(f"{k} {v}" for k, v in sorted(misrouted.items()) if v) + ")"
        )
    payload = {
        "vocabulary": sorted(vocabulary),
        "labels": labels,
        "weights": weights,
        "intercepts": [round(float(b), 6) for b in clf.intercept_],
        "single_threshold": round(threshold, 6),
        "data_sha256": sha,
        "fitted_on": len(y),
        "min_df": KIND_MIN_DF,
        "misrouted": MISROUTED,
    }
    write_weights("literature_kind", payload, write)
    K.model.cache_clear()
