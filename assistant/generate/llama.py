"""Generator protocol and its implementations: in-process llama.cpp (default) and an OpenAI-compatible server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

from assistant.config import Settings
from assistant.errors import GenerationError, ModelError
from assistant.generate.base import Generator, Messages
from assistant.models.installed import DEFAULT_GGUF, default_model_path, resolve_model  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)
REPLY_HEADER_TOKENS = 8  # what the template adds after the messages for the reply (<|im_start|>assistant...)
EXTEND_STEP = 48  # tokens per decode step of a speculative prefill: how soon a submitted question gets the model


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
        raise ModelError(f"llama-cpp-python is not installed ({exc}); run: pip install llama-cpp-python") from exc
    return llama_cpp


class LlamaCppGenerator:
    """One model load per process; llama.cpp reuses the KV cache of the longest common prompt prefix."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.path = check_gguf(resolve_model(settings))  # a path, or the name of a pulled model
        self.name = self.path.name
        llama_cpp = import_llama_cpp()
        try:
            self.llm = llama_cpp.Llama(
                model_path=str(self.path),
                n_ctx=settings.n_ctx,
                n_threads=settings.threads,
                n_threads_batch=settings.threads,
                n_batch=settings.n_batch,
                n_gpu_layers=settings.n_gpu_layers,
                seed=settings.seed,
                verbose=False,
            )
        except Exception as exc:
            raise ModelError(f"{self.path}: llama.cpp could not load the model ({exc}); is the file complete?") from exc
        # llama.cpp pads the window (300 -> 512) but llama-cpp-python sizes its token buffer by the request: the
        # smaller one is what fits (the padded one gave "could not broadcast input array ... (177,)").
        self.n_ctx = min(self.llm.n_ctx(), settings.n_ctx)
        self.n_params = int(self.llm._model.n_params())  # decides whether the model is asked for answer phrases
        self._lock = threading.Lock()  # one llama context: one generation at a time

    @property
    def chat_template(self) -> str | None:
        return self.llm.metadata.get("tokenizer.chat_template")

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode(), add_bos=False, special=True))

    def _formatter(self, add_generation_prompt: bool):
        """The GGUF's chat template compiled once per use (read-ahead and verdicts render it often)."""
        if not self.chat_template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        special = lambda tok: self.llm.detokenize([tok], special=True).decode(errors="ignore")  # noqa: E731
        return Jinja2ChatFormatter(
            self.chat_template,
            eos_token=special(self.llm.token_eos()),
            bos_token=special(self.llm.token_bos()),
            add_generation_prompt=add_generation_prompt,
        )

    @cached_property
    def _prefix_formatter(self):
        """Without the reply header: a prefix of every prompt for the same messages."""
        return self._formatter(add_generation_prompt=False)

    def _tokens(self, messages: Messages) -> list[int]:
        """The prompt tokens of `messages` without the reply header: a prefix of the prompt that
        create_chat_completion builds for the same messages. Empty without a chat template."""
        if self._prefix_formatter is None:
            return []
        # As create_chat_completion tokenises: the template adds any BOS itself.
        prompt = self._prefix_formatter(messages=messages).prompt
        return self.llm.tokenize(prompt.encode(), add_bos=False, special=True)

    @cached_property
    def _reply_formatter(self):
        """With the reply header: the exact prompt the model answers after."""
        return self._formatter(add_generation_prompt=True)

    def choose(self, messages: Messages, options: dict[str, list[str]]) -> dict[str, float] | None:
        """A constrained choice: decode the prompt once and score each option by the log-probability of its words'
        first tokens as the reply's first token. No text is generated. None without a chat template."""
        import numpy as np

        if self._reply_formatter is None:
            return None
        prompt = self._reply_formatter(messages=messages).prompt
        tokens = self.llm.tokenize(prompt.encode(), add_bos=False, special=True)
        if not tokens or len(tokens) >= self.n_ctx:
            return None
        with self._lock:
            llm = self.llm
            keep = llm.longest_token_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens)
            keep = min(keep, len(tokens) - 1)  # the last prompt token is decoded again: its logits are the reply's
            llm.n_tokens = keep
            llm.eval(tokens[keep:])
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)
        top = logits.max()
        logp = logits - (top + np.log(np.exp(logits - top).sum()))
        out: dict[str, float] = {}
        for label, words in options.items():
            ids = {llm.tokenize(w.encode(), add_bos=False, special=False)[0] for w in words}
            out[label] = float(np.logaddexp.reduce([logp[i] for i in ids]))
        return out

    def extend(self, messages: Messages, cancel: threading.Event | None = None) -> int:
        """Decode `messages` (rendered without the reply header) on top of the longest cached prefix, in small
        steps that stop when `cancel` is set: the chat app reads a question's sources while it is still being
        typed, so on Enter only the changed tail is left to decode. Returns the tokens decoded."""
        tokens = self._tokens(messages)
        if not tokens or len(tokens) >= self.n_ctx:
            return 0  # the real ask reports a prompt that does not fit
        with self._lock:
            llm = self.llm
            keep = llm.longest_token_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens)
            if keep == len(tokens) == llm.n_tokens:
                return 0  # already exactly this
            keep = min(keep, len(tokens) - 1)  # re-decode one token so the logits belong to the last one
            llm.n_tokens = keep  # eval() drops the KV cells from here on
            for i in range(keep, len(tokens), EXTEND_STEP):
                if cancel is not None and cancel.is_set():
                    break
                llm.eval(tokens[i : i + EXTEND_STEP])
            return llm.n_tokens - keep

    def prefill(self, messages: Messages) -> None:
        """Put a fixed leading part of every prompt (the system turn) in the KV cache now, so that the first
        answer reuses it instead of decoding it after retrieval. Its KV state is saved to the data dir once
        and read back by later processes (a few ms instead of ~0.5 s of decoding on 2 cores)."""
        tokens = self._tokens(messages)
        if not tokens or len(tokens) >= self.n_ctx:
            return
        path = self._prefix_file(tokens)
        with self._lock:
            self.llm.reset()
            if path.is_file() and self._load_prefix(path, tokens):
                return
            self.llm.eval(tokens)
            self._save_prefix(path, tokens)

    def _prefix_file(self, tokens: list[int]) -> Path:
        import hashlib

        llama_cpp = import_llama_cpp()
        st = self.path.stat()
        key = hashlib.sha1(
            f"{self.path.resolve()}:{st.st_size}:{st.st_mtime_ns}:{llama_cpp.__version__}:"
            f"{self.settings.n_gpu_layers}:{tokens}".encode()
        ).hexdigest()[:16]
        return self.settings.data_dir / "models" / "prompt-cache" / f"{self.path.stem}-{key}.kv"

    def _load_prefix(self, path: Path, tokens: list[int]) -> bool:
        import ctypes

        llama_cpp = import_llama_cpp()
        out = (llama_cpp.llama_token * len(tokens))()
        count = ctypes.c_size_t(0)
        read = llama_cpp.llama_state_seq_load_file(
            self.llm.ctx, str(path).encode(), 0, out, len(tokens), ctypes.byref(count)
        )
        if not read or list(out[: count.value]) != tokens:
            log.warning("ignoring the saved prompt state %s (unreadable or for other tokens)", path)
            self.llm.reset()  # the next eval clears whatever part was loaded
            return False
        self.llm.input_ids[: len(tokens)] = tokens
        self.llm.n_tokens = len(tokens)
        return True

    def _save_prefix(self, path: Path, tokens: list[int]) -> None:
        import os
        import tempfile

        llama_cpp = import_llama_cpp()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            os.close(fd)
            try:
                arr = (llama_cpp.llama_token * len(tokens))(*tokens)
                if llama_cpp.llama_state_seq_save_file(self.llm.ctx, tmp.encode(), 0, arr, len(tokens)):
                    os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as exc:  # a read-only or full data dir only costs the next process a re-decode
            log.warning("could not save the prompt state in %s (%s)", path.parent, exc)

    def stream(self, messages: Messages, max_tokens: int, cancel: threading.Event | None = None) -> Iterator[str]:
        s = self.settings
        with self._lock:
            # The pipeline budgets with estimates; llama.cpp, given more than its window, fails with a numpy
            # "could not broadcast input array" instead of saying so. Check, and keep the reply inside the window.
            prompt = len(self._tokens(messages))
            room = self.n_ctx - prompt - REPLY_HEADER_TOKENS
            if prompt and room < 1:
                raise GenerationError(
                    f"the prompt ({prompt} tokens) does not fit the context window of {self.n_ctx} tokens; "
                    "raise --n-ctx or shorten the question"
                )
            if prompt:
                max_tokens = min(max_tokens, room)
            try:
                chunks = self.llm.create_chat_completion(
                    messages=messages,
                    max_tokens=max_tokens,
                    temperature=s.temperature,
                    seed=s.seed,
                    repeat_penalty=s.repeat_penalty,
                    stop=s.stop,
                    stream=True,
                )
                for chunk in chunks:
                    if cancel is not None and cancel.is_set():
                        break
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            except (ValueError, RuntimeError) as exc:
                if "broadcast" in str(exc):  # the window overflowed after all (a template longer than counted)
                    raise GenerationError(
                        f"the prompt does not fit the context window of {self.n_ctx} tokens; raise --n-ctx or "
                        "shorten the question"
                    ) from exc
                raise GenerationError(f"generation failed: {exc}") from exc


def make_generator(settings: Settings) -> Generator:
    if settings.llm_url:
        from assistant.generate.openai_compat import OpenAICompatibleGenerator

        return OpenAICompatibleGenerator(settings)
    return LlamaCppGenerator(settings)
