"""The window's own memory between runs (QSettings): geometry, splitter sizes, and the last inputs used.

The last prompt, sampling settings, chat mode and model go into the document (the new session starts from
them); values a hand-edited or older settings file mangled are skipped, never fatal.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QByteArray

from workbench.errors import InputError
from workbench.models.registry import backend_names

if TYPE_CHECKING:
    from ui.main_window import MainWindow

# settings key → SamplingSettings field, for the numbers the window remembers
NUMBERS = {"seed": "seed", "max_tokens": "max_new_tokens", "temperature": "temperature", "top_p": "top_p"}


def restore_window(window: MainWindow) -> None:
    """Geometry, splitters and the last prompt, sampling settings, chat mode and model."""
    settings = window.settings
    geometry = settings.value("window/geometry")
    if isinstance(geometry, QByteArray):
        window.restoreGeometry(geometry)
    else:
        window.resize(1600, 960)
    for name, splitter in window.splitters.items():
        state = settings.value(f"window/splitter/{name}")
        if isinstance(state, QByteArray):
            splitter.restoreState(state)
    state = window.document.state
    prompt = settings.value("last/prompt")
    if isinstance(prompt, str):
        state = replace(state, prompt=prompt)
    sampling = state.settings
    for key, field in NUMBERS.items():
        number = _number(settings.value(f"last/{key}"))
        if number is None:
            continue
        value: Any = int(number) if isinstance(getattr(sampling, field), int) else number
        try:
            sampling = replace(sampling, **{field: value})
        except InputError:  # out of range: keep the default
            continue
    state = replace(state, settings=sampling)
    chat = settings.value("last/chat")
    if chat is not None:
        state = replace(state, chat=str(chat).lower() in ("true", "1"))
    spec = settings.value("last/model")
    if isinstance(spec, str) and spec:
        state = replace(state, model=replace(state.model, spec=spec))
    backend = settings.value("last/backend")
    if isinstance(backend, str) and backend in backend_names():
        state = replace(state, model=replace(state.model, backend=backend))
    max_memory = settings.value("last/max_memory")  # this machine's devices: remembered like the model
    if isinstance(max_memory, str):
        state = replace(state, model=replace(state.model, max_memory=max_memory))
    window.document.reset(state)


def _number(value: Any) -> float | None:
    """A stored number, or None for a missing or mangled one."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def save_window(window: MainWindow) -> None:
    """Remember what `restore_window` restores."""
    settings = window.settings
    settings.setValue("window/geometry", window.saveGeometry())
    for name, splitter in window.splitters.items():
        settings.setValue(f"window/splitter/{name}", splitter.saveState())
    state = window.document.state
    settings.setValue("last/prompt", state.prompt)
    settings.setValue("last/model", state.model.spec)
    settings.setValue("last/backend", state.model.backend)
    settings.setValue("last/max_memory", state.model.max_memory)
    for key, field in NUMBERS.items():
        settings.setValue(f"last/{key}", getattr(state.settings, field))
    settings.setValue("last/chat", state.chat)
    settings.sync()
