"""Sweeps in the document and in session files: starting and removing are undo steps that never lose rows, the
thresholds are undoable, "Use this setting" is one step, and a saved sweep reopens with its rows and summary."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.core.document.sessions import recorded_session
from workbench.document import Document, DocumentState, ModelChoice
from workbench.document.sweep_commands import RemoveSweep, SetSweepThresholds, StartSweep, use_setting
from workbench.session import Session, SessionError, load_session, save_session
from workbench.session.export_report import render_html, write_markdown_report
from workbench.session.sweeps import CANCELLED, DONE, SavedSweep, SweepRun
from workbench.steering.plan import FeatureEdit, StrengthUnit
from workbench.sweeps.records import BASELINE, STEERED, DriftCell, SweepRow, TargetInfo
from workbench.sweeps.spec import SweepPrompt, SweepSpec, SweepTarget
from workbench.sweeps.summary import Thresholds

SPEC = SweepSpec(
    targets=(SweepTarget("L8", 5),),
    strengths=(0.0, 4.0),
    prompts=(SweepPrompt("Hello"), SweepPrompt("The sea", chat=False)),
    max_new_tokens=3,
    recipe="magnitude",
)
TARGET = TargetInfo("L8:5", "L8", 8, 5, 2.0, (("L8", 8, 5, 1.0),))


def _row(kind, prompt, strength=None, concept=0.1, nll=2.0, n=0):
    steered = kind == STEERED
    return SweepRow(
        id=f"{kind}-{prompt}-{strength}-{n}",
        kind=kind,
        prompt=prompt,
        system=None,
        chat=prompt == "Hello",
        seed=0,
        text=f"text {prompt} {strength}",
        prompt_ids=(1, 2),
        token_ids=(10 + n, 11, 12),
        finish_reason="length",
        nll=nll,
        distinct1=1.0,
        distinct2=1.0,
        longest_repeat=0,
        concept={"L8:5": concept},
        fires={"L8:5": 0.5},
        target="L8:5" if steered else None,
        sae="L8" if steered else None,
        layer=8 if steered else None,
        feature=5 if steered else None,
        cosine=1.0 if steered else None,
        strength=strength,
    )


def _run(status=DONE) -> SweepRun:
    rows = tuple(
        _row(STEERED, p, s, concept=0.1 + s / 10, nll=2.0 + s / 4, n=i)
        for i, (p, s) in enumerate((p, s) for p in ("Hello", "The sea") for s in (0.0, 4.0))
    )
    baseline = (_row(BASELINE, "Hello"), _row(BASELINE, "The sea"))
    drift = tuple(DriftCell(f"d{s}", "L8:5", "L8", 8, 5, s, s / 100, 12) for s in (0.0, 4.0))
    return SweepRun((TARGET,), rows, baseline, drift, status)


def _sweep(sweep_id="s1", run=None) -> SavedSweep:
    return SavedSweep(sweep_id, SPEC, Thresholds(0.05, 0.5), run if run is not None else SweepRun())


def test_starting_a_sweep_is_undoable_and_redo_brings_back_its_rows():
    doc = Document()
    doc.execute(StartSweep(_sweep()))
    assert doc.undo_label == "Start sweep L8:5 · magnitude"
    doc.set_sweep_run("s1", _run())  # rows arrive: no undo step
    assert doc.steps == 1 and doc.state.sweep("s1").run.rows == _run().rows
    doc.undo()
    assert doc.state.sweeps == () and doc.state.sweep("s1") is None
    doc.redo()
    assert doc.state.sweep("s1").run == _run()


def test_removing_a_sweep_and_undoing_keeps_its_place_and_rows():
    doc = Document()
    for sweep_id in ("a", "b"):
        doc.execute(StartSweep(_sweep(sweep_id)))
    doc.set_sweep_run("a", _run())
    doc.execute(RemoveSweep(0, doc.state.sweep("a")))
    assert [s.id for s in doc.state.sweeps] == ["b"] and doc.undo_label == "Remove sweep L8:5 · magnitude"
    doc.undo()
    assert [s.id for s in doc.state.sweeps] == ["a", "b"] and doc.state.sweep("a").run == _run()


def test_thresholds_change_as_one_undo_step_while_typing():
    doc = Document()
    doc.execute(StartSweep(_sweep()))
    doc.close_step()
    doc.execute(SetSweepThresholds("s1", Thresholds(0.05, 0.5), Thresholds(0.05, 0.7)))
    doc.execute(SetSweepThresholds("s1", Thresholds(0.05, 0.7), Thresholds(0.1, 0.7)))
    assert doc.state.sweep("s1").thresholds == Thresholds(0.1, 0.7) and doc.steps == 2
    doc.undo()
    assert doc.state.sweep("s1").thresholds == Thresholds(0.05, 0.5)


def test_use_setting_replaces_the_same_feature_adds_a_new_one_or_a_variant_for_the_baseline():
    state = DocumentState.of(recorded_session())  # variant "ocean" steers L8 f5 (clamp 6) and L8 f9 (off)
    cell = FeatureEdit(layer=8, feature=5, strength=4.0, unit=StrengthUnit.MAXACT)
    doc = Document(state)
    doc.execute(use_setting(doc.state, 1, cell, "variant 2"))
    edit = doc.state.plan.variants[1].edits[0]
    assert (edit.strength, edit.unit, edit.mode) == (4.0, StrengthUnit.MAXACT, cell.mode)
    assert doc.undo_label == "Use sweep setting L8:f5 at 4 maxact" and len(doc.state.plan.variants[1].edits) == 2
    other = replace(cell, feature=7)
    doc.execute(use_setting(doc.state, 1, other, "variant 2"))
    assert doc.state.plan.variants[1].edits[-1] == other
    doc.execute(use_setting(doc.state, 0, cell, "variant 2"))
    assert doc.state.plan.names == ["baseline", "ocean", "variant 2"]
    assert doc.state.plan.variants[2].edits == (cell,)
    for _ in range(3):
        doc.undo()
    assert doc.state.plan == state.plan


def test_a_saved_sweep_reopens_with_its_rows_thresholds_and_summary(tmp_path):
    session = recorded_session()
    doc = Document()
    doc.reset(DocumentState.of(session, ModelChoice(device="cpu")))
    doc.records.opened(session)
    doc.execute(StartSweep(_sweep()))
    doc.set_sweep_run("s1", _run(CANCELLED))
    saved = doc.session()
    assert saved is not None and saved.sweeps == (replace(_sweep(), run=_run(CANCELLED)),)
    path = save_session(tmp_path / "s.swb.json", saved)
    reopened = load_session(path)
    assert reopened.sweeps == saved.sweeps
    state = DocumentState.of(reopened)
    sweep = state.sweep("s1")
    assert sweep is not None and sweep.run.status == CANCELLED and sweep.result().cancelled
    summary = sweep.summary()
    assert [c.strength for c in summary.cells] == [0.0, 4.0] and summary.cells[1].kl == pytest.approx(0.04)
    assert summary.best is not None


def test_files_without_sweeps_load_and_sessions_without_sweeps_write_no_key():
    text = recorded_session().to_json()
    assert "sweeps" not in json.loads(text)
    assert Session.from_json(text).sweeps == ()


def test_a_damaged_sweep_is_one_error_naming_the_field():
    data = json.loads(replace(recorded_session(), sweeps=(_sweep(run=_run()),)).to_json())
    data["sweeps"][0]["rows"][1]["nll"] = "bad"
    with pytest.raises(SessionError, match=r"sweeps\[0\]\.rows\[1\]\.nll: expected a number"):
        Session.from_json(json.dumps(data))
    data["sweeps"][0]["spec"]["strengths"] = []
    with pytest.raises(SessionError, match=r"sweeps\[0\]\.spec: .*at least one strength"):
        Session.from_json(json.dumps(data))


def test_reports_show_each_sweep_with_its_plots_and_cells(tmp_path):
    session = replace(recorded_session(), sweeps=(_sweep(run=_run()),))
    page = render_html(session)
    assert "<h2>Sweeps</h2>" in page and page.count('class="sweep"') == 3 and "Best setting" in page
    written = write_markdown_report(session, tmp_path / "r.md")
    text = (tmp_path / "r.md").read_text()
    assert "## Sweeps" in text and "| L8 | L8 | 5 | 4 | 2 |" in text
    pngs = [p for p in written if p.suffix == ".png"]
    assert len(pngs) == 3 and all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)
