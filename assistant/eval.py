"""Retrieval and answer metrics over a labelled question JSONL (the format of eval/dev.jsonl)."""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import AssistantError
from assistant.ingest.corpus import paper_id


class EvalInputError(AssistantError):
    exit_code = 3


@dataclass
class Item:
    id: str
    question: str
    gold_id: str | None
    answers: list[str]


def load_items(path: Path) -> list[Item]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalInputError(f"{path}: cannot read ({exc})") from None
    items = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            gold = r.get("gold_title")
            answers = [a for a in [r.get("answer"), *r.get("answer_aliases", [])] if a]
            items.append(Item(str(r.get("id", n)), r["question"], paper_id(gold) if gold else None, answers))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise EvalInputError(f"{path}: line {n} is not a question object ({exc})") from None
    if not items:
        raise EvalInputError(f"{path}: no questions")
    return items


def _norm(s: str) -> str:
    return " ".join(s.lower().replace("-", " ").split())


def contains_answer(text: str, answers: list[str]) -> bool:
    t = _norm(text)
    return any(_norm(a) in t for a in answers)


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def evaluate(pipeline, items: list[Item], retrieval_only: bool = False, progress=None) -> dict:
    rows = []
    for i, it in enumerate(items):
        ranked, _ = pipeline.retriever.search(it.question, k=max(5, pipeline.settings.top_k))
        ids = [e.paper_id for e in ranked]
        rank = ids.index(it.gold_id) + 1 if it.gold_id in ids else None
        row = {
            "id": it.id,
            "question": it.question,
            "gold_rank": rank,
            "best_dense": max((e.dense for e in ranked), default=0),
        }
        if not retrieval_only:
            ans = pipeline.ask(it.question)
            retrieved = {e.paper_id for e in ans.evidence}
            row.update(
                answer=ans.text,
                abstained=ans.abstained,
                correct=bool(it.answers) and not ans.abstained and contains_answer(ans.text, it.answers),
                evidence_has_answer=bool(it.answers)
                and contains_answer(" ".join(s for e in ans.evidence for s in e.sentences), it.answers),
                cited=[c.paper_id for c in ans.citations],
                valid_citations=sum(c.paper_id in retrieved for c in ans.citations),
                gold_cited=it.gold_id in {c.paper_id for c in ans.citations},
                total_s=ans.timings.total_s,
                first_token_s=ans.timings.first_token_s,
                tokens_per_s=ans.timings.tokens_per_s,
                prompt_tokens=ans.timings.prompt_tokens,
            )
        rows.append(row)
        if progress:
            progress(i + 1, len(items))
    return {"summary": summarise(items, rows, retrieval_only), "items": rows}


def summarise(items: list[Item], rows: list[dict], retrieval_only: bool) -> dict:
    ans_rows = [r for it, r in zip(items, rows) if it.gold_id]
    un_rows = [r for it, r in zip(items, rows) if not it.gold_id]
    n = len(ans_rows) or 1
    s = {
        "questions": len(rows),
        "answerable": len(ans_rows),
        "unanswerable": len(un_rows),
        "hit@1": sum(r["gold_rank"] == 1 for r in ans_rows) / n,
        "hit@5": sum(bool(r["gold_rank"]) and r["gold_rank"] <= 5 for r in ans_rows) / n,
        "mrr": sum(1 / r["gold_rank"] for r in ans_rows if r["gold_rank"]) / n,
    }
    if retrieval_only:
        return s
    gen = [r for r in rows if not r["abstained"]]
    cites = sum(len(r["cited"]) for r in rows)
    refused_un = sum(r["abstained"] for r in un_rows)
    refused_all = sum(r["abstained"] for r in rows)
    s.update(
        {
            "accuracy": sum(r["correct"] for r in ans_rows) / n,
            "evidence_has_answer": sum(r["evidence_has_answer"] for r in ans_rows) / n,
            "gold_cited": sum(r["gold_cited"] for r in ans_rows) / n,
            "citation_validity": sum(r["valid_citations"] for r in rows) / cites if cites else 1.0,
            "answers_with_citation": sum(bool(r["cited"]) for r in gen) / (len(gen) or 1),
            "abstain_precision": refused_un / refused_all if refused_all else 1.0,
            "abstain_recall": refused_un / (len(un_rows) or 1),
            "false_refusals": sum(r["abstained"] for r in ans_rows),
            "latency_p50_s": pct([r["total_s"] for r in rows], 0.5),
            "latency_p95_s": pct([r["total_s"] for r in rows], 0.95),
            "first_token_p50_s": pct([r["first_token_s"] for r in gen], 0.5),
            "first_token_p95_s": pct([r["first_token_s"] for r in gen], 0.95),
            "tokens_per_s_p50": statistics.median([r["tokens_per_s"] for r in gen if r["tokens_per_s"]] or [0]),
            "prompt_tokens_p50": statistics.median([r["prompt_tokens"] for r in gen] or [0]),
        }
    )
    return s


def run_eval(args, settings) -> int:
    from assistant.answer.session import make_pipeline
    from assistant.cli.commands import _tty, progress_bar

    items = load_items(args.questions)
    pipeline = make_pipeline(settings)
    with progress_bar(_tty(args), "evaluating") as cb:
        result = evaluate(pipeline, items, args.retrieval_only, cb)
    result["settings"] = {
        "model": pipeline.generator.name,
        "top_k": settings.top_k,
        "abstain_threshold": settings.abstain_threshold,
        "threads": settings.threads,
    }
    for key, value in result["summary"].items():
        print(f"{key:>22}: {value:.3f}" if isinstance(value, float) else f"{key:>22}: {value}")
    if args.output:
        args.output.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.output}", file=sys.stderr)
    return 0
