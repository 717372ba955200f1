"""The paper decisions' fits: which papers a list answer keeps, which a survey or consensus answer keeps, which paper
each part of a compare question names, and the sentence a literature answer quotes from each (judge/papers.py,
judge/sentence.py). judge/train.py runs them after the answer decision, on the same corpora's indexes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING

from assistant.answer.judge.data import Corpus, norm, question_split, split_of
from assistant.answer.judge.data import write_weights as _write
from assistant.answer.judge.fitting import (
    MAX_FALSE_REFUSALS,
    _checked_trees,
    _fit_binary,
    _fit_sentences,
    _fit_trees,
    _logistic_payload,
    _out_of_fold,
    _probability,
    _scored,
    _trees_payload,
)

if TYPE_CHECKING:
    from assistant.answer.judge.fitting import Run

LITERATURE_MIN_PRECISION = 0.8  # on train; the target is 0.75 on unseen questions


def fit_lists(corpora: dict[str, Corpus], runs: dict[str, Run], sha: str, write: bool) -> None:
    """The papers a list answer keeps (judge/papers.py's `papers`), on the list questions."""
    prows: dict[str, list] = defaultdict(list)
    for name, c in corpora.items():
        for q in c.questions:
            if q["kind"] == "list":
                got = paper_rows(runs[name], q)
                if got:
                    prows[question_split(q)].append(got)
    _fit_papers(prows, sha, write)


def fit_literature(corpora: dict[str, Corpus], runs: dict[str, Run], sha: str, write: bool) -> None:
    """Which papers a survey or consensus answer keeps (`literature_papers`), which paper each part of a compare
    question names (`compare_papers`), and the sentence each paper is quoted by (`literature_sentence`)."""
    lrows: dict[str, list] = defaultdict(list)
    srows: dict[str, list] = defaultdict(list)
    crows: dict[str, list] = defaultdict(list)
    for name, c in corpora.items():
        for q in c.literature:
            part = split_of(q["id"])
            if q["kind"] == "compare":
                crows[part] += [g for g in compare_part_rows(runs[name], q) if g]
            else:
                got = literature_paper_rows(runs[name], q)
                if got:
                    lrows[part].append(got)
            srows[part] += literature_sentence_rows(runs[name], q)
            if q["kind"] != "compare":
                # The same question asked of a corpus in another field: nothing there should pass.
                other = _other_corpus(name, corpora)
                got = literature_paper_rows(runs[other], {**q, "gold_titles": [], "optional_titles": []}, negative=True)
                if got:
                    lrows[part].append(got)
    # Trees: a paper on one item of a listed topic (facet_coverage) matters when the question lists several; on
    # validation their ranking of candidates beats the logistic fit's (average precision 0.74 vs 0.66).
    _fit_papers(lrows, sha, write, name="literature_papers", min_precision=LITERATURE_MIN_PRECISION, use_trees=True)
    # A compare part is a short text ("surgery + radiotherapy"), unlike a survey: its own logistic decision, fitted
    # on the compare questions' parts (the survey trees kept an unrelated paper for such parts).
    _fit_papers(crows, sha, write, name="compare_papers", min_precision=LITERATURE_MIN_PRECISION)
    # Trees, as for single answers: on 764 training papers' key points they rank better on validation than the
    # logistic fit (top-1 0.407 vs 0.361); on the first 300 they did not (0.40 vs 0.39) and logistic was kept.
    _fit_sentences(srows, sha, write, name="literature_sentence")


def paper_rows(run: Run, q: dict) -> list[tuple[list[float], int]]:
    from assistant.answer.judge import papers as P

    gold = {run.by_title[t] for t in q["gold_titles"] if t in run.by_title}
    if not gold:
        return []
    plan = run.planner.plan(q["question"], [])
    if plan.question.kind != "list" or not plan.evidence:
        return []
    rows = P.features(plan.question, plan.evidence, plan.boost, run.retriever.vocab)
    return [(x, int(ev.paper_id in gold)) for x, ev in zip(rows, plan.evidence)] + [
        ([], 0)
        for _ in gold - {ev.paper_id for ev in plan.evidence}  # gold papers retrieval missed: recall's loss
    ]


def _literature_query(q: dict):
    from assistant.answer.judge.polar import is_polar
    from assistant.answer.literature.kinds import topic_text
    from assistant.retrieve.question import analyse

    text = topic_text(q["question"]) if q["kind"] == "survey" else q["question"]
    question = replace(analyse(text), polar=q["kind"] == "consensus" and is_polar(q["question"]))
    return text, question


def _other_corpus(name: str, corpora: dict[str, Corpus]) -> str:
    """The next corpus in name order that has literature questions (a field of its own)."""
    names = sorted(n for n, c in corpora.items() if c.literature)
    return names[(names.index(name) + 1) % len(names)]


def literature_paper_rows(run: Run, q: dict, negative: bool = False) -> list[tuple[list[float], int]]:
    """The paper decision's rows for one survey or consensus question, as literature/select.py searches.
    `negative`: the question is asked of a corpus that does not hold its papers, so every candidate is a 0."""
    from assistant.answer.judge import papers as P
    from assistant.answer.literature.select import CANDIDATES

    gold = {run.by_title[t] for t in q["gold_titles"] if t in run.by_title}
    optional = {run.by_title[t] for t in q.get("optional_titles") or [] if t in run.by_title}
    if not gold and not negative:
        return []
    text, question = _literature_query(q)
    named = run.planner.named_papers(question)
    evidence, _ = run.retriever.search(text, k=CANDIDATES, boost=named)
    evidence = [ev for ev in evidence if ev.paper_id not in optional]  # neither required nor penalised
    rows = P.features(question, evidence, named, run.retriever.vocab, "literature_papers")
    return [(x, int(ev.paper_id in gold)) for x, ev in zip(rows, evidence)] + [
        ([], 0) for _ in gold - {ev.paper_id for ev in evidence}
    ]


def compare_part_rows(run: Run, q: dict) -> list[list[tuple[list[float], int]]]:
    """The compare decision's rows: each part of a compare question ("promptagator" of "promptagator vs FIRST"),
    searched as literature/compare.py searches it. Which gold paper a part is about is not labelled: the part's
    best-ranked gold paper is its positive, the question's other gold papers are left out (neither required nor
    penalised), and a part that retrieves no gold paper counts one paper missed. A described compare ("the two
    great depression papers") is one part whose positives are all the gold papers."""
    from assistant.answer.judge import papers as P
    from assistant.answer.literature.kinds import compared_parts, topic_text
    from assistant.answer.literature.select import CANDIDATES
    from assistant.retrieve.question import analyse

    gold = {run.by_title[t] for t in q["gold_titles"] if t in run.by_title}
    if not gold:
        return []
    parts = compared_parts(q["question"])
    described = len(parts) < 2
    texts = [topic_text(parts[0]) if parts else q["question"]] if described else parts
    out = []
    for text in texts:
        question = analyse(text)
        named = run.planner.named_papers(question)
        evidence, _ = run.retriever.search(text, k=CANDIDATES, boost=named)
        if described:
            mine = gold
        else:
            mine = {next((ev.paper_id for ev in evidence if ev.paper_id in gold), "")} - {""}
            evidence = [ev for ev in evidence if ev.paper_id not in gold - mine]
        rows = P.features(question, evidence, named, run.retriever.vocab, "compare_papers")
        got = [(x, int(ev.paper_id in mine)) for x, ev in zip(rows, evidence)]
        missed = len(mine - {ev.paper_id for ev in evidence}) if mine else 1
        out.append(got + [([], 1)] * missed)
    return out


def literature_sentence_rows(run: Run, q: dict) -> list[list[tuple[list[float], int]]]:
    """Per gold paper: its sentences, labelled by whether they hold one of its key points for the question."""
    from assistant.answer.judge import sentence as S

    text, question = _literature_query(q)
    out = []
    for point in q.get("key_points") or []:
        pid = run.by_title.get(point.get("title", ""))
        strings = [norm(a) for a in point.get("any") or []]
        if pid is None or not strings:
            continue
        sentences = run.retriever.index.sentences.get(pid) or []
        labels = [int(any(a in norm(s) for a in strings)) for s in sentences]
        if not any(labels) or all(labels):
            continue
        sims = run.retriever.sentence_sims(text, pid)
        title_sims = run.retriever.title_sims_of([pid])[pid]
        title = run.retriever.index.papers[pid].title
        rows = S.features(question, sentences, run.retriever.index.idf, title, sims, title_sims, "literature_sentence")
        out.append(list(zip(rows, labels)))
    return out


def _fit_papers(
    groups: dict[str, list],
    sha: str,
    write: bool,
    name: str = "papers",
    min_precision: float | None = None,
    use_trees: bool = False,
) -> None:
    """min_precision: pick the threshold with the best recall whose train precision reaches it (a literature
    answer is judged on both, and recall suffers first); else the best F1. A group without gold papers is a
    question the corpus does not cover: keeping nothing is right there (a literature answer then refuses), and
    it counts as a precision of 1, else 0; lists always keep their best candidate."""
    import numpy as np

    from assistant.answer.judge import papers as P

    names = P.FEATURES[name]
    X = np.array([x for g in groups["train"] for x, _ in g if x])
    y = np.array([lab for g in groups["train"] for x, lab in g if x])
    mean, scale, coef, intercept = _fit_binary(X, y, balanced=True)
    if use_trees:
        clf, exported = _fit_trees(X, y)
        _checked_trees(clf, exported, names, sha, X)

        def predict(xs):
            return clf.predict_proba(xs)[:, 1]
    else:

        def predict(xs):
            return _probability(xs, mean, scale, coef, intercept)

    scored = {part: [_scored(g, predict) for g in groups[part]] for part in ("train", "val")}
    if use_trees:
        # Trees fit their training rows closely: the threshold and floor are chosen on out-of-fold probabilities
        # (5 folds by question), so that the precision asked for holds on questions the trees did not see.
        scored["train"] = _out_of_fold(groups["train"])

    def best(g) -> float:
        return max((p for p, _ in g), default=0.0)

    # The floor under which a literature answer refuses: at most MAX_FALSE_REFUSALS of the train questions that
    # have gold papers fall below it, as for single answers.
    floor = 0.0
    if min_precision is not None:
        tops = sorted(best(g) for g in scored["train"] if any(lab for _, lab in g))
        floor = tops[int(MAX_FALSE_REFUSALS * len(tops))] if tops else 0.0

    def prf(part: str, th: float) -> tuple[float, float, float]:
        rec, prec = [], []
        for g in scored[part]:
            n_gold = sum(lab for _, lab in g)
            kept = [lab for p, lab in g if p >= th]
            if not kept and (min_precision is None or best(g) >= floor):  # the best candidate, as papers.keep
                kept = [max(g, key=lambda t: t[0])[1]] if any(p >= 0 for p, _ in g) else []
            hits = sum(kept)
            if n_gold == 0:
                prec.append(0.0 if kept else 1.0)
                continue
            rec.append(hits / max(1, n_gold))
            prec.append(hits / max(1, len(kept)) if kept else 0.0)
        r, p = float(np.mean(rec)), float(np.mean(prec))
        return r, p, 2 * r * p / max(1e-9, r + p)

    grid = [t / 100 for t in range(5, 96, 5)]
    threshold = max(grid, key=lambda t: prf("train", t)[2])
    if min_precision is not None:
        ok = [t for t in grid if prf("train", t)[1] >= min_precision]
        threshold = max(ok, key=lambda t: prf("train", t)[0]) if ok else threshold
    for part in ("train", "val"):
        r, p, f = prf(part, threshold)
        print(f"{name}/{part}: {len(groups[part])} questions, recall {r:.3f}, precision {p:.3f}, F1 {f:.3f}")
    refused = [
        sum(1 for g in scored[part] if any(lab for _, lab in g) and best(g) < floor) for part in ("train", "val")
    ]
    if min_precision is not None:
        print(f"{name}: floor {floor:.3f} refuses train {refused[0]}, val {refused[1]} questions with gold papers")
    extra = {"floor": round(floor, 4)} if min_precision is not None else {}
    if use_trees:
        payload = _trees_payload(names, exported, threshold, sha, len(y), extra)
    else:
        payload = _logistic_payload(names, mean, scale, coef, intercept, threshold, sha, len(y), extra)
    _write(name, payload, write)
