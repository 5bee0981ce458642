"""Undo and redo for every change to the editor state, as snapshots: each step holds the whole state before and
after it, so undo restores exactly what was there, whichever widget made the change.

The tracker watches for changes, names each with `describe_change`, and pushes one command per step. Steps fold
into the one before while the user is still making them: one slider drag (from press to release), and a burst
of typing in the prompt or a settings box (until a short pause). Restoring a snapshot must not record new steps,
so the widgets' echoes are ignored while it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from ui.session_state import Change, EditorState, describe_change

TYPING_PAUSE_MS = 1000  # typing that pauses this long starts a new undo step
_MERGE_ID = 1  # every snapshot command may merge; `mergeWith` decides


class SnapshotCommand(QUndoCommand):
    def __init__(self, tracker: UndoTracker, before: EditorState, after: EditorState, change: Change) -> None:
        super().__init__(change.label)
        self.tracker = tracker
        self.before, self.after = before, after
        self.merge_key = change.merge_key
        self.open = change.merge_key is not None  # may still take the next step of the same gesture
        self._pushed = False

    def id(self) -> int:  # Qt override
        return _MERGE_ID

    def mergeWith(self, other: QUndoCommand) -> bool:  # Qt override
        if not (isinstance(other, SnapshotCommand) and self.open and self.merge_key == other.merge_key):
            return False
        self.after = other.after
        self.setText(other.text())  # the newest value: "Set L8:f3 strength to 20"
        return True

    def redo(self) -> None:  # Qt override
        if not self._pushed:
            self._pushed = True  # push() calls redo(): the widgets already show `after`
            return
        self.tracker.restore(self.after)

    def undo(self) -> None:  # Qt override
        self.open = False
        self.tracker.restore(self.before)


class UndoTracker(QObject):
    """Turns the editor's change notifications into undo steps on `stack`."""

    stateChanged = Signal()  # a step was recorded, or undo / redo restored one

    def __init__(
        self,
        capture: Callable[[], EditorState],
        apply: Callable[[EditorState], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.stack = QUndoStack(self)
        self._capture, self._apply = capture, apply
        self.current = capture()
        self._restoring = False
        self._gesture = False
        self._typing = QTimer(self)
        self._typing.setSingleShot(True)
        self._typing.setInterval(TYPING_PAUSE_MS)
        self._typing.timeout.connect(self.close_step)

    # -- recording ------------------------------------------------------------------------------------------
    def note_change(self) -> None:
        """Called on every change signal: records a step when the state really differs from the last one."""
        if self._restoring:
            return
        state = self._capture()
        if state == self.current:
            return
        change = describe_change(self.current, state)
        if _kind(change.merge_key) == "strength" and not self._gesture:
            change = Change(change.label)  # a typed value or a key press on the slider is a step of its own
        top = self.stack.command(self.stack.index() - 1) if self.stack.index() > 0 else None
        if isinstance(top, SnapshotCommand) and top.merge_key != change.merge_key:
            top.open = False
        self.stack.push(SnapshotCommand(self, self.current, state, change))
        self.current = state
        if change.merge_key is not None and not self._gesture:
            self._typing.start()
        self.stateChanged.emit()

    def begin_gesture(self) -> None:
        """A slider was pressed: its moves until release are one step."""
        self.close_step()
        self._gesture = True

    def end_gesture(self) -> None:
        self._gesture = False
        self.close_step()

    def close_step(self) -> None:
        """The next change starts a new step."""
        index = self.stack.index()
        top = self.stack.command(index - 1) if index > 0 else None
        if isinstance(top, SnapshotCommand):
            top.open = False

    # -- restoring ------------------------------------------------------------------------------------------
    def restore(self, state: EditorState) -> None:
        with self.restoring():
            self._apply(state)
        self.current = state
        self.stateChanged.emit()

    @contextmanager
    def restoring(self) -> Iterator[None]:
        """Widget changes made inside are not steps (undo, redo, opening a session)."""
        self._restoring = True
        try:
            yield
        finally:
            self._restoring = False

    def reset(self, clean: bool = True) -> None:
        """Forget every step and take the widgets' state as the starting point (a new or opened session).

        `clean=False` marks the state as unsaved (a recovered session is not in any file).
        """
        self._typing.stop()
        self.stack.clear()
        self.current = self._capture()
        if not clean:
            self.stack.resetClean()


def _kind(key: Hashable | None) -> object:
    return key[0] if isinstance(key, tuple) else key
