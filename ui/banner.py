"""Coloured bars at the top of the window: a message and its buttons, never a modal dialog."""

from __future__ import annotations

from collections.abc import Callable

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


Action = tuple[str, Callable[[], object]]  # a button's text and what it does


class ErrorBanner(Banner):
    """A readable, dismissable message: errors never end the app. A message may offer one way out (Restart model,
    Load anyway) as a button beside Dismiss."""

    def __init__(self, parent: QWidget | None = None) -> None:
        close = QToolButton()
        close.setText("Dismiss")
        self.action_button = QPushButton()
        super().__init__("errorBanner", "#b3261e", [self.action_button, close], parent)
        self._action: Callable[[], object] | None = None
        self.action_button.hide()
        self.action_button.clicked.connect(self._act)
        close.clicked.connect(self.hide)

    def show_message(self, text: str, action: Action | None = None) -> None:
        """Show `text`, replacing the message shown (and its button), with `action`'s button if given."""
        self._action = action[1] if action is not None else None
        self.action_button.setText(action[0] if action is not None else "")
        self.action_button.setVisible(action is not None)
        super().show_message(text)

    def _act(self) -> None:
        action, self._action = self._action, None
        self.hide()
        if action is not None:
            action()


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
