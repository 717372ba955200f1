"""Shared helpers and fixtures for the reliability suite (test_reliability_*.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SEEDS, ScriptedGenerator

from assistant.answer import session
from assistant.cli.main import main
from assistant.config import Settings
from assistant.index.store import Store, papers_from_dump
from assistant.ingest.build import ingest

ASSISTANT = Path(sys.executable).with_name("assistant")
PAGE = (
    "Daily Papers\n\n{title}\n\nWe grow quantum tomatoes in superposition. The harvest is measured at 42 kilograms "
    "per qubit. Our greenhouse uses entangled sprinklers to water the plants every morning.\n"
)


# -- helpers ------------------------------------------------------------------------------------------
def snapshot(settings: Settings):
    """What a reader sees: the active generation and its papers."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # read the files, not a client cached by an earlier call
    store = Store(settings)
    dump = store.dump()
    return store.active_name(), sorted(dump["ids"]), sorted(papers_from_dump(dump))


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return rc, out, err


def one_error_line(err: str) -> str:
    lines = [l for l in err.splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith("error: ")]
    assert len(errors) == 1, err
    assert "unexpected" not in errors[0], err  # a handled fault, not the last line of defence
    return errors[0]


def run_assistant(*argv, timeout=120, **kw) -> subprocess.CompletedProcess:
    args = [a if isinstance(a, bytes) else str(a) for a in argv]
    return subprocess.run([str(ASSISTANT), *args], capture_output=True, timeout=timeout, **kw)


@pytest.fixture
def indexed(settings, fake_embedder, monkeypatch):
    """An index of the seeds (fake embedder) and a CLI whose `ask` uses the fake embedder and a ScriptedGenerator."""
    ingest(settings, fake_embedder, [SEEDS])
    gen = ScriptedGenerator(["Sparse adapters are trained on 12 languages [1]."])
    monkeypatch.setattr(session, "make_embedder", lambda s: fake_embedder)
    monkeypatch.setattr(session, "make_generator", lambda s: gen)
    return gen


@pytest.fixture
def real_copy(tmp_path, seeded_dir, real_embedder, monkeypatch) -> Path:
    """A private copy of the session's real index as the data dir; the embedder's ONNX export is shared through
    the session's per-user cache dir (ASSISTANT_CACHE_DIR), so subprocesses do not export again."""
    d = tmp_path / "real"
    shutil.copytree(seeded_dir, d)
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(d))
    return d
