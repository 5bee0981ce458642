"""Sessions in the window: undo / redo, save and reopen, autosave and crash recovery, bad files, the title.

Most tests need no model: the window opens a session written here, and what it asks of the model process is
recorded instead of run. The last test saves a real run of the embedded model and reopens it.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent

from tests.ui.conftest import wait_for
from workbench.document import Inputs
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.models.sampling import SamplingSettings
from workbench.saes.loader import SaeSummary
from workbench.session import (
    EditOutcome,
    Environment,
    ModelRecord,
    PaneOutput,
    SaeRecord,
    Session,
    autosave_path,
    load_session,
    save_session,
)
from workbench.steering.plan import EditMode, FeatureEdit, SteeringPlan, Variant

SAES = [SaeSummary("L8", 8, 576, 4608, "/x", "topk", "blocks.8.hook_resid_post", True)]


def _window(qtbot, tmp_path, name="settings.ini"):
    """A window whose model process is not started: what it asks for is recorded in `window.requests`."""
    from ui.main_window import MainWindow

    window = MainWindow(settings=QSettings(str(tmp_path / name), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.requests = []
    window.client.send = window.requests.append
    return window


def _session(tmp_path) -> Session:
    """A generated session for the embedded model and an SAE folder at layer 8."""
    folder = tmp_path / "sae_L8"
    folder.mkdir(exist_ok=True)
    (folder / "cfg.json").write_text("{}")  # what missing_files looks for
    edit = FeatureEdit(layer=8, feature=5, strength=6.0, mode=EditMode.CLAMP)
    plan = SteeringPlan.with_baseline(Variant("ocean", (edit, FeatureEdit(layer=8, feature=9, enabled=False))))
    return Session(
        model=ModelRecord("default", "embedded", "SmolLM2-135M-Instruct", "llama", 30, 576, 49152),
        saes=(SaeRecord("L8", str(folder), "folder", 8, 4608, "blocks.8.hook_resid_post"),),
        prompt="Tell me about the sea.",
        chat=True,
        settings=SamplingSettings(seed=3, temperature=0.0, top_k=7, max_new_tokens=3),
        plan=plan,
        environment=Environment("cpu", "float32", {"python": "3.11"}),
        prompt_ids=(1, 2, 3),
        outputs=(
            PaneOutput("baseline", (10, 11, 12), "I like it", "length"),
            PaneOutput("ocean", (20, 21, 22), "Waves and tides", "length", (EditOutcome(edit.describe(), 6.0, 4),)),
        ),
        analysis={"heatmap_pane": "ocean", "heatmap_sae": "L8", "selected_sae": "L8", "selected_feature": 5},
    )


def _pane_texts(window) -> list[str]:
    return [p.plain for p in window.generation.panes.panes]


def _state(window):
    return window.document.state.inputs


# -- undo / redo --------------------------------------------------------------------------------------------------
def test_undo_and_redo_walk_every_kind_of_change_back_and_forth_exactly(qtbot, tmp_path):
    window = _window(qtbot, tmp_path)
    window._saes_changed(SAES)
    steering, gen, doc = window.steering, window.generation, window.document
    states = [_state(window)]
    labels = []

    def step(action, label_start):
        action()
        assert doc.steps == len(states), f"{label_start}: expected one new undo step"
        states.append(_state(window))
        labels.append(window.session.edit.undo_action.text())
        assert labels[-1].startswith(f"Undo {label_start}"), labels[-1]

    step(lambda: steering.add_feature("L8", 5), "Add L8:f5")
    step(lambda: steering.rows[0].slider.setValue(50), "Set L8:f5 strength to 10")  # a key press: its own step
    step(lambda: steering.rows[0].mode.setCurrentText("clamp"), "Set L8:f5 mode to clamp")
    step(lambda: steering.rows[0].unit.setCurrentText("maxact"), "Set L8:f5 unit to maxact")
    step(lambda: steering.rows[0].positions.setCurrentText("generated"), "Set L8:f5 positions to generated")
    step(lambda: steering.rows[0].enabled.setChecked(False), "Disable L8:f5")
    step(lambda: steering.variant_list.item(1).setText("ocean"), "Rename variant “variant 1” to “ocean”")
    step(steering.duplicate_variant, "Duplicate variant “ocean”")
    step(steering.add_variant, "Add variant")
    step(steering.remove_variant, "Remove variant")
    steering.variant_list.setCurrentRow(1)
    step(lambda: steering.rows[0].removeRequested.emit(steering.rows[0].edit), "Remove L8:f5")
    gen.prompt.moveCursor(gen.prompt.textCursor().MoveOperation.End)
    step(lambda: qtbot.keyClicks(gen.prompt, " Quickly!"), "Edit prompt")  # nine keys, one step
    step(lambda: gen.chat.setChecked(False), "Use raw text")
    step(lambda: gen.seed.setValue(99), "Change seed")
    step(lambda: gen.temperature.setValue(1.25), "Change temperature")
    assert all(a != b for a, b in itertools.pairwise(states))  # every step changed something

    for i in range(len(states) - 1, 0, -1):
        assert window.session.edit.undo_action.text() == labels[i - 1]
        window.session.edit.undo_action.trigger()
        assert _state(window) == states[i - 1]
    assert not doc.can_undo and not window.isWindowModified()
    for i in range(1, len(states)):
        window.session.edit.redo_action.trigger()
        assert _state(window) == states[i]
    assert window.session.edit.redo_action.text() == "Redo"  # nothing left to redo
    # The widgets show the restored values, not just the plan.
    assert gen.temperature.value() == 1.25 and not gen.chat.isChecked()


def test_a_slider_drag_is_one_undo_step_and_undo_shows_its_start(qtbot, tmp_path):
    window = _window(qtbot, tmp_path)
    window._saes_changed(SAES)
    window.steering.add_feature("L8", 5, strength=4.0)
    doc, before = window.document, _state(window)
    slider = window.steering.rows[0].slider
    slider.setSliderDown(True)  # pressed: a drag begins
    for value in (30, 60, 90, 120):
        slider.setValue(value)
    slider.setSliderDown(False)
    assert doc.steps == 2  # the add, and the whole drag
    assert window.session.edit.undo_action.text() == "Undo Set L8:f5 strength to 24"
    assert window.steering.plan.variants[1].edits[0].strength == 24.0
    slider.setSliderDown(True)  # a second drag is a second step
    slider.setValue(10)
    slider.setSliderDown(False)
    assert doc.steps == 3
    window.session.edit.undo_action.trigger()
    window.session.edit.undo_action.trigger()
    assert _state(window) == before
    assert window.steering.rows[0].spin.value() == 4.0 and window.steering.rows[0].slider.value() == 20


# -- save and open ------------------------------------------------------------------------------------------------
def test_save_then_open_in_a_new_window_gives_the_same_state_and_outputs(qtbot, tmp_path):
    source = tmp_path / "sea.swsession"
    save_session(source, _session(tmp_path))
    first = _window(qtbot, tmp_path)
    assert first.windowTitle() == "Untitled[*] — Steering Workbench" and not first.isWindowModified()
    assert first.session.open_session(source)
    # It asks for the session's model and SAE under the key its edits name (nothing is loaded), shows the outputs,
    # and keeps hidden settings.
    assert first.requests[-1] == rq.LoadModel("default", "auto", "auto", (str(tmp_path / "sae_L8"),), ("L8",))
    assert _pane_texts(first) == ["I like it", "Waves and tides"]
    assert first.generation.settings().top_k == 7
    assert first.windowTitle() == "sea[*] — Steering Workbench" and not first.isWindowModified()

    copy = tmp_path / "copy"
    assert first.session.files.save_as(copy)  # the suffix is added
    second = _window(qtbot, tmp_path, "second.ini")
    assert second.session.open_session(tmp_path / "copy.swsession")
    assert _state(second) == _state(first) == Inputs.of(_session(tmp_path))
    assert _pane_texts(second) == _pane_texts(first)
    assert second.document.state.run.result.panes[1].token_ids == (20, 21, 22)
    assert second.heatmap.pane_combo.currentData() == "ocean"
    assert second.heatmap.pending() == {"heatmap_sae", "selected_sae", "selected_feature"}  # wait for the SAE
    second._saes_changed(SAES)
    assert second.heatmap.anchor == ("L8", 5) and second.heatmap.sae_combo.currentData() == "L8"
    assert not second.heatmap.pending()

    # A change marks the title; saving clears it. The outputs no longer belong to the plan: saved without them.
    first._saes_changed(SAES)
    first.steering.rows[0].spin.setValue(2.5)
    assert first.isWindowModified() and first.windowTitle() == "copy[*] — Steering Workbench"
    assert first.session.files.save()
    assert not first.isWindowModified()
    saved = load_session(tmp_path / "copy.swsession")
    assert saved.plan == first.steering.plan and not saved.outputs
    assert second.session.open_session(tmp_path / "copy.swsession")
    assert _state(second) == _state(first)
    assert _pane_texts(second) == ["", ""]
    assert str((tmp_path / "copy.swsession").resolve()) == first.session.files.recent.paths()[0]


def test_a_corrupt_session_file_shows_the_banner_and_changes_nothing(qtbot, tmp_path):
    window = _window(qtbot, tmp_path)
    window._saes_changed(SAES)
    window.steering.add_feature("L8", 5)
    before, steps = _state(window), window.document.steps
    bad = tmp_path / "bad.swsession"
    good = _session(tmp_path).to_json().encode()
    bad.write_bytes(good[: len(good) // 2])  # cut short, as by a full disk
    window.session.files.ask_unsaved = lambda: "discard"
    assert not window.session.open_session(bad)
    assert not window.banner.isHidden() and "truncated" in window.banner.label.text()
    assert bad.read_bytes() == good[: len(good) // 2]
    assert _state(window) == before and window.document.steps == steps
    assert window.windowTitle().startswith("Untitled[*]") and window.isWindowModified()
    window.steering.add_variant()  # still working
    assert window.document.steps == steps + 1


def test_a_missing_sae_folder_can_be_located(qtbot, tmp_path):
    session = _session(tmp_path)
    moved = tmp_path / "moved_L8"
    (tmp_path / "sae_L8").rename(moved)
    save_session(tmp_path / "s.swsession", session)
    window = _window(qtbot, tmp_path)
    asked = []
    window.session.files.locate = lambda missing: asked.append(missing) or str(moved)
    assert window.session.open_session(tmp_path / "s.swsession")
    assert [(m.kind, m.key) for m in asked] == [("sae", "L8")]
    assert window.requests[-1].saes == (str(moved),)
    assert window.document.records.base.sae("L8").spec == str(moved)  # a save records the new place


def test_a_missing_model_file_can_be_located_or_left_out(qtbot, tmp_path):
    gone = tmp_path / "models" / "smol.gguf"
    session = replace(_session(tmp_path), model=replace(_session(tmp_path).model, spec=str(gone), source="gguf"))
    save_session(tmp_path / "s.swsession", session)
    saved = (tmp_path / "s.swsession").read_bytes()
    found = tmp_path / "found.gguf"
    found.write_bytes(b"GGUF")  # only its existence is checked before the load is asked for
    window = _window(qtbot, tmp_path)
    asked = []
    window.session.files.locate = lambda missing: asked.append(missing) or str(found)
    assert window.session.open_session(tmp_path / "s.swsession")
    assert [(m.kind, m.path) for m in asked] == [("model", str(gone))]
    assert isinstance(window.requests[-1], rq.LoadModel) and window.requests[-1].spec == str(found)
    assert window.document.records.base.model.spec == str(found)  # a save records the new place

    other = _window(qtbot, tmp_path, "other.ini")
    other.session.files.locate = lambda missing: ""  # "open without it"
    assert other.session.open_session(tmp_path / "s.swsession")
    assert not any(isinstance(r, rq.LoadModel) for r in other.requests)
    assert _pane_texts(other) == ["I like it", "Waves and tides"]  # the recorded outputs still show
    assert "opened without its model" in other.statusBar().currentMessage()
    assert (tmp_path / "s.swsession").read_bytes() == saved  # locating changes the open session, not the file


def test_a_reopened_recording_keeps_where_its_outputs_came_from_until_a_new_run(qtbot, tmp_path):
    made = _session(tmp_path)
    opened = replace(made, environment=Environment("cuda", "bfloat16", {"torch": "2.13.0"}))
    opened = replace(opened, model=replace(opened.model, sha256="a" * 64))
    save_session(tmp_path / "gpu.swsession", opened)
    window = _window(qtbot, tmp_path)
    assert window.session.open_session(tmp_path / "gpu.swsession")
    # The model process records what is loaded here: another machine, today's files, an SAE added since.
    extra = SaeRecord("L15", str(tmp_path / "sae_L15"), "folder", 15, 4608, "blocks.15.hook_resid_post")
    here = replace(
        opened,
        environment=Environment("cpu", "float32", {"torch": "2.13.0"}),
        model=replace(opened.model, sha256="b" * 64),
        saes=(*opened.saes, extra),
        outputs=(opened.outputs[0],),
    )
    window.session._recorded(here)
    base = window.document.records.base
    assert base.environment == opened.environment and base.outputs == opened.outputs
    assert base.model.sha256 == "a" * 64 and base.saes == (*opened.saes, extra)
    window.document.records.showing_recording = False  # what a new run does: its outputs are this machine's
    window.session._recorded(here)
    assert window.document.records.base == here


def test_dropping_a_session_file_opens_it(qtbot, tmp_path):
    path = tmp_path / "dropped.swsession"
    save_session(path, _session(tmp_path))
    window = _window(qtbot, tmp_path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "notes.txt")), QUrl.fromLocalFile(str(path))])
    drop = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier(0)
    )
    window.dropEvent(drop)
    qtbot.waitUntil(lambda: window.document.path == path, timeout=2000)
    assert window.steering.plan.names == ["baseline", "ocean"]


def test_recent_sessions_drop_files_that_are_gone(qtbot, tmp_path):
    window = _window(qtbot, tmp_path)
    for name in ("a", "b"):
        save_session(tmp_path / f"{name}.swsession", _session(tmp_path))
        window.session.files.recent.add(tmp_path / f"{name}.swsession")
    (tmp_path / "a.swsession").unlink()
    window.session.files.recent_menu.aboutToShow.emit()
    texts = [a.text() for a in window.session.files.recent_menu.actions()]
    assert len(texts) == 1 and texts[0].startswith("&1 b.swsession")
    assert "a.swsession" in window.statusBar().currentMessage()


# -- autosave, recovery and closing --------------------------------------------------------------------------------
def test_unsaved_work_is_autosaved_and_offered_back_after_a_crash(qtbot, tmp_path):
    path = tmp_path / "sea.swsession"
    save_session(path, _session(tmp_path))
    crashed = _window(qtbot, tmp_path)
    crashed.session.open_session(path)
    crashed.session.autosaver.pause_ms = 50
    crashed.generation.prompt.setPlainText("Unsaved words.")
    crashed.generation.seed.setValue(1234)
    qtbot.waitUntil(lambda: autosave_path().is_file(), timeout=2000)
    lost = _state(crashed)
    # A crash: the window never closes cleanly, so the slot stays. A new window offers it back.
    fresh = _window(qtbot, tmp_path, "fresh.ini")
    assert not fresh.session.recovery.isHidden()
    fresh.session.recovery.recover_button.click()
    assert _state(fresh) == lost
    assert fresh.session.recovery.isHidden() and fresh.isWindowModified()
    assert fresh.windowTitle() == "Untitled (recovered)[*] — Steering Workbench"
    assert isinstance(fresh.requests[-1], rq.LoadModel)
    assert autosave_path().is_file()  # still unsaved: still recoverable
    fresh.session.files.ask_unsaved = lambda: "discard"
    fresh.quit()
    assert not autosave_path().exists()  # closed cleanly, the user chose to discard


def test_steady_changes_do_not_postpone_the_autosave(qtbot, tmp_path):
    path = tmp_path / "sea.swsession"
    save_session(path, _session(tmp_path))
    window = _window(qtbot, tmp_path)
    window.session.open_session(path)
    saver = window.session.autosaver
    saver.pause_ms, saver.max_delay_ms = 200, 400
    for n in range(12):  # a change every 50 ms for 600 ms: never a 200 ms pause
        window.generation.seed.setValue(n + 1)
        qtbot.wait(50)
        if autosave_path().is_file():
            break
    assert autosave_path().is_file() and n < 11
    assert load_session(autosave_path()).settings.seed <= n + 1


def test_the_offer_survives_the_window_restoring_its_last_choices(qtbot, tmp_path):
    from workbench.session import autosave

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("last/prompt", "A prompt from yesterday.")
    settings.setValue("last/seed", 5)
    settings.sync()
    autosave(_session(tmp_path))
    window = _window(qtbot, tmp_path)
    assert window.generation.prompt.toPlainText() == "A prompt from yesterday."
    assert not window.isWindowModified() and window.document.steps == 0
    assert autosave_path().is_file() and not window.session.recovery.isHidden()
    window.session.recovery.recover_button.click()
    assert _state(window) == Inputs.of(_session(tmp_path))


def test_discarding_the_offer_deletes_the_unsaved_work(qtbot, tmp_path):
    from workbench.session import autosave

    autosave(_session(tmp_path))
    window = _window(qtbot, tmp_path)
    assert not window.session.recovery.isHidden()
    window.session.recovery.discard_button.click()
    assert not autosave_path().exists() and window.session.recovery.isHidden()
    assert not window.isWindowModified()


@pytest.mark.parametrize("answer", ["cancel", "discard", "save"])
def test_quitting_with_unsaved_changes_asks_save_discard_or_cancel(qtbot, tmp_path, answer):
    path = tmp_path / "sea.swsession"
    save_session(path, _session(tmp_path))
    window = _window(qtbot, tmp_path)
    window.show()
    window.session.open_session(path)
    window.quit()
    assert not window.isVisible()  # nothing changed: no question
    window.show()
    window.generation.max_tokens.setValue(9)
    asked = []
    window.session.files.ask_unsaved = lambda: asked.append(1) or answer
    window.quit()
    assert asked and window.isVisible() == (answer == "cancel")
    assert (load_session(path).settings.max_new_tokens == 9) == (answer == "save")


# -- with the model ------------------------------------------------------------------------------------------------
@pytest.mark.integration
def test_a_generated_run_is_saved_with_its_outputs_and_reopens_identically(qtbot, tmp_path, shared_window):
    window = shared_window
    if window.client.closed:
        pytest.skip("the shared window was closed by an earlier test")
    session = window.session
    before, path = _state(window), window.document.path
    window.steering.add_feature("L8", 3, strength=20.0)
    window.generation.max_tokens.setValue(4)
    window.generation.temperature.setValue(0.0)
    with wait_for(qtbot, window, ev.Generated):
        window.generate()
    result = window.document.state.run.result
    assert window.isWindowModified()  # new outputs are unsaved work
    assert session.files.save_as(tmp_path / "run.swsession")  # waits for the run's record if it is on its way
    qtbot.waitUntil(lambda: (tmp_path / "run.swsession").is_file(), timeout=30_000)
    assert not window.isWindowModified()
    saved = load_session(tmp_path / "run.swsession")
    assert [p.token_ids for p in saved.outputs] == [p.token_ids for p in result.panes]
    assert saved.model.sha256 and saved.saes[0].sha256 and saved.outputs[1].edits[0].positions > 0
    assert saved.settings == result.settings and saved.prompt == window.document.state.run.prompt
    reopened = _window(qtbot, tmp_path, "reopened.ini")
    assert reopened.session.open_session(tmp_path / "run.swsession")
    assert _state(reopened) == Inputs.of(saved)
    assert _state(reopened).plan == _state(window).plan
    assert _pane_texts(reopened) == [p.text for p in result.panes]

    # Reopened where the model is loaded, Generate replays the recording and says whether the tokens are the same.
    assert session.open_session(tmp_path / "run.swsession")
    assert window.info is not None  # the same model and SAEs are loaded already: nothing reloads
    with wait_for(qtbot, window, ev.Generated):
        window.generate()
    assert window.statusBar().currentMessage().endswith("replay: same tokens as the recording in all 2 panes")
    records = window.document.records
    outputs = records.recording.outputs
    changed = replace(outputs[1], token_ids=(outputs[1].token_ids[0], -1, *outputs[1].token_ids[2:]))
    records.recording = replace(records.recording, outputs=(outputs[0], changed))
    session._compare_with_recording()
    assert (
        window.statusBar()
        .currentMessage()
        .endswith(f"replay: 1 of 2 panes differ from the recording: '{result.panes[1].name}' from token 1")
    )
    window.generation.seed.setValue(window.generation.seed.value() + 1)  # other inputs: not a replay
    with wait_for(qtbot, window, ev.Generated):
        window.generate()
    assert "replay" not in window.statusBar().currentMessage()

    # Leave the shared window as it was for the tests that follow.
    window.document.reset(window.document.state.with_inputs(before))
    window.document.path, records.recording = path, None


def test_session_files_are_the_ones_the_window_accepts():
    from ui.file_actions import session_file_in

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile("/tmp/a.txt")])
    assert session_file_in(mime) is None
    mime.setUrls([QUrl.fromLocalFile("/tmp/a.txt"), QUrl.fromLocalFile("/tmp/b.JSON")])
    assert session_file_in(mime) == str(Path("/tmp/b.JSON"))
