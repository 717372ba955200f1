"""A regular (non-editable) wheel works outside the repository: prompts and seeds travel inside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.e2e


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    assert out.returncode == 0, f"{cmd}\n{out.stdout}\n{out.stderr}"
    return out


def test_wheel_installs_into_a_fresh_venv_and_answers_from_outside_the_repo(tmp_path, shared_cache_dir):
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", ROOT, "-w", dist])
    (wheel,) = dist.glob("paper_assistant-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    site = Path(
        _run(
            [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).stdout.strip()
    )
    # Reuse this environment's dependencies (llama-cpp-python took minutes to build) through a path entry; the
    # entry's own .pth files (the editable install of this checkout) are not processed, so `assistant` can only
    # come from the wheel installed below.
    (site / "reuse-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", "--no-deps", wheel])
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(tmp_path / "data"), "ASSISTANT_CACHE_DIR": str(shared_cache_dir)}
    env.pop("PYTHONPATH", None)
    where = _run([venv / "bin" / "python", "-c", "import assistant; print(assistant.__file__)"], cwd=work, env=env)
    assert str(site) in where.stdout, where.stdout
    exe = venv / "bin" / "assistant"
    ingest = _run([exe, "ingest"], cwd=work, env=env)  # no seeds/ here: the corpus bundled in the wheel
    assert "216 papers" in ingest.stdout + ingest.stderr
    question = "With how many curated training samples does LIMO reach 57.1% accuracy on AIME?"
    ask = _run([exe, "ask", "--json", "--max-tokens", "24", question], cwd=work, env=env)
    answer = json.loads(ask.stdout)
    assert not answer["abstained"] and answer["citations"], answer
    assert "LIMO" in answer["citations"][0]["title"], answer
    print(f"wheel: {wheel.name}\n{ingest.stdout.strip()}\nanswer: {answer['text']}")
