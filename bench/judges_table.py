"""Print bench/judges.py results side by side: python bench/judges_table.py before.json after.json"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KEYS = ("acc", "refused", "refused_ok", "recall", "precision", "key_points", "verdict", "false_refusals")


def cells(d: dict) -> str:
    return " ".join(f"{k} {d[k]}" for k in KEYS if k in d)


def aggregate(run: dict) -> dict:
    """train/<corpus> and val/<corpus> summed over corpora (weighted by n); dev sets as they are."""
    out: dict = {}
    for name, kinds in run.items():
        split = name.split("/")[0]
        key = name if split == "dev" else f"{split}/all corpora"
        for kind, cell in kinds.items():
            acc = out.setdefault(key, {}).setdefault(kind, {"n": 0})
            n = cell.get("n", 0)
            for k, v in cell.items():
                if k == "n":
                    continue
                if k == "refused":
                    acc[k] = acc.get(k, 0) + v
                elif isinstance(v, (int, float)):
                    acc[f"_{k}"] = acc.get(f"_{k}", 0.0) + v * n
                    acc[f"_{k}_n"] = acc.get(f"_{k}_n", 0) + n
            acc["n"] += n
    for kinds in out.values():
        for cell in kinds.values():
            for k in [k for k in cell if k.startswith("_") and not k.endswith("_n")]:
                cell[k[1:]] = round(cell[k] / max(1, cell[f"{k}_n"]), 3)
            for k in [k for k in cell if k.startswith("_")]:
                del cell[k]
    return out


def main(argv: list[str]) -> int:
    agg = "--aggregate" in argv
    runs = [json.loads(Path(a).read_text()) for a in argv if not a.startswith("--")]
    if agg:
        runs = [aggregate(r) for r in runs]
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
