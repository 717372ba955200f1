"""Shared fixtures: an isolated data dir for every test, a deterministic fake embedder and a scripted generator
for unit tests of logic, and the real parts (MiniLM, Chroma, SmolLM2) for end-to-end tests."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings, load_settings
from assistant.text import terms

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
# Copies of the labelled sets, so that a clone passes its own tests without ../shared beside it.
DEV = ROOT / "tests" / "data" / "dev.jsonl"
REALISTIC = ROOT / "tests" / "data" / "realistic-dev.jsonl"


class FakeEmbedder:
    """Bag of hashed words: deterministic, instant, and similar texts get similar vectors."""

    name = "all-MiniLM-L6-v2"  # pretend to be the default so the index metadata matches
    dim = 384

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for t in terms(text) or ["_"]:
                out[row, int(hashlib.md5(t.encode()).hexdigest(), 16) % self.dim] += 1.0
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


class ScriptedGenerator:
    """Yields the scripted replies in turn, word by word; records the prompts it was given."""

    name = "scripted"
    n_ctx = 2048

    def __init__(self, replies: list[str] | None = None, delay: float = 0.0, fail: Exception | None = None):
        self.replies = list(replies or ["A scripted answer [1]."])
        self.delay = delay
        self.fail = fail
        self.calls: list[list[dict[str, str]]] = []
        self.started = threading.Event()

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 1

    def stream(self, messages, max_tokens: int, cancel: threading.Event | None = None) -> Iterator[str]:
        self.calls.append(messages)
        self.started.set()
        if self.fail:
            raise self.fail
        reply = self.replies[min(len(self.calls) - 1, len(self.replies) - 1)]
        for i, word in enumerate(reply.split(" ")[:max_tokens]):
            if cancel is not None and cancel.is_set():
                return
            if self.delay:
                cancel.wait(self.delay) if cancel else threading.Event().wait(self.delay)
            yield word if i == 0 else " " + word


@pytest.fixture(scope="session")
def shared_cache_dir(tmp_path_factory) -> Path:
    """One per-user cache (embedder exports) for the whole run, never the real ~/.cache."""
    return tmp_path_factory.mktemp("user-cache")


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch, shared_cache_dir) -> Path:
    """Every test gets its own data dir and no user config."""
    d = tmp_path / "data"
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(d))
    monkeypatch.setenv("ASSISTANT_CACHE_DIR", str(shared_cache_dir))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("ASSISTANT_CONFIG", raising=False)
    return d


@pytest.fixture
def settings(data_dir) -> Settings:
    return load_settings()


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def real_embedder(shared_cache_dir):
    from assistant.index.embedding import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder(Settings(cache_dir=shared_cache_dir))
    emb.embed(["warm up"])
    return emb


@pytest.fixture(scope="session")
def seeded_dir(tmp_path_factory, real_embedder) -> Path:
    """One real index of the bundled seeds (real MiniLM, real Chroma), built once per session; copy before writing."""
    from assistant.ingest.build import ingest

    d = tmp_path_factory.mktemp("seeded") / "data"
    ingest(Settings(data_dir=d), real_embedder, [SEEDS])
    return d


@pytest.fixture(scope="session")
def real_generator():
    from assistant.generate.llama import LlamaCppGenerator

    return LlamaCppGenerator(Settings())
