"""The Sweep view's controls: which feature, a recipe or a custom grid, Run / Stop with a progress bar, and the
thresholds the best setting is read with. The form builds a `SweepSpec` (workbench/sweeps/recipes.py) and says so;
it never talks to the model or the document itself."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QWidget,
)

from workbench.errors import InputError
from workbench.models.sampling import SamplingSettings
from workbench.progress import Progress
from workbench.saes.loader import SaeSummary
from workbench.steering.plan import StrengthUnit
from workbench.sweeps.prompts import BUILTIN_SETS
from workbench.sweeps.recipes import CUSTOM, RECIPES, build_spec
from workbench.sweeps.spec import SweepSpec, SweepTarget, parse_layers, parse_numbers, parse_seeds
from workbench.sweeps.summary import Thresholds

RECIPE_TIPS = {
    "magnitude": "one feature at its own layer, −10…+10 × its max activation: where it starts to steer, where the "
    "text breaks",
    "layer": "the feature and its nearest decoder direction at every loaded SAE, at a few strengths × residual norm",
    "context": "one setting across every built-in prompt set, chat and raw, with system prompts",
    "seeds": "one setting over 8 seeds: how much of the effect is sampling noise",
    "custom": "your own grid",
}
PROMPT_SETS = [f"builtin:{name}" for name in BUILTIN_SETS] + ["builtin:*"]
DEAD_TIP = "The model process ended: Model > Restart model first"


class SweepForm(QWidget):
    runRequested = Signal(object)  # SweepSpec
    stopRequested = Signal()
    fromEditRequested = Signal()  # fill the feature from the steering panel's selected variant
    thresholdsChanged = Signal(object)  # Thresholds

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        self.sae_combo = QComboBox()
        self.sae_combo.setToolTip("The SAE (layer) of the feature to sweep")
        self.feature_spin = QSpinBox()
        self.feature_spin.setRange(0, 10**7)
        self.from_edit = QPushButton("From selected edit")
        self.from_edit.setToolTip("The first feature edit of the steering panel's selected variant")
        self.from_edit.clicked.connect(self.fromEditRequested)
        self.recipe = QComboBox()
        for name in (*RECIPES, "custom"):
            self.recipe.addItem(name)
            self.recipe.setItemData(self.recipe.count() - 1, RECIPE_TIPS[name], 3)  # Qt.ToolTipRole
        self.strengths = QLineEdit()
        self.strengths.setToolTip("Comma list, e.g. -8,-4,0,4,8")
        self.unit = QComboBox()
        self.unit.addItems([u.value for u in StrengthUnit])
        self.layers = QLineEdit()
        self.layers.setToolTip("own (the feature's SAE), all (every loaded SAE) or a list such as 8,15")
        self.prompts = QComboBox()
        self.prompts.setEditable(True)
        self.prompts.addItems(PROMPT_SETS)
        self.prompts.setToolTip("A built-in set, builtin:* (every set), or a file: one prompt per line, or JSONL")
        self.browse = QPushButton("File…")
        self.browse.clicked.connect(self._browse)
        self.seeds = QLineEdit()
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 512)
        self.max_tokens.setValue(24)
        self.run_button = QPushButton("Run sweep")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop at the next token: every finished row is kept, and Run resumes")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.margin = _spin(0.05, 0.0, 10.0, "Reliability: a prompt counts when its concept beats its baseline by this")
        self.nll_budget = _spin(
            0.5, 0.0, 20.0, "Best setting: the highest concept whose NLL stays within this of the baseline"
        )

        feature = QHBoxLayout()
        for w in (QLabel("feature"), self.sae_combo, self.feature_spin, self.from_edit):
            feature.addWidget(w)
        feature.addStretch(1)
        grid.addLayout(feature, 0, 0, 1, 2)
        left, right = QFormLayout(), QFormLayout()
        recipe_row = QHBoxLayout()
        recipe_row.addWidget(self.recipe, 1)
        left.addRow("recipe", recipe_row)
        strength_row = QHBoxLayout()
        strength_row.addWidget(self.strengths, 1)
        strength_row.addWidget(self.unit)
        left.addRow("strengths", strength_row)
        left.addRow("layers", self.layers)
        prompt_row = QHBoxLayout()
        prompt_row.addWidget(self.prompts, 1)
        prompt_row.addWidget(self.browse)
        right.addRow("prompts", prompt_row)
        seeds_row = QHBoxLayout()
        seeds_row.addWidget(self.seeds, 1)
        seeds_row.addWidget(QLabel("max tokens"))
        seeds_row.addWidget(self.max_tokens)
        right.addRow("seeds", seeds_row)
        thresholds = QHBoxLayout()
        thresholds.addWidget(self.margin)
        thresholds.addWidget(QLabel("NLL budget"))
        thresholds.addWidget(self.nll_budget)
        right.addRow("margin", thresholds)
        grid.addLayout(left, 1, 0)
        grid.addLayout(right, 1, 1)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.stop_button)
        run_row.addWidget(self.progress, 1)
        grid.addLayout(run_row, 2, 0, 1, 2)

        self.recipe.currentTextChanged.connect(self._recipe_chosen)
        self.run_button.clicked.connect(self._run)
        self.stop_button.clicked.connect(self.stopRequested)
        for spin in (self.margin, self.nll_budget):
            spin.valueChanged.connect(self._thresholds_edited)
        self._recipe_chosen(self.recipe.currentText())
        self._model_alive = True
        self.set_running(False, ready=False)

    # -- inputs -------------------------------------------------------------------------------------------------
    def set_saes(self, saes: list[SaeSummary]) -> None:
        current = self.sae_combo.currentData()
        self.sae_combo.clear()
        for s in saes:
            self.sae_combo.addItem(f"L{s.layer} ({s.key})", s.key)
        index = self.sae_combo.findData(current)
        self.sae_combo.setCurrentIndex(index if index >= 0 else self.sae_combo.count() - 1)

    def set_feature(self, sae_key: str, feature: int) -> None:
        index = self.sae_combo.findData(sae_key)
        if index >= 0:
            self.sae_combo.setCurrentIndex(index)
        self.feature_spin.setValue(feature)

    def _recipe_chosen(self, name: str) -> None:
        """A recipe fills the grid with its values (change any of them and the recipe's name stays on it)."""
        recipe = RECIPES.get(name, CUSTOM)
        self.strengths.setText(",".join(f"{s:g}" for s in recipe.strengths))
        self.unit.setCurrentText(recipe.unit.value)
        self.layers.setText(recipe.layers)
        self.prompts.setCurrentText(recipe.prompts)
        self.seeds.setText(",".join(str(s) for s in recipe.seeds))
        self.recipe.setToolTip(RECIPE_TIPS.get(name, ""))

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Prompt file", "", "Prompts (*.txt *.jsonl *.ndjson);;All (*)")
        if path:
            self.prompts.setCurrentText(path)

    def thresholds(self) -> Thresholds:
        return Thresholds(self.margin.value(), self.nll_budget.value())

    def _thresholds_edited(self, _value: float) -> None:
        self.thresholdsChanged.emit(self.thresholds())

    def show_thresholds(self, thresholds: Thresholds) -> None:
        for spin, value in (
            (self.margin, thresholds.reliability_margin),
            (self.nll_budget, thresholds.max_nll_increase),
        ):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)

    def spec(self) -> SweepSpec:
        """The grid as the form shows it; InputError with one line when something does not parse."""
        key = self.sae_combo.currentData()
        if not key:
            raise InputError("load a model with SAEs first")
        layers = self.layers.text().strip() or "own"
        parse_layers(layers)
        recipe = self.recipe.currentText()
        return build_spec(
            (SweepTarget(str(key), self.feature_spin.value()),),
            recipe if recipe in RECIPES else None,
            strengths=parse_numbers(self.strengths.text(), "strength list"),
            unit=StrengthUnit(self.unit.currentText()),
            layers=layers,
            prompts=self.prompts.currentText().strip() or None,
            seeds=parse_seeds(self.seeds.text()),
            max_new_tokens=self.max_tokens.value(),
            sampling=SamplingSettings(temperature=0.7, top_p=0.9),
        )

    def _run(self) -> None:
        try:
            spec = self.spec()
        except InputError as exc:
            self.progress.setFormat(str(exc))
            self.progress.setValue(0)
            return
        self.runRequested.emit(spec)

    # -- running ------------------------------------------------------------------------------------------------
    def set_running(self, running: bool, ready: bool = True) -> None:
        self._running, self._ready = running, ready
        self.run_button.setEnabled(ready and not running and self._model_alive)
        self.stop_button.setEnabled(running)

    def set_model_alive(self, alive: bool) -> None:
        """Off while the model process is dead: a sweep sent then would be dropped (ui/model_recovery.py)."""
        self._model_alive = alive
        self.run_button.setToolTip("" if alive else DEAD_TIP)
        self.set_running(self._running, self._ready)

    def show_progress(self, p: Progress) -> None:
        if p.total:
            self.progress.setRange(0, p.total)
            self.progress.setValue(min(p.done, p.total))
        eta = f" · ETA {_duration(p.eta_s)}" if p.eta_s is not None and p.done < p.total else ""
        self.progress.setFormat(f"{p.phase}{eta}")

    def show_status(self, text: str, done: bool = False) -> None:
        if done:
            self.progress.setRange(0, 1)
            self.progress.setValue(1)
        self.progress.setFormat(text)


def _spin(value: float, lo: float, hi: float, tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(lo, hi)
    spin.setDecimals(2)
    spin.setSingleStep(0.05)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"
