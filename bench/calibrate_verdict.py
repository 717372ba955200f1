"""Measure each verdict mode (rule, model, rule+model) on labelled yes/no questions.

The weights themselves are fitted by `python -m assistant.answer.judge.train` from the training data (with the
data's hash beside them); this script's --write is gone so that one script alone writes them.

For every labelled yes/no question (PubMedQA dev format: question, gold_title, decision) the real pipeline picks
the answering paper and its deciding sentence; the rule's features are read from that sentence and the paper's
closing sentences. A multinomial logistic model is fitted on them (5-fold cross-validated accuracy printed), and
the model's constrained yes/no/maybe choice is scored on the same questions, alone and combined with the rule.

    python bench/calibrate_verdict.py --data-dir /tmp/pubmedqa-index [--model X.gguf] [--limit 200]

The data dir must hold an index of the PubMedQA corpus (assistant --data-dir DIR ingest corpus.jsonl).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.answer.extract import closing  # noqa: E402
from assistant.answer.judge import verdict as V  # noqa: E402
from assistant.answer.judge.verdict_features import features  # noqa: E402
from assistant.answer.pipeline import choose_sentence  # noqa: E402
from assistant.answer.session import make_pipeline  # noqa: E402
from assistant.config import load_settings  # noqa: E402

OUT = ROOT / "assistant" / "answer" / "judge" / "calibration" / "verdict.json"
DEFAULT_SET = ROOT.parent / "shared" / "eval" / "pubmedqa" / "dev.jsonl"


def fit(X: np.ndarray, Y: np.ndarray, lam: float = 1.0, steps: int = 4000, lr: float = 0.2) -> np.ndarray:
    W = np.zeros((X.shape[1], len(V.LABELS)))
    onehot = np.eye(len(V.LABELS))[Y]
    for _ in range(steps):
        Z = X @ W
        Z -= Z.max(1, keepdims=True)
        P = np.exp(Z)
        P /= P.sum(1, keepdims=True)
        reg = lam * W / len(Y)
        reg[0] = 0.0  # the bias is not shrunk
        W -= lr * (X.T @ (P - onehot) / len(Y) + reg)
    return W


def cross_validated(X: np.ndarray, Y: np.ndarray, folds: int = 5) -> float:
    idx = np.random.default_rng(0).permutation(len(Y))
    hits = 0
    for part in np.array_split(idx, folds):
        train = np.setdiff1d(idx, part)
        W = fit(X[train], Y[train])
        hits += int(((X[part] @ W).argmax(1) == Y[part]).sum())
    return hits / len(Y)


def _picks(args, overrides: dict) -> tuple[list[dict], str]:
    """Per question: the answering paper's deciding sentence and closing sentences, as the pipeline picks them, and
    the model's log-probabilities of the options when it has any."""
    if args.model:
        overrides["model_path"] = args.model
    settings = load_settings(**overrides)
    pipe = make_pipeline(settings)
    rows = [json.loads(line) for line in args.set.read_text().splitlines() if line.strip()]
    rows = rows[: args.limit] if args.limit else rows
    choose = getattr(pipe.generator, "choose", None) if not args.no_model else None
    picks = []
    t0 = time.perf_counter()
    for r in rows:
        plan = pipe.plan(r["question"])
        ev, sentence = plan.evidence[0], choose_sentence(plan, pipe.retriever).sentence
        sentences = pipe.retriever.index.sentences.get(ev.paper_id) or [sentence]
        ending = closing(sentences)
        pick = {
            "question": r["question"],
            "decision": r["decision"],
            "sentence": sentence,
            "closing": ending,
            "gold_cited": ev.title == r["gold_title"],
            "model_name": pipe.generator.name,
        }
        if choose is not None:
            source = " ".join(dict.fromkeys([sentence, *ending]))
            user = pipe.verdict_prompt.render(source=source, question=r["question"])
            msgs = [{"role": "system", "content": pipe.system.render()}, {"role": "user", "content": user}]
            lp = choose(msgs, V.OPTION_WORDS)
            pick["model"] = [lp[k] for k in V.LABELS]
        picks.append(pick)
    for pick in picks:
        pick["pick_s"] = round((time.perf_counter() - t0) / len(rows), 3)
    return picks, pipe.generator.name


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--set", type=Path, default=DEFAULT_SET)
    ap.add_argument("--model", default=None)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--no-model", action="store_true", help="the rule only: skip the model's constrained choice")
    ap.add_argument("--rows", type=Path, help="cache of the pipeline's picks: written when absent, read when present")
    args = ap.parse_args()
    overrides: dict = {"data_dir": args.data_dir}
    cached = args.rows is not None and args.rows.is_file()
    if cached:  # the pipeline's picks from an earlier run: refit in seconds while the features change
        picks = [json.loads(line) for line in args.rows.read_text().splitlines() if line.strip()]
        name = picks[0].get("model_name", "model") if picks else "model"
    else:
        picks, name = _picks(args, overrides)
        if args.rows is not None:
            args.rows.write_text("".join(json.dumps(p) + "\n" for p in picks))
    picks = picks[: args.limit] if args.limit else picks
    X = [features(p["question"], p["sentence"], p["closing"]) for p in picks]
    Y = [V.LABELS.index(p["decision"]) for p in picks]
    model_logps = [p["model"] for p in picks if p.get("model")]
    gold_cited = sum(p["gold_cited"] for p in picks)
    rows = picks
    per_q = picks[0].get("pick_s", 0.0) if picks else 0.0
    Xa, Ya = np.array(X), np.array(Y)
    W = fit(Xa, Ya)
    cv = cross_validated(Xa, Ya)
    print(f"{len(rows)} questions, answering paper = gold for {gold_cited / len(rows):.3f}; {per_q:.2f} s each")
    print(f"rule: 5-fold cross-validated accuracy {cv:.3f} (fitted on all: {((Xa @ W).argmax(1) == Ya).mean():.3f})")
    major = np.bincount(Ya).argmax()
    print(f"majority class ({V.LABELS[major]}): {(Ya == major).mean():.3f}")
    result = {"rule_cv": round(cv, 3)}
    if model_logps:
        M = np.array(model_logps)
        print(f"model alone ({name}): {(M.argmax(1) == Ya).mean():.3f}")
        # The rule's held-out probabilities, combined with the model's at weight w (geometric mean).
        idx = np.random.default_rng(0).permutation(len(Ya))
        R = np.zeros_like(M)
        for part in np.array_split(idx, 5):
            Wp = fit(Xa[np.setdiff1d(idx, part)], Ya[np.setdiff1d(idx, part)])
            Z = Xa[part] @ Wp
            R[part] = Z - np.log(np.exp(Z - Z.max(1, keepdims=True)).sum(1, keepdims=True)) - Z.max(1, keepdims=True)
        Mn = M - np.log(np.exp(M - M.max(1, keepdims=True)).sum(1, keepdims=True)) - M.max(1, keepdims=True)
        for w in (0.25, 0.5, 0.75):
            acc = (((1 - w) * R + w * Mn).argmax(1) == Ya).mean()
            print(f"rule+model at model weight {w}: {acc:.3f}")
            result[f"both_{w}"] = round(float(acc), 3)
        result["model"] = round(float((M.argmax(1) == Ya).mean()), 3)
    print(json.dumps(result))
    _ = math  # kept for readers extending the combination


if __name__ == "__main__":
    main()
