"""Commands on the steering plan: variants (add, duplicate, rename, remove) and their edits (add, change,
remove). Variants are addressed by index (the baseline is 0), edits by their index in the variant's edits.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import ClassVar

from workbench.document.commands import Command
from workbench.document.state import DocumentState
from workbench.steering.plan import FeatureEdit, SteeringPlan, Variant


def short_name(edit: FeatureEdit) -> str:
    """`L8:f305` (or `L8:vector`), as the Edit menu names an edit."""
    target = f"f{edit.feature}" if edit.feature is not None else "vector"
    return f"L{edit.layer}:{target}"


def _with_variants(state: DocumentState, variants: list[Variant]) -> DocumentState:
    return replace(state, plan=SteeringPlan(tuple(variants)))


def _replace_variant(state: DocumentState, index: int, variant: Variant) -> DocumentState:
    variants = list(state.plan.variants)
    variants[index] = variant
    return _with_variants(state, variants)


def _insert(state: DocumentState, index: int, variant: Variant) -> DocumentState:
    variants = list(state.plan.variants)
    variants.insert(index, variant)
    return _with_variants(state, variants)


def _remove(state: DocumentState, index: int) -> DocumentState:
    return _with_variants(state, [v for i, v in enumerate(state.plan.variants) if i != index])


# -- variants ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AddVariant(Command):
    index: int
    variant: Variant

    @property
    def label(self) -> str:
        return f"Add variant “{self.variant.name}”"

    def apply(self, state: DocumentState) -> DocumentState:
        return _insert(state, self.index, self.variant)

    def undo(self, state: DocumentState) -> DocumentState:
        return _remove(state, self.index)


@dataclass(frozen=True)
class DuplicateVariant(Command):
    """A copy of variant `index`, named "<name> copy", right after it."""

    index: int
    source: Variant

    @property
    def copy(self) -> Variant:
        return replace(self.source, name=f"{self.source.name} copy")

    @property
    def label(self) -> str:
        return f"Duplicate variant “{self.source.name}”"

    def apply(self, state: DocumentState) -> DocumentState:
        return _insert(state, self.index + 1, self.copy)

    def undo(self, state: DocumentState) -> DocumentState:
        return _remove(state, self.index + 1)


@dataclass(frozen=True)
class RemoveVariant(Command):
    index: int
    variant: Variant

    @property
    def label(self) -> str:
        return f"Remove variant “{self.variant.name}”"

    def apply(self, state: DocumentState) -> DocumentState:
        return _remove(state, self.index)

    def undo(self, state: DocumentState) -> DocumentState:
        return _insert(state, self.index, self.variant)


@dataclass(frozen=True)
class RenameVariant(Command):
    index: int
    old: str
    new: str

    @property
    def label(self) -> str:
        return f"Rename variant “{self.old}” to “{self.new}”"

    def apply(self, state: DocumentState) -> DocumentState:
        return _replace_variant(state, self.index, replace(state.plan.variants[self.index], name=self.new))

    def undo(self, state: DocumentState) -> DocumentState:
        return _replace_variant(state, self.index, replace(state.plan.variants[self.index], name=self.old))


# -- edits ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AddEdit(Command):
    """`edit` appended to the edits of variant `variant`."""

    variant: int
    edit: FeatureEdit
    variant_name: str

    @property
    def label(self) -> str:
        return f"Add {short_name(self.edit)} to “{self.variant_name}”"

    def apply(self, state: DocumentState) -> DocumentState:
        v = state.plan.variants[self.variant]
        return _replace_variant(state, self.variant, v.with_edits((*v.edits, self.edit)))

    def undo(self, state: DocumentState) -> DocumentState:
        v = state.plan.variants[self.variant]
        return _replace_variant(state, self.variant, v.with_edits(v.edits[:-1]))


@dataclass(frozen=True)
class RemoveEdit(Command):
    variant: int
    index: int
    edit: FeatureEdit
    variant_name: str

    @property
    def label(self) -> str:
        return f"Remove {short_name(self.edit)} from “{self.variant_name}”"

    def apply(self, state: DocumentState) -> DocumentState:
        v = state.plan.variants[self.variant]
        return _replace_variant(state, self.variant, v.with_edits(v.edits[: self.index] + v.edits[self.index + 1 :]))

    def undo(self, state: DocumentState) -> DocumentState:
        v = state.plan.variants[self.variant]
        edits = (*v.edits[: self.index], self.edit, *v.edits[self.index :])
        return _replace_variant(state, self.variant, v.with_edits(edits))


@dataclass(frozen=True)
class SetEdit(Command):
    """Edit `index` of variant `variant` changed from `old` to `new` (strength, mode, unit, positions, on/off).

    Strength steps of one slider drag merge into one step; a typed value or a key press is a step of its own.
    """

    variant: int
    index: int
    old: FeatureEdit
    new: FeatureEdit
    gesture_only: ClassVar[bool] = True

    @property
    def changed(self) -> list[str]:
        return [f.name for f in fields(FeatureEdit) if getattr(self.old, f.name) != getattr(self.new, f.name)]

    @property
    def label(self) -> str:
        what, changed = short_name(self.new), self.changed
        if changed in ([], ["strength"]):  # [] : a drag that came back to where it started
            return f"Set {what} strength to {self.new.strength:g}"
        if changed == ["enabled"]:
            return f"{'Enable' if self.new.enabled else 'Disable'} {what}"
        if len(changed) == 1 and changed[0] in ("mode", "unit", "positions"):
            return f"Set {what} {changed[0]} to {getattr(self.new, changed[0]).value}"
        return f"Change {what}"

    def apply(self, state: DocumentState) -> DocumentState:
        return self._put(state, self.new)

    def undo(self, state: DocumentState) -> DocumentState:
        return self._put(state, self.old)

    def _put(self, state: DocumentState, edit: FeatureEdit) -> DocumentState:
        v = state.plan.variants[self.variant]
        edits = list(v.edits)
        edits[self.index] = edit
        return _replace_variant(state, self.variant, v.with_edits(edits))

    def merge(self, following: Command) -> Command | None:
        if (
            isinstance(following, SetEdit)
            and (following.variant, following.index) == (self.variant, self.index)
            and self.changed in ([], ["strength"])
            and following.changed == ["strength"]
        ):
            return SetEdit(self.variant, self.index, self.old, following.new)
        return None
