"""The chat screen: transcript, sources pane, status line and input; the pipeline loads and answers in threads."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Static

from assistant.errors import AssistantError, IndexMissingError
from assistant.types import Answer

from ..backend import device_label
from ..safe import plain
from ..widgets.messages import AnswerMessage, QuestionMessage, keep_partial
from ..widgets.prompt import PromptInput
from ..widgets.sources import SourcesList
from ..widgets.status import StatusBar
from .dialogs import BuildIndexScreen, ConfirmScreen
from .history import ConversationActions
from .paper import PaperScreen

log = logging.getLogger(__name__)
UI_FLUSH_S = 0.2  # streamed text reaches the screen at most this often (5 redraws a second)
READ_AHEAD_PAUSE = 0.4  # seconds without typing before the draft question's sources are read into the model
WELCOME = (
    "Ask a question about the indexed research-paper abstracts.\n"
    "Answers cite papers as [n]; Tab moves to the sources list. F1 shows all keys."
)


class ChatScreen(ConversationActions, Screen):
    # The answering thread posts tokens as messages instead of call_from_thread, which would block it on
    # every token until the UI had drawn it (that halved tokens/s on 2 cores). One queue keeps the order:
    # every token is handled before the Finished message of its answer.
    # (The answer widget is `view`: a Message's `bubble` says whether it bubbles up to the app.)
    class Token(Message):
        def __init__(self, view: AnswerMessage, piece: str) -> None:
            super().__init__()
            self.view, self.piece = view, piece

    class Finished(Message):
        def __init__(self, view: AnswerMessage, question: str, answer: Answer | None = None, error: str = "") -> None:
            super().__init__()
            self.view, self.question, self.answer, self.error = view, question, answer, error

    BINDINGS = [
        Binding("escape", "cancel", "Stop"),
        Binding("ctrl+n", "new_conversation", "New"),
        Binding("ctrl+o", "open_conversations", "History"),
        Binding("ctrl+s", "export", "Export"),
        Binding("ctrl+y", "copy_answer", "Copy"),
        Binding("ctrl+up", "select_answer(-1)", "Previous answer", show=False),
        Binding("ctrl+down", "select_answer(1)", "Next answer", show=False),
        Binding("pageup", "scroll_log(-1)", "Scroll up", show=False),
        Binding("pagedown", "scroll_log(1)", "Scroll down", show=False),
        Binding("ctrl+r", "reload", "Reload", show=False),
        Binding("question_mark", "app.help", "Help", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.pipeline: Any = None
        self.load_error: str | None = "The index and the model are still loading."
        self.answers: list[Answer] = []
        self.conv_id: str | None = None
        self.cancel_event: threading.Event | None = None
        self.selected: AnswerMessage | None = None
        self.index_missing = False
        self.read_ahead_cancel: threading.Event | None = None
        self.read_ahead_timer: Timer | None = None
        # Questions sent while an answer is being written wait here, in order, each shown in the transcript as
        # queued; Esc takes back the last one. (Keeping the text in the input made the next questions run together.)
        self.queued: list[QuestionMessage] = []
        self.asking: QuestionMessage | None = None  # the question being answered

    # -- layout -------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with VerticalScroll(id="chat-log", can_focus=False):
                yield Static(plain(WELCOME), id="welcome")
            with Vertical(id="sources-pane") as pane:
                pane.border_title = "Sources"
                yield SourcesList(id="sources")
        yield StatusBar(id="status")
        yield PromptInput(id="prompt")
        yield Footer()

    @property
    def prompt(self) -> PromptInput:
        return self.query_one(PromptInput)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def log_view(self) -> VerticalScroll:
        return self.query_one("#chat-log", VerticalScroll)

    @property
    def generating(self) -> bool:
        return self.cancel_event is not None

    def on_mount(self) -> None:
        self.prompt.focus()
        self.status.busy("Loading the index and the model…")
        self.call_after_refresh(self.action_reload)  # first paint before the heavy imports start

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "cancel":
            return self.generating or bool(self.queued)
        return True

    def _call(self, fn, *args) -> None:
        """From a worker thread: run `fn` on the UI thread; quietly skip when the app is closing."""
        try:
            self.app.call_from_thread(fn, *args)
        except RuntimeError:
            pass

    # -- loading ------------------------------------------------------------
    def action_reload(self) -> None:
        if self.generating:
            self.notify("Wait for the answer to finish (or press Esc) before reloading.", markup=False)
            return
        self.pipeline, self.load_error = None, "The index and the model are still loading."
        self.index_missing = False
        self.status.busy("Loading the index and the model…")
        self.load_pipeline()

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load_pipeline(self) -> None:
        try:
            pipeline = self.chat_app.pipeline_factory()
        except IndexMissingError as exc:
            self._call(self._index_missing, str(exc))
        except AssistantError as exc:
            self._call(self._load_failed, str(exc))
        except Exception as exc:  # keep the app usable: the user can fix the cause and press Ctrl+R
            self._call(self._load_failed, f"loading failed: {type(exc).__name__}: {exc}")
        else:
            self._call(self._loaded, pipeline)

    def _loaded(self, pipeline) -> None:
        self.pipeline, self.load_error = pipeline, None
        self.status.ready(
            pipeline.generator.name, device_label(pipeline.settings), len(pipeline.retriever.index.papers)
        )

    def _load_failed(self, message: str) -> None:
        self.load_error = message
        self.status.problem("Not ready: " + message)
        self.notify(message, title="Cannot load", severity="error", timeout=15, markup=False)

    def _index_missing(self, message: str) -> None:
        self._load_failed(message)
        self.index_missing = True
        self.offer_build()

    def offer_build(self) -> None:
        question = (
            f"There is no index in {self.chat_app.settings.data_dir}.\n"
            "Build it now from the bundled seed papers? This takes a minute or so."
        )
        self.app.push_screen(ConfirmScreen(question, yes="Build index", no="Not now"), self._build_confirmed)

    def _build_confirmed(self, yes: bool | None) -> None:
        if yes:
            self.index_missing = False
            self.status.busy("Building the index…")
            self.app.push_screen(BuildIndexScreen(self.chat_app.index_builder, "seeds/"), self._built)

    def _built(self, error: str | None) -> None:
        if error:
            self._load_failed(error)
        else:
            self.notify("Index built.", markup=False)
            self.action_reload()

    # -- reading ahead while the question is typed ---------------------------
    @on(Input.Changed, "#prompt")
    def draft_changed(self, event: Input.Changed) -> None:
        self.stop_read_ahead()
        draft = event.value.strip()
        if self.pipeline is None or self.generating or len(draft.split()) < 3:
            return
        self.read_ahead_timer = self.set_timer(READ_AHEAD_PAUSE, lambda: self.start_read_ahead(draft))

    def start_read_ahead(self, draft: str) -> None:
        self.read_ahead_timer = None
        if self.pipeline is None or self.generating:
            return
        self.read_ahead_cancel = threading.Event()
        self.read_ahead(draft, list(self.answers), self.read_ahead_cancel)

    def stop_read_ahead(self) -> None:
        if self.read_ahead_timer is not None:
            self.read_ahead_timer.stop()
            self.read_ahead_timer = None
        if self.read_ahead_cancel is not None:
            self.read_ahead_cancel.set()  # the worker stops after its current step of a few dozen tokens
            self.read_ahead_cancel = None

    @work(thread=True, exclusive=True, group="read-ahead", exit_on_error=False)
    def read_ahead(self, draft: str, history: list[Answer], cancel: threading.Event) -> None:
        try:
            decoded = self.pipeline.prepare(draft, history=history, cancel=cancel)
            log.debug("read ahead %d prompt tokens for %r", decoded, draft)
        except Exception as exc:  # noqa: BLE001 - only a speed-up: the real ask reports any problem
            log.debug("read-ahead failed: %s", exc)

    # -- asking -------------------------------------------------------------
    @on(Input.Submitted, "#prompt")
    async def submit(self, event: Input.Submitted) -> None:
        self.stop_read_ahead()
        question = event.value.strip()
        if not question:
            return
        if self.pipeline is None and self.index_missing:
            self.offer_build()
            return
        if self.pipeline is None:
            reason = (self.load_error or "Not ready").rstrip(".")
            self.notify(f"{reason}. Your question is kept in the input.", severity="warning", markup=False)
            return
        self.prompt.remember(question)
        self.prompt.value = ""  # also when it has to wait: the next question starts on an empty line
        await (self.enqueue(question) if self.generating else self.start_answer(question))

    async def enqueue(self, question: str) -> None:
        """Type-ahead: the question waits, shown as queued, and is asked when the current answer is done."""
        waiting = QuestionMessage(question, queued=True)
        self.queued.append(waiting)
        await self.log_view.mount(waiting)
        self.log_view.scroll_end(animate=False)
        self.refresh_bindings()

    async def start_answer(self, question: str, waiting: QuestionMessage | None = None) -> None:
        self.query_one("#welcome").display = False
        bubble = AnswerMessage()
        if waiting is None:
            waiting = QuestionMessage(question)
            await self.log_view.mount_all([waiting, bubble])
        else:
            waiting.set_queued(False)
            await self.log_view.mount(bubble, after=waiting)
        self.asking = waiting
        self.log_view.scroll_end(animate=False)
        self.cancel_event = threading.Event()
        self.refresh_bindings()
        self.status.busy("Answering… (Esc to stop)", spin=False)
        self.ask(question, list(self.answers), bubble, self.cancel_event)

    @work(thread=True, exclusive=True, group="ask", exit_on_error=False)
    def ask(self, question: str, history: list[Answer], bubble: AnswerMessage, cancel: threading.Event) -> None:
        pending: list[str] = []
        last_flush = 0.0

        def on_token(piece: str) -> None:
            # Batched: redrawing the Markdown for every token takes a core from llama.cpp's two threads.
            # Measured in tmux on 2 cores: 45 tok/s per token, 60 at 0.1 s, 65-74 at 0.25 s (CLI: 80).
            nonlocal last_flush
            pending.append(piece)
            now = time.monotonic()
            if now - last_flush >= UI_FLUSH_S:  # the first token goes out at once
                last_flush = now
                flush()

        def flush() -> None:
            if pending:
                self.post_message(self.Token(bubble, "".join(pending)))
                pending.clear()

        try:
            answer = self.pipeline.ask(question, history=history, cancel=cancel, on_token=on_token)
            flush()
        except AssistantError as exc:
            flush()
            self.post_message(self.Finished(bubble, question, error=str(exc)))
        except Exception as exc:
            flush()
            self.post_message(self.Finished(bubble, question, error=f"unexpected {type(exc).__name__}: {exc}"))
        else:
            self.post_message(self.Finished(bubble, question, answer))

    async def on_chat_screen_token(self, event: Token) -> None:
        await self._token(event.view, event.piece)

    async def on_chat_screen_finished(self, event: Finished) -> None:
        if event.answer is None:
            await self._failed(event.question, event.view, event.error)
        else:
            await self._answered(event.view, event.answer)
        if self.queued and not self.generating:  # the oldest queued question, with that answer as history
            waiting = self.queued.pop(0)
            await self.start_answer(waiting.question, waiting)

    async def _token(self, bubble: AnswerMessage, piece: str) -> None:
        follow = self.log_view.scroll_y >= self.log_view.max_scroll_y - 1  # the user has not scrolled up
        await bubble.add_token(piece)
        if follow:
            self.log_view.scroll_end(animate=False, immediate=False)

    def _done(self) -> None:
        self.cancel_event = None
        self.refresh_bindings()
        self.status.idle()

    async def _answered(self, bubble: AnswerMessage, answer: Answer) -> None:
        answer = keep_partial(answer, bubble.streamed)
        follow = self.log_view.scroll_y >= self.log_view.max_scroll_y - 1
        await bubble.finish(answer)
        if follow:
            self.log_view.scroll_end(animate=False)
        self._done()
        self.answers.append(answer)
        self.status.timings(answer.timings, answer.made_by, answer.model_words)
        self.select(bubble)
        if answer.cancelled:
            self.notify("Stopped; the partial answer is kept.", markup=False)
        self._save(answer)

    async def _failed(self, question: str, bubble: AnswerMessage, message: str) -> None:
        self._done()
        await bubble.discard()
        if self.asking is not None:  # not .last(): questions queued after it come later in the transcript
            await self.asking.remove()
            self.asking = None
        if not self.prompt.value:
            self.prompt.value = question
            self.prompt.cursor_position = len(question)
        self.notify(message, title="Could not answer", severity="error", timeout=15, markup=False)

    async def action_cancel(self) -> None:
        """Esc takes back the last queued question first (its text returns to an empty input); with none queued
        it stops the answer being written."""
        if self.queued:
            waiting = self.queued.pop()
            await waiting.remove()
            if not self.prompt.value:
                self.prompt.value = waiting.question
                self.prompt.cursor_position = len(waiting.question)
            self.notify("Queued question cancelled.", markup=False)
            self.refresh_bindings()
            return
        if self.cancel_event is not None:
            self.cancel_event.set()
            self.status.busy("Stopping…")

    def on_unmount(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()

    # -- selection and sources ---------------------------------------------
    def select(self, bubble: AnswerMessage | None) -> None:
        if self.selected is not None:
            self.selected.remove_class("-selected")
        self.selected = bubble
        if bubble is not None:
            bubble.add_class("-selected")
        self.query_one(SourcesList).show_answer(bubble.answer if bubble else None)

    def on_answer_message_selected(self, event: AnswerMessage.Selected) -> None:
        if event.message.answer is not None:
            self.select(event.message)

    def action_select_answer(self, step: int) -> None:
        bubbles = [b for b in self.log_view.query(AnswerMessage) if b.answer is not None]
        if not bubbles:
            return
        pos = bubbles.index(self.selected) if self.selected in bubbles else len(bubbles)
        bubble = bubbles[max(0, min(len(bubbles) - 1, pos + step))]
        self.select(bubble)
        self.log_view.scroll_to_widget(bubble, animate=False)

    def action_scroll_log(self, direction: int) -> None:
        if direction < 0:
            self.log_view.scroll_page_up()
        else:
            self.log_view.scroll_page_down()

    def on_sources_list_open(self, event: SourcesList.Open) -> None:
        ev = event.evidence
        paper = None
        if self.pipeline is not None:
            paper = self.pipeline.retriever.index.papers.get(ev.paper_id)
        quotes = [c.quote for c in event.answer.citations if c.paper_id == ev.paper_id]
        self.app.push_screen(PaperScreen(ev, paper, quotes))
