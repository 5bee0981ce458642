"""Commands: every change the user makes to the document's inputs, as a small value that applies and undoes
itself and names itself for the Edit menu ("Undo Set L8:f305 strength to 12").

A command is frozen and holds what it needs to go both ways (the old value as well as the new one), so undo
restores exactly what was there. `merge` folds the next command of the same gesture into one step: a burst of
typing in the prompt or a settings box, a slider drag. The document decides when a step is still open.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import ClassVar

from workbench.document.state import DocumentState
from workbench.models.sampling import SamplingSettings

# Settings as the window names them (the undo menu reads "Undo Change temperature").
SETTING_NAMES = {
    "seed": "seed",
    "temperature": "temperature",
    "top_p": "top-p",
    "top_k": "top-k",
    "repetition_penalty": "repetition penalty",
    "max_new_tokens": "max tokens",
    "stop_at_eos": "stop at end of text",
}


class Command(ABC):
    """One undoable change. Subclasses are frozen dataclasses."""

    # True: merges only while a gesture (a slider drag) lasts, not in a burst of typing.
    gesture_only: ClassVar[bool] = False

    @property
    @abstractmethod
    def label(self) -> str:
        """What the Edit menu says after "Undo " / "Redo "."""

    @abstractmethod
    def apply(self, state: DocumentState) -> DocumentState: ...

    @abstractmethod
    def undo(self, state: DocumentState) -> DocumentState: ...

    def merge(self, following: Command) -> Command | None:
        """One command doing this and then `following`, or None if they are separate steps."""
        return None


@dataclass(frozen=True)
class Compound(Command):
    """Several commands as one step (adding a feature with the baseline selected also adds a variant)."""

    name: str
    commands: tuple[Command, ...]

    @property
    def label(self) -> str:
        return self.name

    def apply(self, state: DocumentState) -> DocumentState:
        for command in self.commands:
            state = command.apply(state)
        return state

    def undo(self, state: DocumentState) -> DocumentState:
        for command in reversed(self.commands):
            state = command.undo(state)
        return state


@dataclass(frozen=True)
class SetPrompt(Command):
    old: str
    new: str

    @property
    def label(self) -> str:
        return "Edit prompt"

    def apply(self, state: DocumentState) -> DocumentState:
        return replace(state, prompt=self.new)

    def undo(self, state: DocumentState) -> DocumentState:
        return replace(state, prompt=self.old)

    def merge(self, following: Command) -> Command | None:
        return SetPrompt(self.old, following.new) if isinstance(following, SetPrompt) else None


@dataclass(frozen=True)
class SetChat(Command):
    chat: bool

    @property
    def label(self) -> str:
        return "Use chat template" if self.chat else "Use raw text"

    def apply(self, state: DocumentState) -> DocumentState:
        return replace(state, chat=self.chat)

    def undo(self, state: DocumentState) -> DocumentState:
        return replace(state, chat=not self.chat)


@dataclass(frozen=True)
class SetSetting(Command):
    """One sampling setting (a field of SamplingSettings); typing in its box merges into one step."""

    name: str
    old: int | float | bool
    new: int | float | bool

    @property
    def label(self) -> str:
        return f"Change {SETTING_NAMES.get(self.name, self.name)}"

    def apply(self, state: DocumentState) -> DocumentState:
        return replace(state, settings=_with_setting(state.settings, self.name, self.new))

    def undo(self, state: DocumentState) -> DocumentState:
        return replace(state, settings=_with_setting(state.settings, self.name, self.old))

    def merge(self, following: Command) -> Command | None:
        if isinstance(following, SetSetting) and following.name == self.name:
            return SetSetting(self.name, self.old, following.new)
        return None


def _with_setting(settings: SamplingSettings, name: str, value: int | float | bool) -> SamplingSettings:
    return SamplingSettings(**{**settings.to_dict(), name: value})
