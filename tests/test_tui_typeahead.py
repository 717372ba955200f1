"""Chat type-ahead: a question sent while an answer is still being written waits in a queue (shown as queued, Esc takes
it back) and is asked next; the input is cleared each time, so questions never run together."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from conftest import SEEDS, FakeEmbedder, ScriptedGenerator
from test_tui import ANSWER, QUESTION, SIZE, Recorder, settle, wait_until

from assistant.config import Settings
from assistant.errors import GenerationError
from assistant.ingest.build import ingest
from tui.app import PaperChatApp
from tui.widgets.messages import AnswerMessage, QuestionMessage

SECOND = "What tasks did they evaluate on?"
THIRD = "Which datasets were used?"


@pytest.fixture(scope="module")
def seeds_index(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("typeahead-index") / "data"
    ingest(Settings(data_dir=d), FakeEmbedder(), [SEEDS])
    return d


@pytest.fixture
def chat_settings(data_dir, seeds_index) -> Settings:
    shutil.copytree(seeds_index, data_dir)
    return Settings(data_dir=data_dir, abstain_threshold=-1, n_threads=2)  # never abstain: every question is asked


def transcript(screen) -> list[tuple[str, bool]]:
    return [(q.question, q.queued) for q in screen.query(QuestionMessage)]


async def send(pilot, text: str) -> None:
    pilot.app.screen.prompt.value = text
    await pilot.press("enter")
    await pilot.pause()


class Held(ScriptedGenerator):
    """The first answer writes one word, then waits until the test lets it finish (or Esc stops it)."""

    def __init__(self, first: str = "Transformers learn [1].", fail: bool = False):
        super().__init__([first, ANSWER])
        self.go = threading.Event()
        self.fail_first = fail

    def stream(self, messages, max_tokens, cancel=None):
        if self.calls:
            yield from super().stream(messages, max_tokens, cancel)
            return
        self.calls.append(messages)
        self.started.set()
        if not self.fail_first:
            yield "Transformers"
        while not self.go.wait(0.02):
            if cancel is not None and cancel.is_set():
                return
        if self.fail_first:
            raise GenerationError("generation failed: the model crashed")
        yield " learn [1]."


@pytest.mark.asyncio
async def test_enter_while_answering_queues_the_question_and_asks_it_next(chat_settings):
    gen = Held()
    recorder = Recorder(chat_settings, gen)
    app = PaperChatApp(chat_settings, pipeline_factory=recorder)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        await wait_until(pilot, lambda: screen.pipeline is not None)
        await send(pilot, QUESTION)
        await wait_until(pilot, gen.started.is_set)  # the model is writing the first answer
        await send(pilot, SECOND)
        await send(pilot, THIRD)
        assert screen.prompt.value == ""  # each question left the input: nothing runs together
        assert transcript(screen) == [(QUESTION, False), (SECOND, True), (THIRD, True)]
        assert "queued" in str(screen.queued[0].border_title)
        assert [a["question"] for a in recorder.asks] == [QUESTION]

        await pilot.press("escape")  # takes back the last queued question, the answer keeps going
        await pilot.pause()
        assert transcript(screen) == [(QUESTION, False), (SECOND, True)]
        assert screen.prompt.value == THIRD and screen.cancel_event is not None and not screen.cancel_event.is_set()

        gen.go.set()  # the first answer finishes
        await wait_until(pilot, lambda: len(recorder.asks) == 2 and not screen.generating, tries=2000)
        await settle(pilot)
        assert [a["question"] for a in recorder.asks] == [QUESTION, SECOND]
        assert [a.question for a in recorder.asks[1]["history"]] == [QUESTION]  # asked after the first answer
        assert transcript(screen) == [(QUESTION, False), (SECOND, False)]
        bubbles = list(screen.query(AnswerMessage))
        assert [b.answer.question for b in bubbles] == [QUESTION, SECOND]
        assert not any(b.answer.cancelled for b in bubbles) and all(b.answer.text for b in bubbles)
        # the answers sit under their questions, in order
        order = [type(w).__name__ for w in screen.log_view.children if isinstance(w, (QuestionMessage, AnswerMessage))]
        assert order == ["QuestionMessage", "AnswerMessage", "QuestionMessage", "AnswerMessage"]
        assert screen.prompt.value == THIRD


@pytest.mark.asyncio
async def test_a_failed_answer_removes_its_own_question_not_the_queued_one(chat_settings):
    gen = Held(fail=True)
    recorder = Recorder(chat_settings, gen)
    app = PaperChatApp(chat_settings, pipeline_factory=recorder)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        await wait_until(pilot, lambda: screen.pipeline is not None)
        await send(pilot, QUESTION)
        await wait_until(pilot, lambda: screen.generating)
        await send(pilot, SECOND)
        assert transcript(screen) == [(QUESTION, False), (SECOND, True)]
        gen.go.set()
        await wait_until(pilot, lambda: len(recorder.asks) == 2 and not screen.generating, tries=2000)
        await settle(pilot)
        assert transcript(screen) == [(SECOND, False)]  # the failed question left, the queued one was answered
        assert screen.prompt.value == QUESTION  # the failed question is back in the input to retry
        answer = screen.query(AnswerMessage).last().answer
        assert answer.question == SECOND and answer.text and not answer.cancelled


@pytest.mark.asyncio
async def test_escape_with_nothing_queued_stops_the_answer(chat_settings):
    gen = Held()
    recorder = Recorder(chat_settings, gen)
    app = PaperChatApp(chat_settings, pipeline_factory=recorder)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        await wait_until(pilot, lambda: screen.pipeline is not None)
        await send(pilot, QUESTION)
        await wait_until(pilot, gen.started.is_set)
        await send(pilot, SECOND)
        await pilot.press("escape")  # first Esc: the queued question
        await pilot.pause()
        assert not screen.queued and not screen.cancel_event.is_set()
        await pilot.press("escape")  # second Esc: the answer
        await settle(pilot)
        assert screen.query(AnswerMessage).last().answer.cancelled and len(recorder.asks) == 1
