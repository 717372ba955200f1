"""The house: imports between the project's modules point one way (no circles, lazy and typing-only imports
included), and the names other code imports stay importable."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _import_graph() -> dict[str, set[str]]:
    """Every import between the project's modules, lazy (inside functions) and typing-only ones included."""
    files: dict[str, Path] = {}
    for base in ("assistant", "tui"):
        for f in (ROOT / base).rglob("*.py"):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join(parts)] = f
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, f in files.items():
        package = mod if f.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            graph[mod].update(t for t in targets if t in files and t != mod)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_no_import_circles():
    """batch/runner -> cli/batch, cli commands <-> main <-> eval, and tui app -> chat -> history -> app were
    circles; library code must not import the CLI, and a typing import counts too."""
    assert _cycles(_import_graph()) == []


def test_public_names_still_importable():
    from assistant.batch.runner import BatchInputError, BatchSummary, answer_batch, read_questions  # noqa: F401
    from assistant.cli import build_parser, main, settings_from  # noqa: F401
    from assistant.cli.batch import run_batch  # noqa: F401
    from assistant.cli.commands import progress_bar  # noqa: F401
    from assistant.cli.main import SETTING_FLAGS, settings_from  # noqa: F401,F811
