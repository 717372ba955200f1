"""Print bench/judges.py results side by side: python bench/judges_table.py before.json after.json"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KEYS = ("acc", "refused", "refused_ok", "recall", "precision", "key_points", "verdict", "false_refusals")


def cells(d: dict) -> str:
    return " ".join(f"{k} {d[k]}" for k in KEYS if k in d)


def main(argv: list[str]) -> int:
    runs = [json.loads(Path(a).read_text()) for a in argv]
    names = sorted(
        {k for r in runs for k in r}, key=lambda k: (k.split("/")[0] != "train", k.split("/")[0] != "val", k)
    )
    for name in names:
        kinds = sorted({kind for r in runs for kind in r.get(name, {})})
        for kind in kinds:
            row = [r.get(name, {}).get(kind) for r in runs]
            n = next((c.get("n") for c in row if c), "")
            print(f"| {name} | {kind} | {n} | " + " | ".join(cells(c) if c else "-" for c in row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
