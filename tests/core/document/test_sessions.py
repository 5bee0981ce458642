"""The document and session files: opening builds the state, saving and autosave read it, records give the base."""

from __future__ import annotations

from dataclasses import replace

from tests.core.document.sessions import recorded_session
from workbench.document import Document, DocumentState, Inputs, ModelChoice, SetChat, SetEdit, ShownRun
from workbench.document.state import outputs_match, result_of, run_of
from workbench.session import Environment, autosave, load_session, pending_autosave, save_session


def _opened() -> Document:
    session = recorded_session()
    doc = Document()
    doc.reset(DocumentState.of(session, ModelChoice(device="cpu")))
    doc.records.opened(session)
    return doc


def test_an_opened_session_gives_the_inputs_model_selections_and_recorded_run():
    session = recorded_session()
    state = DocumentState.of(session, ModelChoice(device="cpu"))
    assert state.inputs == Inputs.of(session)
    assert state.model == ModelChoice("default", "cpu", "auto")
    assert state.analysis == session.analysis
    assert state.run is not None and state.run.plan == session.plan
    assert [p.token_ids for p in state.run.result.panes] == [(10, 11, 12), (20, 21, 22)]
    assert state.run.result.panes[1].edits_fired[0].positions == 4
    assert state.run.pane_tokens("ocean") == ("ocean", [1, 2, 3, 20, 21, 22], 3)
    assert state.run.pane_tokens("gone")[0] == "baseline"


def test_an_ungenerated_session_has_no_run():
    session = recorded_session().without_outputs()
    assert result_of(session) is None and run_of(session) is None


def test_saving_reads_the_document_and_reopens_to_the_same_state(tmp_path):
    doc = _opened()
    doc.set_analysis(heatmap_pane="baseline")
    path = save_session(tmp_path / "s.swsession", doc.session())
    reopened = DocumentState.of(load_session(path))
    assert reopened.inputs == doc.state.inputs and reopened.run == doc.state.run
    assert reopened.analysis["heatmap_pane"] == "baseline"


def test_a_changed_plan_is_saved_without_the_outputs_it_no_longer_made(tmp_path):
    doc = _opened()
    old = doc.state.plan.variants[1].edits[0]
    doc.execute(SetEdit(1, 0, old, old.with_strength(2.5)))
    saved = load_session(save_session(tmp_path / "s.swsession", doc.session("2026-01-01T00:00:00+00:00")))
    assert saved.plan == doc.state.plan and not saved.outputs and not saved.prompt_ids
    assert saved.created == "2026-01-01T00:00:00+00:00"
    doc.undo()
    assert doc.session() is not None and doc.session().outputs  # its own outputs again


def test_the_outputs_match_a_prompt_that_differs_only_by_surrounding_space():
    session = recorded_session()
    assert outputs_match(session, replace(Inputs.of(session), prompt="  Tell me about the sea.\n"))
    assert not outputs_match(session, replace(Inputs.of(session), chat=False))


def test_autosave_writes_the_document_and_recovery_reads_it_back():
    doc = _opened()
    doc.execute(SetChat(False))
    autosave(doc.session())
    slot = pending_autosave()
    assert slot is not None
    recovered = Document()
    recovered.reset(DocumentState.of(load_session(slot)), clean=False)
    assert recovered.state.inputs == doc.state.inputs and recovered.modified


def test_nothing_to_save_before_a_model_was_recorded():
    assert Document().session() is None


def test_a_fresh_record_becomes_the_base_but_keeps_the_recordings_provenance():
    doc = _opened()
    opened = doc.records.recording
    here = replace(opened, environment=Environment("cuda", "bfloat16"), outputs=opened.outputs[:1])
    doc.records.asked()
    assert doc.records.arrived(here)
    assert doc.records.base.environment == opened.environment and doc.records.base.outputs == opened.outputs
    assert doc.records.loaded == here and doc.records.in_flight == 0
    doc.records.ran()
    doc.records.asked()
    doc.records.arrived(here)
    assert doc.records.base == here


def test_a_record_asked_for_before_another_session_was_shown_is_stale():
    doc = _opened()
    doc.records.asked()
    doc.records.replacing()
    other = replace(recorded_session(), prompt="Something else.")
    doc.records.opened(other)
    assert not doc.records.arrived(recorded_session())
    assert doc.records.base == other and doc.records.loaded == recorded_session()
    doc.records.asked()
    doc.records.failed()
    assert doc.records.in_flight == 0


def test_a_run_of_exactly_the_recordings_inputs_is_a_replay():
    doc = _opened()
    run = doc.state.run
    assert run is not None
    stripped = ShownRun(run.result, run.plan, run.prompt.strip(), run.chat)
    assert doc.records.replayed(stripped) is doc.records.recording
    assert doc.records.replayed(replace(stripped, chat=False)) is None
    assert doc.records.replayed(replace(stripped, result=replace(run.result, cancelled=True))) is None
    doc.records.emptied()
    assert doc.records.replayed(stripped) is None and not doc.records.base.outputs
