"""Wire settings into the parts: one place that builds the embedder, index, retriever, generator and pipeline."""

from __future__ import annotations

from .answering import Pipeline
from .config import Settings
from .embedding import Embedder, SentenceTransformerEmbedder
from .generation import Generator, make_generator
from .retrieval import Index, Retriever
from .store import Store


def make_embedder(settings: Settings) -> Embedder:
    return SentenceTransformerEmbedder(settings)


def make_retriever(settings: Settings, embedder: Embedder | None = None) -> Retriever:
    embedder = embedder or make_embedder(settings)
    return Retriever(settings, embedder, Index.load(Store(settings)))


def make_pipeline(settings: Settings, *, embedder: Embedder | None = None, generator: Generator | None = None,
                  retriever: Retriever | None = None) -> Pipeline:
    if generator is None and not settings.llm_url:
        from .generation import check_gguf, default_model_path

        check_gguf(settings.model_path or default_model_path())  # a bad --model fails before seconds of loading
    retriever = retriever or make_retriever(settings, embedder)
    return Pipeline(settings, retriever, generator or make_generator(settings))
