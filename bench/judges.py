"""The answer stage per kind of question on train, validation and the public dev sets, side by side.

    python bench/judges.py [--work DIR] [--split train,val,dev] [--corpus seeds,physics] [--code CHECKOUT]
                           [--model X.gguf] [--json out.json] [--rows rows.jsonl]

Train and validation are bench/data/qa's questions, split by paper as judge/train.py splits them; a question whose
paper was held out of the index must be refused (kind "heldout"). Dev is ../shared/eval (dev, realistic-dev,
PubMedQA dev) on the bundled corpus and the PubMedQA corpus. --code runs another checkout's `assistant` (the
"before" column of BENCHMARKS.md) on the same indexes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "eval"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _train_module():
    spec = importlib.util.spec_from_file_location("judge_train", ROOT / "assistant" / "answer" / "judge" / "train.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


KIND = {"offcorpus": "outside"}


def _record(q: dict, T) -> dict:
    """One of our questions in the format assistant/eval.py reads."""

    def turn(t: dict) -> dict:
        gold = t.get("gold_title") or ""
        out = {
            "question": t["question"],
            "answer": t.get("answer") or "",
            "answer_aliases": t.get("answer_aliases", []),
        }
        if gold and T.hidden(gold):
            return {**out, "gold_title": "", "answer": "", "answer_aliases": [], "role": "outside"}
        return {**out, "gold_title": gold, "role": t.get("role", "single")}

    kind = q["kind"]
    if kind == "conversation":
        return {"id": q["id"], "kind": "conversation", "turns": [turn(t) for t in q["turns"]]}
    if kind == "list":
        golds = [g for g in q["gold_titles"] if not T.hidden(g)]
        if len(golds) == 0:
            return {"id": q["id"], "kind": "outside", "question": q["question"], "gold_title": ""}
        return {"id": q["id"], "kind": "list", "question": q["question"], "gold_titles": golds}
    r = {"id": q["id"], "kind": KIND.get(kind, kind), **turn(q)}
    r.pop("role", None)
    if kind == "yesno":
        r["decision"] = q.get("verdict")
        if q.get("claim"):  # a converted claim's span is machine-picked: it is judged by its verdict alone
            r["answer"], r["answer_aliases"] = "", []
    if kind != "offcorpus" and not r["gold_title"]:
        r["kind"] = "heldout"
    return r


def _literature(q: dict, T) -> dict | None:
    """A literature question with its held-out papers taken out of what it needs (they are not in the index)."""
    golds = [g for g in q["gold_titles"] if not T.hidden(g)]
    if not golds:
        return None
    points = [k for k in q.get("key_points") or [] if k.get("title") in golds]
    return {**q, "gold_titles": golds, "key_points": points}


def _evaluate(records: list[dict], data_dir: Path, model: str | None) -> dict:
    from assistant.answer.session import make_pipeline
    from assistant.config import Settings
    from assistant.eval import evaluate, load_items

    overrides = {"data_dir": data_dir}
    if model:
        overrides["model_path"] = model
    pipe = make_pipeline(Settings(**overrides))
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("".join(json.dumps(r) + "\n" for r in records))
    items = load_items(Path(f.name))
    for item in items:  # load_items knows the public kinds; ours keep theirs
        rec = next(r for r in records if str(r["id"]) == item.id)
        item.kind = rec.get("kind", item.kind)
    return evaluate(pipe, items)["items"]


def _gold(record: dict) -> dict:
    """What a scored row is checked against (single-turn records; a conversation's turns are in its record)."""
    keep = ("gold_title", "gold_titles", "answer", "answer_aliases", "decision")
    return {k: record[k] for k in keep if record.get(k)}


def summary(rows: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for kind in sorted({r["kind"] for r in rows}):
        group = [r for r in rows if r["kind"] == kind]
        if kind == "conversation":
            for role in ("first", "followup", "switch", "outside", "offtopic"):
                sub = [r for r in group if r["role"] == role]
                if sub:
                    out[f"conv/{role}"] = _cell(sub)
            continue
        out[kind] = _cell(group)
    answerable = [r for r in rows if "refused_ok" not in r]
    out["all"] = {
        "n": len(rows),
        "false_refusals": round(sum(r["abstained"] for r in answerable) / max(1, len(answerable)), 3),
        "p50_s": round(sorted(r["total_s"] for r in rows)[len(rows) // 2], 3) if rows else 0.0,
    }
    return out


def _cell(group: list[dict]) -> dict:
    cell: dict = {"n": len(group)}
    single = [r for r in group if "correct" in r]
    lists = [r for r in group if "recall" in r]
    outside = [r for r in group if "refused_ok" in r]
    if single:
        cell["acc"] = round(sum(r["correct"] for r in single) / len(single), 3)
        cell["refused"] = sum(r["abstained"] for r in single)
    if lists:
        cell["recall"] = round(sum(r["recall"] for r in lists) / len(lists), 3)
        cell["precision"] = round(sum(r["precision"] for r in lists) / len(lists), 3)
        cell["refused"] = sum(r["abstained"] for r in lists)
    points = [r["key_points"] for r in group if r.get("key_points") is not None]
    if points:
        cell["key_points"] = round(sum(points) / len(points), 3)
    stances = [r["stance"] for r in group if r.get("stance") is not None]
    if stances:
        cell["stance"] = round(sum(stances) / len(stances), 3)
    if outside:
        cell["refused_ok"] = round(sum(r["refused_ok"] for r in outside) / len(outside), 3)
    if any(r.get("made_by") == "model" for r in group):
        cell["model_written"] = round(sum(r.get("made_by") == "model" for r in group) / len(group), 3)
    judged = [r for r in group if "verdict_ok" in r]
    if judged:
        cell["verdict"] = round(sum(r["verdict_ok"] for r in judged) / len(judged), 3)
    return cell


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "judge-train")
    ap.add_argument("--split", default="train,val,dev")
    ap.add_argument("--corpus", default="")
    ap.add_argument("--code", type=Path, help="a checkout whose assistant package answers (default: this one)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--kinds", default="", help="only these kinds, e.g. survey,compare,consensus (a model run)")
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--rows", type=Path, help="also write every scored question (JSONL) to this file, for error reading"
    )
    args = ap.parse_args()
    sys.path.insert(0, str(args.code.resolve() if args.code else ROOT))
    T = _train_module()
    from assistant.config import Settings
    from assistant.index.embedding import SentenceTransformerEmbedder

    corpora, sha = T.load_data()
    wanted = [c for c in args.corpus.split(",") if c] or list(corpora)
    splits = args.split.split(",")
    kinds = {k for k in args.kinds.split(",") if k}
    embedder = SentenceTransformerEmbedder(Settings())
    results: dict[str, dict] = {}
    scored: list[dict] = []
    t0 = time.perf_counter()
    for name in wanted:
        c = corpora[name]
        data_dir = T.build_index(c, args.work, embedder)
        for part in ("train", "val"):
            if part in splits:
                records = [_record(q, T) for q in c.questions if T.question_split(q) == part]
                run = T.Run(data_dir, embedder)
                records += [
                    {"id": q["id"], "kind": "swapped", "question": q["question"], "gold_title": ""}
                    for q in T.swapped(c, run)
                    if q["split"] == part
                ]
                records += [_literature(q, T) for q in c.literature if T.split_of(q["id"]) == part]
                # A chat that leaves the corpus: an answered turn, then an off-corpus or everyday question.
                records += [_record(q, T) for q in T.off_topic_turns(c, list(corpora)) if q["split"] == part]
                records = [r for r in records if r is not None and (not kinds or r["kind"] in kinds)]
                if not records:
                    continue
                rows = _evaluate(records, data_dir, args.model)
                by_id = {str(r["id"]): r for r in records}
                scored += [{"split": part, "corpus": name, "gold": _gold(by_id[str(r["id"])]), **r} for r in rows]
                results[f"{part}/{name}"] = summary(rows)
                print(f"{part}/{name}: {json.dumps(results[f'{part}/{name}'])}", flush=True)
    if "dev" in splits:
        seeds = args.work / "public-seeds"
        if not (seeds / "built.json").is_file():
            from assistant.ingest.build import ingest

            ingest(Settings(data_dir=seeds), embedder, [ROOT / "seeds"])
            (seeds / "built.json").write_text("{}")
        for label, path in (
            ("dev", SHARED / "dev.jsonl"),
            ("realistic-dev", SHARED / "realistic-dev.jsonl"),
            ("synthesis-dev", SHARED / "synthesis-dev.jsonl"),
        ):
            records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            rows = _evaluate(records, seeds, args.model)
            scored += [{"split": "dev", "corpus": label, **r} for r in rows]
            results[f"dev/{label}"] = summary(rows)
            print(f"dev/{label}: {json.dumps(results[f'dev/{label}'])}", flush=True)
        pm = T.Corpus("pubmedqa-dev")
        for line in (SHARED / "pubmedqa" / "corpus.jsonl").read_text().splitlines():
            rec = json.loads(line)
            pm.papers[rec["title"]] = rec
        pdir = T._index_all(pm, args.work, embedder)
        records = [
            {**json.loads(line), "kind": "yesno"}
            for line in (SHARED / "pubmedqa" / "dev.jsonl").read_text().splitlines()
        ]
        rows = _evaluate(records, pdir, args.model)
        scored += [{"split": "dev", "corpus": "pubmedqa", **r} for r in rows]
        results["dev/pubmedqa"] = summary(rows)
        print(f"dev/pubmedqa: {json.dumps(results['dev/pubmedqa'])}", flush=True)
    print(f"data {sha[:16]}; {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.rows:
        args.rows.write_text("".join(json.dumps(r) + "\n" for r in scored))
    return 0


if __name__ == "__main__":
    sys.exit(main())
