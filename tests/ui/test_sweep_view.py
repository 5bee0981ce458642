"""The Sweep view without the model: what the window asks is recorded, and the sweep's events are fed to it.
Run starts an undoable sweep and sends its request; rows arriving redraw the plots; Stop keeps the rows and offers
Resume; a clicked cell shows its texts beside the baseline, and "Use this setting" is one undoable plan step."""

from __future__ import annotations

import gc
import shutil

import pytest
from PySide6.QtWidgets import QApplication

from tests.ui.conftest import recording_window
from workbench.analysis.inspect import FeatureCard
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.progress import Progress
from workbench.saes.loader import SaeSummary
from workbench.session.sweeps import CANCELLED, DONE
from workbench.steering.plan import StrengthUnit
from workbench.steering.units import UnitScales
from workbench.sweeps.records import BASELINE, STEERED, DriftCell, SweepRow, TargetInfo

SAES = [
    SaeSummary("L8", 8, 576, 4608, "/x", "topk", "blocks.8.hook_resid_post", True),
    SaeSummary("L15", 15, 576, 4608, "/y", "topk", "blocks.15.hook_resid_post", True),
]
TARGET = TargetInfo("L15:852", "L15", 15, 852, 9.1, (("L15", 15, 852, 1.0),))
PROMPTS = ("Tell me about your weekend plans.", "Describe a place you would like to visit.")


@pytest.fixture
def window(qtbot, tmp_path):
    win = recording_window(qtbot, tmp_path, SAES)
    yield win
    # The plots' pyqtgraph items form reference cycles with their views: collect them now, while Qt is in a
    # known state, rather than in a later test's garbage collection (which PySide6 6.12 has been seen to crash).
    win.close()
    win.deleteLater()
    QApplication.processEvents()
    gc.collect()


def _row(kind, prompt, strength=None, concept=0.0, nll=2.0):
    steered = kind == STEERED
    return SweepRow(
        id=f"{kind}-{prompt}-{strength}",
        kind=kind,
        prompt=prompt,
        system=None,
        chat=True,
        seed=0,
        text=f"ocean waves {strength}" if steered else "I will rest at home.",
        prompt_ids=(1, 2),
        token_ids=(5, 6, 7),
        finish_reason="length",
        nll=nll,
        distinct1=1.0,
        distinct2=1.0,
        longest_repeat=0,
        concept={"L15:852": concept},
        fires={"L15:852": 0.3},
        target="L15:852" if steered else None,
        sae="L15" if steered else None,
        layer=15 if steered else None,
        feature=852 if steered else None,
        cosine=1.0 if steered else None,
        strength=strength,
    )


def _run_sweep(window, strengths=(0.0, 2.0, 5.0)):
    """Run the form's sweep and feed its start and every row; returns (job id, request)."""
    view = window.sweeps.view
    view.form.set_feature("L15", 852)
    view.form.recipe.setCurrentText("custom")
    view.form.strengths.setText(",".join(f"{s:g}" for s in strengths))
    view.form.prompts.setCurrentText("builtin:neutral")
    view.form.run_button.click()
    request = window.requests[-1]
    assert isinstance(request, rq.RunSweep)
    job = 100 + len(window.requests) - 1
    rows_total = len(request.spec.prompts) * (len(strengths) + 1)
    window.client.receive(ev.SweepStarted(job, request.sweep_id, (TARGET,), rows_total, 0, "/tmp/x"))
    for prompt in PROMPTS:
        window.client.receive(ev.SweepRowsReady(job, request.sweep_id, (_row(BASELINE, prompt),)))
        for s in strengths:
            row = _row(STEERED, prompt, s, concept=0.05 * s, nll=2.0 + (0.4 * s if s > 2 else 0.0))
            window.client.receive(ev.SweepRowsReady(job, request.sweep_id, (row,)))
    return job, request


def test_the_inspector_and_the_search_open_the_sweep_tab_on_their_feature(window):
    card = FeatureCard("L8", 8, 305, "coffee", 9.1, 0.003, 2.0, (), (), UnitScales(9.1, 30.0), "text", ())
    window.client.receive(ev.CardReady(0, card))
    window.inspector.sweep_button.click()
    form = window.sweeps.view.form
    assert window.analysis_tabs.currentWidget() is window.sweeps.view
    assert (form.sae_combo.currentData(), form.feature_spin.value()) == ("L8", 305)
    assert window.analysis_tabs.tabText(window.analysis_tabs.indexOf(window.sweeps.view)) == "Sweep"


def test_a_recipe_fills_the_grid_and_run_sends_its_spec_as_an_undoable_sweep(window, qtbot):
    form = window.sweeps.view.form
    form.set_feature("L15", 852)
    form.recipe.setCurrentText("magnitude")
    assert form.strengths.text() == "-10,-5,-2,-1,0,1,2,5,10" and form.unit.currentText() == "maxact"
    form.max_tokens.setValue(8)
    form.run_button.click()
    (request,) = [r for r in window.requests if isinstance(r, rq.RunSweep)]
    assert request.spec.recipe == "magnitude" and request.spec.max_new_tokens == 8
    assert request.spec.unit is StrengthUnit.MAXACT and request.spec.targets[0].name == "L15:852"
    assert window.document.undo_label == "Start sweep L15:852 · magnitude"
    assert not form.run_button.isEnabled() and form.stop_button.isEnabled()
    job = 100 + window.requests.index(request)
    window.client.receive(ev.ProgressMade(job, Progress("sweep: 3/80 rows", 60, 600, eta_s=95.0)))
    assert "ETA 1 min 35 s" in form.progress.format() and form.progress.value() == 60


def test_rows_arriving_redraw_the_plots_and_the_session_holds_them(window, qtbot):
    job, request = _run_sweep(window)
    plots = window.sweeps.view.plots
    qtbot.waitUntil(lambda: plots.lines.series == 1)
    assert plots.concept_grid.currentWidget() is plots.concept_grid.plot and plots.concept_grid.shape == (1, 3)
    assert plots.strip.bars == 2
    window.client.receive(
        ev.SweepEnded(job, request.sweep_id, (DriftCell("d", "L15:852", "L15", 15, 852, 2.0, 0.1, 9),), False, 3.0)
    )
    window.client.receive(ev.JobFinished(job, request))
    sweep = window.document.state.sweep(request.sweep_id)
    assert sweep.run.status == DONE and len(sweep.run.rows) == 6 and len(sweep.run.baseline) == 2
    assert window.document.modified and window.document.state.saved_sweeps()[0].run == sweep.run
    assert window.sweeps.view.form.run_button.isEnabled()
    # The best setting keeps NLL within +0.5 of the baseline: 2 (not 5, whose NLL is 4).
    assert "at 2 × maxact" in window.sweeps.view.best.text()


def test_stop_keeps_the_rows_and_resume_runs_the_same_sweep_again(window, qtbot):
    job, request = _run_sweep(window)
    window.sweeps.view.form.stop_button.click()
    assert window.cancelled == [rq.RunSweep]
    window.client.receive(ev.SweepEnded(job, request.sweep_id, (), True, 1.0))
    window.client.receive(ev.JobCancelled(job, request))
    sweep = window.document.state.sweep(request.sweep_id)
    assert sweep.run.status == CANCELLED and len(sweep.run.rows) == 6
    view = window.sweeps.view
    qtbot.waitUntil(lambda: not view.resume_button.isHidden())
    view.resume_button.click()
    again = window.requests[-1]
    assert isinstance(again, rq.RunSweep) and (again.sweep_id, again.spec) == (request.sweep_id, request.spec)
    assert window.document.steps == 1  # resuming is not a new sweep


def test_a_clicked_cell_shows_its_texts_beside_the_baseline_and_can_be_used(window, qtbot):
    _run_sweep(window)
    view = window.sweeps.view
    qtbot.waitUntil(lambda: view.plots.lines.series == 1)
    view.plots.concept_grid.clicked.emit(0, 1)  # layer 15, strength 2
    assert view.texts.rowCount() == 2
    assert view.texts.item(0, 2).text() == "I will rest at home." and view.texts.item(0, 3).text() == "ocean waves 2.0"
    before = window.document.state.plan
    window.steering.variant_list.setCurrentRow(1)
    view.use_button.click()
    edit = window.document.state.plan.variants[1].edits[-1]
    assert (edit.layer, edit.feature, edit.strength, edit.unit) == (15, 852, 2.0, StrengthUnit.MAXACT)
    assert window.document.undo_label == "Use sweep setting L15:f852 at 2 maxact"
    window.document.undo()
    assert window.document.state.plan == before


def test_thresholds_are_an_undo_step_and_undoing_the_start_removes_the_sweep(window, qtbot):
    _job, request = _run_sweep(window)
    view = window.sweeps.view
    view.form.nll_budget.setValue(2.5)  # now strength 5 (NLL 4 vs baseline 2) is within budget
    assert window.document.state.sweep(request.sweep_id).thresholds.max_nll_increase == 2.5
    qtbot.waitUntil(lambda: "at 5 × maxact" in view.best.text())
    window.document.undo()
    window.document.undo()
    qtbot.waitUntil(lambda: view.chooser.count() == 0)
    assert view.sweep is None
    window.document.redo()
    qtbot.waitUntil(lambda: view.chooser.count() == 1)
    assert len(view.sweep.run.rows) == 6  # redo brings it back with its rows


@pytest.mark.integration
def test_on_the_real_model_a_tiny_sweep_streams_its_rows_into_the_plots(qtbot, shared_window, tmp_path):
    """2 strengths × 2 prompts × 8 tokens through the model process: the plots draw as rows arrive."""
    from tests.ui.conftest import wait_for
    from workbench.jobs.sweep_handlers import sweep_folder

    win = shared_window
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("The sea at dawn\nMy favourite food is\n", encoding="utf-8")
    win.sweeps.open_feature("L15", 5)
    view = win.sweeps.view
    form = view.form
    form.recipe.setCurrentText("custom")
    form.strengths.setText("0,8")
    form.unit.setCurrentText("raw")
    form.prompts.setCurrentText(str(prompts))
    form.seeds.setText("0")
    form.max_tokens.setValue(8)
    shutil.rmtree(sweep_folder(form.spec()), ignore_errors=True)  # rows of an earlier run would be read back
    drawn: list[tuple[int, int]] = []  # (rows shown, concept lines) at every redraw
    show_sweep = view.show_sweep

    def spy(sweep, totals, running):
        show_sweep(sweep, totals, running)
        if sweep is not None:
            drawn.append((len(sweep.run.rows) + len(sweep.run.baseline), view.plots.lines.series))

    view.show_sweep = spy
    try:
        with wait_for(qtbot, win, ev.JobFinished, timeout=300_000, check=lambda e: isinstance(e.request, rq.RunSweep)):
            form.run_button.click()
        qtbot.waitUntil(lambda: form.run_button.isEnabled() and drawn and drawn[-1][0] == 6, timeout=10_000)
    finally:
        del view.show_sweep
    sweep = view.sweep
    assert sweep is not None and sweep.run.status == DONE
    assert len(sweep.run.rows) == 4 and len(sweep.run.baseline) == 2
    assert all(0 < len(r.token_ids) <= 8 for r in (*sweep.run.rows, *sweep.run.baseline))
    assert any(0 < rows < 6 and lines == 1 for rows, lines in drawn), drawn  # drawn before the last row came
    assert view.plots.lines.series == 1 and view.plots.concept_grid.shape == (1, 2) and view.plots.strip.bars == 2
