"""Run every benchmark in turn (each prints its table and writes bench/results/<name>.json).

.venv/bin/python bench/run_all.py [--quick]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    quick = "--quick" in sys.argv
    failed = 0
    # llama.cpp's own figures first: answer.py reports the assistant's tok/s against them.
    print("\n=== bench/llama_bench.sh ===", flush=True)
    failed += subprocess.run(["bash", str(HERE / "llama_bench.sh")]).returncode != 0
    runs = [
        ["ingest.py", "--runs", "1" if quick else "3"],
        ["answer.py", "--runs", "1" if quick else "3"],
        ["batch.py"] + (["--limit", "10"] if quick else []),
        ["scale.py"] + (["--sizes", "216", "2000"] if quick else []),
        ["servers.py"] + (["--limit", "6"] if quick else []),
    ]
    for cmd in runs:
        print(f"\n=== bench/{cmd[0]} ===", flush=True)
        failed += subprocess.run([sys.executable, str(HERE / cmd[0]), *cmd[1:]]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
