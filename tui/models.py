"""The model picker: the command palette (Ctrl+P) lists the installed models as "Use model: NAME"; choosing one
sets `model_path` for this session and reloads the pipeline, without restarting the app. The config file is not
changed (that is `assistant models use NAME`)."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

from textual.command import DiscoveryHit, Hit, Hits, Provider

from assistant.config import Settings
from assistant.models.installed import Installed, in_use, installed_models


def _label(m: Installed, using: Path | None) -> str:
    here = " (in use)" if using is not None and m.path.resolve() == using else ""
    return f"Use model: {m.name}{here}"


class ModelCommands(Provider):
    async def startup(self) -> None:
        settings: Settings = getattr(self.app, "settings")  # noqa: B009 (the app is PaperChatApp)
        # A directory scan and a package lookup: off the UI thread all the same.
        self.models = await asyncio.to_thread(installed_models, settings)
        self.using = await asyncio.to_thread(in_use, settings)

    def _help(self, m: Installed) -> str:
        what = "the bundled model" if m.bundled else m.record.get("repo", "pulled")
        return f"{m.path.name}, {m.size / 2**20:.0f} MiB ({what}); switches now, for this session"

    def _command(self, m: Installed):
        return partial(switch_model, self.app, m)

    async def discover(self) -> Hits:
        for m in self.models:
            yield DiscoveryHit(_label(m, self.using), self._command(m), help=self._help(m))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for m in self.models:
            label = _label(m, self.using)
            score = matcher.match(label)
            if score > 0:
                yield Hit(score, matcher.highlight(label), self._command(m), help=self._help(m))


def switch_model(app, model: Installed) -> None:
    """Point the session's settings at `model` and reload the chat screen's pipeline (refused mid-answer)."""
    chat = app.chat
    if chat.generating:
        app.notify("Wait for the answer to finish (or press Esc) before switching models.", markup=False)
        return
    if in_use(app.settings) == model.path.resolve():
        app.notify(f"{model.name} is already in use.", markup=False)
        return
    app.settings.model_path = None if model.bundled else model.path
    app.notify(f"Switching to {model.name}…", markup=False)
    chat.action_reload()
