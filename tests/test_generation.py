"""The in-process llama.cpp generator with the real GGUF (greedy): streaming, stop strings, max tokens, cancel."""

from __future__ import annotations

import threading

import pytest

from assistant.errors import ModelError
from assistant.generate.llama import check_gguf

pytestmark = pytest.mark.e2e

SYSTEM = "You are a helpful assistant. Answer in one or two sentences."
PROMPTS = [
    "What is the capital of France?",
    "Name three primary colours and say why they are called primary.",
    "Translate to Japanese: good morning",  # multi-byte UTF-8, characters split across tokens
]


def chat(user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


@pytest.fixture
def gen(real_generator):
    assert real_generator.settings.temperature == 0
    assert real_generator.chat_template, "the bundled GGUF carries its chat template"
    return real_generator


@pytest.mark.parametrize("user", PROMPTS)
def test_stream_yields_text_and_is_repeatable(gen, user):
    pieces = list(gen.stream(chat(user), 48))
    text = "".join(pieces)
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert text.strip() and "\ufffd" not in text
    # Greedy and repeatable once the cache state is the same (a cold prompt is split into other batches than a
    # cached one, and llama.cpp's float sums then differ in the last bits: near-ties can flip).
    assert "".join(gen.stream(chat(user), 48)) == "".join(gen.stream(chat(user), 48))


def test_stop_string_cuts_the_text(gen, monkeypatch):
    monkeypatch.setattr(gen.settings, "stop", [])
    full = "".join(gen.stream(chat(PROMPTS[1]), 40))
    assert len(full) > 30
    stop = full[12:18]
    monkeypatch.setattr(gen.settings, "stop", ["never-appears", stop])
    assert "".join(gen.stream(chat(PROMPTS[1]), 40)) == full[: full.index(stop)]


def test_max_tokens(gen, monkeypatch):
    monkeypatch.setattr(gen.settings, "stop", [])
    full = "".join(gen.stream(chat(PROMPTS[1]), 40))
    short = list(gen.stream(chat(PROMPTS[1]), 5))
    assert 0 < len(short) <= 5 and full.startswith("".join(short)) and len("".join(short)) < len(full)


def test_cancel_between_tokens(gen, monkeypatch):
    monkeypatch.setattr(gen.settings, "stop", [])
    cancel = threading.Event()
    cancel.set()
    assert list(gen.stream(chat(PROMPTS[1]), 40, cancel)) == []
    cancel.clear()
    got = []
    for piece in gen.stream(chat(PROMPTS[1]), 40, cancel):
        got.append(piece)
        cancel.set()
    assert len(got) == 1


def test_not_a_gguf(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"NOPE" + b"\0" * 100)
    with pytest.raises(ModelError, match="not a GGUF"):
        check_gguf(bad)


def test_prefill_caches_exactly_the_leading_tokens_of_the_chat_prompt(gen):
    """The cold-start prefill is only worth anything if llama.cpp's prefix match finds it: the system turn
    must tokenise to the first tokens of every full chat prompt."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    gen.prefill(chat(PROMPTS[0])[:1])
    n = gen.llm.n_tokens
    cached = list(gen.llm.input_ids[:n])
    full = Jinja2ChatFormatter(gen.chat_template, eos_token="<|im_end|>", bos_token="<|im_start|>")(
        messages=chat(PROMPTS[0])
    ).prompt
    tokens = gen.llm.tokenize(full.encode(), add_bos=False, special=True)
    assert 10 < n < len(tokens) and tokens[:n] == cached
    # and an answer after the prefill is a normal answer
    assert "".join(gen.stream(chat(PROMPTS[0]), 16)).strip()


def test_prefill_state_is_saved_once_then_read_back_instead_of_decoded(gen, tmp_path, monkeypatch):
    monkeypatch.setattr(gen.settings, "data_dir", tmp_path)
    system = chat(PROMPTS[1])[:1]
    evals = []
    real_eval = gen.llm.eval
    monkeypatch.setattr(gen.llm, "eval", lambda tokens: (evals.append(len(tokens)), real_eval(tokens))[1])

    gen.prefill(system)
    saved = list((tmp_path / "models" / "prompt-cache").glob("*.kv"))
    assert len(saved) == 1 and evals and (saved[0].stat().st_mode & 0o077) == 0
    n = gen.llm.n_tokens
    first = "".join(gen.stream(chat(PROMPTS[1]), 24))

    evals.clear()
    gen.prefill(system)  # what a new process does: the KV state comes from the file
    assert evals == [] and gen.llm.n_tokens == n
    assert "".join(gen.stream(chat(PROMPTS[1]), 24)) == first  # the same cache bits, the same greedy answer

    saved[0].write_bytes(saved[0].read_bytes()[:1000])  # torn file: ignored, decoded again
    evals.clear()
    gen.prefill(system)
    assert evals == [n] and gen.llm.n_tokens == n
    assert "".join(gen.stream(chat(PROMPTS[1]), 24)) == first


def test_extend_decodes_only_the_changed_tail_and_leaves_answers_unchanged(gen):
    from assistant.generate.llama import EXTEND_STEP

    draft, final = chat("Name three primary colours and say"), chat(PROMPTS[1])
    baseline = "".join(gen.stream(final, 32))
    gen.prefill(final[:1])
    first = gen.extend(draft)
    assert first > 0
    assert gen.extend(draft) == 0  # already cached
    tail = gen.extend(final)
    assert 0 < tail < first  # only the end of the question changed
    assert "".join(gen.stream(final, 32)) == baseline
    stop = threading.Event()
    stop.set()
    gen.prefill(final[:1])
    assert gen.extend(chat("A different question about colour theory " * 8), stop) == 0  # cancelled at once
    long = chat("Explain why the sky is blue, in detail. " * 12)

    class StopAfterOneStep:
        calls = 0

        def is_set(self):
            self.calls += 1
            return self.calls > 1

    assert gen.extend(long, StopAfterOneStep()) == EXTEND_STEP  # stops between steps


def test_prefill_and_extend_skip_prompts_longer_than_the_context(gen):
    too_long = [{"role": "system", "content": "word " * (gen.n_ctx + 10)}]
    gen.prefill(too_long)  # no error: the answer itself reports a prompt that does not fit
    assert gen.extend(too_long + [{"role": "user", "content": "hi"}]) == 0
    assert "".join(gen.stream(chat(PROMPTS[0]), 8)).strip()
