"""The Generator protocol: what the answer pipeline needs from a language model."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

Messages = list[dict[str, str]]


@runtime_checkable
class Generator(Protocol):
    """What the pipeline needs from a model. Optional abilities, declared by having the attribute
    (callers look them up with getattr):
    `n_params` (int: its size, which decides whether it is asked for answer phrases), `prefill(messages)`
    (decode and keep a fixed prefix) and `extend(messages, cancel)` (read ahead into the KV cache)."""

    @property
    def name(self) -> str: ...

    n_ctx: int

    def count_tokens(self, text: str) -> int: ...

    def stream(self, messages: Messages, max_tokens: int, cancel: threading.Event | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated; stop early when `cancel` is set."""
