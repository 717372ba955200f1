"""Fit the answer stage's decisions from the committed training data, in one run of a few minutes:

    python -m assistant.answer.judge.train [--work DIR] [--no-write]

0. polar:      whether the question wants a yes or no (judge/polar.py), and literature_kind: one paper or the
               literature, and how (judge/literature_kind.py); both fitted in judge/fit_questions.py;
1. sentence:   which sentence of a paper answers (judge/sentence.py), on the gold papers' sentences;
2. followup:   in a conversation, continue the previous paper or not (judge/followup.py), on the turns;
3. answerable: answer or refuse (judge/answerable.py), on the pipeline's own plan for every question;
4. papers:     which papers a list answer keeps (judge/papers.py), and 5. the literature answer's papers and
               sentences; both fitted in judge/fit_papers.py (the shared fitting helpers: judge/fitting.py);
6. verdict:    yes / no / maybe (judge/verdict.py), on the yes/no questions' deciding sentences.

Data: bench/data/qa (bench/data/qa/README.md), read and split by judge/data.py: papers are split by a hash of
their title; HIDDEN of them are left out of the index (their questions become off-corpus questions that share the
corpus's words), and the rest go to train or validation. Only the train split is fitted; train and validation
figures are printed side by side. Each weights file records the sha256 of the data it was fitted on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from assistant.answer.judge import data as _data
from assistant.answer.judge import fit_papers, fit_questions
from assistant.answer.judge.data import (  # noqa: F401  (re-exported: bench/judges.py, tests)
    DATA,
    FORMS,
    HIDDEN,
    OFFTOPIC,
    OUT,
    ROOT,
    VALIDATION,
    Corpus,
    _lines,
    _settings,
    bucket,
    forms,
    hidden,
    load_data,
    norm,
    offtopic,
    question_split,
    split_of,
    writes,
)
from assistant.answer.judge.data import write_weights as _write
from assistant.answer.judge.fitting import (  # noqa: F401  (TREES, _fit_trees: re-exported for tests)
    MAX_FALSE_REFUSALS,
    TREES,
    Run,
    _fit_binary,
    _fit_sentences,
    _fit_trees,
    _logistic_payload,
    _probability,
)


def build_index(corpus: Corpus, work: Path, embedder) -> Path:
    """An index of the corpus's papers that are not held out, built once under `work` (reused when present)."""
    from assistant.ingest.build import ingest

    data_dir = work / corpus.name
    marker = data_dir / "built.json"
    kept = [r for t, r in sorted(corpus.papers.items()) if not hidden(t)]
    key = hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()
    if marker.is_file() and json.loads(marker.read_text()).get("key") == key:
        return data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    src = work / f"{corpus.name}.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    ingest(_settings(data_dir), embedder, [src], prune=True)
    marker.write_text(json.dumps({"key": key}))
    return data_dir


def _answers(q: dict) -> list[str]:
    return [a for a in [q.get("answer"), *(q.get("answer_aliases") or [])] if a]


def sentence_rows(run: Run, q: dict) -> list[tuple[list[float], int]]:
    from assistant.answer.judge import sentence as S
    from assistant.answer.plan import read_question

    pid = run.by_title.get(q.get("gold_title") or "")
    answers = [norm(a) for a in _answers(q)]
    if pid is None or not answers:
        return []
    sentences = run.retriever.index.sentences.get(pid) or []
    labels = [int(any(a in norm(s) for a in answers)) for s in sentences]
    if not any(labels) or all(labels):
        return []
    question = read_question(q["question"])
    sims = run.retriever.sentence_sims(q["question"], pid)
    title = run.retriever.index.papers[pid].title
    return list(zip(S.features(question, sentences, run.retriever.index.idf, title, sims), labels))


def _history(run: Run, turn: dict, answered: bool):
    from assistant.types import Answer, Citation

    pid = run.by_title.get(turn.get("gold_title") or "")
    if pid is None or not answered:
        return Answer(turn["question"], "", abstained=True)
    return Answer(turn["question"], "x", [Citation(1, pid, turn["gold_title"], "", 0.0)])


def decision_row(run: Run, question: str, gold: str, history: list) -> tuple[list[float], int, dict] | None:
    """The answerable features of the pipeline's own plan, and whether the corpus answers the question."""
    from assistant.answer.judge import answerable as A
    from assistant.answer.pipeline import choose_sentence

    plan = run.planner.plan(question, history)
    if not plan.evidence or plan.question.kind == "list":
        return None
    chosen = choose_sentence(plan, run.retriever)
    x, _ = A.features(
        plan.question,
        plan.evidence,
        chosen.sentence,
        chosen.probability,
        chosen.similarity,
        run.retriever.vocab,
        plan.followup_of is not None,
    )
    # Positive: the corpus answers it and retrieval found its paper among the top three. Negative: its paper is
    # not in the index. An answerable question whose paper retrieval missed is left out: no features of this
    # plan can tell it from an off-corpus one, and it is a retrieval error whichever way it is labelled.
    pid = run.by_title.get(gold) if gold else None
    if pid is not None and pid not in [e.paper_id for e in plan.evidence[:3]]:
        return None
    y = int(pid is not None)
    return x, y, {"question": question, "chosen": plan.evidence[0].title, "sentence": chosen.sentence}


def decision_rows(run: Run, q: dict) -> list[tuple[list[float], int, dict]]:
    out: list[tuple[list[float], int, dict]] = []
    if q["kind"] == "list":
        return out
    if q["kind"] == "conversation":
        history: list = []
        for turn in q["turns"]:
            row = decision_row(run, turn["question"], turn.get("gold_title") or "", history)
            if row is not None:
                out.append((row[0], row[1], {**row[2], "role": turn["role"]}))
            history.append(_history(run, turn, answered=bool(turn.get("gold_title"))))
        return out
    row = decision_row(run, q["question"], q.get("gold_title") or "", [])
    return [row] if row is not None else []


def followup_rows(run: Run, q: dict) -> list[tuple[list[float], int, str]]:
    """Each turn after an answered one: the follow-up features, 1 when the turn continues the previous paper."""
    from assistant.answer.plan import read_question, topic_paper

    out: list[tuple[list[float], int, str]] = []
    history: list = []
    for turn in q["turns"]:
        previous, _ = topic_paper(history)
        if previous is not None and previous in run.retriever.index.papers:
            question = read_question(turn["question"])
            if question.kind != "list":
                evidence, coverage, _ = run.planner.standalone(question, None, run.settings.top_k)
                x = run.planner.followup_x(question, coverage, evidence, previous)
                out.append((x, int(turn["role"] == "followup"), turn["role"]))
        history.append(_history(run, turn, answered=bool(turn.get("gold_title"))))
    return out


def _fit_followup(rows: dict[str, list], sha: str, write: bool) -> None:
    import numpy as np

    from assistant.answer.judge import followup as F

    X = np.array([x for x, _, _ in rows["train"]])
    y = np.array([lab for _, lab, _ in rows["train"]])
    mean, scale, coef, intercept = _fit_binary(X, y, balanced=True)
    for part in ("train", "val"):
        Xp = np.array([x for x, _, _ in rows[part]])
        said = _probability(Xp, mean, scale, coef, intercept) >= 0.5
        for role in ("followup", "switch", "outside", "offtopic"):
            sel = np.array([r == role for _, _, r in rows[part]])
            if sel.any():
                right = said[sel] if role == "followup" else ~said[sel]
                print(f"followup/{part}: {role:<9} n={sel.sum():3d} decided right {right.mean():.3f}")
    order = np.argsort(-np.abs(coef))
    print("followup weights: " + ", ".join(f"{F.NAMES[i]} {coef[i]:+.2f}" for i in order))
    _write("followup", _logistic_payload(F.NAMES, mean, scale, coef, intercept, 0.5, sha, len(y), {}), write)


def off_topic_turns(corpus: Corpus, names: list[str]) -> list[dict]:
    """Conversations whose second turn leaves the corpus: the first turn of a conversation, then an off-corpus
    question of the same split, or one about nothing any corpus holds ("what is the capital of peru?" after "what
    does LIMO stand for?"). Users change the subject that way; the written conversations rarely do, and a short
    question with nothing to do with the previous paper was answered from it. They are rows of the answer-or-refuse
    fit (planned as the pipeline plans them, often as follow-ups) and of bench/judges.py. Made deterministically."""
    convs = [q for q in corpus.questions if q["kind"] == "conversation" and q["turns"][0].get("gold_title")]
    general = [{**q, "id": f"offtopic-{bucket(q['question'])}-{i}"} for i, q in enumerate(offtopic(corpus.name, names))]
    out = []
    for part in ("train", "val"):
        firsts = [c for c in convs if question_split(c) == part]
        offs = [q for q in corpus.questions if q["kind"] == "offcorpus" and question_split(q) == part]
        offs += [q for q in general if split_of(q["question"]) == part]
        for i, off in enumerate(offs):
            if not firsts:
                break
            first = firsts[i % len(firsts)]
            turn = {"question": off["question"], "role": "offtopic", "gold_title": ""}
            out.append(
                {
                    "id": f"{first['id']}-then-{off['id']}",
                    "kind": "conversation",
                    "split": part,
                    "turns": [first["turns"][0], turn],
                }
            )
    return out


def swapped(corpus: Corpus, run: Run) -> list[dict]:
    """Questions about one paper asked of another: the name that picks out the gold paper replaced by the name
    that picks out another ("how many layers does A have" -> "... does B have"). The corpus holds B, but not
    what is asked about it: the negatives that the answer stage meets when a user asks a named paper something
    its abstract does not state. Made once, deterministically; their split is the asked paper's."""
    import random
    import re

    from assistant.retrieve.question import analyse

    named = []
    for q in corpus.questions:
        pid = run.by_title.get(q.get("gold_title") or "")
        if q["kind"] not in ("named", "count", "paraphrase") or pid is None:
            continue
        for name in analyse(q["question"]).names:
            if run.retriever.vocab.papers_naming(name) == {pid}:
                named.append((q, name, pid))
                break
    rng = random.Random(0)
    out = []
    for q, name, pid in named:
        other, other_name, other_pid = rng.choice(named)
        if other_pid == pid or other_name.lower() in q["question"].lower():
            continue
        text = re.sub(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", other_name, q["question"])
        out.append(
            {
                "id": f"{q['id']}-asked-of-{other['id']}",
                "kind": "swapped",
                "question": text,
                "gold_title": "",
                "answer": "",
                "split": split_of(other["gold_title"]),
            }
        )
    return out


def verdict_rows(run: Run, q: dict) -> list[tuple[list[float], int]]:
    from assistant.answer.judge.verdict import LABELS, deciding_ending
    from assistant.answer.judge.verdict_features import features
    from assistant.answer.pipeline import choose_sentence

    verdict = (q.get("verdict") or q.get("decision") or "").lower()
    if verdict not in LABELS:
        return []
    plan = run.planner.plan(q["question"], [])
    pid = run.by_title.get(q.get("gold_title") or "")
    if pid is None or not plan.evidence or plan.evidence[0].paper_id != pid:
        return []  # a verdict is only given from the right paper; the rest is the answerable decision's
    chosen = choose_sentence(plan, run.retriever)
    sentences = run.retriever.index.sentences.get(pid) or [chosen.sentence]
    ending = deciding_ending(q["question"], chosen.sentence, sentences)
    return [(features(q["question"], chosen.sentence, ending), LABELS.index(verdict))]


def _rows_of_kind(kind: str, rows_of, corpora: dict[str, Corpus], runs: dict[str, Run]) -> dict[str, list]:
    """rows_of(run, question) for every question of this kind, gathered by split (train / val)."""
    out: dict[str, list] = defaultdict(list)
    for name, c in corpora.items():
        for q in c.questions:
            if q["kind"] == kind:
                out[question_split(q)] += rows_of(runs[name], q)
    return out


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, help="where the corpora's indexes are built (kept and reused)")
    ap.add_argument("--no-write", action="store_true", help="print the figures without writing the weights")
    ap.add_argument(
        "--only",
        default="",
        help="write only these decisions (comma-separated, e.g. answerable); the others keep their weights and the "
        "later fits read those (the feature probes are always rewritten)",
    )
    ap.add_argument("--pubmedqa-dev", type=Path, default=ROOT.parent / "shared" / "eval" / "pubmedqa")
    args = ap.parse_args(argv)
    write = not args.no_write
    _data.ONLY = {n.strip() for n in args.only.split(",") if n.strip()}
    work = args.work or Path(tempfile.mkdtemp(prefix="judge-train-"))
    from assistant.answer.judge import answerable as A
    from assistant.answer.judge import learned
    from assistant.index.embedding import SentenceTransformerEmbedder

    t0 = time.perf_counter()
    corpora, sha = load_data()
    print(
        f"data sha256 {sha[:16]}; "
        + ", ".join(f"{c.name}: {len(c.papers)} papers, {len(c.questions)} questions" for c in corpora.values())
    )
    embedder = SentenceTransformerEmbedder(_settings())
    runs = {name: Run(build_index(c, work, embedder), embedder) for name, c in corpora.items()}
    print(f"indexes ready in {time.perf_counter() - t0:.0f} s")

    # 0. does the question want a yes or no (every plan below reads it)
    fit_questions.fit_polar(corpora, sha, write)
    fit_questions.fit_literature_kind(corpora, sha, write)

    # 1. sentence ranker
    rows: dict[str, list] = defaultdict(list)
    for name, c in corpora.items():
        for q in c.questions:
            singles = q["turns"] if q["kind"] == "conversation" else [q]
            for t in singles:
                # Converted claims carry a machine-picked span, not an answer string: no sentence label.
                if t.get("gold_title") and _answers(t) and not t.get("claim"):
                    part = question_split(q)
                    got = sentence_rows(runs[name], t)
                    if got:
                        rows[part].append(got)
    # Pointwise: a pairwise (RankNet-style) fit on the same cues ranked no better on validation (0.663 vs 0.670).
    _fit_sentences(rows, sha, write)
    learned.load.cache_clear()

    # 2. follow-up or new topic, in a conversation (the answer-or-refuse rows below are planned with it). The
    # off-topic turns are not rows here: the corpus holds nothing for them, so they would teach that a question
    # whose own retrieval finds a paper is a follow-up. Whether a follow-up is answerable is decision 3's, which
    # fits on them.
    _fit_followup(_rows_of_kind("conversation", followup_rows, corpora, runs), sha, write)
    learned.load.cache_clear()

    # 3. answer or refuse
    drows: dict[str, list] = defaultdict(list)
    for name, c in corpora.items():
        for q in c.questions:
            if q.get("claim") and not runs[name].by_title.get(q.get("gold_title") or ""):
                # HealthVer pairs each claim with several evidence texts: holding one out of the index does not
                # make the claim off-corpus, so those are no negatives.
                continue
            for x, lab, info in decision_rows(runs[name], q):
                drows[question_split(q)].append((x, lab, {**info, "corpus": name, "kind": q["kind"]}))
        for q in swapped(c, runs[name]):
            for x, lab, info in decision_rows(runs[name], q):
                drows[q["split"]].append((x, lab, {**info, "corpus": name, "kind": "swapped"}))
        for q in off_topic_turns(c, list(corpora)):
            for x, lab, info in decision_rows(runs[name], q)[1:]:  # the first turn is already a row
                drows[q["split"]].append((x, lab, {**info, "corpus": name, "kind": "off-topic turn"}))
    X = np.array([x for x, _, _ in drows["train"]])
    y = np.array([lab for _, lab, _ in drows["train"]])
    (work / "answerable-rows.json").write_text(json.dumps(drows))  # for analysis beside the fit
    mean, scale, coef, intercept = _fit_binary(X, y, balanced=True)
    ptrain = _probability(X, mean, scale, coef, intercept)
    # The threshold: the most negatives refused while at most MAX_FALSE_REFUSALS of the answerable questions
    # are refused, on the train split.
    pos = np.sort(ptrain[y == 1])
    threshold = float(pos[int(MAX_FALSE_REFUSALS * len(pos))]) if len(pos) else 0.5
    for part in ("train", "val"):
        Xp = np.array([x for x, _, _ in drows[part]])
        yp = np.array([lab for _, lab, _ in drows[part]])
        ok = _probability(Xp, mean, scale, coef, intercept) >= threshold
        print(
            f"answerable/{part}: {len(yp)} decisions; answered when answerable "
            f"{ok[yp == 1].mean():.3f}; refused otherwise {(~ok[yp == 0]).mean():.3f}"
        )
        for kind in sorted({i["kind"] for _, _, i in drows[part]}):
            sel = np.array([i["kind"] == kind for _, _, i in drows[part]])
            if sel.any():
                pos_ok = ok[sel & (yp == 1)].mean() if (sel & (yp == 1)).any() else float("nan")
                neg_ok = (~ok[sel & (yp == 0)]).mean() if (sel & (yp == 0)).any() else float("nan")
                print(
                    f"    {kind:<13} n={sel.sum():4d} answered-if-answerable {pos_ok:.3f} refused-if-not {neg_ok:.3f}"
                )
    order = np.argsort(-np.abs(coef))
    print("answerable weights: " + ", ".join(f"{A.NAMES[i]} {coef[i]:+.2f}" for i in order))
    _write(
        "answerable",
        _logistic_payload(
            A.NAMES, mean, scale, coef, intercept, threshold, sha, len(y), {"max_false_refusals": MAX_FALSE_REFUSALS}
        ),
        write,
    )
    learned.load.cache_clear()

    # 4. papers of a list answer; 5. literature answers: which papers a survey or consensus answer keeps, which
    # sentence each quotes, and which paper each part of a compare question names
    fit_papers.fit_lists(corpora, runs, sha, write)
    learned.load.cache_clear()
    fit_papers.fit_literature(corpora, runs, sha, write)
    learned.load.cache_clear()

    # 6. verdicts
    _fit_verdict(_rows_of_kind("yesno", verdict_rows, corpora, runs), sha, write, args.pubmedqa_dev, work, embedder)
    if write:
        _write_probes(corpora["seeds"], work, embedder, sha)
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


VERDICT_SURE = 0.85  # a plain "Yes."/"No." is right this often on the training rows; below it, "Probably ..."


def _fit_verdict(vrows: dict[str, list], sha: str, write: bool, pubmedqa: Path, work: Path, embedder) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from assistant.answer.judge.verdict import LABELS
    from assistant.answer.judge.verdict_features import NAMES

    train = list(vrows["train"])
    dev_note = ""
    if (pubmedqa / "dev.jsonl").is_file() and (pubmedqa / "corpus.jsonl").is_file():
        # The recipe: PubMedQA's labelled dev questions join the training set's yes/no questions.
        c = Corpus("pubmedqa-dev")
        for line in (pubmedqa / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                c.papers[rec["title"]] = rec
        run = Run(_index_all(c, work, embedder), embedder)
        dev = [json.loads(line) for line in (pubmedqa / "dev.jsonl").read_text().splitlines() if line.strip()]
        got = [r for q in dev for r in verdict_rows(run, q)]
        train += got
        dev_note = f" + {len(got)} PubMedQA dev"
    X = np.array([x for x, _ in train])
    y = np.array([lab for _, lab in train])
    clf = LogisticRegression(C=1.0, max_iter=3000, fit_intercept=False).fit(X, y)
    for part, data in (("train", vrows["train"]), ("val", vrows["val"])):
        if data:
            Xp, yp = np.array([x for x, _ in data]), np.array([lab for _, lab in data])
            print(f"verdict/{part}: {len(yp)} questions, accuracy {(clf.predict(Xp) == yp).mean():.3f}")
    # The probability from which a yes or no is said plainly ("Yes."), below it "Probably yes.": the lowest level
    # whose verdicts on the training rows are right at least VERDICT_SURE of the time.
    top = clf.predict_proba(X).max(axis=1)
    right = clf.predict(X) == y
    grid = [t / 100 for t in range(50, 100, 5)]
    sure_at = next((t for t in grid if (top >= t).any() and right[top >= t].mean() >= VERDICT_SURE), 1.0)
    for part, data in (("train", train), ("val", vrows["val"])):
        if data:
            Xp, yp = np.array([x for x, _ in data]), np.array([lab for _, lab in data])
            sure = clf.predict_proba(Xp).max(axis=1) >= sure_at
            ok = clf.predict(Xp) == yp
            print(
                f"verdict/{part}: said plainly from p >= {sure_at:.2f}: {sure.mean():.2f} of verdicts, right "
                f"{ok[sure].mean() if sure.any() else float('nan'):.3f}; the rest right {ok[~sure].mean():.3f}"
            )
    print(f"verdict fitted on {len(y)} questions ({len(vrows['train'])} train{dev_note})")
    if writes("verdict", write):
        path = OUT / "verdict.json"
        data = json.loads(path.read_text()) if path.is_file() else {}
        data.update(
            {
                "features": NAMES,
                "labels": list(LABELS),
                "weights": [[round(float(clf.coef_[j][f]), 4) for j in range(len(LABELS))] for f in range(len(NAMES))],
                "fitted_on": f"{len(vrows['train'])} training yes/no questions{dev_note}",
                "sure_at": sure_at,
                "sure_precision": VERDICT_SURE,
                "data_sha256": sha,
            }
        )
        path.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")


PROBES = 12


def probe(run: Run, q: dict) -> dict | None:
    """What the features of one question are, on the bundled seeds' index: recomputed by tests/test_judges.py,
    so that a change to a feature's code without a refit fails there."""
    from assistant.answer.judge import answerable as A
    from assistant.answer.judge import sentence as S
    from assistant.answer.pipeline import choose_sentence
    from assistant.answer.plan import read_question

    pid = run.by_title.get(q.get("gold_title") or "")
    if pid is None:
        return None
    question = read_question(q["question"])
    sentences = run.retriever.index.sentences.get(pid) or []
    sims = run.retriever.sentence_sims(q["question"], pid)
    rows = S.features(question, sentences, run.retriever.index.idf, run.retriever.index.papers[pid].title, sims)
    plan = run.planner.plan(q["question"], [])
    chosen = choose_sentence(plan, run.retriever)
    x, _ = A.features(
        plan.question, plan.evidence, chosen.sentence, chosen.probability, chosen.similarity, run.retriever.vocab, False
    )
    return {"question": q["question"], "gold_title": q["gold_title"], "sentence": rows[:4], "answerable": x}


def _write_probes(seeds: Corpus, work: Path, embedder, sha: str) -> None:
    from assistant.ingest.build import ingest

    data_dir = work / "public-seeds"
    if not (data_dir / "built.json").is_file():
        ingest(_settings(data_dir), embedder, [ROOT / "seeds"])
        (data_dir / "built.json").write_text("{}")
    run = Run(data_dir, embedder)
    singles = [q for q in seeds.questions if q["kind"] in ("named", "paraphrase", "count", "definition", "yesno")]
    probes = [p for q in singles[:: max(1, len(singles) // PROBES)] if (p := probe(run, q))][:PROBES]
    payload = {
        "data_sha256": sha,
        "probes": [
            {
                **p,
                "sentence": [[round(v, 6) for v in r] for r in p["sentence"]],
                "answerable": [round(v, 6) for v in p["answerable"]],
            }
            for p in probes
        ],
    }
    (OUT / "probes.json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {(OUT / 'probes.json').relative_to(ROOT)} ({len(probes)} questions)")


def _index_all(corpus: Corpus, work: Path, embedder) -> Path:
    """An index of every paper of the corpus (none held out)."""
    from assistant.ingest.build import ingest

    data_dir = work / corpus.name
    if not (data_dir / "built.json").is_file():
        data_dir.mkdir(parents=True, exist_ok=True)
        src = work / f"{corpus.name}.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in corpus.papers.values()), encoding="utf-8")
        ingest(_settings(data_dir), embedder, [src], prune=True)
        (data_dir / "built.json").write_text("{}")
    return data_dir


if __name__ == "__main__":
    sys.exit(main())
