"""Wire settings into the parts: one place that builds the embedder, index, retriever, generator and pipeline."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from assistant.answer import prompts
from assistant.answer.pipeline import Pipeline
from assistant.config import Settings
from assistant.generate.base import Generator
from assistant.generate.llama import make_generator
from assistant.index.embedding import Embedder, SentenceTransformerEmbedder
from assistant.index.lexical import Index
from assistant.index.store import Store, require_store
from assistant.retrieve.hybrid import Retriever

log = logging.getLogger(__name__)


def make_embedder(settings: Settings) -> Embedder:
    return SentenceTransformerEmbedder(settings)


def make_retriever(settings: Settings, embedder: Embedder | None = None) -> Retriever:
    embedder = embedder or make_embedder(settings)
    return Retriever(settings, embedder, Index.load(Store(settings)))


def _load_generator(settings: Settings) -> Generator:
    generator = make_generator(settings)
    prefill = getattr(generator, "prefill", None)
    if prefill is not None:
        system = [{"role": "system", "content": prompts.load("system", settings.prompt_dir).render()}]
        try:
            prefill(system)
        except (RuntimeError, ValueError, OSError) as exc:  # only a head start: the first answer decodes it
            log.warning("could not prefill the system prompt (%s)", exc)
    return generator


def make_pipeline(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    generator: Generator | None = None,
    retriever: Retriever | None = None,
    one_question: bool = False,
) -> Pipeline:
    """`one_question` (ask): the first search need not pay for Chroma's HNSW (Retriever.warm)."""
    if generator is not None:
        return Pipeline(settings, retriever or make_retriever(settings, embedder), generator)
    if retriever is None:
        require_store(settings)  # no index: say so before the model load writes its prompt cache
    if not settings.llm_url:
        from assistant.generate.llama import check_gguf
        from assistant.models.installed import resolve_model

        check_gguf(resolve_model(settings))  # a bad --model fails before seconds of loading
    # The model loads (and decodes the fixed system prompt) on a second thread while the index and the
    # embedder load here: llama.cpp runs in C with the GIL released, so a cold `ask` overlaps the two.
    with ThreadPoolExecutor(1, thread_name_prefix="model-load") as pool:
        pending = pool.submit(_load_generator, settings)
        retriever = retriever or make_retriever(settings, embedder)
        retriever.warm(hnsw=not one_question)
        return Pipeline(settings, retriever, pending.result())
