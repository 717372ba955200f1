"""Reliability (issue 22, item 3): an OpenAI-compatible model server that misbehaves, as a real HTTP server on
loopback: it ignores max_tokens, never finishes, sends one 50 MB event, splits characters across events and
network chunks, or answers with HTML."""

from __future__ import annotations

import json
import threading
import time

import pytest
from reliability_common import *  # noqa: F401,F403  (helpers and fixtures)
from reliability_common import cli  # noqa: F401

MESSAGES = [{"role": "user", "content": "hi"}]

pytestmark = pytest.mark.reliability


class _BadServer:
    """An OpenAI-compatible /v1 on 127.0.0.1 whose /chat/completions does what `mode` says."""

    def __init__(self, mode: str):
        import http.server

        self.mode = mode
        self.lead = "Smile "  # what comes before the split emoji
        self.sent = 0  # events written
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                body = json.dumps({"data": [{"id": "bad-model"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.endswith("/tokenize/count"):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                kind = "text/html" if owner.mode == "html" else "text/event-stream"
                self.send_header("Content-Type", kind)
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    owner.serve(self.wfile)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client hung up: what a client that stops reading does

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @staticmethod
    def event(text: str | None = None, finish: str | None = None, ascii: bool = True) -> bytes:
        delta = {"content": text} if text is not None else {}
        chunk = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return ("data: " + json.dumps(chunk, ensure_ascii=ascii) + "\n\n").encode()

    def serve(self, out) -> None:
        end = self.event(finish="stop") + b"data: [DONE]\n\n"
        if self.mode == "forever":  # ignores max_tokens
            while True:
                out.write(self.event("tok "))
                out.flush()
                self.sent += 1
        elif self.mode == "big":  # one 50 MB event, written in pieces so that the server itself stays small
            out.write(b'data: {"choices": [{"index": 0, "delta": {"content": "')
            block = b"a" * 65536
            for _ in range(50_000_000 // len(block)):
                out.write(block)
            out.write(b'"}, "finish_reason": null}]}\n\n' + end)
        elif self.mode == "trickle":  # within every read timeout, never done
            while True:
                out.write(b": ping\n")
                out.flush()
                time.sleep(0.05)
        elif self.mode == "surrogate":  # an emoji's UTF-16 surrogate pair split across two events
            for piece in [self.lead, "\ud83d", "\ude00", " [1]."]:
                out.write(self.event(piece))
                out.flush()
            out.write(end)
        elif self.mode == "utf8-split":  # a 4-byte UTF-8 character split across two network writes
            raw = self.event("Smile \U0001f600 [1].", ascii=False) + end
            cut = raw.index("\U0001f600".encode()) + 2
            out.write(raw[:cut])
            out.flush()
            time.sleep(0.05)
            out.write(raw[cut:])
        elif self.mode == "html":
            out.write(b"<html><body><h1>Welcome to nginx!</h1></body></html>\n")
        out.flush()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def bad_server(request):
    servers: list[_BadServer] = []

    def start(mode: str) -> _BadServer:
        servers.append(_BadServer(mode))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def _generator(url: str, **kw):
    from assistant.config import Settings
    from assistant.generate.openai_compat import OpenAICompatibleGenerator

    return OpenAICompatibleGenerator(Settings(llm_url=url, llm_retries=0, llm_timeout=5, **kw))


def test_a_server_that_ignores_max_tokens_is_cut_off_at_max_tokens(bad_server):
    server = bad_server("forever")
    t0 = time.monotonic()
    pieces = list(_generator(server.url).stream(MESSAGES, 20))
    assert len(pieces) == 20 and "".join(pieces) == "tok " * 20
    assert time.monotonic() - t0 < 10


def test_a_server_that_never_finishes_meets_the_overall_deadline(bad_server):
    from assistant.errors import GenerationError

    server = bad_server("trickle")
    t0 = time.monotonic()
    with pytest.raises(GenerationError, match=r"within 1 s \(llm_deadline\)"):
        list(_generator(server.url, llm_deadline=1.0).stream(MESSAGES, 20))
    assert time.monotonic() - t0 < 5


def test_one_50_mb_event_is_refused_in_bounded_memory(bad_server):
    import tracemalloc

    from assistant.errors import GenerationError

    server = bad_server("big")
    tracemalloc.start()
    try:
        with pytest.raises(GenerationError, match="over 1,048,576 bytes; the answer was dropped"):
            list(_generator(server.url).stream(MESSAGES, 96))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20  # the whole event would be 50 MB as bytes and again as text


def test_a_surrogate_pair_split_across_events_is_one_character(bad_server):
    pieces = list(_generator(bad_server("surrogate").url).stream(MESSAGES, 20))
    text = "".join(pieces)
    assert text == "Smile \U0001f600 [1]." and text.encode("utf-8")


def test_a_utf8_character_split_across_network_chunks_is_decoded(bad_server):
    assert "".join(_generator(bad_server("utf8-split").url).stream(MESSAGES, 20)) == "Smile \U0001f600 [1]."


def test_an_html_reply_says_so_not_interrupt_requests(bad_server):
    from assistant.errors import GenerationError

    with pytest.raises(GenerationError) as exc:
        list(_generator(bad_server("html").url).stream(MESSAGES, 20))
    assert "text/html, not an event stream" in str(exc.value) and "interrupt_requests" not in str(exc.value)


def test_ask_with_a_split_surrogate_saves_a_readable_conversation(bad_server, indexed, settings, capsys, monkeypatch):
    """End to end: the answer is written and the conversation file holds it as valid UTF-8 (was: exit 70 and a
    0-byte conversation file)."""
    from assistant.answer import session as sess

    server = bad_server("surrogate")
    # A sentence of the LIMO abstract, so that the citation check keeps the model's text, emoji and all.
    server.lead = (
        "To facilitate reproducibility and future research in data-efficient reasoning, we release LIMO as a "
        "comprehensive open-source suite "
    )
    monkeypatch.setenv("ASSISTANT_ANSWER_STYLE", "generative")
    monkeypatch.setattr(sess, "make_generator", lambda s: _generator(server.url))
    rc, out, err = cli(capsys, "ask", "--json", "What is LIMO?")
    json.loads(out)
    assert rc == 0, err
    files = list((settings.data_dir / "conversations").glob("*.jsonl"))
    assert len(files) == 1 and files[0].stat().st_size > 0
    files[0].read_bytes().decode("utf-8")  # strict: no lone surrogate written as bytes
