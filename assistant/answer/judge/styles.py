"""answer_style: does the model write answers? "auto" follows the calibration (calibration/styles.json): the
bundled 135M model never wrote an answer that passed the checks, the 0.5B and 1.5B Qwen models did at no loss."""

from __future__ import annotations

from functools import lru_cache

from assistant.answer.judge.learned import read
from assistant.config import Settings


@lru_cache(maxsize=1)
def calibrated_min_params() -> int:
    return int(read("styles")["model_answer_min_params"])


def model_writes(settings: Settings, n_params: int | None) -> bool:
    if settings.answer_style == "extractive":
        return False
    if settings.answer_style == "generative":
        return True
    floor = settings.model_answer_min_params
    floor = calibrated_min_params() if floor is None else floor
    return n_params is None or n_params >= floor  # a server model: size unknown, assumed capable
