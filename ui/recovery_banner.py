"""The offer to recover the work of a session that did not end cleanly: a bar at the top of the window, not a
dialog, so the app starts at once and the user decides when they like."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget


class RecoveryBanner(QWidget):
    recoverRequested = Signal()
    discardRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("recoveryBanner")
        # A plain QWidget subclass paints no style-sheet background without this: white text on the window grey.
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.recover_button = QPushButton("Recover")
        self.recover_button.setToolTip("Open the unsaved work as an unsaved session")
        self.recover_button.clicked.connect(self.recoverRequested)
        self.discard_button = QPushButton("Discard")
        self.discard_button.setToolTip("Delete the unsaved work for good")
        self.discard_button.clicked.connect(self.discardRequested)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.recover_button)
        layout.addWidget(self.discard_button)
        self.setStyleSheet("#recoveryBanner { background: #1d5fa8; } #recoveryBanner QLabel { color: white; }")
        self.hide()

    def offer(self, text: str) -> None:
        self.label.setText(text)
        self.show()
