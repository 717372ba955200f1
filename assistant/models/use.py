"""`models use`: set `model_path` in the user's config file, changing nothing else in it.

The file is edited as text (comments and order stay), in the table the settings are read from (top level, or
`[assistant]` when the file has one), then parsed back and read through config.read_config_file before it
replaces the old one, so the checks there (TOML, mode: not writable by others) hold for the result too."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

from assistant.config import default_config_file, read_config_file
from assistant.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

HEADER = re.compile(r"^\s*\[")
KEY = re.compile(r"^\s*model_path\s*=")
ASSISTANT_TABLE = re.compile(r"^\s*\[\s*assistant\s*\]\s*(#.*)?$")


def config_path(explicit: Path | None) -> Path:
    """The file load_settings reads: --config, else $ASSISTANT_CONFIG, else the per-user default."""
    return Path(explicit or os.environ.get("ASSISTANT_CONFIG") or default_config_file()).expanduser()


def _edit(text: str, value: str | None) -> str:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    data = tomllib.loads(text)
    if isinstance(data.get("assistant"), dict):
        start = next(i for i, line in enumerate(lines) if ASSISTANT_TABLE.match(line)) + 1
    else:
        start = 0
    end = next((i for i in range(start, len(lines)) if HEADER.match(lines[i])), len(lines))
    new = [] if value is None else [f"model_path = {json.dumps(value)}\n"]  # a JSON string is a TOML basic string
    at = next((i for i in range(start, end) if KEY.match(lines[i])), None)
    if at is not None:
        lines[at : at + 1] = new
    else:
        lines[end:end] = new
    return "".join(lines)


def set_model_path(path: Path, value: str | None) -> None:
    """Write `model_path = value` into the config file at `path` (created if missing); None removes the key,
    so the bundled model is used again."""
    if path.exists():
        read_config_file(path)  # refuses a file others can write, or one that is not TOML, before touching it
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode & 0o755
    else:
        text, mode = "# paper-assistant settings (see assistant/config.py for every field)\n", 0o600
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        new = _edit(text, value)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new)
        os.chmod(tmp, mode)
        got = read_config_file(Path(tmp)).get("model_path")
        if got != value:  # the edit landed in another table than the one read: never leave such a file
            raise ConfigError(f"{path}: could not set model_path (the file's layout is unusual); edit it by hand")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
