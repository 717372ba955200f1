"""The terminal chat app. The UI is up at once; the index and model load in a worker (see screens/chat.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from assistant.answer.conversations import ConversationStore
from assistant.config import Settings
from assistant.models.installed import Installed

from .backend import Backend
from .models import ModelCommands, switch_model
from .screens.chat import ChatScreen
from .screens.help import HelpScreen

DARK, LIGHT = "textual-dark", "textual-light"


class PaperChatApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "Paper Assistant"
    SUB_TITLE = "local, cited answers from research abstracts"
    ENABLE_COMMAND_PALETTE = True
    COMMANDS = App.COMMANDS | {ModelCommands}  # "Use model: NAME" for each installed model (tui/models.py)
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("ctrl+t", "toggle_theme", "Theme"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self, settings: Settings, *, pipeline_factory: Callable | None = None, index_builder: Callable | None = None
    ):
        """`pipeline_factory()` returns a Pipeline; `index_builder(progress)` builds the index (tests inject fakes)."""
        super().__init__()
        self.settings = settings
        backend = Backend(settings)
        self.pipeline_factory = pipeline_factory or backend.pipeline
        self.index_builder = index_builder or backend.build_index
        self.conversations = ConversationStore(settings.data_dir)
        self.theme = DARK

    def get_default_screen(self) -> Screen:
        return ChatScreen()

    @property
    def chat(self) -> ChatScreen:
        return next(s for s in self.screen_stack if isinstance(s, ChatScreen))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def switch_model(self, model: Installed) -> None:
        switch_model(self, model)

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.current_theme.dark else DARK

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        if isinstance(screen, ChatScreen):
            yield SystemCommand("New conversation", "Start a new conversation (Ctrl+N)", screen.action_new_conversation)
            yield SystemCommand(
                "Open conversation", "Reopen a saved conversation (Ctrl+O)", screen.action_open_conversations
            )
            yield SystemCommand(
                "Export conversation", "Save it as Markdown with references (Ctrl+S)", screen.action_export
            )
            yield SystemCommand(
                "Copy last answer", "Copy the last answer to the clipboard (Ctrl+Y)", screen.action_copy_answer
            )
            yield SystemCommand(
                "Browse sources",
                "Focus the sources list of the selected answer",
                lambda: screen.query_one("#sources").focus(),
            )
            yield SystemCommand("Reload", "Reload the index and the model (Ctrl+R)", screen.action_reload)
        yield SystemCommand(
            "Toggle light/dark", "Switch between the light and dark theme (Ctrl+T)", self.action_toggle_theme
        )
        yield SystemCommand("Help", "Key bindings and tips (F1)", self.action_help)
        yield from super().get_system_commands(screen)


def run_app(settings: Settings, where: dict | None = None) -> int:
    """`where`: the filters of `chat --author/--year/--venue/--source`, applied to every search of the session."""
    app = PaperChatApp(settings)
    if where:
        make = app.pipeline_factory

        def scoped():
            pipeline = make()
            pipeline.retriever.scope = where
            return pipeline

        app.pipeline_factory = scoped
    app.run()
    return app.return_code or 0
