"""A Generator that talks to an OpenAI-compatible chat server (llama_cpp.server, llama.cpp's llama-server, vLLM...).

`settings.llm_url` is the API base, e.g. ``http://gpu-box:8080/v1``; answers stream from
``POST {llm_url}/chat/completions`` as server-sent events (``data: {...}`` lines ending with ``data: [DONE]``).

- Auth: ``Authorization: Bearer <settings.llm_api_key>`` when a key is set.
- Timeouts: ``settings.llm_timeout`` seconds per read (connect: at most 10 s).
- Retries: ``settings.llm_retries`` retries with exponential backoff (0.5 s, 1 s, 2 s...) on connection errors and
  HTTP 5xx, but only before the first token arrived: a stream that breaks mid-answer is an error, never a silent
  restart (the caller has already shown the first half).
- Token counts: llama_cpp.server's ``POST /extras/tokenize/count`` (at the server root, beside ``/v1``) when the
  server offers it, else an approximation of one token per 3.5 characters; cached per text. The server's count
  includes a BOS token, so it errs on the safe side of the context budget.
- Limits, because the server is not trusted to keep to ``max_tokens``: reading stops after ``max_tokens`` content
  pieces (a server that streams forever ends like one that hit its limit); an event over ``MAX_EVENT_BYTES``, a
  response over ``MAX_BYTES_PER_TOKEN`` bytes per token (plus ``BASE_BYTES``) or text over ``MAX_CHARS_PER_TOKEN``
  characters per token is a GenerationError, so an oversized answer is never shown in full or saved; and the whole
  answer, retries included, must finish within ``settings.llm_deadline`` seconds (``llm_timeout`` only bounds each
  read, and a server that trickles a byte at a time never trips it).
- Decoding: the body is decoded incrementally (a UTF-8 character split across network chunks is joined), and a
  UTF-16 surrogate pair that a server splits across two events (``"\\ud83d"`` then ``"\\ude00"``, as JSON allows) is
  joined into its one character; a lone surrogate becomes U+FFFD, so the answer can always be written as UTF-8.
- ``name``: ``settings.llm_model`` unless it is the placeholder ``"default"``, else the first model id of
  ``GET {llm_url}/models`` (a ``.gguf`` path is shortened to its file name for display).
- A stream that ends with ``[DONE]`` but without a ``finish_reason`` was cut short by the server: llama_cpp.server
  does this to a running answer when another request arrives unless it was started with
  ``--interrupt_requests False``. That is reported as an error rather than returned as a truncated answer.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import PurePosixPath
from urllib.parse import urlparse

import httpx

from assistant.config import Settings
from assistant.errors import ConfigError, GenerationError

log = logging.getLogger(__name__)
CHARS_PER_TOKEN = 3.5
BACKOFF_S = 0.5
Messages = list[dict[str, str]]
# A token is a few characters; 64 leaves room for long vocabulary entries and multi-byte scripts.
MAX_CHARS_PER_TOKEN = 64
# Per token the event around it (id, model, created, logprobs...) is rarely over 1 KiB; 4 KiB leaves room.
MAX_BYTES_PER_TOKEN = 4096
BASE_BYTES = 1 << 20
MAX_EVENT_BYTES = 1 << 20  # one SSE line; a reply worth of text in one event is still far below this
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Retryable(Exception):
    """A failure worth another try (server unreachable, 5xx) as long as no token has been received."""

    def __init__(self, message: str, unreachable: bool):
        super().__init__(message)
        self.unreachable = unreachable


def approx_tokens(text: str) -> int:
    return max(1, round(len(text) / CHARS_PER_TOKEN)) if text else 0


class _Surrogates:
    """Joins a UTF-16 surrogate pair split across pieces; a lone surrogate becomes U+FFFD (it cannot be UTF-8)."""

    def __init__(self) -> None:
        self.pending = ""

    def feed(self, piece: str) -> str:
        piece = self.pending + piece
        self.pending = ""
        if not _SURROGATE.search(piece):
            return piece
        if "\ud800" <= piece[-1] <= "\udbff":  # a high surrogate: its low half may come in the next piece
            piece, self.pending = piece[:-1], piece[-1]
        return piece.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")

    def flush(self) -> str:
        rest, self.pending = self.pending, ""
        return "\ufffd" if rest else ""


def sse_data(lines: Iterator[str]) -> Iterator[str]:
    """The `data` payloads of a server-sent-event stream (multi-line data joined by newlines; comments skipped)."""
    data: list[str] = []
    for line in lines:
        line = line.rstrip("\r")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue  # a comment / keep-alive ping
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


class OpenAICompatibleGenerator:
    """Generator protocol over HTTP; one pooled, thread-safe httpx client, so batch workers can share it."""

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None):
        url = urlparse(settings.llm_url or "")
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"llm_url {settings.llm_url!r} is not an http(s)://host:port/v1 URL")
        self.settings = settings
        self.base = (settings.llm_url or "").rstrip("/")
        self.root = self.base[: -len("/v1")] if self.base.endswith("/v1") else self.base
        self.n_ctx = settings.n_ctx
        headers = {"Authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else {}
        timeout = httpx.Timeout(settings.llm_timeout, connect=min(settings.llm_timeout, 10.0))
        self.client = httpx.Client(headers=headers, timeout=timeout, transport=transport)
        self._model_id: str | None = None if settings.llm_model in ("", "default") else settings.llm_model
        self._tokens: dict[str, int] = {}
        self._tokenize: bool | None = None  # None: not tried yet; False: the server has no tokenize endpoint
        self._lock = threading.Lock()

    # -- identity -------------------------------------------------------
    @property
    def model_id(self) -> str:
        """The model name sent with each request: settings.llm_model, else what the server lists first."""
        if self._model_id is None:
            try:
                r = self.client.get(self.base + "/models", timeout=min(self.settings.llm_timeout, 5.0))
                r.raise_for_status()
                ids = [m["id"] for m in r.json().get("data", [])]
            except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as exc:
                log.debug("GET %s/models failed: %s", self.base, exc)
                return self.settings.llm_model  # try again next time
            self._model_id = ids[0] if ids else self.settings.llm_model
        return self._model_id

    @property
    def name(self) -> str:
        mid = self.model_id
        return PurePosixPath(mid).name if mid.endswith(".gguf") else mid

    # -- tokens ---------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        cached = self._tokens.get(text)
        if cached is not None:
            return cached
        if self._tokenize is not False:
            try:
                r = self.client.post(
                    self.root + "/extras/tokenize/count",
                    json={"input": text},
                    timeout=min(self.settings.llm_timeout, 30.0),
                )
                if r.status_code in (404, 405, 501):
                    log.info("the model server has no /extras/tokenize/count; approximating token counts")
                    self._tokenize = False
                else:
                    r.raise_for_status()
                    n = int(r.json()["count"])
                    self._tokenize = True
                    with self._lock:
                        if len(self._tokens) > 10_000:
                            self._tokens.clear()
                        self._tokens[text] = n
                    return n
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                # Unreachable or odd: approximate this time (not cached); stream() reports a dead server clearly.
                log.debug("token count from the server failed: %s", exc)
                return approx_tokens(text)
        n = approx_tokens(text)
        self._tokens[text] = n
        return n

    # -- generation -----------------------------------------------------
    def stream(self, messages: Messages, max_tokens: int, cancel: threading.Event | None = None) -> Iterator[str]:
        s = self.settings
        body = {
            "model": self.model_id,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": s.temperature,
            "seed": s.seed,
            "repeat_penalty": s.repeat_penalty,
            "stop": s.stop,
            "stream": True,
        }
        url = self.base + "/chat/completions"
        attempt = 0
        received = False
        deadline = time.monotonic() + s.llm_deadline
        while True:
            try:
                with closing(self._once(url, body, cancel, max_tokens, deadline)) as pieces:  # type: ignore[type-var]
                    for piece in pieces:
                        received = True
                        yield piece
                return
            except _Retryable as exc:
                if received:  # cannot happen for 5xx; kept for safety
                    raise GenerationError(f"the model server at {self.base} failed mid-answer: {exc}") from exc
                if attempt >= s.llm_retries or time.monotonic() >= deadline:
                    if exc.unreachable:
                        raise GenerationError(
                            f"cannot reach the model server at {self.base}: {exc}; is it running?"
                        ) from exc
                    raise GenerationError(f"the model server at {self.base} failed: {exc}") from exc
                delay = min(BACKOFF_S * 2**attempt, max(0.0, deadline - time.monotonic()))
                attempt += 1
                log.warning("model server: %s; retry %d/%d in %.1f s", exc, attempt, s.llm_retries, delay)
                if cancel is not None:
                    if cancel.wait(delay):
                        return
                else:
                    time.sleep(delay)
            except (httpx.TransportError, httpx.StreamError) as exc:
                # The connection broke after the first token: not retried, the caller has half an answer.
                what = type(exc).__name__
                if isinstance(exc, httpx.TimeoutException):
                    raise GenerationError(
                        f"the model server at {self.base} did not answer within "
                        f"{s.llm_timeout:g} s ({what}); raise llm_timeout or check the server"
                    ) from exc
                raise GenerationError(
                    f"the connection to the model server at {self.base} broke mid-answer ({what}: {exc})"
                ) from exc

    def _once(
        self, url: str, body: dict, cancel: threading.Event | None, max_tokens: int, deadline: float
    ) -> Iterator[str]:
        received = False
        pieces = 0
        chars = 0
        most_chars = max_tokens * MAX_CHARS_PER_TOKEN
        joiner = _Surrogates()
        try:
            with self.client.stream("POST", url, json=body) as resp:
                if resp.status_code >= 500:
                    raise _Retryable(f"HTTP {resp.status_code}: {_detail(resp)}", unreachable=False)
                if resp.status_code >= 400:
                    hint = "; check llm_api_key" if resp.status_code in (401, 403) else ""
                    raise GenerationError(
                        f"the model server at {self.base} refused the request "
                        f"(HTTP {resp.status_code}: {_detail(resp)}){hint}"
                    )
                finished = False
                events = 0
                lines = _lines(resp, BASE_BYTES + max_tokens * MAX_BYTES_PER_TOKEN, deadline, self)
                for data in sse_data(lines):
                    if cancel is not None and cancel.is_set():
                        return  # leaving the `with` closes the stream; the server stops generating
                    if data.strip() == "[DONE]":
                        break
                    try:
                        chunk = json.loads(data)
                    except (ValueError, RecursionError) as exc:
                        raise GenerationError(
                            f"the model server sent a malformed event: {data[:80]!r}{_not_an_api(resp, events)}"
                        ) from exc
                    events += 1
                    if not isinstance(chunk, dict):
                        continue
                    if chunk.get("error"):
                        err = chunk["error"]
                        msg = err.get("message", err) if isinstance(err, dict) else err
                        raise GenerationError(f"the model server reported an error: {msg}")
                    for choice in chunk.get("choices") or []:
                        if not isinstance(choice, dict):
                            continue
                        if choice.get("finish_reason"):
                            finished = True
                        piece = (choice.get("delta") or {}).get("content")
                        if not piece or not isinstance(piece, str):
                            continue
                        chars += len(piece)
                        if chars > most_chars:
                            raise GenerationError(
                                f"the model server at {self.base} sent over {most_chars:,} characters for an answer "
                                f"of at most {max_tokens} tokens; the answer was dropped"
                            )
                        piece = joiner.feed(piece)
                        pieces += 1
                        if piece:
                            received = True
                            yield piece
                        if pieces >= max_tokens:
                            # A server that ignores max_tokens (or streams forever): stop where it should have.
                            log.warning(
                                "the model server at %s sent more than max_tokens=%d pieces; stopped reading",
                                self.base,
                                max_tokens,
                            )
                            finished = True
                            break
                    if pieces >= max_tokens:
                        break
                rest = joiner.flush()
                if rest:
                    yield rest
                if not finished and not (cancel is not None and cancel.is_set()):
                    if not events:
                        raise GenerationError(
                            f"the model server at {self.base} sent no answer events{_not_an_api(resp, events)}"
                        )
                    raise GenerationError(
                        f"the model server at {self.base} ended the answer early (no finish_reason); llama_cpp.server "
                        "interrupts a running answer when another request arrives unless started with "
                        "--interrupt_requests False"
                    )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            if received:
                raise
            raise _Retryable(
                f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, unreachable=True
            ) from exc

    def close(self) -> None:
        self.client.close()


def _lines(resp: httpx.Response, most_bytes: int, deadline: float, gen: OpenAICompatibleGenerator) -> Iterator[str]:
    """The body's lines, decoded incrementally (a character split across chunks is joined), within the byte caps
    and the overall deadline. httpx's own iter_lines would hold a 50 MB line in memory before anyone could look."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    partial: list[str] = []  # the line being received, in pieces (joining once keeps tiny chunks linear)
    size = 0
    total = 0
    for raw in resp.iter_bytes():
        total += len(raw)
        if total > most_bytes:
            raise GenerationError(
                f"the model server at {gen.base} sent over {most_bytes:,} bytes for one answer; the answer was dropped"
            )
        if time.monotonic() > deadline:
            raise GenerationError(
                f"the model server at {gen.base} did not finish the answer within {gen.settings.llm_deadline:g} s "
                "(llm_deadline); the answer was dropped"
            )
        text = decoder.decode(raw)
        if "\n" in text:
            first, *middle, last = text.split("\n")
            partial.append(first)
            yield "".join(partial)
            yield from middle
            partial, size = [last], len(last)
        else:
            partial.append(text)
            size += len(text)
        if size > MAX_EVENT_BYTES:
            raise GenerationError(
                f"the model server at {gen.base} sent one event over {MAX_EVENT_BYTES:,} bytes; the answer was dropped"
            )
    partial.append(decoder.decode(b"", final=True))
    if any(partial):
        yield "".join(partial)


def _not_an_api(resp: httpx.Response, events: int) -> str:
    """A hint when the reply is not an event stream at all (an HTML page: a proxy, a login page, the wrong URL)."""
    kind = resp.headers.get("content-type", "").split(";")[0].strip()
    if events or kind == "text/event-stream":
        return ""
    return f" (it replied with {kind or 'no content type'}, not an event stream; is llm_url the server's /v1 API?)"


def _detail(resp: httpx.Response) -> str:
    try:
        resp.read()
        text = resp.text
    except httpx.HTTPError:
        return resp.reason_phrase
    try:
        d = json.loads(text)
        if isinstance(d, dict):
            d = d.get("error", d.get("detail", d))
            if isinstance(d, dict):
                d = d.get("message", d)
        text = str(d)
    except ValueError:
        pass
    return " ".join(text.split())[:200] or resp.reason_phrase
