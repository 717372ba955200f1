"""Torch-free embedding: the packaged model exported once to ONNX (cached once per user under cache_dir/models), run with
OpenVINO or ONNX Runtime, tokenised with `tokenizers`, mean-pooled and L2-normalised like sentence-transformers.

Only the one-time export imports torch; every later process (`assistant ask`) loads the cached file in < 1 s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from assistant.errors import ModelError
from assistant.index.offline import hub_closed

log = logging.getLogger(__name__)
EXPORT_VERSION = 1  # bump when the export recipe changes so old caches are not reused
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def exportable(model_dir: Path) -> bool:
    """Transformer + mean pooling (+ Normalize) is all we reproduce; anything else stays on torch."""
    try:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((model_dir / "modules.json").read_text())]
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError, KeyError):
        return False
    mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
        v for k, v in pooling.items() if k.startswith("pooling_mode") and k != "pooling_mode_mean_tokens"
    )
    return modules[:2] == ["Transformer", "Pooling"] and set(modules[2:]) <= {"Normalize"} and bool(mean_only)


def _backend_versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for pkg in ("onnx", "onnxruntime", "openvino"):
        try:
            out.append(f"{pkg}={version(pkg)}")
        except PackageNotFoundError:
            out.append(f"{pkg}=-")
    return ",".join(out)


def cache_dir(model_dir: Path, root: Path) -> Path:
    """One folder per (model files, recipe, exporter/runtime versions) under the per-user cache `root`:
    a changed or reinstalled model, or a new onnx/openvino, gets a fresh export; every data dir shares it."""
    h = hashlib.sha1(f"v{EXPORT_VERSION}:{model_dir.resolve()}:{_backend_versions()}".encode())
    for name in ("config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json"):
        p = model_dir / name
        if p.is_file():
            st = p.stat()
            h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return root / "models" / f"{model_dir.name}-{h.hexdigest()[:12]}"


def _atomic(target: Path, write) -> None:
    """write(tmp_path) then rename: a reader never sees a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _export_fp32(model_dir: Path, target: Path) -> None:
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise ModelError(f"exporting the embedder to ONNX needs torch and transformers ({exc})") from exc

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # its "Loading weights" bar would break `ingest -q` and piped output
    # eager attention traces to plain ops that the ONNX Runtime / OpenVINO fusers recognise
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager", local_files_only=True).eval()

    class Hidden(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    dummy = tuple(torch.ones(2, 16, dtype=torch.long) for _ in INPUTS)
    axes = {n: {0: "batch", 1: "seq"} for n in (*INPUTS, "last_hidden_state")}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter about the (unused) causal-mask branch
        _atomic(
            target,
            lambda tmp: torch.onnx.export(
                Hidden(model),
                dummy,
                str(tmp),
                input_names=list(INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            ),
        )


def _fuse(src: Path, target: Path) -> None:
    """ONNX Runtime's BERT fuser (Attention, SkipLayerNorm, BiasGelu): ~15% less CPU time, same numbers."""
    from onnxruntime.transformers import optimizer

    cfg = json.loads((src.parent / "source.json").read_text()) if (src.parent / "source.json").is_file() else {}
    opt = optimizer.optimize_model(
        str(src), model_type="bert", num_heads=cfg.get("heads", 0), hidden_size=cfg.get("hidden", 0), opt_level=0
    )
    _atomic(target, lambda tmp: opt.save_model_to_file(str(tmp)))


def _quantise(src: Path, target: Path) -> None:
    """Dynamic int8, per-channel (per-tensor loses too much: cos ~0.94 against the float model)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    _atomic(
        target,
        lambda tmp: quantize_dynamic(
            str(src),
            str(tmp),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        ),
    )


def openvino():
    """openvino, imported without its telemetry: `import openvino` imports its converter, which starts Intel's
    telemetry, and that writes ~/intel/openvino_ga_cid and ~/intel/stats (and would send events) on every run.
    Marking the telemetry package as absent makes openvino use its own no-op stub; nothing else changes."""
    import sys

    if "openvino" not in sys.modules:
        for name in ("openvino_telemetry", "openvino_telemetry.backend"):
            sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    import openvino as ov

    return ov


def _to_openvino(src: Path, target: Path) -> None:
    ov = openvino()

    model = ov.Core().read_model(str(src))
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        ov.save_model(model, str(Path(tmp) / "m.xml"), compress_to_fp16=False)  # keep fp32 weights
        os.replace(Path(tmp) / "m.bin", target.with_suffix(".bin"))  # .bin first: readers look for the .xml
        os.replace(Path(tmp) / "m.xml", target)


def ensure_export(model_dir: Path, root: Path, kind: str) -> Path:
    """The cached file for kind ('fused', 'int8' or 'openvino'), exporting under a file lock on first use."""
    from filelock import FileLock

    folder = cache_dir(model_dir, root)
    names = {"fp32": "model.onnx", "fused": "model.fused.onnx", "int8": "model.int8.onnx", "openvino": "model.xml"}
    target = folder / names[kind]
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with FileLock(str(folder / "export.lock"), timeout=600):
        if target.is_file():  # another process finished it while we waited
            return target
        fp32 = folder / names["fp32"]
        if not fp32.is_file():
            log.info("exporting %s to ONNX (once) in %s", model_dir, folder)
            cfg = json.loads((model_dir / "config.json").read_text())
            (folder / "source.json").write_text(
                json.dumps(
                    {
                        "model": str(model_dir),
                        "heads": cfg.get("num_attention_heads", 0),
                        "hidden": cfg.get("hidden_size", 0),
                    }
                )
            )
            try:
                with hub_closed():  # the model is on disk; never let a library reach for a hub
                    _export_fp32(model_dir, fp32)
            except ModelError:
                raise
            except Exception as exc:  # noqa: BLE001 - any exporter failure is a model problem
                raise ModelError(f"cannot export {model_dir} to ONNX: {exc}") from exc
        fused = folder / names["fused"]
        if kind in ("fused", "int8") and not fused.is_file():
            try:
                _fuse(fp32, fused)
            except Exception as exc:  # the unfused graph is correct, just slower
                log.warning("ONNX fusion failed (%s); using the unfused export", exc)
                fused = fp32
        if kind == "fused":
            return fused
        if kind == "int8":
            _quantise(fused, target)
        elif kind == "openvino":
            _to_openvino(fp32, target)
    return target


class OnnxRunner:
    """last_hidden_state -> masked mean -> L2 norm, on OpenVINO ('openvino') or ONNX Runtime ('onnx', 'onnx-int8')."""

    def __init__(self, model_dir: Path, root: Path, backend: str, threads: int, max_length: int = 256):
        from tokenizers import Tokenizer

        self.backend = backend
        kind = {"openvino": "openvino", "onnx": "fused", "onnx-int8": "int8"}[backend]
        path = ensure_export(model_dir, root, kind)
        self.tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tok.enable_truncation(max_length)
        self.tok.no_padding()  # embed() pads each batch to its own longest text
        if backend == "openvino":
            ov = openvino()

            # bf16 is picked automatically on CPUs with avx512_bf16/AMX (cos 0.99998 against fp32), else fp32
            # CACHE_DIR keeps the compiled blob (OpenVINO keys it by model, device and config): 0.08 s
            # instead of 0.18 s to compile in every cold process.
            config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
            blobs = path.parent / "openvino-cache"
            try:
                blobs.mkdir(exist_ok=True, mode=0o700)
                if os.access(blobs, os.W_OK):
                    config["CACHE_DIR"] = str(blobs)
            except OSError:
                pass  # a read-only data dir: compile every time
            compiled = ov.Core().compile_model(str(path), "CPU", config)
            self.inputs = [i.get_any_name() for i in compiled.inputs]
            request, out = compiled.create_infer_request(), compiled.outputs[0]
            self._run = lambda feed: request.infer(feed)[out]
        else:
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
            session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            self.inputs = [i.name for i in session.get_inputs()]
            self._run = lambda feed: session.run(None, feed)[0]

    def embed(self, texts: list[str], batch_size: int) -> np.ndarray:
        # Tokenized once, then batched by token count: ordered by characters, the batches of an ingest padded 14 %
        # more tokens than they held (titles, LaTeX and numbers tokenize unevenly); by tokens, 3 %.
        enc = self.tok.encode_batch(texts)
        lengths = np.array([len(e.ids) for e in enc])
        order = np.argsort(-lengths, kind="stable")
        out: np.ndarray | None = None
        for start in range(0, len(order), batch_size):
            sel = order[start : start + batch_size]
            width = int(lengths[sel].max())
            ids = np.zeros((len(sel), width), dtype=np.int64)
            mask = np.zeros((len(sel), width), dtype=np.int64)
            for row, i in enumerate(sel):
                ids[row, : lengths[i]] = enc[i].ids
                mask[row, : lengths[i]] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self._run({k: feed[k] for k in self.inputs})
            m = mask[..., None].astype(np.float32)
            vec = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
            if out is None:
                out = np.zeros((len(texts), vec.shape[1]), dtype=np.float32)
            out[sel] = vec / np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
        return out if out is not None else np.zeros((0, 384), dtype=np.float32)
