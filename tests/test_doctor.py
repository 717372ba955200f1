"""`assistant doctor` with the real llama.cpp build, index and embedder; the crash branch with a faked child."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from assistant import doctor
from assistant.cli.main import main
from assistant.config import Settings


@pytest.mark.e2e
def test_doctor_on_a_healthy_install(seeded_dir, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(seeded_dir, data)
    rc = main(["doctor", "--json", "--data-dir", str(data)])
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    assert rc == 0, [c for c in checks.values() if c["problem"]]
    assert checks["decode test"]["value"].startswith("ok")
    assert "CPU" in checks["llama.cpp system info"]["value"]
    assert checks["chat template"]["value"] == "from the GGUF metadata"
    assert "216 papers" in checks["index"]["value"]
    assert checks["index embedder"]["value"] == "all-MiniLM-L6-v2"


@pytest.mark.e2e
def test_doctor_flags_a_missing_index_with_its_fix(tmp_path, capsys):
    rc = main(["doctor", "--data-dir", str(tmp_path / "empty")])
    out = capsys.readouterr().out
    assert rc == 1 and "problem: no index yet" in out and "fix: assistant ingest seeds/" in out


@pytest.mark.parametrize(
    "rc,info,expect",
    [
        (-11, "CPU : AVX512 = 1 | AMX_INT8 = 1 |", "AMX"),
        (-11, "CPU : AVX2 = 1 |", "signal 11"),
        (1, "CPU : AVX2 = 1 |", "boom"),
    ],
)
def test_decode_check_explains_a_crashing_build(monkeypatch, tmp_path, rc, info, expect):
    def fake_run(argv, **kw):
        return subprocess.CompletedProcess(argv, rc, b"", b"" if rc < 0 else b"RuntimeError: boom\n")

    monkeypatch.setattr(doctor.subprocess, "run", fake_run)
    c = doctor._decode_check(tmp_path / "m.gguf", Settings(), info)
    assert c.problem and expect in c.problem + c.fix
    if expect == "AMX":
        assert "-mno-amx-int8" in c.fix
