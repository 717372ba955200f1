"""`assistant eval FILE`: per-kind answer metrics printed as a table; `-o` writes every item as JSON."""

from __future__ import annotations

import json
import sys

from assistant.cli.common import progress_bar, tty
from assistant.config import Settings
from assistant.eval import evaluate, load_items, table


def run_eval(args, settings: Settings) -> int:
    from assistant.answer.session import make_pipeline

    items = load_items(args.questions)
    pipeline = make_pipeline(settings)
    with progress_bar(tty(args), "evaluating") as cb:
        result = evaluate(pipeline, items, cb)
    result["settings"] = {
        "model": pipeline.generator.name,
        "answer_style": pipeline.style,
        "model_phrase": pipeline.use_phrase,
        "top_k": settings.top_k,
        "abstain_threshold": settings.abstain_threshold,
        "threads": settings.threads,
    }
    print(table(result["summary"]))
    if args.output:
        args.output.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.output}", file=sys.stderr)
    return 0
