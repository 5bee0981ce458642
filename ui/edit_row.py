"""One steering edit: feature, strength slider + spin box, mode, unit, positions, the value in all three units."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QLabel,
    QSlider,
    QToolButton,
    QWidget,
)

from workbench.steering.plan import EditMode, FeatureEdit, PositionScope, StrengthUnit
from workbench.steering.units import UnitScales, all_units

# The slider spans a useful range per unit; the spin box accepts any value.
SLIDER_RANGE = {StrengthUnit.RAW: 40.0, StrengthUnit.MAXACT: 10.0, StrengthUnit.RESID: 2.0}
SLIDER_STEPS = 200
TIPS = {
    "mode": "add: x + s·d (push along the feature)\nclamp: hold the feature's activation at c (SAE error kept)\n"
    "ablate: clamp to 0 (remove the feature where it fires)",
    "unit": "raw: the coefficient itself\nmaxact: × the feature's max activation on reference text\n"
    "resid: × the layer's mean residual norm (≈0.5 is a strong steer)",
    "positions": "all: every token\nprompt: prompt tokens only\ngenerated: the last prompt token and every new one",
}


class EditRow(QFrame):
    changed = Signal(object, object)  # old FeatureEdit, new FeatureEdit
    removeRequested = Signal(object)  # FeatureEdit
    inspectRequested = Signal(object)  # FeatureEdit

    def __init__(self, edit: FeatureEdit, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.edit = edit
        self.scales: UnitScales | None = None
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 4, 6, 4)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(2)

        self.enabled = QCheckBox()
        self.enabled.setChecked(edit.enabled)
        self.enabled.setToolTip("Enable or disable this edit without losing it")
        self.title = QToolButton()
        self.title.setAutoRaise(True)
        self.title.setText(f"L{edit.layer} · f{edit.feature}  {label}" if edit.feature is not None else "raw vector")
        self.title.setToolTip("Open this feature in the inspector")
        self.title.clicked.connect(lambda: self.inspectRequested.emit(self.edit))
        remove = QToolButton()
        remove.setText("✕")
        remove.setToolTip("Remove this edit")
        remove.clicked.connect(lambda: self.removeRequested.emit(self.edit))
        self.warning = QLabel("⚠")
        self.warning.setObjectName("featureWarning")
        self.warning.setStyleSheet("color: #d08000; font-weight: bold;")
        self.warning.setVisible(False)
        grid.addWidget(self.enabled, 0, 0)
        grid.addWidget(self.title, 0, 1, 1, 3)
        grid.addWidget(self.warning, 0, 4, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(remove, 0, 5)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(-SLIDER_STEPS, SLIDER_STEPS)
        self.slider.setToolTip("Strength (drag); the box on the right takes any value")
        self.spin = QDoubleSpinBox()
        self.spin.setRange(-1000.0, 1000.0)
        self.spin.setDecimals(2)
        self.spin.setSingleStep(0.1)
        self.spin.setKeyboardTracking(False)
        grid.addWidget(self.slider, 1, 0, 1, 4)
        grid.addWidget(self.spin, 1, 4, 1, 2)

        self.mode = _combo([m.value for m in EditMode], edit.mode.value, TIPS["mode"])
        self.unit = _combo([u.value for u in StrengthUnit], edit.unit.value, TIPS["unit"])
        self.positions = _combo([p.value for p in PositionScope], edit.positions.value, TIPS["positions"])
        grid.addWidget(self.mode, 2, 0, 1, 2)
        grid.addWidget(self.unit, 2, 2, 1, 2)
        grid.addWidget(self.positions, 2, 4, 1, 2)
        self.units_label = QLabel()
        self.units_label.setObjectName("unitsLabel")
        self.units_label.setToolTip("The current strength in all three units (needs the SAE's statistics)")
        grid.addWidget(self.units_label, 3, 0, 1, 6)

        self._show(edit)
        self.enabled.toggled.connect(lambda on: self._emit(replace(self.edit, enabled=on)))
        self.slider.valueChanged.connect(self._slider_moved)
        self.spin.valueChanged.connect(lambda v: self._emit(replace(self.edit, strength=float(v))))
        self.mode.currentTextChanged.connect(lambda t: self._emit(replace(self.edit, mode=EditMode(t))))
        self.unit.currentTextChanged.connect(lambda t: self._emit(replace(self.edit, unit=StrengthUnit(t))))
        self.positions.currentTextChanged.connect(lambda t: self._emit(replace(self.edit, positions=PositionScope(t))))

    def _slider_moved(self, value: int) -> None:
        strength = round(value / SLIDER_STEPS * SLIDER_RANGE[self.edit.unit], 3)
        self._emit(replace(self.edit, strength=strength))

    def _emit(self, new: FeatureEdit) -> None:
        if new == self.edit:
            return
        old, self.edit = self.edit, new
        self._show(new)
        self.changed.emit(old, new)

    def allow_modes(self, modes: frozenset[EditMode], why: str) -> None:
        """Grey out the modes the loaded backend cannot apply, saying why on each (an edit already in such a mode
        keeps it: the run refuses it with a clear line, and the user picks another)."""
        model = self.mode.model()
        for i in range(self.mode.count()):
            allowed = EditMode(self.mode.itemText(i)) in modes
            item = model.item(i) if isinstance(model, QStandardItemModel) else None
            if item is not None:
                item.setEnabled(allowed)
            self.mode.setItemData(i, None if allowed else why, Qt.ItemDataRole.ToolTipRole)

    def set_edit(self, edit: FeatureEdit) -> None:
        """Show `edit` without emitting (the model changed, e.g. by undo)."""
        self.edit = edit
        self._show(edit)

    def set_warnings(self, warnings: tuple[str, ...]) -> None:
        """Reasons to doubt this feature as a steering knob (near-duplicate, surface string): a ⚠ with a tooltip."""
        self.warning.setVisible(bool(warnings))
        self.warning.setToolTip("\n".join(f"⚠ {w}" for w in warnings))

    def set_scales(self, scales: UnitScales, label: str = "") -> None:
        self.scales = scales
        if label and self.edit.feature is not None:
            self.title.setText(f"L{self.edit.layer} · f{self.edit.feature}  {label}")
        self._show(self.edit)

    def _show(self, edit: FeatureEdit) -> None:
        # Blockers: the widgets mirror the model here, and must not echo the change back.
        blockers = [
            QSignalBlocker(w) for w in (self.slider, self.spin, self.mode, self.unit, self.positions, self.enabled)
        ]
        span = SLIDER_RANGE[edit.unit]
        self.slider.setValue(round(max(-span, min(span, edit.strength)) / span * SLIDER_STEPS))
        self.spin.setValue(edit.strength)
        self.mode.setCurrentText(edit.mode.value)
        self.unit.setCurrentText(edit.unit.value)
        self.positions.setCurrentText(edit.positions.value)
        self.enabled.setChecked(edit.enabled)
        del blockers
        ablate = edit.mode is EditMode.ABLATE
        for w in (self.slider, self.spin, self.unit):
            w.setEnabled(not ablate)
        self.units_label.setText(self._units_text(edit))

    def _units_text(self, edit: FeatureEdit) -> str:
        if edit.mode is EditMode.ABLATE:
            return "ablate: the feature is clamped to 0 where it fires"
        if self.scales is None:
            return f"{edit.strength:g} {edit.unit.value}"
        scale = self.scales.scale(edit.unit)
        if scale is None:
            return f"{edit.strength:g} {edit.unit.value} — no statistics for this unit yet"
        shown = all_units(edit.strength * scale, self.scales)
        parts = [f"raw {shown['raw']:.3g}"]
        parts.append(f"{shown['maxact']:.3g}× max act" if shown["maxact"] is not None else "max act: n/a")
        parts.append(f"{shown['resid']:.3g}× resid" if shown["resid"] is not None else "resid: n/a")
        return "  ·  ".join(parts)


def _combo(items: list[str], current: str, tip: str) -> QComboBox:
    combo = QComboBox()
    combo.addItems(items)
    combo.setCurrentText(current)
    combo.setToolTip(tip)
    return combo
