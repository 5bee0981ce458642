"""Steering panel: the variants (baseline first) and, for the selected variant, its edits grouped by layer.

The plan is the document's: every change here is a command sent to it, and the panel redraws from the document
when something else changed the plan (undo, redo, an opened session). Which variant is selected is the panel's.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ui.edit_row import EditRow
from workbench.analysis.inspect import default_label
from workbench.document import (
    AddEdit,
    AddVariant,
    Command,
    Compound,
    Document,
    DuplicateVariant,
    RemoveEdit,
    RemoveVariant,
    RenameVariant,
    SetEdit,
    Update,
)
from workbench.models.protocol import Capabilities
from workbench.saes.loader import SaeSummary
from workbench.saes.selection import sae_for_edit
from workbench.steering.plan import EditMode, FeatureEdit, SteeringPlan, StrengthUnit, Variant
from workbench.steering.units import UnitScales

MAX_VARIANTS = 8


class SteeringPanel(QWidget):
    planChanged = Signal(object)  # SteeringPlan: the document's plan changed (by this panel, undo, or opening)
    scalesNeeded = Signal(str, int)  # sae key, feature
    warningsNeeded = Signal(str, int)  # sae key, feature: near-duplicate and surface-string checks
    inspectRequested = Signal(str, int)  # sae key, feature

    def __init__(self, document: Document | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document if document is not None else Document()
        self.saes: list[SaeSummary] = []
        self.scales: dict[tuple[str, int], tuple[UnitScales, str]] = {}
        self.warnings: dict[tuple[str, int], tuple[str, ...]] = {}
        self.rows: list[EditRow] = []
        self.allowed_modes: frozenset[EditMode] = frozenset(EditMode)  # until a backend says otherwise
        self.modes_why = ""
        self._sending = False  # this panel is sending a command: it updates its own view
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

        box, self.variant_list, buttons = _variants_box()
        self.add_variant_button, self.duplicate_button, self.remove_variant_button = buttons
        self.variant_list.currentRowChanged.connect(lambda _r: self._show_edits())
        self.variant_list.itemChanged.connect(self._renamed)
        self.add_variant_button.clicked.connect(self.add_variant)
        self.duplicate_button.clicked.connect(self.duplicate_variant)
        self.remove_variant_button.clicked.connect(self.remove_variant)
        layout.addWidget(box)
        edits = _EditsBox()
        self.layer_combo, self.feature_spin, self.add_edit_button = edits.layer, edits.feature, edits.add
        self.empty_hint, self.edits_host, self.edits_layout = edits.hint, edits.host, edits.rows
        self.add_edit_button.clicked.connect(self._add_from_controls)
        layout.addWidget(edits, 1)
        self._refresh_variants(select=1)
        unsubscribe = self.document.subscribe(self._document_changed)
        self.destroyed.connect(lambda _o=None: unsubscribe())

    # -- plan -----------------------------------------------------------------------------------------------
    @property
    def plan(self) -> SteeringPlan:
        return self.document.state.plan

    def _send(self, command: Command) -> bool:
        """Send a command made here: the caller shows its result (no rebuild under the user's mouse)."""
        self._sending = True
        try:
            return self.document.execute(command)
        finally:
            self._sending = False

    def _document_changed(self, update: Update) -> None:
        if "plan" not in update.changed:
            return
        if not self._sending:
            # Undo, redo or an opened session: show the variant the step changed (undoing a slider move shows
            # that slider), else keep the selection.
            old, new = update.before.plan.variants, update.after.plan.variants
            changed = next((i for i in range(len(new)) if i >= len(old) or old[i] != new[i]), None)
            self._refresh_variants(select=self.selected if changed is None else min(changed, len(new) - 1))
        self.planChanged.emit(update.after.plan)

    @property
    def selected(self) -> int:
        return max(self.variant_list.currentRow(), 0)

    def add_variant(self) -> None:
        if len(self.plan.variants) >= MAX_VARIANTS:
            return
        self._send(AddVariant(len(self.plan.variants), Variant(self._new_name())))
        self._refresh_variants(select=len(self.plan.variants) - 1)

    def _new_name(self) -> str:
        names, n = set(self.plan.names), len(self.plan.variants)
        while f"variant {n}" in names:
            n += 1
        return f"variant {n}"

    def duplicate_variant(self) -> None:
        index = self.selected
        if index == 0 or len(self.plan.variants) >= MAX_VARIANTS:
            return
        self._send(DuplicateVariant(index, self.plan.variants[index]))
        self._refresh_variants(select=index + 1)

    def remove_variant(self) -> None:
        index = self.selected
        if index == 0:
            return
        self._send(RemoveVariant(index, self.plan.variants[index]))
        self._refresh_variants(select=min(index, len(self.plan.variants) - 1))

    def _renamed(self, item: QListWidgetItem) -> None:
        index = self.variant_list.row(item)
        name = item.text().strip()
        if index <= 0 or not name or name == self.plan.variants[index].name:
            return
        self._send(RenameVariant(index, self.plan.variants[index].name, name))

    def add_feature(
        self, sae_key: str, feature: int, strength: float = 4.0, unit: StrengthUnit = StrengthUnit.RAW
    ) -> None:
        """Add a feature edit to the selected variant (a new variant if the baseline is selected)."""
        sae = next((s for s in self.saes if s.key == sae_key), None)
        if sae is None:
            return
        edit = FeatureEdit(
            layer=sae.layer,
            feature=feature,
            strength=strength,
            unit=unit,
            sae=sae.key if _several_at(self.saes, sae.layer) else None,
        )
        if self.selected == 0 and len(self.plan.variants) == 1:
            # The baseline has no edits: a new variant takes it, in the same undo step.
            name = self._new_name()
            add = AddEdit(1, edit, name)
            self._send(Compound(add.label, (AddVariant(1, Variant(name)), add)))
            self._refresh_variants(select=1)
            return
        if self.selected == 0:
            self.variant_list.setCurrentRow(1)
        index = self.selected
        self._send(AddEdit(index, edit, self.plan.variants[index].name))
        # Add one row instead of rebuilding every row of the variant.
        self._insert_row(edit)
        self._update_hint()

    def _add_from_controls(self) -> None:
        key = self.layer_combo.currentData()
        if key:
            self.add_feature(str(key), self.feature_spin.value())

    # -- SAEs and units -------------------------------------------------------------------------------------
    def set_saes(self, saes: list[SaeSummary]) -> None:
        self.saes = saes
        self.warnings.clear()  # a near-duplicate may be in an SAE that came or went
        self.layer_combo.clear()
        for s in saes:
            name = f"layer {s.layer}" if s.key == f"L{s.layer}" else f"layer {s.layer} ({s.key})"
            self.layer_combo.addItem(name, s.key)
            tip = f"{s.key}: {s.d_sae} features"
            self.layer_combo.setItemData(self.layer_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self._show_edits()

    def set_scales(self, sae_key: str, feature: int, facts: tuple[UnitScales, str]) -> None:
        """The feature's unit scales and label, computed by the model owner."""
        self.scales[(sae_key, feature)] = facts
        for row in self.rows:
            if row.edit.feature == feature and self._key_of(row.edit) == sae_key:
                row.set_scales(*facts)

    def set_warnings(self, sae_key: str, feature: int, warnings: tuple[str, ...]) -> None:
        """Why the feature may not steer what its label says, computed by the model owner."""
        self.warnings[(sae_key, feature)] = warnings
        for row in self.rows:
            if row.edit.feature == feature and self._key_of(row.edit) == sae_key:
                row.set_warnings(warnings)

    def set_capabilities(self, capabilities: Capabilities, backend: str) -> None:
        """What the loaded backend can do: edit modes it lacks are greyed out in every row, with the reason."""
        self.allowed_modes = capabilities.modes
        missing = sorted(m.value for m in EditMode if m not in capabilities.modes)
        self.modes_why = f"the {backend} backend cannot {' or '.join(missing)}: load the model with the torch backend"
        for row in self.rows:
            row.allow_modes(self.allowed_modes, self.modes_why)

    def _key_of(self, edit: FeatureEdit) -> str | None:
        sae = sae_for_edit(self.saes, edit.layer, edit.sae)  # the rule the model process steers by
        return sae.key if sae is not None else None

    # -- views ----------------------------------------------------------------------------------------------
    def _refresh_variants(self, select: int | None = None) -> None:
        current = self.variant_list.currentRow() if select is None else select
        self.variant_list.blockSignals(True)
        self.variant_list.clear()
        for i, v in enumerate(self.plan.variants):
            item = QListWidgetItem(v.name if i else "baseline (no edits)")
            if i:
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self.variant_list.addItem(item)
        self.variant_list.setCurrentRow(max(0, min(current, len(self.plan.variants) - 1)))
        self.variant_list.blockSignals(False)
        full = len(self.plan.variants) >= MAX_VARIANTS
        self.add_variant_button.setEnabled(not full)
        self._show_edits()

    def _show_edits(self) -> None:
        for row in self.rows:
            row.setParent(None)
            row.deleteLater()
        self.rows = []
        index = self.selected
        variant = self.plan.variants[index] if index < len(self.plan.variants) else self.plan.variants[0]
        self.duplicate_button.setEnabled(index > 0 and len(self.plan.variants) < MAX_VARIANTS)
        self.remove_variant_button.setEnabled(index > 0)
        self._update_hint()
        for edit in variant.edits:
            self._insert_row(edit)

    def _update_hint(self) -> None:
        index = self.selected
        if index == 0:
            self.empty_hint.setText("The baseline has no edits. Select a variant, or add a feature to create one.")
        elif index < len(self.plan.variants) and not self.plan.variants[index].edits:
            self.empty_hint.setText("No edits yet: add a feature by id, or from the search, heatmap or inspector.")
        else:
            self.empty_hint.setText("")
        self.empty_hint.setVisible(bool(self.empty_hint.text()))

    def _insert_row(self, edit: FeatureEdit) -> None:
        """One row for `edit`, placed in (layer, feature) order among the rows shown."""
        row = EditRow(edit, default_label(edit.feature) if edit.feature is not None else "", self.edits_host)
        row.allow_modes(self.allowed_modes, self.modes_why)
        key = self._key_of(edit)
        if key is not None and edit.feature is not None:
            if (key, edit.feature) in self.scales:
                row.set_scales(*self.scales[(key, edit.feature)])
            else:
                self.scalesNeeded.emit(key, edit.feature)
            if (key, edit.feature) in self.warnings:
                row.set_warnings(self.warnings[(key, edit.feature)])
            else:
                self.warningsNeeded.emit(key, edit.feature)
        row.changed.connect(self._edit_changed)
        row.removeRequested.connect(self._edit_removed)
        row.inspectRequested.connect(self._inspect)
        # One drag of a slider, from press to release, is one undo step.
        row.slider.sliderPressed.connect(self.document.begin_gesture)
        row.slider.sliderReleased.connect(self.document.end_gesture)
        order = (edit.layer, edit.feature or 0)
        position = sum(1 for r in self.rows if (r.edit.layer, r.edit.feature or 0) <= order)
        self.edits_layout.insertWidget(position, row)
        self.rows.insert(position, row)

    def _edit_changed(self, old: FeatureEdit, new: FeatureEdit) -> None:
        index = self.selected
        # The row already shows the new value: do not rebuild the rows under the user's mouse.
        self._send(SetEdit(index, self.plan.variants[index].edits.index(old), old, new))

    def _edit_removed(self, edit: FeatureEdit) -> None:
        index = self.selected
        variant = self.plan.variants[index]
        self._send(RemoveEdit(index, variant.edits.index(edit), edit, variant.name))
        self._refresh_variants(select=index)

    def _inspect(self, edit: FeatureEdit) -> None:
        key = self._key_of(edit)
        if key is not None and edit.feature is not None:
            self.inspectRequested.emit(key, edit.feature)


def _variants_box() -> tuple[QGroupBox, QListWidget, tuple[QPushButton, QPushButton, QPushButton]]:
    """The variants list and its Add / Duplicate / Remove buttons."""
    box = QGroupBox("Variants")
    vbox = QVBoxLayout(box)
    variants = QListWidget()
    variants.setMaximumHeight(110)
    variants.setToolTip("Double-click a variant to rename it; the baseline has no edits")
    vbox.addWidget(variants)
    row = QHBoxLayout()
    buttons = (QPushButton("Add"), QPushButton("Duplicate"), QPushButton("Remove"))
    for b in buttons:
        row.addWidget(b)
    vbox.addLayout(row)
    return box, variants, buttons


class _EditsBox(QGroupBox):
    """Add a feature by layer and id, a hint when there is nothing to show, and one row per edit."""

    def __init__(self) -> None:
        super().__init__("Edits of the selected variant")
        ebox = QVBoxLayout(self)
        add_row = QHBoxLayout()
        self.layer = QComboBox()
        self.layer.setToolTip("The SAE (layer) the feature belongs to")
        self.feature = QSpinBox()
        self.feature.setRange(0, 10**7)
        self.feature.setPrefix("f")
        self.feature.setToolTip("Feature id (or find one with the feature search, Ctrl+F)")
        self.add = QPushButton("Add feature")
        add_row.addWidget(self.layer, 1)
        add_row.addWidget(self.feature, 1)
        add_row.addWidget(self.add)
        ebox.addLayout(add_row)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setObjectName("hint")
        ebox.addWidget(self.hint)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        self.host = QWidget()
        self.rows = QVBoxLayout(self.host)
        self.rows.setContentsMargins(0, 0, 0, 0)
        self.rows.addStretch(1)
        scroll.setWidget(self.host)
        ebox.addWidget(scroll, 1)


def _several_at(saes: list[SaeSummary], layer: int) -> bool:
    return sum(1 for s in saes if s.layer == layer) > 1
