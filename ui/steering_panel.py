"""Steering panel: the variants (baseline first) and, for the selected variant, its edits grouped by layer."""

from __future__ import annotations

from dataclasses import replace

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
from workbench.saes.loader import SaeSummary
from workbench.steering.plan import FeatureEdit, SteeringPlan, StrengthUnit, Variant
from workbench.steering.units import UnitScales

MAX_VARIANTS = 8


class SteeringPanel(QWidget):
    planChanged = Signal(object)  # SteeringPlan
    scalesNeeded = Signal(str, int)  # sae key, feature
    inspectRequested = Signal(str, int)  # sae key, feature
    dragStarted = Signal()  # a strength slider was pressed: its moves until release are one undo step
    dragFinished = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plan = SteeringPlan.with_baseline(Variant("variant 1"))
        self.saes: list[SaeSummary] = []
        self.scales: dict[tuple[str, int], tuple[UnitScales, str]] = {}
        self.rows: list[EditRow] = []
        self._holding = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

        box = QGroupBox("Variants")
        vbox = QVBoxLayout(box)
        self.variant_list = QListWidget()
        self.variant_list.setMaximumHeight(110)
        self.variant_list.setToolTip("Double-click a variant to rename it; the baseline has no edits")
        self.variant_list.currentRowChanged.connect(lambda _r: self._show_edits())
        self.variant_list.itemChanged.connect(self._renamed)
        vbox.addWidget(self.variant_list)
        buttons = QHBoxLayout()
        self.add_variant_button = QPushButton("Add")
        self.add_variant_button.clicked.connect(self.add_variant)
        self.duplicate_button = QPushButton("Duplicate")
        self.duplicate_button.clicked.connect(self.duplicate_variant)
        self.remove_variant_button = QPushButton("Remove")
        self.remove_variant_button.clicked.connect(self.remove_variant)
        for b in (self.add_variant_button, self.duplicate_button, self.remove_variant_button):
            buttons.addWidget(b)
        vbox.addLayout(buttons)
        layout.addWidget(box)

        edits_box = QGroupBox("Edits of the selected variant")
        ebox = QVBoxLayout(edits_box)
        add_row = QHBoxLayout()
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The SAE (layer) the feature belongs to")
        self.feature_spin = QSpinBox()
        self.feature_spin.setRange(0, 10**7)
        self.feature_spin.setPrefix("f")
        self.feature_spin.setToolTip("Feature id (or find one with the feature search, Ctrl+F)")
        self.add_edit_button = QPushButton("Add feature")
        self.add_edit_button.clicked.connect(self._add_from_controls)
        add_row.addWidget(self.layer_combo, 1)
        add_row.addWidget(self.feature_spin, 1)
        add_row.addWidget(self.add_edit_button)
        ebox.addLayout(add_row)
        self.empty_hint = QLabel()
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setObjectName("hint")
        ebox.addWidget(self.empty_hint)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        self.edits_host = QWidget()
        self.edits_layout = QVBoxLayout(self.edits_host)
        self.edits_layout.setContentsMargins(0, 0, 0, 0)
        self.edits_layout.addStretch(1)
        scroll.setWidget(self.edits_host)
        ebox.addWidget(scroll, 1)
        layout.addWidget(edits_box, 1)
        self._refresh_variants(select=1)

    # -- plan -----------------------------------------------------------------------------------------------
    def set_plan(self, plan: SteeringPlan, select: int | None = None) -> None:
        self.plan = plan
        self._refresh_variants(select=select)

    def _commit(self, plan: SteeringPlan, rebuild: bool = True) -> None:
        self.plan = plan
        if rebuild:
            self._refresh_variants(select=self.variant_list.currentRow())
        if not self._holding:  # one user action, one notification (and so one undo step)
            self.planChanged.emit(plan)

    @property
    def selected(self) -> int:
        return max(self.variant_list.currentRow(), 0)

    def _replace_variant(self, index: int, variant: Variant, rebuild: bool = True) -> None:
        variants = list(self.plan.variants)
        variants[index] = variant
        self._commit(SteeringPlan(tuple(variants)), rebuild)

    def add_variant(self) -> None:
        if len(self.plan.variants) >= MAX_VARIANTS:
            return
        names = set(self.plan.names)
        n = len(self.plan.variants)
        while f"variant {n}" in names:
            n += 1
        self._commit(SteeringPlan((*self.plan.variants, Variant(f"variant {n}"))), rebuild=False)
        self._refresh_variants(select=len(self.plan.variants) - 1)

    def duplicate_variant(self) -> None:
        index = self.selected
        if index == 0 or len(self.plan.variants) >= MAX_VARIANTS:
            return
        source = self.plan.variants[index]
        copy = replace(source, name=f"{source.name} copy")
        variants = list(self.plan.variants)
        variants.insert(index + 1, copy)
        self._commit(SteeringPlan(tuple(variants)), rebuild=False)
        self._refresh_variants(select=index + 1)

    def remove_variant(self) -> None:
        index = self.selected
        if index == 0:
            return
        variants = [v for i, v in enumerate(self.plan.variants) if i != index]
        self._commit(SteeringPlan(tuple(variants)), rebuild=False)
        self._refresh_variants(select=min(index, len(variants) - 1))

    def _renamed(self, item: QListWidgetItem) -> None:
        index = self.variant_list.row(item)
        name = item.text().strip()
        if index <= 0 or not name or name == self.plan.variants[index].name:
            return
        self._replace_variant(index, replace(self.plan.variants[index], name=name), rebuild=False)

    def add_feature(
        self, sae_key: str, feature: int, strength: float = 4.0, unit: StrengthUnit = StrengthUnit.RAW
    ) -> None:
        """Add a feature edit to the selected variant (a new variant if the baseline is selected)."""
        sae = next((s for s in self.saes if s.key == sae_key), None)
        if sae is None:
            return
        self._holding = True
        try:
            self._add_edit(sae, feature, strength, unit)
        finally:
            self._holding = False
        self.planChanged.emit(self.plan)

    def _add_edit(self, sae: SaeSummary, feature: int, strength: float, unit: StrengthUnit) -> None:
        if self.selected == 0:
            if len(self.plan.variants) == 1:
                self.add_variant()
            self.variant_list.setCurrentRow(1)
        edit = FeatureEdit(
            layer=sae.layer,
            feature=feature,
            strength=strength,
            unit=unit,
            sae=sae.key if _several_at(self.saes, sae.layer) else None,
        )
        variant = self.plan.variants[self.selected]
        # Add one row instead of rebuilding every row of the variant.
        self._replace_variant(self.selected, variant.with_edits((*variant.edits, edit)), rebuild=False)
        self._insert_row(edit)
        self._update_hint()

    def _add_from_controls(self) -> None:
        key = self.layer_combo.currentData()
        if key:
            self.add_feature(str(key), self.feature_spin.value())

    # -- SAEs and units -------------------------------------------------------------------------------------
    def set_saes(self, saes: list[SaeSummary]) -> None:
        self.saes = saes
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

    def _key_of(self, edit: FeatureEdit) -> str | None:
        if edit.sae:
            return edit.sae
        return next((s.key for s in self.saes if s.layer == edit.layer), None)

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
        key = self._key_of(edit)
        if key is not None and edit.feature is not None:
            if (key, edit.feature) in self.scales:
                row.set_scales(*self.scales[(key, edit.feature)])
            else:
                self.scalesNeeded.emit(key, edit.feature)
        row.changed.connect(self._edit_changed)
        row.removeRequested.connect(self._edit_removed)
        row.inspectRequested.connect(self._inspect)
        row.slider.sliderPressed.connect(self.dragStarted)
        row.slider.sliderReleased.connect(self.dragFinished)
        order = (edit.layer, edit.feature or 0)
        position = sum(1 for r in self.rows if (r.edit.layer, r.edit.feature or 0) <= order)
        self.edits_layout.insertWidget(position, row)
        self.rows.insert(position, row)

    def _edit_changed(self, old: FeatureEdit, new: FeatureEdit) -> None:
        variant = self.plan.variants[self.selected]
        edits = list(variant.edits)
        edits[edits.index(old)] = new
        # The row already shows the new value: do not rebuild the rows under the user's mouse.
        self._replace_variant(self.selected, variant.with_edits(edits), rebuild=False)

    def _edit_removed(self, edit: FeatureEdit) -> None:
        variant = self.plan.variants[self.selected]
        edits = list(variant.edits)
        edits.remove(edit)
        self._replace_variant(self.selected, variant.with_edits(edits))

    def _inspect(self, edit: FeatureEdit) -> None:
        key = self._key_of(edit)
        if key is not None and edit.feature is not None:
            self.inspectRequested.emit(key, edit.feature)


def _several_at(saes: list[SaeSummary], layer: int) -> bool:
    return sum(1 for s in saes if s.layer == layer) > 1
