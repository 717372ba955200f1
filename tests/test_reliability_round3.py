"""Reliability, round three (issue 22): writes outside the data dir, lost inputs, one-line errors instead of
crashes, true messages. Misbehaving model servers are in test_model_server_faults.py, the import graph in
test_imports.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SEEDS
from reliability_common import *  # noqa: F401,F403  (helpers and fixtures)
from reliability_common import cli, one_error_line, run_assistant  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.reliability


# -- 4. conversation files are never written through a link ---------------------------------------------
CONV_ID = "20261202-000000-abcdef"


def test_ask_never_appends_through_a_symlinked_conversation(indexed, settings, tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("my precious notes\n")
    victim.chmod(0o644)
    folder = settings.data_dir / "conversations"
    folder.mkdir(parents=True)
    (folder / f"{CONV_ID}.jsonl").symlink_to(victim)
    rc, out, err = cli(capsys, "ask", "--conversation", CONV_ID, "What is LIMO?")
    assert rc == 8 and "symbolic link" in one_error_line(err)
    assert victim.read_text() == "my precious notes\n" and victim.stat().st_mode & 0o777 == 0o644


def test_the_store_refuses_links_and_fifos_and_exports_replace_a_link(settings, tmp_path):
    import os

    from assistant.answer.conversations import ConversationStore
    from assistant.errors import StoreError
    from assistant.types import Answer

    store = ConversationStore(settings.data_dir)
    store.append(CONV_ID, Answer("q", "a"))  # creates the folder
    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n")
    for n, make in enumerate(
        [lambda p: p.symlink_to(victim), lambda p: os.link(victim, p), lambda p: os.mkfifo(p)], start=1
    ):
        conv = f"20261202-00000{n}-abcdef"
        make(store.path(conv))
        with pytest.raises(StoreError):
            store.append(conv, Answer("q", "a"))
    assert victim.read_text() == "keep\n"
    exports = settings.data_dir / "exports"
    exports.mkdir(mode=0o700)
    (exports / f"conversation-{CONV_ID}.md").symlink_to(victim)
    path = store.export_markdown(CONV_ID, [Answer("q", "a")])
    assert not path.is_symlink() and victim.read_text() == "keep\n" and path.stat().st_mode & 0o777 == 0o600


# -- 5. an output that is the input --------------------------------------------------------------------
@pytest.mark.parametrize("name,extra", [("q.csv", []), ("q.txt", []), ("q.txt", ["--overwrite"]), ("link", [])])
def test_batch_refuses_to_write_over_its_questions(indexed, tmp_path, capsys, name, extra):
    q = tmp_path / ("q.txt" if name == "link" else name)
    q.write_text("id,question\n1,What is LIMO?\n" if name.endswith(".csv") else "What is LIMO?\n")
    before = q.read_bytes()
    out = q
    if name == "link":
        out = tmp_path / "answers.jsonl"
        out.symlink_to(q)
    rc, _, err = cli(capsys, "batch", q, "-o", out, *extra)
    assert rc == 2 and "question file" in one_error_line(err)
    assert q.read_bytes() == before


# -- 6. ids of different types -------------------------------------------------------------------------
class _EchoPipeline:
    def __init__(self):
        self.asked: list[str] = []

    def ask(self, question, cancel=None, history=None, **kw):
        from assistant.types import Answer

        self.asked.append(question)
        return Answer(question, f"answer to {question}")


def test_ids_1_and_string_1_are_two_questions_on_resume(settings, tmp_path):
    from assistant.batch.inputs import read_questions
    from assistant.batch.runner import answer_batch

    q = tmp_path / "q.jsonl"
    q.write_text('{"id": 1, "question": "first?"}\n{"id": "1", "question": "second?"}\n')
    out = tmp_path / "out.jsonl"
    items = read_questions(str(q))
    answer_batch(settings, items[:1], output=out, pipeline=_EchoPipeline())  # a run that stopped after one
    pipe = _EchoPipeline()
    summary = answer_batch(settings, items, output=out, pipeline=pipe)
    assert pipe.asked == ["second?"] and summary.skipped == 1 and summary.answered == 1
    assert [json.loads(l)["id"] for l in out.read_text().splitlines()] == [1, "1"]


# -- 7. bad UTF-8 in a conversation file ---------------------------------------------------------------
def test_a_bad_byte_in_a_conversation_file_skips_that_line(indexed, settings, capsys):
    from assistant.answer.conversations import ConversationStore
    from assistant.types import Answer

    store = ConversationStore(settings.data_dir)
    store.append(CONV_ID, Answer("What is LIMO?", "An answer."))
    with open(store.path(CONV_ID), "ab") as fh:
        fh.write(b'{"question": "caf\xe9"}\n')
    assert [a.question for a in store.load(CONV_ID)] == ["What is LIMO?"]
    rc, out, err = cli(capsys, "conversations")
    assert rc == 0 and CONV_ID in out
    rc, out, err = cli(capsys, "ask", "-c", "What data did they use?")
    assert rc == 0, err


# -- 8. JSON / TOML nested 200,000 deep ----------------------------------------------------------------
DEEP = "[" * 200_000


def test_deep_nesting_is_a_one_line_error_everywhere(settings, fake_embedder, tmp_path, capsys):
    from assistant.answer.conversations import ConversationStore
    from assistant.batch.inputs import read_questions
    from assistant.batch.outputs import load_journal
    from assistant.errors import AssistantError
    from assistant.ingest.build import ingest

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "deep.jsonl").write_text(DEEP + "\n")
    (corpus / "ok.jsonl").write_text(json.dumps({"title": "Quantum tomatoes", "abstract": "We grow tomatoes."}) + "\n")
    report = ingest(settings, fake_embedder, [corpus])  # a folder ingest skips the file instead of aborting
    assert report.papers == 1 and any("deep.jsonl" in s and "nested" in s for s in report.skipped)

    q = tmp_path / "q.jsonl"
    q.write_text(DEEP + '\n{"question": "fine?"}\n')
    items = read_questions(str(q))
    assert "nested too deeply" in (items[0].error or "") and items[1].question == "fine?"

    journal = tmp_path / "out.jsonl"
    journal.write_text(DEEP + "\n")
    with pytest.raises(AssistantError):
        load_journal(journal)

    store = ConversationStore(settings.data_dir)
    store.path(CONV_ID).parent.mkdir(parents=True)
    store.path(CONV_ID).write_text(DEEP + "\n")
    assert store.load(CONV_ID) == []

    config = tmp_path / "deep.toml"
    config.write_text("a = " + DEEP + "\n")
    config.chmod(0o600)
    rc, out, err = cli(capsys, "--config", config, "stats")
    assert rc == 2 and "nested too deeply" in one_error_line(err)


# -- 9, 10. batch input: stdin bytes, devices, FIFOs ----------------------------------------------------
def _assistant(*argv, **kw):
    """`python -m assistant.cli` of this checkout (the installed `assistant` script may be another tree's)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [str(a) for a in argv]
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], capture_output=True, env=env, **kw)


def test_bad_utf8_on_stdin_is_refused_like_a_file():
    proc = _assistant("batch", "-", input=b"What is \xff LIMO?\n", timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "not UTF-8" in one_error_line(err), err


def test_batch_refuses_dev_zero_and_a_fifo_without_writer(tmp_path):
    import os

    proc = _assistant("batch", "/dev/zero", timeout=30)
    assert proc.returncode == 2 and "not a regular file" in one_error_line(proc.stderr.decode())
    fifo = tmp_path / "questions.fifo"
    os.mkfifo(fifo)
    proc = _assistant("batch", fifo, timeout=30)
    assert proc.returncode == 2 and "FIFO" in one_error_line(proc.stderr.decode())


# -- 11. a full disk during a batch --------------------------------------------------------------------
def test_a_full_disk_mid_batch_prints_the_summary_resume_hint_and_exits_10(indexed, tmp_path, capsys, monkeypatch):
    import errno

    from assistant.batch import outputs

    q = tmp_path / "q.txt"
    q.write_text("What is LIMO?\nWhat is Easy2Hard-Bench?\nWhat is SmolLM?\n")
    out = tmp_path / "out.jsonl"
    real = outputs.JsonlSink.write
    calls = []

    def write(self, rec):
        calls.append(rec)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, rec)

    monkeypatch.setattr(outputs.JsonlSink, "write", write)
    rc, _, err = cli(capsys, "batch", q, "-o", out)
    assert rc == 10, err
    assert "batch stopped: 1 answered" in err and "run the same command again to resume" in err
    assert "No space left on device" in one_error_line(err)
    monkeypatch.setattr(outputs.JsonlSink, "write", real)
    rc, _, err = cli(capsys, "batch", q, "-o", out)
    assert rc == 0 and "1 skipped" in err and len(out.read_text().splitlines()) == 3


# -- 12, 13. disk full and read-only are not "corrupt" ---------------------------------------------------
@pytest.mark.parametrize(
    "message,says",
    [("database or disk is full", "the disk is full"), ("attempt to write a readonly database", "read-only")],
)
def test_a_full_or_read_only_store_is_not_called_corrupt(indexed, capsys, monkeypatch, message, says):
    import sqlite3

    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()

    def refuse(*args, **kwargs):
        raise sqlite3.OperationalError(message)

    monkeypatch.setattr(chromadb, "PersistentClient", refuse)
    rc, out, err = cli(capsys, "stats")
    line = one_error_line(err)
    assert rc == 8 and says in line and "the index is intact" in line and "move it aside" not in line


def test_an_ingest_that_fills_the_disk_says_so_and_leaves_no_segment_folder(settings, fake_embedder, monkeypatch):
    import os

    from assistant.errors import StoreError
    from assistant.index import store as store_mod
    from assistant.ingest.build import ingest

    ingest(settings, fake_embedder, [SEEDS / sorted(os.listdir(SEEDS))[0]])
    chroma = settings.data_dir / "chroma"
    before = {p.name for p in chroma.iterdir() if p.is_dir()}
    real_add = store_mod.Store.add

    def add(self, col, ids, *args, **kwargs):
        real_add(self, col, ids, *args, **kwargs)

        def chroma_add():  # as Chroma fails on a full disk: inside its add, leaving a segment folder behind
            (chroma / "5eb1f0aa-0000-4000-8000-000000000000").mkdir(exist_ok=True)
            raise RuntimeError("Error in compaction: Failed to apply logs to the metadata segment")

        self._call("add", chroma_add)

    class Full:
        f_flag, f_bavail, f_frsize = 0, 0, 4096

    monkeypatch.setattr(store_mod.Store, "add", add)
    monkeypatch.setattr(store_mod.os, "statvfs", lambda path: Full())
    with pytest.raises(StoreError) as exc:
        ingest(settings, fake_embedder, [SEEDS])
    assert "the disk is full" in str(exc.value) and "compaction" not in str(exc.value)
    assert {p.name for p in chroma.iterdir() if p.is_dir()} == before


# -- 14, 15. messages that say what is wrong -------------------------------------------------------------
def test_ingest_of_a_fifo_or_device_says_not_a_regular_file(indexed, tmp_path, capsys):
    import os

    fifo = tmp_path / "corpus.fifo"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero", "/dev/null"):
        rc, out, err = cli(capsys, "ingest", path)
        assert rc == 3 and "not a regular file" in one_error_line(err), err


def test_remove_of_an_unknown_name_says_so(indexed, capsys):
    rc, out, err = cli(capsys, "remove", "nosuch.txt")
    assert rc == 3 and "no indexed source named 'nosuch.txt'" in one_error_line(err)
    assert "index up to date" not in out


def test_config_that_is_a_device_is_not_world_writable_advice(capsys):
    rc, out, err = cli(capsys, "--config", "/dev/zero", "stats")
    line = one_error_line(err)
    assert rc == 2 and "not a regular file" in line and "chmod" not in line


def test_a_small_context_window_is_the_real_one_and_an_overflow_says_so():
    from assistant.config import Settings
    from assistant.errors import GenerationError
    from assistant.generate.llama import LlamaCppGenerator

    gen = LlamaCppGenerator(Settings(n_ctx=300))
    assert gen.n_ctx == 300  # llama.cpp pads to 512, llama-cpp-python's buffer holds 300
    with pytest.raises(GenerationError, match="does not fit the context window of 300 tokens"):
        list(gen.stream([{"role": "user", "content": "tomato " * 400}], 20))


def test_doctor_prints_no_stray_llama_cpp_line(tmp_path):
    proc = _assistant("doctor", "--data-dir", tmp_path / "none", timeout=300)
    text = proc.stdout.decode() + proc.stderr.decode()
    assert "n_ctx_seq" not in text and "llama_context" not in text, text
    assert proc.returncode == 1  # no index: a problem found (README)


def test_concurrency_0_is_refused_like_minus_3(indexed, tmp_path, capsys):
    q = tmp_path / "q.txt"
    q.write_text("What is LIMO?\n")
    for n in ("0", "-3"):
        rc, out, err = cli(capsys, "batch", q, "--concurrency", n)
        assert rc == 2 and "--concurrency must be at least 1" in one_error_line(err)


def test_ask_with_an_unknown_source_says_the_source_is_unknown(indexed, capsys):
    rc, out, err = cli(capsys, "ask", "--source", "nosuch.txt", "What is LIMO?")
    assert rc == 2 and "no indexed source has that name" in one_error_line(err)


def test_ask_with_a_known_source_keeps_to_it_without_starting_chroma(indexed, capsys, monkeypatch):
    """The source is checked against the loaded snapshot: asking Chroma's `where` started Chroma (0.6 s)."""
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()

    def refuse(*args, **kwargs):
        raise AssertionError("a one-question ask started Chroma")

    monkeypatch.setattr(chromadb, "PersistentClient", refuse)
    rc, out, err = cli(capsys, "ask", "--json", "--source", "001_96a867dc4f2e18cb.txt", "What does LIMO claim?")
    assert rc == 0, err
    evidence = json.loads(out)["evidence"]
    assert evidence and all("001_96a867dc4f2e18cb.txt" in e["sources"] for e in evidence)
