"""Commands on the session's sweeps: start one, remove one, change the thresholds its best setting is read with,
and put one of its cells into a variant of the plan ("Use this setting").

Starting and removing move only the sweep's entry: what it produced stays in `DocumentState.sweep_runs` by id,
so undoing a removal (or redoing a start) brings the sweep back with every row it had.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from workbench.document.commands import Command, Compound
from workbench.document.plan_commands import AddEdit, AddVariant, SetEdit
from workbench.document.state import DocumentState
from workbench.session.sweeps import SavedSweep
from workbench.steering.plan import FeatureEdit, Variant
from workbench.sweeps.summary import Thresholds


@dataclass(frozen=True)
class StartSweep(Command):
    sweep: SavedSweep

    @property
    def label(self) -> str:
        return f"Start sweep {self.sweep.title}"

    def apply(self, state: DocumentState) -> DocumentState:
        runs = (
            state.sweep_runs
            if self.sweep.id in state.sweep_runs
            else {**state.sweep_runs, self.sweep.id: self.sweep.run}
        )
        return replace(state, sweeps=(*state.sweeps, self.sweep), sweep_runs=runs)

    def undo(self, state: DocumentState) -> DocumentState:
        return replace(state, sweeps=tuple(s for s in state.sweeps if s.id != self.sweep.id))


@dataclass(frozen=True)
class RemoveSweep(Command):
    index: int
    sweep: SavedSweep

    @property
    def label(self) -> str:
        return f"Remove sweep {self.sweep.title}"

    def apply(self, state: DocumentState) -> DocumentState:
        return replace(state, sweeps=tuple(s for s in state.sweeps if s.id != self.sweep.id))

    def undo(self, state: DocumentState) -> DocumentState:
        sweeps = list(state.sweeps)
        sweeps.insert(min(self.index, len(sweeps)), self.sweep)
        return replace(state, sweeps=tuple(sweeps))


@dataclass(frozen=True)
class SetSweepThresholds(Command):
    """The reliability margin and the NLL budget of a sweep's best setting; typing in their boxes merges."""

    sweep_id: str
    old: Thresholds
    new: Thresholds

    @property
    def label(self) -> str:
        return "Change sweep thresholds"

    def apply(self, state: DocumentState) -> DocumentState:
        return self._put(state, self.new)

    def undo(self, state: DocumentState) -> DocumentState:
        return self._put(state, self.old)

    def _put(self, state: DocumentState, thresholds: Thresholds) -> DocumentState:
        sweeps = tuple(replace(s, thresholds=thresholds) if s.id == self.sweep_id else s for s in state.sweeps)
        return replace(state, sweeps=sweeps)

    def merge(self, following: Command) -> Command | None:
        if isinstance(following, SetSweepThresholds) and following.sweep_id == self.sweep_id:
            return SetSweepThresholds(self.sweep_id, self.old, following.new)
        return None


def use_setting(state: DocumentState, variant: int, edit: FeatureEdit, new_name: str) -> Command:
    """One undo step that puts `edit` (a sweep cell's feature, strength, unit and mode) into variant `variant`:
    it replaces the variant's edit of the same feature at the same SAE, or is added; the baseline takes no edit,
    so with the baseline selected a new variant `new_name` gets it."""
    label = f"Use sweep setting L{edit.layer}:f{edit.feature} at {edit.strength:g} {edit.unit.value}"
    if variant <= 0:
        add = AddEdit(len(state.plan.variants), edit, new_name)
        return Compound(label, (AddVariant(len(state.plan.variants), Variant(new_name)), add))
    target = state.plan.variants[variant]
    for index, old in enumerate(target.edits):
        if (old.layer, old.feature, old.sae) == (edit.layer, edit.feature, edit.sae):
            new = replace(old, strength=edit.strength, unit=edit.unit, mode=edit.mode, enabled=True)
            return Compound(label, (SetEdit(variant, index, old, new),))
    return Compound(label, (AddEdit(variant, edit, target.name),))
