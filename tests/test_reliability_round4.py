"""Reliability and security, round four: size bounds, writes outside our directories, @string expansion,
injection through abstracts, terminal escapes. Each test failed before its fix."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from assistant.cli.main import main
from assistant.config import Settings

pytestmark = pytest.mark.reliability


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    "name, value",
    [
        ("N_THREADS", "100000"),
        ("N_THREADS", "4096"),
        ("N_BATCH", "10000000"),
        ("N_CTX", "99999999"),
        ("CANDIDATES", "100000000"),
        ("EMBED_BATCH_SIZE", "1000000"),
        ("LLM_RETRIES", "1000000"),
    ],
)
def test_every_size_setting_is_bounded(monkeypatch, capsys, name, value):
    """n_threads = 100000 crashed llama.cpp (exit 139); 4096 ran past two minutes."""
    monkeypatch.setenv(f"ASSISTANT_{name}", value)
    assert main(["ask", "hi"]) == 2
    assert name.lower() in _one_line_error(capsys.readouterr().err)


def test_n_threads_up_to_the_cores_is_accepted():
    cores = os.cpu_count() or 1
    assert Settings(n_threads=cores).n_threads == cores


def test_no_command_writes_outside_the_data_cache_and_config_dirs(tmp_path, seeded_dir):
    """OpenVINO's telemetry wrote ~/intel/openvino_ga_cid and ~/intel/stats on every embedding command."""
    home = tmp_path / "home"
    home.mkdir()
    data = tmp_path / "data"
    shutil.copytree(seeded_dir, data)
    home.chmod(0o555)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "ASSISTANT_"))},
        "HOME": str(home),
        "ASSISTANT_DATA_DIR": str(data),
        "ASSISTANT_CACHE_DIR": str(tmp_path / "cache"),
        "ASSISTANT_CONFIG": str(tmp_path / "config.toml"),
    }
    (tmp_path / "config.toml").write_text("")
    (tmp_path / "config.toml").chmod(0o600)
    try:
        for argv in (["ask", "What is LIMO?"], ["ingest", str(data.parent / "none.jsonl")]):
            subprocess.run([sys.executable, "-m", "assistant.cli", *argv], env=env, capture_output=True, timeout=300)
        out = subprocess.run(
            [sys.executable, "-m", "assistant.cli", "ask", "--json", "What is LIMO?"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr
        assert list(home.iterdir()) == []
    finally:
        home.chmod(0o755)
