"""Sweep the answer-fit rule (assistant/answer/judge/fit.py): for answerable questions of the labelled sets and
off-corpus questions that share words with papers (realistic-dev's outside kind and
assistant/answer/judge/calibration/offcorpus.jsonl), how many pass retrieval's coverage and then the fit check at
each MIN_ASKED.

    python bench/calibrate_fit.py --data-dir DIR     # DIR holds an index of seeds/
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.answer.judge import fit  # noqa: E402
from assistant.answer.session import make_pipeline  # noqa: E402
from assistant.config import load_settings  # noqa: E402

CAL = ROOT / "assistant" / "answer" / "judge" / "calibration" / "offcorpus.jsonl"


def questions() -> list[tuple[str, str, bool]]:
    """(set, question, answerable) for every standalone question."""
    out = []
    for name in ("dev.jsonl", "realistic-dev.jsonl"):
        for line in (ROOT / "tests" / "data" / name).read_text().splitlines():
            r = json.loads(line)
            kind = r.get("kind") or ("paraphrase" if r.get("gold_title") else "outside")
            if kind in ("paraphrase", "named"):
                out.append((kind, r["question"], True))
            elif kind == "outside":
                out.append(("outside", r["question"], False))
    for line in CAL.read_text().splitlines():
        out.append(("own-offcorpus", json.loads(line)["question"], False))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("-v", action="store_true", help="print every question that fails or passes wrongly")
    args = ap.parse_args()
    pipe = make_pipeline(load_settings(data_dir=args.data_dir, answer_style="extractive"))
    rows = []
    for group, text, answerable in questions():
        plan = pipe.plan(text)
        if not plan.covered:
            rows.append((group, text, answerable, None, "coverage: " + plan.coverage.reason))
            continue
        ev, sentence, _ = pipe._choose(plan)
        m = plan.coverage.matched
        res = {t: fit.check(plan.question, sentence, ev.paper_id, ev.title, pipe.retriever.vocab, t, m) for t in SWEEP}
        rows.append((group, text, answerable, res, ""))
    print(f"{'MIN_ASKED':>10} {'answerable refused':>20} {'outside refused':>16} {'own off-corpus refused':>24}")
    for t in SWEEP:

        def refused(r, t=t) -> bool:
            return r[3] is None or not r[3][t].ok

        ans = [r for r in rows if r[2]]
        out = [r for r in rows if r[0] == "outside"]
        own = [r for r in rows if r[0] == "own-offcorpus"]
        print(
            f"{t:>10} {sum(map(refused, ans)):>12}/{len(ans):<7} {sum(map(refused, out)):>8}/{len(out):<7}"
            f" {sum(map(refused, own)):>14}/{len(own):<9}"
        )
    if args.v:
        t = fit.MIN_ASKED
        for group, text, answerable, res, why in rows:
            refused = res is None or not res[t].ok
            if refused == answerable:
                print(f"[{group}] {'REFUSED' if refused else 'ANSWERED'}: {text}  ({why or res[t].reason})")


SWEEP = [0.0, 0.3, 0.4, 0.5, 0.6]

if __name__ == "__main__":
    main()
