"""The slow parts, built off the UI thread: the pipeline (index + embedder + model) and, when missing, the index.

Imports of `assistant.answer.session`/`assistant.ingest.build` (numpy, Chroma, torch) happen here, lazily, so the app starts fast.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from assistant.config import Settings

Progress = Callable[[int, int], None]


class Backend:
    """Default factories for the app; one embedder is shared by the index build and the pipeline."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._embedder = None
        self._lock = threading.Lock()

    def embedder(self):
        with self._lock:
            if self._embedder is None:
                from assistant.answer.session import make_embedder

                self._embedder = make_embedder(self.settings)
            return self._embedder

    def pipeline(self):
        from assistant.answer.session import make_pipeline

        # Constructing the embedder is cheap (its runtime loads on first use), so a missing index or model
        # is still reported before any slow loading.
        return make_pipeline(self.settings, embedder=self.embedder())

    def build_index(self, progress: Progress | None = None):
        from assistant.config import default_corpus
        from assistant.ingest.build import ingest

        return ingest(self.settings, self.embedder(), default_corpus(), progress=progress)


def device_label(settings: Settings) -> str:
    if settings.llm_url:
        return "server"
    if settings.n_gpu_layers == 0:
        return f"CPU, {settings.threads} threads"
    return "GPU, all layers" if settings.n_gpu_layers < 0 else f"GPU, {settings.n_gpu_layers} layers"
