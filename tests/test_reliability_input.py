"""Reliability, part 1: bad input where it enters (questions, corpus files, config, model file) and a broken,
read-only or full store. Every fault ends in one `error: ...` line, a non-zero exit, and the old index intact."""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import SEEDS, ScriptedGenerator
from reliability_common import *  # noqa: F401,F403  (helpers and fixtures)
from reliability_common import ASSISTANT, PAGE, cli, one_error_line, run_assistant, snapshot  # noqa: F401

from assistant.answer import session
from assistant.errors import GenerationError, StoreError
from assistant.index.store import Store, papers_from_dump
from assistant.ingest.build import ingest
from assistant.ingest.corpus import MAX_FILE_BYTES

pytestmark = pytest.mark.reliability


# -- questions ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "question, rc, message",
    [
        ("", 7, "error: the question is empty"),
        ("   \t  ", 7, "error: the question is empty"),
        ("\x00\x01\x1b", 7, "error: the question is empty"),
        ("x" * 1_000_000, 7, "error: the question is 1000000 characters long; the limit is 2000"),
        ("what\x00 do sparse adapters \x00train on", 0, None),
        ("what do sparse adapters \udcff\udcfe train on", 0, None),  # non-UTF-8 argv bytes (surrogateescape)
    ],
)
def test_bad_questions_on_the_cli(indexed, capsys, question, rc, message):
    before = len(indexed.calls)
    got, out, err = cli(capsys, "ask", question)
    assert got == rc
    if message:
        assert one_error_line(err) == message and len(indexed.calls) == before
    else:
        assert out.strip() and "\x00" not in out
        user = indexed.calls[-1][1]["content"]
        assert "\x00" not in user and "\udcff" not in user


def test_bad_questions_in_the_pipeline(settings, fake_embedder):
    ingest(settings, fake_embedder, [SEEDS])
    gen = ScriptedGenerator()
    pipe = session.make_pipeline(settings, embedder=fake_embedder, generator=gen)
    for q in ["", " \n\t ", "\x00" * 10, "y" * 2001, "z" * 1_000_000]:
        with pytest.raises(GenerationError):
            pipe.ask(q)
    assert gen.calls == []
    answer = pipe.ask(b"sparse adapters \xff\xfe languages\x00".decode("utf-8", "surrogateescape"))
    assert answer.question == "sparse adapters languages"
    json.dumps(answer.to_dict(), ensure_ascii=False).encode("utf-8")  # printable, encodable


def test_non_utf8_question_in_a_real_process(real_copy):
    p = run_assistant("ask", b"\xff\xfe\x01")
    assert p.returncode == 7, p.stderr
    assert p.stderr.decode().strip().splitlines()[-1] == "error: the question is empty"
    assert b"Traceback" not in p.stderr


# -- corpus files -------------------------------------------------------------------------------------
def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(size)  # no blocks written: instant
    return path


CORPUS_FAULTS = {
    "empty.txt": (lambda p: p.write_bytes(b""), "file is empty"),
    "binary.txt": (
        lambda p: p.write_bytes(os.urandom(2048) + b"\x00" + os.urandom(2048)),
        "binary file, not a text corpus",
    ),
    "latin1.txt": (
        lambda p: p.write_bytes("Caf\xe9 au lait\n".encode("latin-1") * 20),
        "not UTF-8 text (bad byte at offset 3)",
    ),
    "huge.txt": (lambda p: _sparse(p, 100 * 2**20), "binary file, not a text corpus"),  # 100 MB of NULs
    "over_cap.txt": (lambda p: _sparse(p, MAX_FILE_BYTES + 2**20), "file is 201 MB, over the 200 MB limit"),
    "headers.txt": (
        lambda p: p.write_text("Daily Papers\nJan 5, 2024\nTrending today\n"),
        "no title/abstract pairs found",
    ),
    "headers.csv": (lambda p: p.write_text("title,abstract,url\n"), "no title/abstract pairs found"),
    "columns.csv": (lambda p: p.write_text("name,text\na,b\n"), "CSV needs 'title' and 'abstract' columns"),
    "blank.jsonl": (lambda p: p.write_text("\n \n\n"), "file holds only whitespace"),
    "array.jsonl": (lambda p: p.write_text('{"title": "t", "abstract": "a"}\n[1, 2]\n'), "line 2 is not a JSON object"),
    "broken.jsonl": (lambda p: p.write_text('{"title": "t", "abstract": \n'), "line 1 is not valid JSON"),
    "bigfield.csv": (lambda p: p.write_text('title,abstract\n"t","' + "x" * 200_000 + '"\n'), "malformed CSV"),
}


@pytest.mark.parametrize("name", sorted(CORPUS_FAULTS))
def test_bad_corpus_file_is_one_error_and_keeps_the_index(indexed, settings, tmp_path, capsys, name):
    make, message = CORPUS_FAULTS[name]
    make(tmp_path / name)
    before = snapshot(settings)
    t0 = time.monotonic()
    rc, _, err = cli(capsys, "ingest", tmp_path / name)
    assert rc == 3
    line = one_error_line(err)
    assert name in line and message in line
    assert time.monotonic() - t0 < 10  # the size cap and the binary check answer before reading it all
    assert snapshot(settings) == before


def test_missing_corpus_path(indexed, settings, tmp_path, capsys):
    before = snapshot(settings)
    rc, _, err = cli(capsys, "ingest", tmp_path / "nope.txt")
    assert rc == 3 and one_error_line(err).endswith("nope.txt: no such file or directory")
    assert snapshot(settings) == before


def test_ten_thousand_character_lines_are_indexed(indexed, settings, tmp_path, capsys):
    page = tmp_path / "long.txt"
    words = " ".join(f"word{i % 97}" for i in range(1500))  # >10,000 characters, no sentence end at all
    assert len(words) >= 10_000
    page.write_text(
        f"Header\n\nA Paper With An Endless Abstract\n\n{words}\n\nAnother Title\n\n"
        + "Short sentence here. " * 500
        + "\n"
    )
    rc, out, err = cli(capsys, "ingest", page)
    assert rc == 0, err
    papers = papers_from_dump(Store(settings).dump())
    long = [p for p in papers.values() if p.title == "A Paper With An Endless Abstract"]
    assert long and len(long[0].abstract) >= 10_000 and len(papers) == 218


# -- config files -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, message",
    [
        ("unknown_key = 1\n", "unknown_key: Extra inputs are not permitted"),
        ("[assistant]\nnot_a_setting = true\n", "not_a_setting: Extra inputs are not permitted"),
        ('top_k = "many"\n', "top_k: Input should be a valid integer"),
        ("top_k = [1, 2]\n", "top_k: Input should be a valid integer"),
        ("top_k = 500\n", "top_k: Input should be less than or equal to 20"),
        ('temperature = "hot"\n', "temperature: Input should be a valid number"),
        ("stop = 3\n", "stop: Input should be a valid list"),
        ("embed_backend = 'gpu-magic'\n", "embed_backend: Input should be"),
        ("top_k = = 3\n", "not valid TOML"),
        (b"\xff\xfetop_k = 3\n", "not valid TOML"),
    ],
)
def test_bad_config_file(indexed, tmp_path, capsys, text, message):
    cfg = tmp_path / "config.toml"
    cfg.write_bytes(text if isinstance(text, bytes) else text.encode())
    rc, out, err = cli(capsys, "ask", "what are sparse adapters", "--config", cfg)
    assert rc == 2 and out == ""
    line = one_error_line(err)
    assert line.startswith(f"error: {cfg}: ") and message in line
    assert indexed.calls == []


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_config_path_that_is_not_a_file(indexed, tmp_path, capsys, kind):
    cfg = tmp_path / "cfg"
    if kind == "directory":
        cfg.mkdir()
    rc, _, err = cli(capsys, "stats", "--config", cfg)
    assert rc == 2
    assert one_error_line(err).startswith(f"error: {cfg}: ")


# -- the model file -----------------------------------------------------------------------------------
@pytest.fixture
def real_gguf() -> Path:
    from assistant.generate.llama import default_model_path

    path = default_model_path()
    if not path.is_file():
        pytest.skip("the bundled GGUF is not installed")
    return path


MODEL_FAULTS = {
    "missing": (None, "model file not found"),
    "empty": (lambda p, real: p.write_bytes(b""), "not a GGUF model file (bad magic bytes)"),
    "text": (lambda p, real: p.write_text("hello, I am not a model"), "not a GGUF model file (bad magic bytes)"),
    "magic-only": (lambda p, real: p.write_bytes(b"GGUF"), "llama.cpp could not load the model"),
    "magic+garbage": (lambda p, real: p.write_bytes(b"GGUF" + os.urandom(65536)), "llama.cpp could not load the model"),
    "truncated": (lambda p, real: p.write_bytes(real.open("rb").read(4 * 2**20)), "llama.cpp could not load the model"),
}


@pytest.mark.parametrize("kind", sorted(MODEL_FAULTS))
def test_bad_model_file(indexed, settings, tmp_path, capsys, monkeypatch, real_gguf, kind):
    from assistant.generate.llama import make_generator

    monkeypatch.setattr(session, "make_generator", make_generator)  # the real llama.cpp loader
    make, message = MODEL_FAULTS[kind]
    model = tmp_path / f"{kind}.gguf"
    if make:
        make(model, real_gguf)
    before = snapshot(settings)
    rc, out, err = cli(capsys, "ask", "what are sparse adapters", "--model", model)
    assert rc == 6 and out == ""
    line = one_error_line(err)
    assert str(model) in line and message in line
    assert snapshot(settings) == before


def test_model_directory_given_as_model(indexed, tmp_path, capsys, monkeypatch):
    from assistant.generate.llama import make_generator

    monkeypatch.setattr(session, "make_generator", make_generator)
    rc, _, err = cli(capsys, "ask", "what are sparse adapters", "--model", tmp_path)
    assert rc == 6 and "model file not found" in one_error_line(err)


def test_truncated_model_in_a_real_process(real_copy, tmp_path, real_gguf):
    model = tmp_path / "half.gguf"
    model.write_bytes(real_gguf.read_bytes()[: real_gguf.stat().st_size // 2])
    p = run_assistant("ask", "what are sparse adapters", "--model", model)
    err = p.stderr.decode()
    assert p.returncode == 6 and b"Traceback" not in p.stderr
    assert "llama.cpp could not load the model" in one_error_line(err) and p.stdout == b""


# -- the Chroma store ---------------------------------------------------------------------------------
def _garbage_sqlite(chroma: Path):
    (chroma / "chroma.sqlite3").write_bytes(os.urandom(64 * 1024))


def _truncated_sqlite(chroma: Path):
    db = chroma / "chroma.sqlite3"
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])


def _chroma_is_a_file(chroma: Path):
    shutil.rmtree(chroma)
    chroma.write_text("not a folder")


@pytest.mark.parametrize(
    "corrupt", [_garbage_sqlite, _truncated_sqlite, _chroma_is_a_file], ids=lambda f: f.__name__[1:]
)
def test_corrupt_chroma_store_is_reported_not_mistaken_for_no_index(indexed, settings, capsys, corrupt):
    from chromadb.api.shared_system_client import SharedSystemClient

    chroma = settings.data_dir / "chroma"
    corrupt(chroma)
    SharedSystemClient.clear_system_cache()  # as a fresh process would: no cached connection
    kept = sorted((p.name, p.stat().st_size) for p in chroma.parent.rglob("*") if p.is_file())
    for argv in (["stats"], ["sources"], ["ask", "what are sparse adapters"], ["ingest", SEEDS]):
        rc, out, err = cli(capsys, *argv)
        line = one_error_line(err)
        assert rc == 8, (argv, err)
        assert "cannot open the Chroma store" in line and "rebuild" in line, line
        assert "no index yet" not in line
        SharedSystemClient.clear_system_cache()
    # nothing was deleted or overwritten: the user can still move it aside and recover what is there
    assert sorted(
        (p.name, p.stat().st_size) for p in chroma.parent.rglob("*") if p.is_file() and p.name != "ingest.lock"
    ) == [k for k in kept if k[0] != "ingest.lock"]


def test_missing_chroma_directory_is_no_index(indexed, settings, capsys):
    shutil.rmtree(settings.data_dir / "chroma")
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    for argv in (["stats"], ["ask", "what are sparse adapters"]):
        rc, _, err = cli(capsys, *argv)
        assert rc == 4 and "assistant ingest" in one_error_line(err)


def test_data_dir_is_a_file(settings, tmp_path, capsys, monkeypatch, fake_embedder):
    monkeypatch.setattr(session, "make_embedder", lambda s: fake_embedder)
    settings.data_dir.parent.mkdir(parents=True, exist_ok=True)
    settings.data_dir.write_text("oops")
    for argv in (["ingest", SEEDS], ["stats"]):
        rc, _, err = cli(capsys, *argv)
        assert rc == 2, err  # a configuration error (was a store error, exit 8, before the data dir was validated)
        assert str(settings.data_dir) in one_error_line(err) and "is a file" in err
    assert settings.data_dir.read_text() == "oops"


# -- read-only data dir and full disk ------------------------------------------------------------------
@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores chmod 0500; see the simulated test below")
def test_read_only_data_dir(indexed, settings, capsys):
    before = snapshot(settings)
    for p in [settings.data_dir, *settings.data_dir.rglob("*")]:
        if p.is_dir():
            p.chmod(0o500)
    try:
        rc, _, err = cli(capsys, "ingest", SEEDS, "--prune")
        assert rc != 0 and rc != 70
        one_error_line(err)
    finally:
        for p in [settings.data_dir, *settings.data_dir.rglob("*")]:
            if p.is_dir():
                p.chmod(0o700)
    assert snapshot(settings) == before


def test_read_only_data_dir_simulated(indexed, settings, tmp_path, capsys, monkeypatch):
    """What a non-root user gets from chmod 0500: the lock file and the store cannot be opened for writing."""
    import chromadb
    from filelock import FileLock

    from assistant.ingest import build as ingest_mod

    before = snapshot(settings)
    (tmp_path / "new.txt").write_text(PAGE.format(title="A Read Only Paper About Tomatoes"))

    class DeniedLock(FileLock):
        def acquire(self, *a, **kw):
            raise PermissionError(errno.EACCES, "Permission denied", self.lock_file)

    with monkeypatch.context() as m:
        m.setattr(ingest_mod, "FileLock", DeniedLock)
        rc, _, err = cli(capsys, "ingest", tmp_path / "new.txt")
    line = one_error_line(err)
    assert rc == 8 and "Permission denied" in line and "ingest.lock" in line and "unchanged" in line

    def denied(*a, **kw):
        raise PermissionError(errno.EACCES, "Permission denied", str(settings.data_dir / "chroma"))

    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    with monkeypatch.context() as m:
        m.setattr(chromadb, "PersistentClient", denied)
        rc, _, err = cli(capsys, "stats")
        assert rc == 8 and "permission denied" in one_error_line(err)
        # `ask` reads the index snapshot and the pointer without opening Chroma: a store Chroma cannot open for
        # writing still answers. Without the snapshot it must open Chroma, and says why it cannot.
        rc, out, _ = cli(capsys, "ask", "what are sparse adapters")
        assert rc == 0 and out.strip()
        shutil.rmtree(settings.data_dir / "index-cache")
        rc, _, err = cli(capsys, "ask", "what are sparse adapters")
        assert rc == 8 and "permission denied" in one_error_line(err)
    assert snapshot(settings) == before


def test_disk_full_during_ingest_keeps_the_old_index(indexed, settings, tmp_path, capsys, monkeypatch):
    before = snapshot(settings)
    (tmp_path / "new.txt").write_text(PAGE.format(title="A Paper That Does Not Fit On The Disk"))
    calls = []

    def full(self, col, *a, **kw):
        calls.append(col.name)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as m:
        m.setattr(Store, "add", full)
        rc, out, err = cli(capsys, "ingest", tmp_path / "new.txt")
    assert rc == 8 and calls
    line = one_error_line(err)
    assert "No space left on device" in line and "previous index is unchanged" in line
    assert snapshot(settings) == before
    names = [c if isinstance(c, str) else c.name for c in Store(settings).client.list_collections()]
    assert calls[0] not in names  # the half-written generation was removed
    # and once there is room again, the same ingest works
    rc, out, err = cli(capsys, "ingest", tmp_path / "new.txt")
    assert rc == 0 and len(snapshot(settings)[2]) == len(before[2]) + 1


def test_store_error_from_chroma_during_ingest(indexed, settings, tmp_path, capsys, monkeypatch):
    before = snapshot(settings)
    (tmp_path / "new.txt").write_text(PAGE.format(title="Another Paper That Does Not Fit"))
    with monkeypatch.context() as m:
        m.setattr(
            Store,
            "set_active",
            lambda self, name: (_ for _ in ()).throw(
                StoreError("Chroma pointer update failed: OperationalError: database or disk is full")
            ),
        )
        rc, _, err = cli(capsys, "ingest", tmp_path / "new.txt")
    assert rc == 8 and "disk is full" in one_error_line(err)
    assert snapshot(settings) == before
