"""Small modals: a yes/no question, and the index build with a progress bar."""

from __future__ import annotations

from collections.abc import Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, ProgressBar, Static
from textual.worker import Worker, WorkerState

from ..safe import plain


class ConfirmScreen(ModalScreen[bool]):
    # No single-letter shortcuts: the dialog may pop up while the user is typing a question.
    BINDINGS = [Binding("escape", "answer(False)", "No")]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No"):
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog"):
            yield Static(plain(self.question), id="confirm-question")
            with Horizontal(classes="buttons"):
                yield Button(self.yes, variant="primary", id="yes")
                yield Button(self.no, id="no")

    def on_mount(self) -> None:
        self.query_one("#yes").focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class BuildIndexScreen(ModalScreen[str | None]):
    """Runs `builder(progress)` in a thread; dismisses with None on success or the error message."""

    def __init__(self, builder: Callable, corpus: str):
        super().__init__()
        self.builder = builder
        self.corpus = corpus

    def compose(self) -> ComposeResult:
        with Vertical(id="build-dialog", classes="dialog"):
            yield Static(plain(f"Building the index from {self.corpus}…"), id="build-label")
            yield ProgressBar(id="build-progress", show_eta=False)

    def on_mount(self) -> None:
        self.build()

    def _progress(self, done: int, total: int) -> None:
        self.query_one(ProgressBar).update(total=total, progress=done)

    @work(thread=True, exclusive=True, group="build", exit_on_error=False)
    def build(self) -> str | None:
        from assistant.errors import AssistantError

        def progress(done: int, total: int) -> None:
            self.app.call_from_thread(self._progress, done, total)

        try:
            self.builder(progress)
        except AssistantError as exc:
            return str(exc)
        except Exception as exc:  # the build must never take the app down
            return f"index build failed: {type(exc).__name__}: {exc}"
        return None

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Dismiss once the worker has finished, so closing the screen never cancels a running worker.
        if event.state == WorkerState.SUCCESS:
            self.dismiss(event.worker.result)
        elif event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            self.dismiss(f"index build failed: {event.worker.error}")
