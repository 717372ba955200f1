"""Answer metrics over labelled questions, per kind of question.

Reads both labelled formats:
- dev.jsonl: {id, question, gold_title, answer, answer_aliases}; no gold_title means "refuse" (kind paraphrase
  when answerable, outside when not);
- realistic-dev.jsonl: `kind` named | list (gold_titles) | outside | conversation (turns with role first /
  followup / switch / outside).
An answer is correct when it contains the answer or an alias (case-insensitive, whole words) and cites the
gold paper. Conversations are asked turn by turn with the earlier answers as history, as the chat app does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.answer.literature import STANCES
from assistant.errors import AssistantError
from assistant.ingest.corpus import normalise_title
from assistant.types import Answer


class EvalInputError(AssistantError):
    exit_code = 3


@dataclass
class Turn:
    question: str
    gold: list[str]  # normalised gold titles; empty: the question must be refused
    answers: list[str]
    role: str  # single | first | followup | switch | outside
    decision: str | None = None  # yes | no | maybe: the expected verdict (PubMedQA format)
    key_points: list[tuple[str, list[str]]] = field(default_factory=list)  # literature: (normalised title, any of)
    optional: list[str] = field(default_factory=list)  # literature: normalised titles neither required nor penalised
    stances: dict[str, str] = field(default_factory=dict)  # consensus: normalised title -> supports | mixed | against


@dataclass
class Item:
    id: str
    kind: str  # paraphrase | named | list | outside | conversation
    turns: list[Turn] = field(default_factory=list)


def _turn(r: dict[str, Any], role: str) -> Turn:
    golds = r.get("gold_titles") or ([r["gold_title"]] if r.get("gold_title") else [])
    answers = [a for a in [r.get("answer"), *(r.get("answer_aliases") or [])] if a]
    decision = r.get("decision")
    decision = str(decision).lower() if decision else None
    points = [
        (normalise_title(str(k.get("title", ""))), [str(a) for a in k.get("any") or []])
        for k in r.get("key_points") or []
        if isinstance(k, dict)
    ]
    optional = [normalise_title(str(t)) for t in r.get("optional_titles") or []]
    stances = {normalise_title(str(t)): str(v) for t, v in (r.get("stances") or {}).items()}
    return Turn(
        str(r["question"]), [normalise_title(g) for g in golds], answers, role, decision, points, optional, stances
    )


def load_items(path: Path) -> list[Item]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalInputError(f"{path}: cannot read ({exc})") from exc
    items = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            kind = r.get("kind") or (
                "yesno" if r.get("decision") else "paraphrase" if r.get("gold_title") else "outside"
            )
            if kind == "conversation":
                turns = [_turn(t, t.get("role", "followup")) for t in r["turns"]]
            else:
                turns = [_turn(r, "single")]
            items.append(Item(str(r.get("id", n)), kind, turns))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise EvalInputError(f"{path}: line {n} is not a question object ({exc})") from exc
    if not items:
        raise EvalInputError(f"{path}: no questions")
    return items


def _norm(s: str) -> str:
    return " ".join(re.sub(r"[-‐‑–—]", " ", s.lower()).split())


def contains_answer(text: str, answers: list[str]) -> bool:
    t = _norm(text)
    return any(re.search(r"(?<!\w)" + re.escape(_norm(a)) + r"(?!\w)", t) for a in answers if a.strip())


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def score_turn(turn: Turn, ans: Answer, kind: str) -> dict[str, Any]:
    cited = [normalise_title(c.title) for c in ans.citations]
    row: dict[str, Any] = {
        "question": turn.question,
        "role": turn.role,
        "answer": ans.text,
        "abstained": ans.abstained,
        "cited": cited,
        "model_words": ans.model_words,
        "made_by": ans.made_by,
        "verdict": ans.verdict,
        "verdict_by": ans.verdict_by,
        "total_s": ans.timings.total_s,
        "first_token_s": ans.timings.first_token_s,
        "prompt_tokens": ans.timings.prompt_tokens,
        "coverage": ans.coverage,
        "followup_of": ans.followup_of,
    }
    if not turn.gold:
        row["refused_ok"] = ans.abstained
        return row
    if kind in LITERATURE:
        hits = len(set(cited) & set(turn.gold))
        counted = [c for c in set(cited) if c not in turn.optional]
        row["recall"] = hits / len(turn.gold)
        row["precision"] = hits / len(counted) if counted else 0.0
        row["key_points"] = (
            sum(1 for title, any_of in turn.key_points if title in cited and contains_answer(ans.text, any_of))
            / len(turn.key_points)
            if turn.key_points
            else None
        )
        row["papers_cited"] = len(set(cited))
        said = {normalise_title(f.title): f.stance for g in ans.groups for f in g.findings if f.stance}
        if not ans.groups and ans.verdict and len(set(cited)) == 1:  # one paper spoke: its verdict is its stance
            said = {cited[0]: dict(STANCES)[ans.verdict]}
        judged = [t for t in turn.stances if t in said]
        if judged:
            # A cited paper's stance against its label: the first word is enough ("mixed or qualified").
            row["stance"] = sum(said[t].split()[0] == turn.stances[t] for t in judged) / len(judged)
        return row
    if kind == "list":
        hits = len(set(cited) & set(turn.gold))
        row["recall"] = hits / len(turn.gold)
        row["precision"] = hits / len(set(cited)) if cited else 0.0
    else:
        row["gold_cited"] = turn.gold[0] in cited
        row["correct"] = row["gold_cited"] and not ans.abstained and contains_answer(ans.text, turn.answers)
    if turn.decision:
        row["decision"] = turn.decision
        row["verdict_ok"] = ans.verdict == turn.decision
        if not turn.answers:  # a yes/no item is correct when its verdict is, resting on the gold paper
            row["correct"] = row["gold_cited"] and row["verdict_ok"]
    return row


LITERATURE = ("survey", "compare", "consensus")


def evaluate(pipeline, items: list[Item], progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    rows = []
    for i, item in enumerate(items):
        history: list[Answer] = []
        for turn in item.turns:
            ans = pipeline.ask(turn.question, history=history)
            history.append(ans)
            rows.append({"id": item.id, "kind": item.kind, **score_turn(turn, ans, item.kind)})
        if progress:
            progress(i + 1, len(items))
    return {"summary": summarise(rows), "items": rows}


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _group(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if "refused_ok" not in r]
    single = [r for r in answerable if "correct" in r]
    lists = [r for r in answerable if "recall" in r]
    outside = [r for r in rows if "refused_ok" in r]
    out: dict[str, Any] = {"questions": len(rows)}
    if single:
        out["accuracy"] = _mean([float(r["correct"]) for r in single])
        out["gold_cited"] = _mean([float(r["gold_cited"]) for r in single])
    if lists:
        out["list_recall"] = _mean([r["recall"] for r in lists])
        out["list_precision"] = _mean([r["precision"] for r in lists])
    points = [r["key_points"] for r in rows if r.get("key_points") is not None]
    if points:
        out["key_points"] = _mean(points)
    stances = [r["stance"] for r in rows if r.get("stance") is not None]
    if stances:
        out["stance"] = _mean(stances)
    if answerable:
        out["false_refusals"] = sum(r["abstained"] for r in answerable)
    if outside:  # only where there is something to refuse (no 0.000 out of nothing)
        out["refused"] = f"{sum(r['refused_ok'] for r in outside)}/{len(outside)}"
    answered = [r for r in rows if not r["abstained"]]
    if answered:
        out["model_written"] = _mean([float(r["model_words"]) for r in answered])
        # Model-written and verified: the model's answer replaced the extractive one.
        out["model_answer"] = _mean([float(r.get("made_by") == "model") for r in answered])
    judged = [r for r in rows if "decision" in r]
    if judged:
        out["verdict_given"] = _mean([float(r["verdict"] is not None) for r in judged])
        out["verdict_accuracy"] = _mean([float(r["verdict_ok"]) for r in judged])
        by = sorted({r["verdict_by"] for r in judged if r["verdict_by"]})
        out["decided_by"] = ",".join(by) or "-"
        out["confusion"] = {
            gold: {
                said: sum(1 for r in judged if r["decision"] == gold and (r["verdict"] or "none") == said)
                for said in ("yes", "no", "maybe", "none")
            }
            for gold in ("yes", "no", "maybe")
        }
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_kind: dict[str, Any] = {}
    for kind in ("paraphrase", "named", "list", "outside", "yesno", "conversation", *LITERATURE):
        group = [r for r in rows if r["kind"] == kind]
        if group:
            by_kind[kind] = _group(group)
    conv = [r for r in rows if r["kind"] == "conversation"]
    for role in ("first", "followup", "switch", "outside"):
        group = [r for r in conv if r["role"] == role]
        if group:
            by_kind[f"conversation/{role}"] = _group(group)
    answerable = [r for r in rows if "refused_ok" not in r]
    overall = {
        "questions": len(rows),
        "false_refusal_rate": _mean([float(r["abstained"]) for r in answerable]),
        "latency_p50_s": round(pct([r["total_s"] for r in rows], 0.5), 3),
        "latency_p95_s": round(pct([r["total_s"] for r in rows], 0.95), 3),
        "model_written": _mean([float(r["model_words"]) for r in rows if not r["abstained"]]),
    }
    return {"by_kind": by_kind, "overall": overall}


def table(summary: dict[str, Any]) -> str:
    """The per-kind summary as a fixed-width text table."""
    cols = [
        "questions",
        "accuracy",
        "gold_cited",
        "list_recall",
        "list_precision",
        "key_points",
        "stance",
        "refused",
        "false_refusals",
        "model_written",
        "model_answer",
        "verdict_given",
        "verdict_accuracy",
    ]
    lines = [f"{'kind':<22}" + "".join(f"{c:>15}" for c in cols)]
    for kind, g in summary["by_kind"].items():
        cells = []
        for c in cols:
            v = g.get(c)
            cells.append(f"{'-' if v is None else (f'{v:.3f}' if isinstance(v, float) else v):>15}")
        lines.append(f"{kind:<22}" + "".join(cells))
    for kind, g in summary["by_kind"].items():
        if "confusion" in g:
            lines.append(f"{kind}: verdicts decided by {g['decided_by']}; confusion (rows: gold, columns: said)")
            lines.append(f"{'':>8}" + "".join(f"{c:>8}" for c in ("yes", "no", "maybe", "none")))
            for gold, said in g["confusion"].items():
                lines.append(f"{gold:>8}" + "".join(f"{said[c]:>8}" for c in ("yes", "no", "maybe", "none")))
    o = summary["overall"]
    lines.append(
        f"overall: {o['questions']} questions, false refusal rate {o['false_refusal_rate']}, "
        f"latency p50 {o['latency_p50_s']} s, p95 {o['latency_p95_s']} s, model-written {o['model_written']}"
    )
    return "\n".join(lines)
