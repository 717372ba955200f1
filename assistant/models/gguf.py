"""What `models list` shows about a GGUF file, read from its header without loading the model.

A minimal reader of the GGUF container (v2/v3): the key/value metadata and the tensor shapes, whose element
counts sum to the parameter count. It reads a few MB at most (the vocabulary arrays are skipped, not decoded), so
listing ten models takes well under a second, and it needs neither llama.cpp nor the `gguf` package."""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from assistant.errors import ModelError

# llama.cpp's LLAMA_FTYPE values (general.file_type): the quantisation most of the weights use.
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
}
# value type -> struct format of a scalar (8: string, 9: array are read apart)
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
MAX_KEYS = 100_000  # a header claiming more is not a model file; stops a corrupt count from looping for hours


@dataclass
class GGUFInfo:
    general_name: str  # general.name, else ""
    architecture: str
    params: int
    quant: str
    context_length: int
    layers: int
    chat_template: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Reader:
    def __init__(self, fh: BinaryIO):
        self.fh = fh

    def take(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise EOFError("truncated header")
        return data

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.take(self.scalar("<Q")).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        self.fh.seek(self.scalar("<Q"), 1)

    def value(self, vtype: int, keep: bool) -> Any:
        if vtype == STRING:
            if keep:
                return self.string()
            self.skip_string()
            return None
        if vtype == ARRAY:
            itype, count = self.scalar("<I"), self.scalar("<Q")
            if itype == STRING:
                for _ in range(count):
                    self.skip_string()
            elif itype in SCALARS:
                self.fh.seek(struct.calcsize(SCALARS[itype]) * count, 1)
            else:
                for _ in range(count):  # nested arrays: rare, small
                    self.value(itype, False)
            return None
        if vtype not in SCALARS:
            raise ValueError(f"unknown GGUF value type {vtype}")
        return self.scalar(SCALARS[vtype])


def read_gguf(path: Path) -> GGUFInfo:
    """The header of `path`; ModelError when it is not a readable GGUF file."""
    try:
        with open(path, "rb") as fh:
            r = _Reader(fh)
            if r.take(4) != b"GGUF":
                raise ModelError(f"{path}: not a GGUF model file (bad magic bytes)")
            version = r.scalar("<I")
            if version < 2:
                raise ModelError(f"{path}: GGUF version {version} is too old to read")
            n_tensors, n_kv = r.scalar("<Q"), r.scalar("<Q")
            if n_kv > MAX_KEYS or n_tensors > 10 * MAX_KEYS:
                raise ModelError(f"{path}: not a GGUF model file (implausible header counts)")
            meta: dict[str, Any] = {}
            for _ in range(n_kv):
                key = r.string()
                vtype = r.scalar("<I")
                # Only short scalars and the few strings shown are kept; the chat template is only tested for.
                keep = key in ("general.name", "general.architecture")
                val = r.value(vtype, keep)
                meta[key] = True if key == "tokenizer.chat_template" else val
            params = 0
            for _ in range(n_tensors):
                r.skip_string()
                dims = [r.scalar("<Q") for _ in range(r.scalar("<I"))]
                r.take(12)  # tensor type (u32) and data offset (u64)
                count = 1
                for d in dims:
                    count *= d
                params += count
    except (OSError, EOFError, ValueError, struct.error, MemoryError) as exc:
        raise ModelError(f"{path}: cannot read the GGUF header ({exc}); is the file complete?") from exc
    arch = str(meta.get("general.architecture") or "?")
    return GGUFInfo(
        general_name=str(meta.get("general.name") or ""),
        architecture=arch,
        params=params,
        quant=FILE_TYPES.get(meta.get("general.file_type", -1), "?"),
        context_length=int(meta.get(f"{arch}.context_length") or 0),
        layers=int(meta.get(f"{arch}.block_count") or 0),
        chat_template=bool(meta.get("tokenizer.chat_template")),
    )


def params_label(n: int) -> str:
    """1_543_714_304 -> '1.5B', 134_515_008 -> '135M'."""
    if n >= 1e9:
        return f"{n / 1e9:.1f}B"
    if n >= 1e6:
        return f"{n / 1e6:.0f}M"
    return str(n)
