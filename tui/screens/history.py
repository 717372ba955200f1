"""Conversation actions of the chat screen: save each answer, reopen, start anew, export, copy."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from assistant.errors import AssistantError
from assistant.types import Answer

from ..widgets.messages import AnswerMessage, QuestionMessage

if TYPE_CHECKING:
    from textual.containers import VerticalScroll
    from textual.screen import Screen

    from ..host import ChatHost
    from ..widgets.prompt import PromptInput

    _Base = Screen
else:
    _Base = object  # at run time ChatScreen supplies Screen; the checker sees the mixin as one


class ConversationActions(_Base):
    """Mixed into ChatScreen: uses its log_view, prompt, answers, conv_id, generating and select()."""

    conv_id: str | None
    answers: list[Answer]
    selected: AnswerMessage | None

    if TYPE_CHECKING:

        @property
        def log_view(self) -> VerticalScroll: ...

        @property
        def prompt(self) -> PromptInput: ...

        @property
        def generating(self) -> bool: ...

        def select(self, bubble: AnswerMessage | None) -> None: ...

    @property
    def chat_app(self) -> ChatHost:
        """The app with its own attributes (settings, conversations, factories) typed."""
        return cast("ChatHost", self.app)

    def _save(self, answer: Answer) -> None:
        store = self.chat_app.conversations
        try:
            self.conv_id = self.conv_id or store.new_id()
            store.append(self.conv_id, answer)
        except (OSError, AssistantError) as exc:
            self.notify(f"The conversation could not be saved: {exc}", severity="warning", markup=False)

    async def show_conversation(self, conv_id: str | None, answers: list[Answer]) -> None:
        self.conv_id, self.answers, self.selected = conv_id, list(answers), None
        await self.log_view.query("QuestionMessage, AnswerMessage").remove()
        self.query_one("#welcome").display = not answers
        widgets = []
        for answer in answers:
            widgets += [QuestionMessage(answer.question), AnswerMessage(answer)]
        await self.log_view.mount_all(widgets)
        bubbles = self.log_view.query(AnswerMessage)
        self.select(bubbles.last() if bubbles else None)
        self.log_view.scroll_end(animate=False)

    async def action_new_conversation(self) -> None:
        if self.generating:
            self.notify("Stop the answer first (Esc).", markup=False)
            return
        await self.show_conversation(None, [])
        self.prompt.focus()

    def action_open_conversations(self) -> None:
        from .conversations import ConversationsScreen

        if self.generating:
            self.notify("Stop the answer first (Esc).", markup=False)
            return
        self.app.push_screen(ConversationsScreen(self.chat_app.conversations), self._open_conversation)

    async def _open_conversation(self, conv_id: str | None) -> None:
        if conv_id:
            await self.show_conversation(conv_id, self.chat_app.conversations.load(conv_id))
            self.prompt.focus()

    def action_export(self) -> None:
        if not self.answers:
            self.notify("Nothing to export yet: ask a question first.", markup=False)
            return
        store = self.chat_app.conversations
        try:
            self.conv_id = self.conv_id or store.new_id()
            path = store.export_markdown(self.conv_id, self.answers)
        except (OSError, AssistantError) as exc:
            self.notify(f"Export failed: {exc}", severity="error", markup=False)
            return
        self.notify(f"Exported to {path}", title="Exported", markup=False, timeout=10)

    def action_copy_answer(self) -> None:
        from assistant.answer.render import as_text

        if not self.answers:
            self.notify("No answer to copy yet.", markup=False)
            return
        self.app.copy_to_clipboard(as_text(self.answers[-1]))
        self.notify("Copied the last answer to the clipboard.", markup=False)
