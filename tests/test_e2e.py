"""End to end with the real parts: MiniLM, persistent Chroma, the bundled SmolLM2 GGUF (greedy, fixed seed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from assistant.answer.pipeline import REFUSAL
from assistant.answer.session import make_pipeline
from assistant.config import Settings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pipeline(seeded_dir, real_embedder, real_generator):
    return make_pipeline(Settings(data_dir=seeded_dir), embedder=real_embedder, generator=real_generator)


@pytest.mark.parametrize(
    "question,gold",
    [
        (
            "What is the name of the optimizer found through symbolic program search that keeps only a momentum state?",
            "Symbolic Discovery of Optimization Algorithms",
        ),
        (
            "How many distinct tasks are in the NATURAL INSTRUCTIONS dataset built from crowdsourcing instructions?",
            "Cross-Task Generalization via Natural Language Crowdsourcing Instructions",
        ),
    ],
)
def test_answers_cite_the_right_paper(pipeline, question, gold):
    answer = pipeline.ask(question)
    assert not answer.abstained and answer.text
    retrieved = {e.paper_id for e in answer.evidence}
    assert answer.citations and all(c.paper_id in retrieved for c in answer.citations)
    assert gold in {c.title for c in answer.citations}
    for c in answer.citations:
        assert f"[{c.number}]" in answer.text
        assert c.quote in next(e for e in answer.evidence if e.paper_id == c.paper_id).sentences
    t = answer.timings
    assert t.retrieval_s > 0 and t.total_s >= t.generation_s > 0 and t.prompt_tokens > 0


def test_deterministic(pipeline):
    q = "Which benchmark quantifies memorization in LLM logical reasoning?"
    assert pipeline.ask(q).text == pipeline.ask(q).text


def test_unanswerable_is_refused(pipeline):
    answer = pipeline.ask("What was the final score of the 2019 Rugby World Cup final?")
    assert answer.abstained and answer.text == REFUSAL and not answer.citations


def test_cli_ask_json(tmp_path, seeded_dir):
    d = tmp_path / "d"
    shutil.copytree(seeded_dir, d)
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(d)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "assistant.cli",
            "ask",
            "--json",
            "-k",
            "2",
            "--max-tokens",
            "40",
            "Which optimizer keeps only the momentum and uses the sign operation?",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["citations"] and len(answer["evidence"]) <= 2
    assert set(answer["timings"]) >= {"retrieval_s", "first_token_s", "generation_s", "tokens_per_s"}
    assert "Traceback" not in out.stderr


def test_cli_errors_are_one_line(tmp_path, seeded_dir):
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(tmp_path / "empty")}
    out = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ask", "anything"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 4 and out.stderr.strip().startswith("error: no index yet") and out.stderr.count("\n") == 1
    out = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ingest", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 3 and "no such file" in out.stderr and "Traceback" not in out.stderr
