"""The Edit menu's Undo and Redo, bound to the document: "Undo Set L8:f305 strength to 12", enabled while there
is a step to take. A pause in typing closes the document's open step, so the next keys start a new one."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from workbench.document import HISTORY, Document, Update

TYPING_PAUSE_MS = 1000  # typing that pauses this long starts a new undo step


class EditActions(QObject):
    def __init__(self, document: Document, window: QWidget) -> None:
        super().__init__(window)
        self.document = document
        self.undo_action = QAction("Undo", window)
        self.undo_action.setShortcuts([QKeySequence("Ctrl+Z")])
        self.undo_action.triggered.connect(lambda _checked=False: document.undo())
        self.redo_action = QAction("Redo", window)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.redo_action.triggered.connect(lambda _checked=False: document.redo())
        self.typing = QTimer(self)
        self.typing.setSingleShot(True)
        self.typing.setInterval(TYPING_PAUSE_MS)
        self.typing.timeout.connect(document.close_step)
        self._show_history()
        unsubscribe = document.subscribe(self._changed)
        self.destroyed.connect(lambda _o=None: unsubscribe())

    def _changed(self, update: Update) -> None:
        if update.command is not None and not self.document.in_gesture:
            self.typing.start()  # each change of a burst pushes the pause back
        elif update.command is None:
            self.typing.stop()
        if HISTORY in update.changed:
            self._show_history()

    def _show_history(self) -> None:
        undo, redo = self.document.undo_label, self.document.redo_label
        self.undo_action.setText(f"Undo {undo}" if undo else "Undo")
        self.undo_action.setEnabled(undo is not None)
        self.redo_action.setText(f"Redo {redo}" if redo else "Redo")
        self.redo_action.setEnabled(redo is not None)
