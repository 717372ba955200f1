"""Scale-out: the OpenAI-compatible generator, against mock transports (fast, always run) and against real
`chroma run` and `python -m llama_cpp.server` processes on loopback (marked `server`)."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import SEEDS

from assistant.config import Settings
from assistant.errors import GenerationError
from assistant.generate.openai_compat import OpenAICompatibleGenerator, sse_data

MESSAGES = [{"role": "user", "content": "hi"}]


# -- unit tests against httpx.MockTransport ------------------------------------
def sse(*chunks: dict | str) -> bytes:
    out = []
    for c in chunks:
        out.append(f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n")
    return "".join(out).encode()


def delta(text: str | None = None, finish: str | None = None) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}]}


GOOD = sse(delta("Hello"), delta(" world"), delta(finish="stop"), "[DONE]")


def gen_with(handler, **settings) -> OpenAICompatibleGenerator:
    s = Settings(llm_url="http://model-box:8080/v1", **{"llm_retries": 2, **settings})
    return OpenAICompatibleGenerator(s, transport=httpx.MockTransport(handler))


def test_streams_pieces_with_auth_and_settings(monkeypatch):
    seen = {}

    def handler(req: httpx.Request):
        if req.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "/models/x/SmolLM2.gguf"}]})
        seen["auth"] = req.headers.get("authorization")
        seen["body"] = json.loads(req.content)
        return httpx.Response(200, content=GOOD, headers={"content-type": "text/event-stream"})

    g = gen_with(handler, llm_api_key="s3cret", temperature=0.0, max_tokens=50)
    assert list(g.stream(MESSAGES, 50)) == ["Hello", " world"]
    assert seen["auth"] == "Bearer s3cret"
    body = seen["body"]
    assert body["stream"] is True and body["max_tokens"] == 50 and body["temperature"] == 0.0
    assert body["stop"] == g.settings.stop and body["seed"] == 42 and "repeat_penalty" in body
    assert body["model"] == "/models/x/SmolLM2.gguf" and g.name == "SmolLM2.gguf"


def test_name_from_settings_when_given():
    g = gen_with(lambda r: httpx.Response(500), llm_model="llama-3-8b")
    assert g.name == "llama-3-8b"


def test_retries_5xx_and_connection_errors_before_the_first_token(monkeypatch):
    monkeypatch.setattr("assistant.generate.openai_compat.BACKOFF_S", 0.01)
    calls = []

    def handler(req):
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        if len(calls) == 2:
            return httpx.Response(503, json={"error": {"message": "loading"}})
        return httpx.Response(200, content=GOOD)

    g = gen_with(handler, llm_model="m")
    assert "".join(g.stream(MESSAGES, 10)) == "Hello world" and len(calls) == 3


def test_server_down_is_one_clear_line(monkeypatch):
    monkeypatch.setattr("assistant.generate.openai_compat.BACKOFF_S", 0.01)

    def handler(req):
        raise httpx.ConnectError("[Errno 111] Connection refused")

    g = gen_with(handler, llm_model="m", llm_retries=1)
    with pytest.raises(GenerationError) as exc:
        list(g.stream(MESSAGES, 10))
    msg = str(exc.value)
    assert msg.startswith("cannot reach the model server at http://model-box:8080/v1: ") and msg.endswith(
        "is it running?"
    )
    assert "\n" not in msg


def test_no_retry_after_the_first_token():
    calls = []

    class Broken(httpx.SyncByteStream):
        def __iter__(self):
            yield sse(delta("Half"))
            raise httpx.ReadError("connection reset")

    def handler(req):
        calls.append(1)
        return httpx.Response(200, stream=Broken())

    g = gen_with(handler, llm_model="m")
    pieces = []
    with pytest.raises(GenerationError, match="broke mid-answer"):
        for p in g.stream(MESSAGES, 10):
            pieces.append(p)
    assert pieces == ["Half"] and len(calls) == 1


def test_client_errors_are_not_retried():
    calls = []

    def handler(req):
        calls.append(1)
        return httpx.Response(401, json={"detail": "Invalid API key"})

    with pytest.raises(GenerationError, match=r"HTTP 401: Invalid API key\); check llm_api_key"):
        list(gen_with(handler, llm_model="m").stream(MESSAGES, 10))
    assert len(calls) == 1


def test_an_interrupted_stream_is_an_error_not_a_short_answer():
    g = gen_with(lambda r: httpx.Response(200, content=sse(delta("Cut"), "[DONE]")), llm_model="m")
    with pytest.raises(GenerationError, match="interrupt_requests False"):
        list(g.stream(MESSAGES, 10))


def test_cancel_closes_the_stream():
    closed = threading.Event()

    class Endless(httpx.SyncByteStream):
        def __iter__(self):
            while True:
                yield sse(delta("tok "))

        def close(self):
            closed.set()

    g = gen_with(lambda r: httpx.Response(200, stream=Endless()), llm_model="m")
    cancel = threading.Event()
    got = []
    for piece in g.stream(MESSAGES, 10, cancel):
        got.append(piece)
        if len(got) == 3:
            cancel.set()
    assert len(got) == 3 and closed.is_set()


def test_count_tokens_uses_the_server_then_caches_or_approximates():
    calls = []

    def handler(req):
        calls.append(req.url.path)
        return httpx.Response(200, json={"count": 7})

    g = gen_with(handler, llm_model="m")
    assert g.count_tokens("some text") == 7 and g.count_tokens("some text") == 7
    assert calls == ["/extras/tokenize/count"]
    g404 = gen_with(lambda r: httpx.Response(404), llm_model="m")
    assert g404.count_tokens("x" * 35) == 10 and g404._tokenize is False
    assert g404.n_ctx == 2048


def test_sse_parser_handles_comments_and_multiline_data():
    lines = [": ping", "data: a", "data: b", "", "event: x", "data:c", ""]
    assert list(sse_data(iter(lines))) == ["a\nb", "c"]


# -- real servers ---------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    def __init__(self, name: str, cmd: list[str], health: str, log: Path, startup_s: float = 120):
        self.name, self.cmd, self.health, self.log, self.startup_s = name, cmd, health, log, startup_s
        self.proc: subprocess.Popen | None = None

    def start(self) -> ServerProcess:
        fh = open(self.log, "ab")
        self.proc = subprocess.Popen(self.cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        fh.close()
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.name} exited with {self.proc.returncode}: {self.tail()}")
            try:
                if httpx.get(self.health, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        pytest.fail(f"{self.name} not healthy after {self.startup_s} s: {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def llama_server(tmp: Path, port: int, *extra: str) -> ServerProcess:
    from assistant.generate.llama import default_model_path

    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(default_model_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        str(os.cpu_count() or 1),
        *extra,
    ]
    return ServerProcess("llama_cpp.server", cmd, f"http://127.0.0.1:{port}/v1/models", tmp / f"llama-{port}.log")


SEED = SEEDS / "001_96a867dc4f2e18cb.txt"  # the smallest seed file: a quick ingest


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory, real_embedder):
    """A real Chroma server with one seed file ingested through it."""
    from assistant.ingest.build import ingest

    tmp = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    exe = Path(sys.executable).parent / "chroma"
    server = ServerProcess(
        "chroma",
        [str(exe), "run", "--path", str(tmp / "db"), "--host", "127.0.0.1", "--port", str(port)],
        f"http://127.0.0.1:{port}/api/v2/heartbeat",
        tmp / "chroma.log",
        startup_s=60,
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        ingest(Settings(data_dir=tmp / "data", chroma_url=url), real_embedder, [SEED])
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def llm_url(tmp_path_factory):
    port = free_port()
    server = llama_server(tmp_path_factory.mktemp("llama-server"), port).start()
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.stop()


def served_titles(chroma_url: str, n: int) -> list[str]:
    from assistant.index.store import Store, papers_from_dump

    papers = papers_from_dump(Store(Settings(chroma_url=chroma_url)).dump())
    return sorted(p.title for p in papers.values())[:n]


@pytest.mark.server
def test_answer_through_chroma_and_llama_servers(tmp_path, chroma_url, llm_url, real_embedder):
    from assistant.answer.session import make_pipeline

    settings = Settings(data_dir=tmp_path / "data", chroma_url=chroma_url, llm_url=llm_url, max_tokens=48)
    pipeline = make_pipeline(settings, embedder=real_embedder)
    assert isinstance(pipeline.generator, OpenAICompatibleGenerator)
    assert pipeline.generator.name.endswith(".gguf")
    question = served_titles(chroma_url, 1)[0]
    answer = pipeline.ask(question)
    assert answer.evidence and not answer.abstained and answer.text
    assert pipeline.generator._tokenize is True  # token counts came from the server
    retrieved = {e.paper_id for e in answer.evidence}
    assert answer.evidence[0].title == question
    assert all(c.paper_id in retrieved and c.quote for c in answer.citations)
    assert answer.timings.completion_tokens > 0 and answer.model.endswith(".gguf")


@pytest.mark.server
def test_model_server_killed_mid_batch_then_resumed(tmp_path, chroma_url, real_embedder):
    from assistant.answer.session import make_pipeline
    from assistant.cli.batch import run_batch
    from assistant.cli.main import build_parser

    port = free_port()
    server = llama_server(tmp_path, port).start()
    try:
        settings = Settings(
            data_dir=tmp_path / "data",
            chroma_url=chroma_url,
            llm_url=f"http://127.0.0.1:{port}/v1",
            max_tokens=16,
            llm_retries=1,
        )
        titles = served_titles(chroma_url, 3)
        q = tmp_path / "q.txt"
        q.write_text("\n".join(titles) + "\n")
        out = tmp_path / "out.jsonl"
        args = build_parser().parse_args(["batch", str(q), "-o", str(out)])

        class KillOnSecond:  # the server dies just as the second question starts
            def __init__(self, inner):
                self.inner, self.n = inner, 0

            def __getattr__(self, name):
                return getattr(self.inner, name)

            def ask(self, question, **kw):
                self.n += 1
                if self.n == 2:
                    server.kill()
                return self.inner.ask(question, **kw)

        err = io.StringIO()
        rc = run_batch(args, settings, KillOnSecond(make_pipeline(settings, embedder=real_embedder)), stderr=err)
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert rc == 1 and [r["question"] for r in rows] == titles
        assert rows[0]["error"] is None and rows[0]["text"]
        for r in rows[1:]:
            assert r["error"].startswith(f"cannot reach the model server at {settings.llm_url}") and r["text"] is None
        assert "2 failed" in err.getvalue()

        server.start()  # same port
        pipeline = make_pipeline(settings, embedder=real_embedder)
        asked = []
        inner_ask = pipeline.ask
        pipeline.ask = lambda question, **kw: asked.append(question) or inner_ask(question, **kw)
        err = io.StringIO()
        rc = run_batch(args, settings, pipeline, stderr=err)
        assert rc == 0, err.getvalue()
        assert asked == titles[1:]  # the answered one is not asked again
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["question"] for r in rows] == titles and all(r["error"] is None and r["text"] for r in rows)
    finally:
        server.stop()
