"""The steering panel binds widgets to the plan both ways (no model needed)."""

from PySide6.QtCore import Qt

from workbench.saes.loader import SaeSummary
from workbench.steering.plan import EditMode, StrengthUnit

SAES = [
    SaeSummary(
        key="L8",
        layer=8,
        d_in=576,
        d_sae=4608,
        source="/x",
        architecture="standard",
        hook_name="blocks.8.hook_resid_post",
        has_statistics=False,
    )
]


def _panel(qtbot):
    from ui.steering_panel import SteeringPanel

    panel = SteeringPanel()
    qtbot.addWidget(panel)
    panel.set_saes(SAES)
    return panel


def test_moving_a_slider_changes_the_variants_plan(qtbot):
    panel = _panel(qtbot)
    panel.add_feature("L8", 123, strength=1.0)
    [row] = panel.rows
    with qtbot.waitSignal(panel.planChanged) as signal:
        row.slider.setValue(100)  # half of the raw range (±40)
    edit = signal.args[0].variants[1].edits[0]
    assert (edit.layer, edit.feature, edit.strength) == (8, 123, 20.0)
    assert panel.plan.variants[1].edits[0].strength == 20.0
    assert row.spin.value() == 20.0  # the spin box follows the slider
    row.mode.setCurrentText("clamp")
    row.unit.setCurrentText("maxact")
    edit = panel.plan.variants[1].edits[0]
    assert edit.mode is EditMode.CLAMP and edit.unit is StrengthUnit.MAXACT


def test_variants_add_duplicate_rename_remove(qtbot):
    panel = _panel(qtbot)
    panel.add_feature("L8", 5)
    panel.duplicate_variant()
    assert panel.plan.names == ["baseline", "variant 1", "variant 1 copy"]
    assert panel.plan.variants[2].edits == panel.plan.variants[1].edits
    item = panel.variant_list.item(2)
    item.setText("ocean")
    assert panel.plan.names[2] == "ocean"
    panel.add_variant()
    panel.add_variant()
    assert len(panel.plan.variants) == 5
    panel.variant_list.setCurrentRow(1)
    panel.remove_variant()
    assert panel.plan.names == ["baseline", "ocean", "variant 3", "variant 4"]
    panel.variant_list.setCurrentRow(0)
    panel.remove_variant()  # the baseline stays
    assert panel.plan.names[0] == "baseline"


def test_removing_an_edit_updates_the_plan(qtbot):
    panel = _panel(qtbot)
    panel.add_feature("L8", 1)
    panel.add_feature("L8", 2)
    assert [e.feature for e in panel.plan.variants[1].edits] == [1, 2]
    panel.rows[0].removeRequested.emit(panel.rows[0].edit)
    assert [e.feature for e in panel.plan.variants[1].edits] == [2]


def test_the_window_remembers_its_last_choices(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from ui.main_window import MainWindow

    path = str(tmp_path / "settings.ini")
    first = MainWindow(settings=QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    first.generation.prompt.setPlainText("Talk about tides.")
    first.generation.seed.setValue(42)
    first.generation.temperature.setValue(0.0)
    first.generation.chat.setChecked(False)
    first.close()
    second = MainWindow(settings=QSettings(path, QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    assert second.generation.prompt.toPlainText() == "Talk about tides."
    assert second.generation.seed.value() == 42 and second.generation.temperature.value() == 0.0
    assert not second.generation.chat.isChecked()
    second.close()


def test_modes_the_backend_cannot_apply_are_greyed_with_the_reason(qtbot):
    from workbench.models.protocol import Capabilities

    panel = _panel(qtbot)
    panel.add_feature("L8", 5, strength=1.0)
    add_only = Capabilities(modes=frozenset({EditMode.ADD}), capture=True, batched=False)
    panel.set_capabilities(add_only, "llama.cpp")
    panel.add_feature("L8", 6, strength=1.0)  # a row made after the backend loaded is greyed too
    for row in panel.rows:
        model = row.mode.model()
        enabled = {row.mode.itemText(i): model.item(i).isEnabled() for i in range(row.mode.count())}
        assert enabled == {"add": True, "clamp": False, "ablate": False}
        tip = row.mode.itemData(1, Qt.ItemDataRole.ToolTipRole)
        assert "llama.cpp backend cannot ablate or clamp" in tip
    full = Capabilities(modes=frozenset(EditMode), capture=True, batched=True)
    panel.set_capabilities(full, "torch")
    model = panel.rows[0].mode.model()
    assert all(model.item(i).isEnabled() for i in range(3))
