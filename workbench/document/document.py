"""The document: the one object that holds a session's state while the window edits it.

Widgets send it commands (`execute`) and observe it (`subscribe`); nothing reads another widget. It keeps the
undo and redo stacks, folds a gesture or a burst of typing into one step, tracks whether the state differs from
the saved one, and knows its file. Plain Python, no Qt: the Qt side only turns its notifications into widget
updates and a pause in typing into `close_step`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from workbench.document.commands import Command
from workbench.document.records import SessionRecords
from workbench.document.state import DocumentState, ModelChoice, ShownRun, changed_fields, session_with_state
from workbench.session import Session
from workbench.session.model import AnalysisValue
from workbench.session.sweeps import SweepRun

HISTORY = "history"  # the undo / redo stacks or the saved mark changed (Edit menu, the modified mark)
FILE = "file"  # the file, or whether it is recovered work, changed (the title)


@dataclass(frozen=True)
class Update:
    """What one change did: the states before and after, and which parts changed (`DocumentState` field names,
    `HISTORY`, `FILE`). `command` is the command that made it (None for undo, redo, a reset or a view change)."""

    before: DocumentState
    after: DocumentState
    changed: frozenset[str]
    command: Command | None = None
    undoing: bool = False


Listener = Callable[[Update], None]


class Document:
    def __init__(self, state: DocumentState | None = None) -> None:
        self._state = state if state is not None else DocumentState()
        self._undo: list[Command] = []
        self._redo: list[Command] = []
        self._open = False  # the top step may still take the next command of the same typing burst / gesture
        self._gesture = False
        self._saved: int | None = 0  # the undo depth of the saved state (None: no reachable state is saved)
        self._listeners: list[Listener] = []
        self.path: Path | None = None
        self.recovered = False  # the work came from the autosave slot: it is in no file
        self.records = SessionRecords()

    @property
    def state(self) -> DocumentState:
        return self._state

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` after every change; returns the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # -- commands -----------------------------------------------------------------------------------------------
    def execute(self, command: Command) -> bool:
        """Apply `command` as a new undo step (or fold it into the open one); False if it changed nothing."""
        before = self._state
        after = command.apply(before)
        if after == before:
            return False
        merged = self._merged(command)
        if merged is not None:
            self._undo[-1] = merged
        else:
            self._undo.append(command)
            if self._saved is not None and self._saved >= len(self._undo):
                self._saved = None  # the saved state was undone and is now replaced: no way back to it
            self._open = True
        self._redo.clear()
        self._state = after
        self._notify(before, {HISTORY}, command)
        return True

    def _merged(self, command: Command) -> Command | None:
        if not (self._open and self._undo) or len(self._undo) == self._saved:  # the saved step stays as saved
            return None
        if command.gesture_only and not self._gesture:
            return None
        return self._undo[-1].merge(command)

    def undo(self) -> None:
        if not self._undo:
            return
        self._open = False
        command = self._undo.pop()
        self._redo.append(command)
        before, self._state = self._state, command.undo(self._state)
        self._notify(before, {HISTORY}, undoing=True)

    def redo(self) -> None:
        if not self._redo:
            return
        self._open = False
        command = self._redo.pop()
        self._undo.append(command)
        before, self._state = self._state, command.apply(self._state)
        self._notify(before, {HISTORY})

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_label(self) -> str | None:
        return self._undo[-1].label if self._undo else None

    @property
    def redo_label(self) -> str | None:
        return self._redo[-1].label if self._redo else None

    @property
    def steps(self) -> int:
        """How many steps undo can take back."""
        return len(self._undo)

    # -- steps: what merges -------------------------------------------------------------------------------------
    def begin_gesture(self) -> None:
        """A slider was pressed: its moves until release are one step."""
        self.close_step()
        self._gesture = True

    def end_gesture(self) -> None:
        self._gesture = False
        self.close_step()

    @property
    def in_gesture(self) -> bool:
        return self._gesture

    def close_step(self) -> None:
        """The next command starts a new step (typing paused, a gesture ended)."""
        self._open = False

    # -- saved or modified --------------------------------------------------------------------------------------
    @property
    def modified(self) -> bool:
        """True when the state differs from the one last saved (or opened, or started with)."""
        return self._saved != len(self._undo)

    def mark_saved(self) -> None:
        """The state was saved: this is the clean state (the undo history stays: a save is not a step)."""
        self._saved = len(self._undo)
        self._open = False
        self._notify(self._state, {HISTORY})

    def mark_unsaved(self) -> None:
        """Something no command covers changed what a save writes (a run's new outputs): unsaved work now."""
        self._saved = None
        self._notify(self._state, {HISTORY})

    # -- whole states -------------------------------------------------------------------------------------------
    def reset(self, state: DocumentState | None = None, clean: bool = True) -> None:
        """Start over from `state` (default: the current one) with an empty history: a new, opened or recovered
        session. `clean=False` marks it as unsaved (recovered work is in no file)."""
        before = self._state
        self._state = state if state is not None else before
        self._undo.clear()
        self._redo.clear()
        self._open = self._gesture = False
        self._saved = 0 if clean else None
        self._notify(before, {HISTORY})

    def set_file(self, path: Path | None, recovered: bool = False) -> None:
        self.path, self.recovered = path, recovered
        self._notify(self._state, {FILE})

    # -- views (no undo steps) ----------------------------------------------------------------------------------
    def set_model(self, model: ModelChoice) -> None:
        self._view(replace(self._state, model=model))

    def set_analysis(self, **values: AnalysisValue) -> None:
        """Analysis selections (heatmap pane and SAE, the followed feature); None removes one."""
        self._view(self._state.with_analysis(**values))

    def show_run(self, run: ShownRun | None, analysis: dict[str, AnalysisValue] | None = None) -> None:
        """The panes show `run` (a finished run or an opened session's outputs); `analysis` replaces the
        selections when given."""
        state = replace(self._state, run=run)
        self._view(state if analysis is None else replace(state, analysis=dict(analysis)))

    def set_sweep_run(self, sweep_id: str, run: SweepRun) -> None:
        """What sweep `sweep_id` has produced so far (rows arriving, its end): no undo step."""
        self._view(replace(self._state, sweep_runs={**self._state.sweep_runs, sweep_id: run}))

    def _view(self, after: DocumentState) -> None:
        before, self._state = self._state, after
        if after != before:
            self._notify(before, set())

    # -- sessions -----------------------------------------------------------------------------------------------
    def session(self, created: str | None = None) -> Session | None:
        """The session as it would be saved now (None until a model was recorded or a session opened)."""
        base = self.records.base
        if base is None:
            return None
        created = created or datetime.now(UTC).isoformat(timespec="seconds")
        return session_with_state(base, self._state, created)

    # -- notifications ------------------------------------------------------------------------------------------
    def _notify(
        self, before: DocumentState, extra: set[str], command: Command | None = None, undoing: bool = False
    ) -> None:
        update = Update(before, self._state, changed_fields(before, self._state) | extra, command, undoing)
        for listener in list(self._listeners):
            listener(update)
