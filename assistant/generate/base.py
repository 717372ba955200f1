"""The Generator protocol: what the answer pipeline needs from a language model."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

Messages = list[dict[str, str]]


@runtime_checkable
class Generator(Protocol):
    name: str
    n_ctx: int

    def count_tokens(self, text: str) -> int: ...

    def stream(self, messages: Messages, max_tokens: int, cancel: threading.Event | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated; stop early when `cancel` is set."""
