"""The Textual chat app, driven with Pilot: a fake pipeline (hashed-word embedder, scripted generator) over a real
Chroma index of the seeds; one end-to-end test with the real model. Waits on workers and conditions, never on clocks."""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import SEEDS, FakeEmbedder, ScriptedGenerator
from textual.widgets import Markdown, Static

from assistant.answer.session import make_pipeline
from assistant.config import Settings
from assistant.errors import GenerationError
from assistant.ingest.build import ingest
from assistant.types import Answer, Timings
from tui.app import PaperChatApp
from tui.screens.conversations import ConversationsScreen
from tui.screens.dialogs import ConfirmScreen
from tui.screens.help import HelpScreen
from tui.screens.paper import PaperScreen
from tui.widgets.messages import AnswerMessage, QuestionMessage
from tui.widgets.sources import SourcesList

SIZE = (120, 40)
QUESTION = "What algorithms can transformers learn?"
# Close to an evidence sentence of the top paper, so the citation check keeps it.
ANSWER = "Transformer models can learn the true algorithm for solving a task [1]."


@pytest.fixture(scope="module")
def fake_index(tmp_path_factory) -> Path:
    """The seeds indexed once with the fake embedder; tests copy it into their own data dir."""
    d = tmp_path_factory.mktemp("tui-index") / "data"
    ingest(Settings(data_dir=d), FakeEmbedder(), [SEEDS])
    return d


@pytest.fixture
def chat_settings(data_dir, fake_index) -> Settings:
    shutil.copytree(fake_index, data_dir)
    # The hashed-word embedder gives low similarities: never abstain, so every question reaches the generator,
    # which writes the answer (the generative style: its sentences are checked before they are shown).
    return Settings(data_dir=data_dir, abstain_threshold=-1, n_threads=2, answer_style="generative")


class Recorder:
    """Pipeline factory that records the keyword arguments of every ask (history included)."""

    def __init__(self, settings: Settings, generator, fixed_timings: bool = False):
        self.settings, self.generator, self.fixed_timings = settings, generator, fixed_timings
        self.asks: list[dict] = []

    def __call__(self):
        pipeline = make_pipeline(self.settings, embedder=FakeEmbedder(), generator=self.generator)
        ask = pipeline.ask

        def recording_ask(question, **kwargs):
            self.asks.append({"question": question, **kwargs})
            answer = ask(question, **kwargs)
            if self.fixed_timings:  # deterministic status line for snapshots
                answer.timings = Timings(0.02, 0.25, 1.25, 1.3, 300, 21)
            return answer

        pipeline.ask = recording_ask
        return pipeline


def make_app(settings, replies=None, fixed: bool = False, **gen_kwargs) -> tuple[PaperChatApp, Recorder]:
    recorder = Recorder(settings, ScriptedGenerator(replies or [ANSWER], **gen_kwargs), fixed)
    return PaperChatApp(settings, pipeline_factory=recorder), recorder


async def settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def wait_until(pilot, condition, tries: int = 500) -> None:
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError("condition not reached")


async def ask(pilot, question: str) -> AnswerMessage | None:
    screen = pilot.app.screen
    # On a loaded machine the background load can finish a moment after the first settle.
    if getattr(screen, "load_error", None) == "The index and the model are still loading.":
        await wait_until(
            pilot,
            lambda: screen.pipeline is not None or screen.load_error != "The index and the model are still loading.",
        )
    screen.prompt.value = question
    await pilot.press("enter")
    await settle(pilot)
    bubbles = screen.query(AnswerMessage)
    return bubbles.last() if bubbles else None


def shown(widget: Static) -> str:
    return widget.visual.plain


def markdown_text(md: Markdown) -> str:
    return "\n".join(shown(block) for block in md.query("MarkdownBlock") if hasattr(block, "visual"))


def notifications(app) -> list:
    return list(app._notifications)


@pytest.mark.asyncio
async def test_input_accepts_typing_before_the_pipeline_is_loaded(chat_settings):
    app, _ = make_app(chat_settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h", "i")
        assert app.screen.prompt.value == "hi"
        await settle(pilot)
        assert "216 papers" in shown(app.screen.query_one("#status-text", Static))


@pytest.mark.asyncio
async def test_ask_streams_the_answer_and_lists_sources(chat_settings):
    app, recorder = make_app(chat_settings, [ANSWER])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        bubble = await ask(pilot, QUESTION)
        assert bubble.answer.text == ANSWER and bubble.answer.citations
        assert "true algorithm" in markdown_text(bubble.query_one(Markdown))
        assert app.screen.prompt.value == ""
        sources = app.screen.query_one(SourcesList)
        assert sources.option_count == len(bubble.answer.evidence) > 0
        status = shown(app.screen.query_one("#status-text", Static))
        assert "scripted" in status and "CPU, 2 threads" in status and "tok/s" in status
        assert recorder.asks[0]["history"] == []


@pytest.mark.asyncio
async def test_escape_cancels_and_shows_only_checked_text(chat_settings):
    reply = " ".join(f"word{i}" for i in range(300))
    app, recorder = make_app(chat_settings, [reply], delay=0.02)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.prompt.value = QUESTION
        await pilot.press("enter")
        bubble = app.screen.query(AnswerMessage).last()
        await wait_until(pilot, recorder.generator.started.is_set)
        await pilot.press("escape")
        await settle(pilot)
        assert bubble.answer.cancelled
        text = markdown_text(bubble.query_one(Markdown))
        # The unchecked words never reach the screen: what is shown is the checked answer (here the evidence quote).
        assert "word" not in text and text.startswith("According to [1]") and bubble.answer.citations
        assert app.screen.cancel_event is None  # ready for the next question


@pytest.mark.asyncio
async def test_citation_opens_the_paper_modal(chat_settings):
    app, _ = make_app(chat_settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        bubble = await ask(pilot, QUESTION)
        cited = bubble.answer.citations[0]
        await pilot.press("tab")
        assert isinstance(app.focused, SourcesList)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PaperScreen)
        paper = app.screen.paper
        assert paper.id == cited.paper_id
        abstract = app.screen.query_one("#paper-abstract", Static).visual
        assert abstract.plain == paper.abstract
        # the supporting quote is highlighted
        start = abstract.plain.index(cited.quote)
        assert any(span.start <= start < span.end for span in abstract.spans)
        assert "000_d1fd4c495b64a3a8.txt" in shown(app.screen.query_one("#paper-sources", Static))
        await pilot.press("escape")
        await pilot.press("1")  # the number key opens [1] from the focused list
        await pilot.pause()
        assert isinstance(app.screen, PaperScreen) and app.screen.evidence.number == 1


@pytest.mark.asyncio
async def test_follow_up_passes_history(chat_settings):
    app, recorder = make_app(chat_settings, [ANSWER, "They evaluate on parity and addition [1]."])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = await ask(pilot, QUESTION)
        await ask(pilot, "What tasks did they evaluate on?")
        assert recorder.asks[1]["history"] == [first.answer]
        assert [q.visual.plain for q in app.screen.query(QuestionMessage)] == [
            QUESTION,
            "What tasks did they evaluate on?",
        ]
        await pilot.press("up")
        assert app.screen.prompt.value == "What tasks did they evaluate on?"
        await pilot.press("up", "down", "down")
        assert app.screen.prompt.value == ""


@pytest.mark.asyncio
async def test_saved_conversation_reopens_and_continues(chat_settings):
    app, _ = make_app(chat_settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await ask(pilot, QUESTION)
        await pilot.press("ctrl+s")
        exported = list((chat_settings.data_dir / "exports").glob("*.md"))
        assert len(exported) == 1 and "## " + QUESTION in exported[0].read_text()
    folder = chat_settings.data_dir / "conversations"
    (saved,) = folder.glob("*.jsonl")
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700 and stat.S_IMODE(os.stat(saved).st_mode) == 0o600
    assert json.loads(saved.read_text())["question"] == QUESTION

    app, recorder = make_app(chat_settings, ["Parity and addition [1]."])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert isinstance(app.screen, ConversationsScreen)
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert [a.question for a in screen.answers] == [QUESTION]
        restored = screen.query(AnswerMessage).last()
        assert "true algorithm" in restored.query_one(Markdown).source
        assert screen.query_one(SourcesList).option_count > 0
        await ask(pilot, "Which tasks?")
        assert [a.question for a in recorder.asks[0]["history"]] == [QUESTION]
    assert len(saved.read_text().splitlines()) == 2  # the follow-up went into the same conversation


@pytest.mark.asyncio
async def test_generation_error_notifies_and_keeps_the_question(chat_settings):
    app, _ = make_app(
        chat_settings, fail=GenerationError("generation failed: [bold]boom[/bold]; retry or pass --model")
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await ask(pilot, QUESTION)
        assert app.screen.prompt.value == QUESTION
        assert not app.screen.query(AnswerMessage) and not app.screen.query(QuestionMessage)
        (note,) = notifications(app)
        assert note.severity == "error" and note.markup is False
        assert "[bold]boom[/bold]" in note.message


@pytest.mark.asyncio
async def test_missing_index_offers_to_build_it(data_dir):
    settings = Settings(data_dir=data_dir, abstain_threshold=-1)
    built = []

    def builder(progress):
        built.append(ingest(settings, FakeEmbedder(), [SEEDS], progress=progress))

    app = PaperChatApp(
        settings,
        index_builder=builder,
        pipeline_factory=lambda: make_pipeline(
            settings, embedder=FakeEmbedder(), generator=ScriptedGenerator([ANSWER])
        ),
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen), [n.message for n in notifications(app)]
        assert any("ingest" in n.message for n in notifications(app))
        await pilot.press("escape")  # not now
        await pilot.press("w", "h", "y", "enter")  # asking offers the build again; the question stays
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("enter")  # the focused "Build index" button
        await settle(pilot)
        await settle(pilot)
        assert built and built[0].papers == 216
        assert app.screen.pipeline is not None and app.screen.prompt.value == "why"


@pytest.mark.asyncio
async def test_markup_in_corpus_and_model_text_is_shown_literally(data_dir):
    corpus = data_dir.parent / "tricky.jsonl"
    title = "[bold red]Markup[/] {x} injection [link=https://example.invalid]here[/link]"
    abstract = (
        "We study markup injection in transformers with [bold]tags[/bold] and $\\frac{a}{b}$ braces {z}. "
        "The second sentence mentions [i]italics[/i] and https://example.invalid/path?q=[1]."
    )
    corpus.write_text(
        json.dumps({"title": title, "abstract": abstract})
        + "\n"
        + json.dumps({"title": "Plain paper", "abstract": "Nothing to see. Really nothing here."})
        + "\n"
    )
    settings = Settings(data_dir=data_dir, abstain_threshold=-1)
    ingest(settings, FakeEmbedder(), [corpus])
    reply = "Injection uses [bold]tags[/bold] and [link=https://example.invalid]x[/link] \x1b[31mred {z} [1]."
    app, _ = make_app(settings, [reply])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        bubble = await ask(pilot, "markup injection in transformers [bold]?")
        assert "[bold]tags[/bold]" in markdown_text(bubble.query_one(Markdown))
        assert "\x1b" not in bubble.query_one(Markdown).source
        assert title in shown(bubble.meta)
        assert shown(app.screen.query(QuestionMessage).last()) == "markup injection in transformers [bold]?"
        sources = app.screen.query_one(SourcesList)
        assert any(title in sources.get_option_at_index(i).prompt.plain for i in range(sources.option_count))
        await pilot.press("tab", "1")
        await pilot.pause()
        assert title in shown(app.screen.query_one("#paper-title", Static))
        assert shown(app.screen.query_one("#paper-abstract", Static)) == abstract


@pytest.mark.asyncio
async def test_help_commands_and_theme(chat_settings):
    app, _ = make_app(chat_settings)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"New conversation", "Open conversation", "Export conversation", "Copy last answer"} <= set(titles)
        dark = app.current_theme.dark
        await pilot.press("ctrl+t")
        assert app.current_theme.dark != dark
        await ask(pilot, QUESTION)
        await pilot.press("ctrl+y")
        assert "true algorithm" in app.clipboard and "References:" in app.clipboard


# -- snapshots -----------------------------------------------------------------


def snapshot_app(settings):
    app, _ = make_app(settings, [ANSWER], fixed=True)
    return app


async def steady(pilot) -> None:
    await settle(pilot)
    pilot.app.screen.prompt.cursor_blink = False  # a blinking cursor makes screenshots differ


def test_snapshot_answer(chat_settings, snap_compare):
    async def run_before(pilot):
        await steady(pilot)
        await ask(pilot, QUESTION)

    assert snap_compare(snapshot_app(chat_settings), terminal_size=SIZE, run_before=run_before)


def test_snapshot_paper_modal(chat_settings, snap_compare):
    async def run_before(pilot):
        await steady(pilot)
        await ask(pilot, QUESTION)
        await pilot.press("tab", "enter")
        await pilot.pause()

    assert snap_compare(snapshot_app(chat_settings), terminal_size=SIZE, run_before=run_before)


def test_snapshot_help(chat_settings, snap_compare):
    async def run_before(pilot):
        await steady(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(snapshot_app(chat_settings), terminal_size=SIZE, run_before=run_before)


# -- end to end ----------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.asyncio
async def test_e2e_real_model_answers_with_citations(tmp_path, seeded_dir, real_embedder, real_generator):
    data = tmp_path / "e2e-data"
    shutil.copytree(seeded_dir, data)
    settings = Settings(data_dir=data)
    app = PaperChatApp(
        settings, pipeline_factory=lambda: make_pipeline(settings, embedder=real_embedder, generator=real_generator)
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert real_generator.name in shown(app.screen.query_one("#status-text", Static))
        bubble = await ask(pilot, "How do transformers generalize to longer inputs on algorithmic tasks?")
        answer = bubble.answer
        assert answer.text and not answer.cancelled
        assert markdown_text(bubble.query_one(Markdown)).strip()
        assert app.screen.query_one(SourcesList).option_count == len(answer.evidence) > 0
        # The bundled 135M model is not asked for answer phrases (model_phrase=auto): the answer is extractive.
        assert "last answer: from the evidence" in shown(app.screen.query_one("#status-text", Static))
        assert answer.citations and '"' in answer.text


@pytest.mark.asyncio
async def test_a_pause_in_typing_reads_the_draft_ahead_and_enter_cancels_it(chat_settings):
    app, recorder = make_app(chat_settings, [ANSWER])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await wait_until(pilot, lambda: app.screen.pipeline is not None)
        screen = app.screen
        drafts = []
        prepare = screen.pipeline.prepare
        screen.pipeline.prepare = lambda d, **kw: (drafts.append((d, kw["cancel"])), prepare(d, **kw))[1]
        screen.prompt.value = "why"  # too short to be worth it
        await pilot.pause(0.6)
        assert drafts == []
        screen.prompt.value = QUESTION[:45] + "  "
        await pilot.pause(0.1)
        assert drafts == []  # still typing
        await wait_until(pilot, lambda: drafts)
        assert drafts[0][0] == QUESTION[:45].strip() and not drafts[0][1].is_set()
        screen.prompt.value = QUESTION
        await pilot.press("enter")
        assert drafts[0][1].is_set()  # Enter stops the read-ahead: the answer gets the model
        await settle(pilot)
        await pilot.pause(0.6)
        assert len(drafts) == 1 and recorder.asks[-1]["question"] == QUESTION


def test_a_compare_answer_is_shown_as_a_table_of_its_quotes():
    """One column per paper, one row per aspect; every cell is the quoted sentence, a pipe in it escaped."""
    from assistant.types import Comparison
    from tui.widgets.messages import answer_markdown

    table = Comparison(
        ("problem", "method"),
        (
            (1, "LIMO: Less is More", ("Reasoning needs data | or not.", "A few curated samples.")),
            (2, "ReFT: Reinforced Fine-Tuning", ("", "PPO after SFT.")),
        ),
        ("LIMO, samples", "reft, paths"),
    )
    a = Answer("compare LIMO and ReFT", "Compared: [1] LIMO; [2] ReFT\n\nProblem:\n- ...", table=table)
    md = answer_markdown(a).splitlines()
    assert md[0] == "Compared: [1] LIMO; [2] ReFT"
    assert md[2] == "| | \\[1\\] LIMO | \\[2\\] ReFT |"
    assert md[4] == "| **problem** | Reasoning needs data \\| or not. | — |"
    assert md[5] == "| **method** | A few curated samples. | PPO after SFT. |"
    assert md[6] == "| **sets it apart** | LIMO, samples | reft, paths |"
    assert answer_markdown(Answer("q", "plain *text*")) == "plain *text*"
    with_overview = answer_markdown(replace(a, summary="ReFT adds RL after SFT [2].")).splitlines()
    assert with_overview[:4] == [md[0], "", "ReFT adds RL after SFT [2].", ""] and with_overview[4:] == md[2:]
