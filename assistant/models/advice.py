"""Which models fit this machine, and how many layers to offload: the GPU advice of `assistant doctor`.

Free RAM comes from /proc/meminfo (MemAvailable), free VRAM from `nvidia-smi` when it is on PATH (llama.cpp's
Python binding does not report device memory). Sizes are the GGUF file plus a margin for the KV cache and
llama.cpp's buffers; they are estimates, and the advice says so."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass

from assistant.models.catalogue import Entry, catalogue

log = logging.getLogger(__name__)
GiB = 2**30
OVERHEAD = 0.5 * GiB  # KV cache at a few thousand tokens of context plus compute buffers, for models of <= 8B


@dataclass
class GPU:
    name: str
    free: int
    total: int


def free_ram() -> tuple[int, int] | None:
    """(available, total) bytes, or None where /proc/meminfo is missing."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            fields = {k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in fh if ":" in line)}
        return fields["MemAvailable"], fields["MemTotal"]
    except (OSError, KeyError, ValueError):
        try:
            page, total = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_PHYS_PAGES")
            return page * os.sysconf("SC_AVPHYS_PAGES"), page * total
        except (ValueError, OSError, AttributeError):
            return None


def gpus() -> list[GPU] | None:
    """NVIDIA GPUs with their free memory; [] when nvidia-smi finds none, None when there is no nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.free,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("nvidia-smi failed: %s", exc)
        return []
    found = []
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            found.append(GPU(parts[0], int(parts[1]) << 20, int(parts[2]) << 20))
    return found


def needed(size: int) -> int:
    return size + int(OVERHEAD)


def suggest_layers(size: int, layers: int, vram_free: int) -> int:
    """-1 when the whole model fits in `vram_free`, else the share of its layers that does (0: none)."""
    if vram_free >= needed(size):
        return -1
    if not layers or vram_free <= OVERHEAD:
        return 0
    return max(0, min(layers - 1, int(layers * (vram_free - OVERHEAD) / size)))


def entry_bytes(entry: Entry) -> int:
    return int(entry.size_mb * 1e6)


def fit_lines(ram_free: int | None, vram_free: int | None) -> dict[str, list[str]]:
    """Catalogue names by where they fit: all layers in VRAM, in RAM on the CPU, or not at all."""
    gpu, ram, big = "all layers on the GPU", "in RAM (CPU)", "too big for the free memory"
    out: dict[str, list[str]] = {gpu: [], ram: [], big: []}
    for e in catalogue():
        need = max(int(e.ram_gb * GiB), needed(entry_bytes(e)))
        if vram_free is not None and vram_free >= need:
            out[gpu].append(e.name)
        elif ram_free is None or ram_free >= need:
            out[ram].append(e.name)
        else:
            out[big].append(e.name)
    return out


def fmt_gib(n: int) -> str:
    return f"{n / GiB:.1f} GiB"
