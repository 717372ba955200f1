"""`assistant doctor`: prints the checks of assistant/doctor.py, each problem with its fix; exit 1 if any."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import TextIO

from assistant.config import Settings
from assistant.doctor import Check, run_checks


def run_doctor(args, settings: Settings, stdout: TextIO | None = None) -> int:
    checks = run_checks(settings)
    print_checks(checks, bool(getattr(args, "json", False)), stdout or sys.stdout)
    return 1 if any(c.problem for c in checks) else 0


def print_checks(checks: list[Check], as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps([asdict(c) for c in checks], indent=1), file=out)
        return
    for c in checks:
        print(f"[{'!!' if c.problem else 'ok'}] {c.name}: {c.value}", file=out)
        if c.problem:
            print(f"     problem: {c.problem}\n     fix: {c.fix}", file=out)
    problems = sum(1 for c in checks if c.problem)
    print(f"\n{problems} problem(s) found" if problems else "\nno problems found", file=out)
