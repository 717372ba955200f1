"""`assistant batch`: input formats, output formats, resume, failures, concurrency, piping.

Logic tests use the fake embedder and the scripted generator over a fake-embedded index of the seeds;
the e2e ones run the real MiniLM + Chroma + SmolLM2 pipeline."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import DEV, ROOT, SEEDS, FakeEmbedder, ScriptedGenerator

from assistant.answer.session import make_pipeline
from assistant.batch.inputs import BatchInputError, read_questions
from assistant.cli.batch import run_batch
from assistant.cli.main import build_parser, main, settings_from
from assistant.errors import GenerationError

RESULT_KEYS = {"id", "question", "text", "citations", "abstained", "retrieved", "model", "timings", "error"}


@pytest.fixture(scope="module")
def fake_index(tmp_path_factory) -> tuple[Path, list[str]]:
    """The seeds indexed with the fake embedder once per module, and some paper titles to ask about."""
    from assistant.config import Settings
    from assistant.index.store import Store, papers_from_dump
    from assistant.ingest.build import ingest

    d = tmp_path_factory.mktemp("fake-index") / "data"
    ingest(Settings(data_dir=d), FakeEmbedder(), [SEEDS])
    titles = sorted(p.title for p in papers_from_dump(Store(Settings(data_dir=d)).dump()).values())
    return d, titles[:8]


@pytest.fixture
def titles(fake_index, data_dir) -> list[str]:
    shutil.copytree(fake_index[0], data_dir)
    return fake_index[1]


class KeyedGenerator(ScriptedGenerator):
    """Fails (or sleeps) when the prompt mentions one of the given words; counts calls and peak concurrency."""

    def __init__(self, fail_on=(), slow_on=(), delay=0.0):
        super().__init__(["An answer [1]."])
        self.fail_on, self.slow_on, self.slow_delay = tuple(fail_on), tuple(slow_on), delay
        self.active = self.peak = 0
        self.lock = threading.Lock()

    def stream(self, messages, max_tokens, cancel=None):
        user = messages[-1]["content"].split("Question:")[-1]
        with self.lock:
            self.calls.append(messages)
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            if any(w in user for w in self.fail_on):
                raise GenerationError("the model fell over")
            time.sleep(self.slow_delay if any(w in user for w in self.slow_on) else 0.01)
            yield self.quote_first_source(messages[-1]["content"])
        finally:
            with self.lock:
                self.active -= 1

    @staticmethod
    def quote_first_source(prompt: str) -> str:
        """What a good model does: copy words from source [1] and cite it."""
        for line in prompt.splitlines():
            if line.startswith("[1] "):
                words = line.split(": ", 1)[-1].split()[:12]
                return " ".join(words).rstrip(".") + " [1]."
        return "No sources."


def fake_pipeline(settings, generator=None):
    return make_pipeline(settings, embedder=FakeEmbedder(), generator=generator or ScriptedGenerator())


def batch(argv: list[str], generator=None, stdin: str | None = None, **overrides):
    """Run `assistant batch ARGV` in-process with the fake pipeline: (exit code, stdout, stderr, generator)."""
    args = build_parser().parse_args(["batch", *argv])
    settings = settings_from(args)
    for k, v in overrides.items():
        setattr(settings, k, v)
    gen = generator or KeyedGenerator()
    out, err = io.StringIO(), io.StringIO()
    rc = run_batch(
        args,
        settings,
        fake_pipeline(settings, gen),
        stdin=io.StringIO(stdin) if stdin is not None else None,
        stdout=out,
        stderr=err,
    )
    return rc, out.getvalue(), err.getvalue(), gen


def jsonl(text: str) -> list[dict]:
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]  # every line valid JSON on its own


# -- input formats ------------------------------------------------------------
def test_text_file_to_jsonl_stdout(tmp_path, titles):
    q = tmp_path / "q.txt"
    q.write_text(f"# a comment\n\n{titles[0]}\n   \n{titles[1]}\nWhat is the capital of France?\n")
    rc, out, err, gen = batch([str(q)])
    assert rc == 0
    rows = jsonl(out)
    assert [r["question"] for r in rows] == [titles[0], titles[1], "What is the capital of France?"]
    for r in rows:
        assert RESULT_KEYS <= set(r) and r["error"] is None and r["timings"]["total_s"] >= 0
    assert rows[0]["citations"] and rows[0]["citations"][0]["title"] and rows[0]["citations"][0]["quote"]
    assert rows[0]["citations"][0]["paper_id"] in {s["paper_id"] for s in rows[0]["retrieved"]}
    assert rows[2]["abstained"] and not rows[2]["citations"]
    assert rows[0]["id"].startswith("q-") and len({r["id"] for r in rows}) == 3
    assert "3 answered (1 abstained), 0 failed" in err and "p50 latency" in err
    assert len(gen.calls) == 2  # the abstention never reached the model


def test_jsonl_ids_extra_fields_and_malformed_line(tmp_path, titles):
    q = tmp_path / "q.jsonl"
    q.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "question": titles[0], "gold": "x", "tags": ["t"]}),
                '{"id": "b", "question": "broken',
                json.dumps([1, 2]),
                json.dumps({"id": 7, "question": titles[1]}),
                json.dumps({"id": "no-q"}),
            ]
        )
        + "\n"
    )
    rc, out, err, _ = batch([str(q)])
    assert rc == 1  # some failed
    rows = jsonl(out)
    assert [r["id"] for r in rows] == ["a", "line-2", "line-3", 7, "no-q"]
    assert rows[0]["gold"] == "x" and rows[0]["tags"] == ["t"] and rows[0]["error"] is None
    assert rows[1]["error"].startswith("line 2: not valid JSON")
    assert rows[2]["error"] == "line 3: expected a JSON object, got list"
    assert rows[3]["error"] is None and rows[3]["text"]
    assert rows[4]["error"] == 'line 5: no "question" field'
    assert "2 answered (0 abstained), 3 failed" in err and "line 2: not valid JSON" in err


def test_csv_input_to_csv_and_markdown_files(tmp_path, titles):
    q = tmp_path / "q.csv"
    with open(q, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ID", "Question", "topic"])
        w.writerow(["x1", titles[0], "theory, mostly"])
        w.writerow(["", "", ""])  # an empty row: skipped
        w.writerow(["x2", titles[1], "nlp"])
    rc, out, err, _ = batch([str(q), "-o", str(tmp_path / "out.csv")])
    assert rc == 0 and out == ""
    rows = list(csv.DictReader(open(tmp_path / "out.csv", newline="")))
    assert [r["id"] for r in rows] == ["x1", "x2"]
    assert rows[0]["topic"] == "theory, mostly" and rows[0]["error"] == "" and rows[0]["abstained"] == "false"
    assert rows[0]["citations"].startswith("[1] ") and float(rows[0]["total_s"]) >= 0
    rc, out, err, _ = batch([str(q), "-o", str(tmp_path / "report.md")])
    md = (tmp_path / "report.md").read_text()
    assert rc == 0 and md.startswith("# Batch answers: q.csv") and f"## x1: {titles[0]}" in md
    assert "2 answered (0 abstained), 0 failed" in md
    # the journal is the resume state: a second run asks nothing and rewrites the same report
    rc, _, err, gen = batch([str(q), "-o", str(tmp_path / "report.md")])
    assert rc == 0 and not gen.calls and "2 of 2 questions already answered" in err
    assert (tmp_path / "report.md").read_text().count("## x") == 2


def test_stdin_format_detection(titles):
    text = f"{titles[0]}\n{titles[1]}\n"
    rc, out, _, _ = batch(["-"], stdin=text)
    assert rc == 0 and [r["question"] for r in jsonl(out)] == titles[:2]
    rc, out, _, _ = batch(["-"], stdin=json.dumps({"id": "j", "question": titles[2]}) + "\n")
    assert [r["id"] for r in jsonl(out)] == ["j"]
    rc, out, _, _ = batch(["-", "--format", "csv"], stdin=f"id,question\nc1,{titles[3]}\n")
    assert [r["id"] for r in csv.DictReader(io.StringIO(out))] == ["c1"]
    rc, out, _, _ = batch(["-", "--format", "md"], stdin=f"{titles[0]}\n")
    assert out.startswith("# Batch answers: stdin") and "## q-" in out and "1 answered" in out


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("missing.txt", None, "no such question file"),
        ("empty.txt", "", "is empty"),
        ("comments.txt", "# only\n\n# comments\n", "holds no questions"),
        ("nocol.csv", "id,query\n1,what?\n", "no 'question' column"),
        ("blank.jsonl", "\n\n", "is empty"),
    ],
)
def test_bad_input_is_one_line_error(tmp_path, monkeypatch, capsys, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    monkeypatch.setattr("assistant.answer.session.make_pipeline", lambda *a, **k: pytest.fail("model loaded"))
    rc = main(["batch", str(path)])
    err = capsys.readouterr().err
    assert rc == BatchInputError.exit_code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_per_question_failures_are_recorded_and_the_batch_goes_on(tmp_path, titles):
    q = tmp_path / "q.jsonl"
    q.write_text(
        "\n".join(
            json.dumps(d)
            for d in [
                {"id": "empty", "question": "   "},
                {"id": "long", "question": "word " * 1000},
                {"id": "boom", "question": titles[0]},
                {"id": "ok", "question": titles[1]},
            ]
        )
        + "\n"
    )
    rc, out, err, _ = batch([str(q)], generator=KeyedGenerator(fail_on=[titles[0]]))
    rows = {r["id"]: r for r in jsonl(out)}
    assert rc == 1
    assert rows["empty"]["error"] == "the question is empty"
    assert "the limit is 2000" in rows["long"]["error"]
    assert rows["boom"]["error"] == "the model fell over" and rows["boom"]["text"] is None
    assert rows["ok"]["error"] is None
    assert "1 answered (0 abstained), 3 failed" in err


def test_cli_main_exit_codes_and_clean_stdout(tmp_path, titles, monkeypatch, capsys):
    q = tmp_path / "q.txt"
    q.write_text(f"{titles[0]}\n")
    monkeypatch.setattr("assistant.answer.session.make_pipeline", lambda s: fake_pipeline(s))
    assert main(["batch", str(q)]) == 0
    captured = capsys.readouterr()
    assert len(jsonl(captured.out)) == 1 and "batch: 1 answered" in captured.err
    q.write_text(f"{titles[0]}\n{'x' * 3000}\n")
    assert main(["batch", str(q), "-q"]) == 1
    captured = capsys.readouterr()
    assert "1 failed" in captured.err  # failures are reported even with --quiet


# -- resume -------------------------------------------------------------------
def test_resume_after_kill_with_partial_last_line(tmp_path, titles):
    q = tmp_path / "q.txt"
    q.write_text("\n".join(titles[:6]) + "\n")
    out = tmp_path / "out.jsonl"
    rc, stdout, _, gen = batch([str(q), "-o", str(out)])
    assert rc == 0 and stdout == "" and len(gen.calls) == 6
    full = out.read_text()
    lines = full.splitlines(keepends=True)
    out.write_text("".join(lines[:2]) + lines[2][: len(lines[2]) // 2])  # killed while writing the third
    rc, _, err, gen = batch([str(q), "-o", str(out)])
    assert rc == 0 and len(gen.calls) == 4 and "2 of 6 questions already answered" in err
    rows = jsonl(out.read_text())
    assert [r["question"] for r in rows] == titles[:6]
    assert [r["id"] for r in rows] == [r["id"] for r in jsonl(full)]
    # everything answered: nothing to do
    rc, _, err, gen = batch([str(q), "-o", str(out)])
    assert rc == 0 and not gen.calls and "6 of 6" in err
    # --overwrite starts over
    rc, _, _, gen = batch([str(q), "-o", str(out), "--overwrite"])
    assert len(gen.calls) == 6 and len(jsonl(out.read_text())) == 6


def test_resume_retries_failed_items_and_keeps_input_order(tmp_path, titles):
    q = tmp_path / "q.jsonl"
    q.write_text("\n".join(json.dumps({"id": f"i{n}", "question": t}) for n, t in enumerate(titles[:5])) + "\n")
    out = tmp_path / "out.jsonl"
    bad = [titles[1], titles[3]]
    rc, _, err, gen = batch([str(q), "-o", str(out)], generator=KeyedGenerator(fail_on=bad))
    assert rc == 1 and "retry the failed ones" in err
    assert [r["id"] for r in jsonl(out.read_text()) if r["error"]] == ["i1", "i3"]
    rc, _, _, gen = batch([str(q), "-o", str(out)])
    assert rc == 0 and len(gen.calls) == 2
    rows = jsonl(out.read_text())
    assert [r["id"] for r in rows] == ["i0", "i1", "i2", "i3", "i4"] and not any(r["error"] for r in rows)


def test_resume_refuses_a_file_that_is_not_batch_output(tmp_path, titles):
    q = tmp_path / "q.txt"
    q.write_text(titles[0] + "\n")
    out = tmp_path / "notes.jsonl"
    out.write_text('{"precious": true}\n')
    with pytest.raises(BatchInputError, match="not batch output"):
        batch([str(q), "-o", str(out)])
    assert out.read_text() == '{"precious": true}\n'


# -- concurrency ----------------------------------------------------------------
def test_concurrency_with_a_server_keeps_input_order(tmp_path, titles):
    q = tmp_path / "q.txt"
    q.write_text("\n".join(titles[:6]) + "\n")
    gen = KeyedGenerator(slow_on=[titles[0]], delay=0.5)  # the first question finishes last
    rc, out, _, gen = batch([str(q), "--concurrency", "3"], generator=gen, llm_url="http://127.0.0.1:9/v1")
    assert rc == 0 and gen.peak >= 2
    assert [r["question"] for r in jsonl(out)] == titles[:6]


def test_concurrency_in_process_warns_and_runs_sequentially(tmp_path, titles, caplog):
    q = tmp_path / "q.txt"
    q.write_text("\n".join(titles[:3]) + "\n")
    rc, out, _, gen = batch([str(q), "--concurrency", "4"])
    assert rc == 0 and gen.peak == 1 and len(jsonl(out)) == 3
    assert "runs sequentially" in caplog.text


def test_read_questions_detects_formats():
    assert [i.question for i in read_questions("-", io.StringIO("What, if anything?\nWhy?\n"))] == [
        "What, if anything?",
        "Why?",
    ]
    assert [i.id for i in read_questions("-", io.StringIO('# c\n{"id": 1, "question": "q"}\n'))] == [1]
    assert [i.id for i in read_questions("-", io.StringIO("Question,id\nq,z\n"))] == ["z"]


# -- the real pipeline ----------------------------------------------------------
@pytest.fixture
def real_copy(seeded_dir, data_dir) -> Path:
    shutil.copytree(seeded_dir, data_dir)
    return data_dir


def dev_questions(n: int) -> list[dict]:
    return [json.loads(line) for line in DEV.read_text().splitlines()[:n]]


@pytest.mark.e2e
@pytest.mark.parametrize("in_fmt,out_name", [("txt", "out.jsonl"), ("jsonl", "out.csv"), ("csv", "out.md")])
def test_real_pipeline_each_format(tmp_path, real_copy, real_embedder, real_generator, in_fmt, out_name):
    from assistant.config import load_settings

    qs = dev_questions(2)
    q = tmp_path / f"q.{in_fmt}"
    if in_fmt == "txt":
        q.write_text("\n".join(d["question"] for d in qs) + "\n")
    elif in_fmt == "jsonl":
        q.write_text("\n".join(json.dumps(d) for d in qs) + "\n")
    else:
        with open(q, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["id", "question", "difficulty"], extrasaction="ignore")
            w.writeheader()
            w.writerows(qs)
    settings = load_settings()
    pipeline = make_pipeline(settings, embedder=real_embedder, generator=real_generator)
    args = build_parser().parse_args(["batch", str(q), "-o", str(tmp_path / out_name)])
    err = io.StringIO()
    rc = run_batch(args, settings, pipeline, stderr=err)
    assert rc == 0, err.getvalue()
    text = (tmp_path / out_name).read_text()
    if out_name.endswith(".jsonl"):
        rows = jsonl(text)
        assert len(rows) == 2 and all(r["error"] is None and r["model"] for r in rows)
        for r in rows:
            retrieved = {s["paper_id"] for s in r["retrieved"]}
            assert all(c["paper_id"] in retrieved and c["quote"] for c in r["citations"])
        assert any(r["citations"] or r["abstained"] for r in rows)
    elif out_name.endswith(".csv"):
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [r["id"] for r in rows] == [d["id"] for d in qs] and rows[0]["gold_title"] == qs[0]["gold_title"]
    else:
        assert text.count("\n## dev-") == 2 and "2 answered" in text


@pytest.mark.e2e
def test_stdin_to_stdout_pipe_subprocess(tmp_path, seeded_dir):
    data = tmp_path / "copy"
    shutil.copytree(seeded_dir, data)
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(data), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    exe = Path(sys.executable).parent / "assistant"
    qs = [d["question"] for d in dev_questions(2)]
    proc = subprocess.run(
        [str(exe), "batch", "-", "--max-tokens", "48"],
        input="\n".join(qs) + "\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rows = jsonl(proc.stdout)  # stdout holds nothing but the JSONL
    assert [r["question"] for r in rows] == qs and all(r["error"] is None for r in rows)
    assert "2 answered" in proc.stderr
