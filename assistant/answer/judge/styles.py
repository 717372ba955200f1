"""answer_style: does the model write answers? "auto" follows the calibration (calibration/styles.json): the
bundled 135M model never wrote an answer that passed the checks, the 0.5B and 1.5B Qwen models did at no loss."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from assistant.config import Settings


@lru_cache(maxsize=1)
def calibrated_min_params() -> int:
    text = resources.files("assistant.answer.judge").joinpath("calibration/styles.json").read_text(encoding="utf-8")
    return int(json.loads(text)["model_answer_min_params"])


def model_writes(settings: Settings, n_params: int | None) -> bool:
    if settings.answer_style == "extractive":
        return False
    if settings.answer_style == "generative":
        return True
    floor = settings.model_answer_min_params
    floor = calibrated_min_params() if floor is None else floor
    return n_params is None or n_params >= floor  # a server model: size unknown, assumed capable
