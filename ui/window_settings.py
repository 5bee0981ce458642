"""The window's own memory between runs (QSettings): geometry, splitter sizes, and the last inputs used."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray

if TYPE_CHECKING:
    from ui.main_window import MainWindow


def restore_window(window: MainWindow) -> None:
    """Geometry, splitters and the last prompt, sampling settings and model, as the last session left them."""
    geometry = window.settings.value("window/geometry")
    if isinstance(geometry, QByteArray):
        window.restoreGeometry(geometry)
    else:
        window.resize(1600, 960)
    for name, splitter in window.splitters.items():
        state = window.settings.value(f"window/splitter/{name}")
        if isinstance(state, QByteArray):
            splitter.restoreState(state)
    prompt = window.settings.value("last/prompt")
    if isinstance(prompt, str) and prompt:
        window.generation.prompt.setPlainText(prompt)
    g = window.generation
    for key, spin in (("seed", g.seed), ("max_tokens", g.max_tokens)):
        number = _number(window.settings.value(f"last/{key}"))
        if number is not None:
            spin.setValue(int(number))
    for key, dspin in (("temperature", g.temperature), ("top_p", g.top_p)):
        number = _number(window.settings.value(f"last/{key}"))
        if number is not None:
            dspin.setValue(number)
    chat = window.settings.value("last/chat")
    if chat is not None:
        g.chat.setChecked(str(chat).lower() in ("true", "1"))
    spec = window.settings.value("last/model")
    if isinstance(spec, str) and spec:
        window.model_panel.spec.setEditText(spec)


def _number(value: object) -> float | None:
    """A stored number, or None for a missing or mangled one (a hand-edited settings file must not stop the app)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def save_window(window: MainWindow) -> None:
    """Remember what `restore_window` restores."""
    window.settings.setValue("window/geometry", window.saveGeometry())
    for name, splitter in window.splitters.items():
        window.settings.setValue(f"window/splitter/{name}", splitter.saveState())
    window.settings.setValue("last/prompt", window.generation.prompt.toPlainText())
    window.settings.setValue("last/model", window.model_panel.spec.currentText())
    g = window.generation
    for key, value in (
        ("seed", g.seed.value()),
        ("max_tokens", g.max_tokens.value()),
        ("temperature", g.temperature.value()),
        ("top_p", g.top_p.value()),
        ("chat", g.chat.isChecked()),
    ):
        window.settings.setValue(f"last/{key}", value)
    window.settings.sync()
