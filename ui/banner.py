"""Coloured bars at the top of the window: a message and its buttons, never a modal dialog."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractButton, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget


class Banner(QWidget):
    """White text on `colour`, with `buttons` at the right; hidden until shown with a message."""

    def __init__(self, name: str, colour: str, buttons: list[QAbstractButton], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        # A plain QWidget subclass paints no style-sheet background without this: white text on the window grey.
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label, 1)
        for button in buttons:
            layout.addWidget(button)
        self.setStyleSheet(f"#{name} {{ background: {colour}; }} #{name} QLabel {{ color: white; }}")
        self.hide()

    def show_message(self, text: str) -> None:
        self.label.setText(text)
        self.show()


class ErrorBanner(Banner):
    """A readable, dismissable message: errors never end the app."""

    def __init__(self, parent: QWidget | None = None) -> None:
        close = QToolButton()
        close.setText("Dismiss")
        super().__init__("errorBanner", "#b3261e", [close], parent)
        close.clicked.connect(self.hide)


class RecoveryBanner(Banner):
    """The offer to recover the work of a session that did not end cleanly: a bar, not a dialog, so the app starts
    at once and the user decides when they like."""

    recoverRequested = Signal()
    discardRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        self.recover_button = QPushButton("Recover")
        self.recover_button.setToolTip("Open the unsaved work as an unsaved session")
        self.discard_button = QPushButton("Discard")
        self.discard_button.setToolTip("Delete the unsaved work for good")
        super().__init__("recoveryBanner", "#1d5fa8", [self.recover_button, self.discard_button], parent)
        self.recover_button.clicked.connect(self.recoverRequested)
        self.discard_button.clicked.connect(self.discardRequested)

    def offer(self, text: str) -> None:
        self.show_message(text)
