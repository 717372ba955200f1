"""Count the hand rules of the answer stage: regular expressions and hand-set numbers in assistant/answer/ (judge/
included) and assistant/retrieve/.

    python bench/rule_count.py [CHECKOUT ...]      (default: this checkout)

Regexes: each pattern compiled or passed as a literal to re.*. Numbers: each numeric literal in the code other than
0, 1, 2 and -1 (counts, indexes and signs), docstrings and the fit script (answer/judge/train.py and the parts
split out of it, data.py, fit_questions.py, fitting.py and fit_papers.py, whose numbers are the fitting's own
settings) left out. Fitted weights live in JSON and are not counted.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DIRS = ("assistant/answer", "assistant/retrieve")
RE_CALLS = {"compile", "search", "match", "fullmatch", "findall", "finditer", "sub", "subn", "split"}
PLAIN = {0, 1, 2, -1}
FIT_SCRIPT = {
    "train.py",
    "data.py",
    "fit_questions.py",
    "fitting.py",
    "fit_papers.py",
}  # answer/judge/: the fitting's own settings


def count(root: Path) -> dict[str, int]:
    regexes = numbers = files = 0
    for d in DIRS:
        for path in sorted((root / d).rglob("*.py")):
            if path.parent.name == "judge" and path.name in FIT_SCRIPT:
                continue
            files += 1
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    f = node.func
                    if isinstance(f.value, ast.Name) and f.value.id == "re" and f.attr in RE_CALLS:
                        if node.args and isinstance(node.args[0], ast.Constant | ast.BinOp | ast.JoinedStr):
                            regexes += 1
                if isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value not in PLAIN:
                    numbers += 1
    return {"files": files, "regexes": regexes, "numbers": numbers}


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path(__file__).resolve().parent.parent]
    for root in roots:
        c = count(root)
        print(f"{root}: {c['regexes']} regexes, {c['numbers']} hand-set numbers in {c['files']} files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
