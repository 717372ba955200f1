"""The Hugging Face hub switched off around loads from disk."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def hub_closed() -> Iterator[None]:
    """Load from disk with the hub switched off, then put the user's environment back.

    Setting HF_HUB_OFFLINE for good would leak into the rest of the process (a later `models pull`
    would find itself offline)."""
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    before = {name: os.environ.get(name) for name in names}
    os.environ.update(dict.fromkeys(names, "1"))
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
