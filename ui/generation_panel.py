"""Prompt editor, sampling settings, Generate / Stop, and the side-by-side panes.

The prompt, chat mode and settings are the document's: an edit here sends a command, and the controls show what
the document holds (undo, an opened session) inside signal blockers, so nothing echoes back.
"""

from __future__ import annotations

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
from workbench.document import Document, DocumentState, SetChat, SetPrompt, SetSetting, Update
from workbench.document.state import DEFAULT_PROMPT
from workbench.errors import InputError
from workbench.models.sampling import MAX_SEED, SamplingSettings


class GenerationPanel(QWidget):
    generateRequested = Signal()
    stopRequested = Signal()

    def __init__(self, document: Document | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document if document is not None else Document(DocumentState(prompt=DEFAULT_PROMPT))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Type a prompt… (Ctrl+Enter generates, Esc stops)")
        self.prompt.setMaximumHeight(90)
        layout.addWidget(self.prompt)

        controls = QHBoxLayout()
        self.chat = QCheckBox("Chat template")
        self.chat.setToolTip("Wrap the prompt in the model's chat template; off = raw text continuation")
        self.seed = _spin(0, MAX_SEED, "Seed: same seed and panes give the same tokens")
        self.temperature = _dspin(0.0, 5.0, 0.05, "Temperature (0 = greedy)")
        self.top_p = _dspin(0.01, 1.0, 0.05, "Top-p (1 = off)")
        self.max_tokens = _spin(1, 4096, "Max new tokens")
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
        self._show(self.document.state)
        # Each control sends its own command: a burst of typing in one box is one undo step.
        self.prompt.textChanged.connect(self._prompt_edited)
        self.chat.toggled.connect(lambda on: self.document.execute(SetChat(on)))
        for name, spin in self._setting_boxes():
            spin.valueChanged.connect(lambda value, name=name: self._setting_edited(name, value))
        unsubscribe = self.document.subscribe(self._document_changed)
        self.destroyed.connect(lambda _o=None: unsubscribe())

    def _setting_boxes(self) -> list[tuple[str, QSpinBox | QDoubleSpinBox]]:
        return [
            ("seed", self.seed),
            ("temperature", self.temperature),
            ("top_p", self.top_p),
            ("max_new_tokens", self.max_tokens),
        ]

    def _prompt_edited(self) -> None:
        self.document.execute(SetPrompt(self.document.state.prompt, self.prompt.toPlainText()))

    def _setting_edited(self, name: str, value: float) -> None:
        old = getattr(self.document.state.settings, name)
        self.document.execute(SetSetting(name, old, type(old)(value)))

    def _document_changed(self, update: Update) -> None:
        if update.changed & {"prompt", "chat", "settings"}:
            self._show(update.after)

    def _show(self, state: DocumentState) -> None:
        """Show the document's prompt, mode and settings without sending them back."""
        blockers = [QSignalBlocker(w) for w in (self.prompt, self.chat, *(b for _n, b in self._setting_boxes()))]
        if self.prompt.toPlainText() != state.prompt:  # setPlainText would also reset the cursor and the editor's undo
            self.prompt.setPlainText(state.prompt)
        self.chat.setChecked(state.chat)
        for name, box in self._setting_boxes():
            box.setValue(getattr(state.settings, name))
        del blockers

    def settings(self) -> SamplingSettings:
        """The document's settings (with those that have no control here, as a session set them)."""
        return self.document.state.settings

    def prompt_text(self) -> str:
        text = self.document.state.prompt.strip()
        if not text:
            raise InputError("the prompt is empty")
        return text

    def set_running(self, running: bool, ready: bool) -> None:
        self.generate_button.setEnabled(ready and not running)
        self.stop_button.setEnabled(running)


def _spin(lo: int, hi: int, tip: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(lo, hi)
    spin.setToolTip(tip)
    return spin


def _dspin(lo: float, hi: float, step: float, tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(lo, hi)
    spin.setSingleStep(step)
    spin.setToolTip(tip)
    return spin
