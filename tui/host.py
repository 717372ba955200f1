"""What the chat screen needs from the app that hosts it, as a Protocol.

Screens type `self.app` with this instead of importing PaperChatApp from tui/app.py, which imports the screens:
that import, even a typing-only one, tied app.py, screens/chat.py and screens/history.py into a circle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from assistant.answer.conversations import ConversationStore
from assistant.config import Settings


class ChatHost(Protocol):
    settings: Settings
    conversations: ConversationStore
    pipeline_factory: Callable[[], Any]  # returns a Pipeline
    index_builder: Callable[..., Any]  # index_builder(progress) builds the index
