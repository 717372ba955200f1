"""Files shipped with the package: the prompt templates and the bundled corpus.

They live at the top of the repository (prompts/, seeds/). A wheel carries them inside the package as
assistant/_bundled/{prompts,seeds} (hatchling force-include, see pyproject.toml); a source checkout or an
editable install reads them from the repository root."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def bundled(name: str) -> Path:
    """The folder `name` ("prompts" or "seeds") as shipped: inside the wheel, else in the checkout."""
    inside = files("assistant").joinpath("_bundled", name)
    if inside.is_dir():
        return Path(str(inside))
    return REPO_ROOT / name
