"""Check a question file against its corpus: every answer string occurs in its gold paper's abstract or title.

    python bench/data/qa/check.py CORPUS.jsonl QUESTIONS.jsonl [--fix-drop]

CORPUS.jsonl: one {"title", "abstract", ...} per line (several files joined by commas make one corpus). QUESTIONS.jsonl: one question per line, in the format of
bench/data/qa/README.md. Prints one line per problem and a count per kind; exits 1 when anything is wrong.
With --fix-drop, rewrites QUESTIONS.jsonl without the bad lines (and says how many went).
Standard library only, so that helpers and CI can run it anywhere.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

KINDS = {"named", "paraphrase", "count", "definition", "yesno", "list", "offcorpus", "conversation"}
LITERATURE = {"survey", "compare", "consensus"}
ROLES = {"first", "followup", "switch", "outside"}
VERDICTS = {"yes", "no", "maybe"}


def norm(text: str) -> str:
    return " ".join(text.lower().split())


def _one(q: dict, papers: dict[str, str], where: str) -> list[str]:
    """Problems of one single-paper question (or one conversation turn)."""
    out = []
    question = q.get("question")
    if not isinstance(question, str) or not question.strip():
        return [f"{where}: no question"]
    gold = q.get("gold_title", "")
    answer = q.get("answer", "")
    if not gold:
        if answer:
            out.append(f"{where}: an answer without a gold_title")
        return out
    if gold not in papers:
        return [f"{where}: gold_title not in the corpus: {gold[:80]!r}"]
    if not isinstance(answer, str) or not answer.strip():
        return [f"{where}: no answer string"]
    text = norm(papers[gold])
    for a in [answer, *q.get("answer_aliases", [])]:
        if norm(a) not in text:
            out.append(f"{where}: {a[:60]!r} is not in the abstract of {gold[:60]!r}")
    return out


def _literature(q: dict, papers: dict[str, str], where: str) -> list[str]:
    """Problems of one survey, compare or consensus question: its papers exist, each key point is verbatim."""
    out = [] if (q.get("question") or "").strip() else [f"{where}: no question"]
    golds = q.get("gold_titles") or []
    if len(golds) < 2:
        out.append(f"{where}: a literature question needs at least two gold_titles")
    optional = q.get("optional_titles") or []
    for g in [*golds, *optional]:
        if g not in papers:
            out.append(f"{where}: title not in the corpus: {g[:80]!r}")
    for kp in q.get("key_points") or []:
        title = kp.get("title", "")
        if title not in golds or title not in papers:
            out.append(f"{where}: key point of a paper that is not gold: {title[:60]!r}")
            continue
        strings = kp.get("any") or []
        if not strings:
            out.append(f"{where}: key point without strings: {title[:60]!r}")
        for a in strings:
            if norm(a) not in norm(papers[title]):
                out.append(f"{where}: key point {a[:60]!r} is not in the abstract of {title[:60]!r}")
    return out


def check(corpus: Path, questions: Path) -> tuple[list[str], Counter, list[int]]:
    papers = {}
    for part in str(corpus).split(","):  # one corpus may span files: seeds-a/corpus.jsonl,seeds-b/corpus.jsonl
        for line in Path(part).read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                papers[rec["title"]] = rec["title"] + " " + rec["abstract"]
    problems: list[str] = []
    kinds: Counter = Counter()
    bad: list[int] = []
    seen: set[str] = set()
    for n, line in enumerate(questions.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"line {n}"
        try:
            q = json.loads(line)
        except ValueError as exc:
            problems.append(f"{where}: not JSON ({exc})")
            bad.append(n)
            continue
        kind = q.get("kind")
        mine: list[str] = []
        if kind in LITERATURE:
            mine += _literature(q, papers, where)
        elif kind not in KINDS:
            mine.append(f"{where}: unknown kind {kind!r}")
        elif kind == "conversation":
            turns = q.get("turns") or []
            if len(turns) < 2:
                mine.append(f"{where}: a conversation needs at least two turns")
            for t, turn in enumerate(turns):
                if turn.get("role") not in ROLES:
                    mine.append(f"{where} turn {t}: unknown role {turn.get('role')!r}")
                mine += _one(turn, papers, f"{where} turn {t}")
        elif kind == "list":
            golds = q.get("gold_titles") or []
            if len(golds) < 2:
                mine.append(f"{where}: a list question needs at least two gold_titles")
            mine += [f"{where}: gold title not in the corpus: {g[:80]!r}" for g in golds if g not in papers]
        elif kind == "offcorpus":
            if q.get("gold_title") or q.get("answer"):
                mine.append(f"{where}: an off-corpus question has no gold_title or answer")
        else:
            mine += _one(q, papers, where)
            if kind == "yesno" and q.get("verdict") not in VERDICTS:
                mine.append(f"{where}: a yes/no question needs verdict yes, no or maybe")
        key = norm(q.get("question") or json.dumps(q.get("turns")))
        if key in seen:
            mine.append(f"{where}: duplicate question")
        seen.add(key)
        if mine:
            bad.append(n)
            problems += mine
        else:
            kinds[kind] += 1
    return problems, kinds, bad


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    corpus, questions = Path(args[0]), Path(args[1])
    problems, kinds, bad = check(corpus, questions)
    for p in problems:
        print(p)
    print(f"{sum(kinds.values())} good questions: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    if bad and "--fix-drop" in argv:
        lines = questions.read_text(encoding="utf-8").splitlines()
        drop = set(bad)
        questions.write_text("".join(l + "\n" for n, l in enumerate(lines, 1) if n not in drop and l.strip()))
        print(f"dropped {len(drop)} bad lines")
        return 0
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
