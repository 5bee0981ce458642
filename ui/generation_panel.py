"""Prompt editor, sampling settings, Generate / Stop, and the side-by-side panes."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.panes import PanesView
from workbench.errors import InputError
from workbench.models.sampling import MAX_SEED, SamplingSettings


class GenerationPanel(QWidget):
    generateRequested = Signal()
    stopRequested = Signal()
    changed = Signal()  # the prompt, chat mode or a sampling setting changed (for undo and autosave)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Settings a session may hold that have no control here (top-k, repetition penalty, stop at eos): kept
        # as they were loaded, so saving a session again does not change them.
        self._settings = SamplingSettings()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Type a prompt… (Ctrl+Enter generates, Esc stops)")
        self.prompt.setPlainText("Tell me about your weekend plans.")
        self.prompt.setMaximumHeight(90)
        layout.addWidget(self.prompt)

        controls = QHBoxLayout()
        self.chat = QCheckBox("Chat template")
        self.chat.setChecked(True)
        self.chat.setToolTip("Wrap the prompt in the model's chat template; off = raw text continuation")
        self.seed = _spin(0, MAX_SEED, 0, "Seed: same seed and panes give the same tokens")
        self.temperature = _dspin(0.0, 5.0, 0.7, 0.05, "Temperature (0 = greedy)")
        self.top_p = _dspin(0.01, 1.0, 0.9, 0.05, "Top-p (1 = off)")
        self.max_tokens = _spin(1, 4096, 64, "Max new tokens")
        self.generate_button = QPushButton("Generate")
        self.generate_button.setToolTip("Generate the baseline and every variant in one batch (Ctrl+Enter)")
        self.generate_button.setEnabled(False)
        self.generate_button.clicked.connect(self.generateRequested)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop generating (Esc)")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stopRequested)
        controls.addWidget(self.chat)
        for label, widget in (
            ("seed", self.seed),
            ("temp", self.temperature),
            ("top-p", self.top_p),
            ("max tokens", self.max_tokens),
        ):
            controls.addWidget(QLabel(label))
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.generate_button)
        controls.addWidget(self.stop_button)
        layout.addLayout(controls)
        self.panes = PanesView()
        layout.addWidget(self.panes, 1)
        self.prompt.textChanged.connect(self.changed)
        self.chat.toggled.connect(lambda _on: self.changed.emit())
        for spin in (self.seed, self.temperature, self.top_p, self.max_tokens):
            spin.valueChanged.connect(lambda _v: self.changed.emit())

    def settings(self) -> SamplingSettings:
        return replace(
            self._settings,
            seed=self.seed.value(),
            temperature=self.temperature.value(),
            top_p=self.top_p.value(),
            max_new_tokens=self.max_tokens.value(),
        )

    def set_inputs(self, prompt: str, chat: bool, settings: SamplingSettings) -> None:
        """Show a session's prompt, mode and settings, emitting `changed` once (not once per control)."""
        controls = (self.prompt, self.chat, self.seed, self.temperature, self.top_p, self.max_tokens)
        blockers = [QSignalBlocker(w) for w in controls]
        if self.prompt.toPlainText() != prompt:  # setPlainText would also reset the cursor and the editor's undo
            self.prompt.setPlainText(prompt)
        self.chat.setChecked(chat)
        self._settings = settings
        self.seed.setValue(settings.seed)
        self.temperature.setValue(settings.temperature)
        self.top_p.setValue(settings.top_p)
        self.max_tokens.setValue(settings.max_new_tokens)
        del blockers
        self.changed.emit()

    def prompt_text(self) -> str:
        text = self.prompt.toPlainText().strip()
        if not text:
            raise InputError("the prompt is empty")
        return text

    def set_running(self, running: bool, ready: bool) -> None:
        self.generate_button.setEnabled(ready and not running)
        self.stop_button.setEnabled(running)


def _spin(lo: int, hi: int, value: int, tip: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(lo, hi)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin


def _dspin(lo: float, hi: float, value: float, step: float, tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(lo, hi)
    spin.setSingleStep(step)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin
