"""The document: commands as undo steps, merging gestures and typing, the saved mark, notifications, views."""

from __future__ import annotations

from pathlib import Path

from workbench.document import (
    FILE,
    HISTORY,
    AddEdit,
    AddVariant,
    Document,
    DocumentState,
    ModelChoice,
    SetChat,
    SetEdit,
    SetPrompt,
    SetSetting,
    Update,
)
from workbench.steering.plan import FeatureEdit, Variant

F5 = FeatureEdit(layer=8, feature=5, strength=4.0)


def _typed(doc: Document, text: str) -> None:
    for ch in text:
        doc.execute(SetPrompt(doc.state.prompt, doc.state.prompt + ch))


def _with_edit() -> Document:
    doc = Document()
    doc.execute(AddEdit(1, F5, "variant 1"))
    return doc


def _strength(doc: Document, value: float) -> None:
    old = doc.state.plan.variants[1].edits[0]
    doc.execute(SetEdit(1, 0, old, old.with_strength(value)))


def test_undo_and_redo_walk_the_steps_back_and_forth_with_their_labels():
    doc = Document()
    states = [doc.state]
    for command in (SetChat(False), SetSetting("seed", 0, 7), AddVariant(2, Variant("variant 2"))):
        assert doc.execute(command)
        states.append(doc.state)
    assert doc.undo_label == "Add variant “variant 2”" and doc.redo_label is None and doc.steps == 3
    for i in (2, 1, 0):
        doc.undo()
        assert doc.state == states[i]
    assert not doc.can_undo and doc.redo_label == "Use raw text"
    for i in (1, 2, 3):
        doc.redo()
        assert doc.state == states[i]
    assert not doc.can_redo


def test_a_command_that_changes_nothing_is_no_step():
    doc = Document()
    assert not doc.execute(SetPrompt("", ""))
    assert not doc.can_undo and not doc.modified


def test_a_new_step_drops_what_could_be_redone():
    doc = Document()
    doc.execute(SetChat(False))
    doc.undo()
    doc.execute(SetSetting("seed", 0, 1))
    assert not doc.can_redo and doc.undo_label == "Change seed"


def test_a_burst_of_typing_is_one_step_until_it_pauses():
    doc = Document()
    _typed(doc, "Hi there")
    assert doc.steps == 1 and doc.state.prompt == "Hi there"
    doc.close_step()  # the pause
    _typed(doc, "!")
    assert doc.steps == 2
    doc.undo()
    assert doc.state.prompt == "Hi there"
    doc.undo()
    assert doc.state.prompt == ""


def test_typing_in_another_box_starts_a_new_step():
    doc = Document()
    _typed(doc, "ab")
    doc.execute(SetSetting("seed", 0, 1))
    doc.execute(SetSetting("seed", 1, 12))
    _typed(doc, "c")
    assert doc.steps == 3 and doc.undo_label == "Edit prompt"


def test_a_slider_drag_is_one_step_and_a_second_drag_a_second():
    doc = _with_edit()
    doc.begin_gesture()
    for value in (6.0, 12.0, 18.0, 24.0):
        _strength(doc, value)
    doc.end_gesture()
    assert doc.steps == 2 and doc.undo_label == "Set L8:f5 strength to 24"
    doc.begin_gesture()
    _strength(doc, 2.0)
    doc.end_gesture()
    assert doc.steps == 3
    doc.undo()
    doc.undo()
    assert doc.state.plan.variants[1].edits[0].strength == 4.0


def test_strength_steps_outside_a_drag_are_steps_of_their_own():
    doc = _with_edit()
    _strength(doc, 10.0)  # a key press on the slider, a typed value
    _strength(doc, 11.0)
    assert doc.steps == 3


def test_undo_closes_the_step_so_typing_after_it_is_new():
    doc = Document()
    _typed(doc, "ab")
    doc.undo()
    doc.redo()
    _typed(doc, "c")
    assert doc.steps == 2


def test_modified_follows_the_saved_state_through_undo_and_redo():
    doc = Document()
    assert not doc.modified
    doc.execute(SetChat(False))
    assert doc.modified
    doc.mark_saved()
    assert not doc.modified
    doc.execute(SetSetting("seed", 0, 5))
    assert doc.modified
    doc.undo()
    assert not doc.modified
    doc.undo()
    assert doc.modified  # before the saved state
    doc.redo()
    assert not doc.modified


def test_the_saved_state_is_lost_once_its_branch_is_replaced():
    doc = Document()
    doc.execute(SetChat(False))
    doc.mark_saved()
    doc.undo()
    doc.execute(SetSetting("seed", 0, 5))
    doc.undo()
    assert doc.modified  # the saved step is gone: no state of this history is saved


def test_typing_after_a_save_does_not_fold_into_the_saved_step():
    doc = Document()
    _typed(doc, "ab")
    doc.mark_saved()
    _typed(doc, "c")
    assert doc.steps == 2 and doc.modified
    doc.undo()
    assert not doc.modified and doc.state.prompt == "ab"


def test_new_outputs_are_unsaved_until_saved():
    doc = Document()
    doc.mark_unsaved()
    assert doc.modified
    doc.mark_saved()
    assert not doc.modified


def test_reset_starts_a_history_clean_or_not():
    doc = Document()
    doc.execute(SetChat(False))
    doc.reset(DocumentState(prompt="opened"))
    assert doc.state.prompt == "opened" and not doc.can_undo and not doc.modified
    doc.reset(clean=False)  # recovered work
    assert doc.modified and doc.state.prompt == "opened"


def test_listeners_hear_what_changed_and_which_command_did_it():
    doc = Document()
    heard: list[Update] = []
    stop = doc.subscribe(heard.append)
    doc.execute(SetSetting("seed", 0, 4))
    assert heard[-1].changed == {"settings", HISTORY} and heard[-1].command == SetSetting("seed", 0, 4)
    doc.undo()
    assert heard[-1].undoing and heard[-1].command is None and heard[-1].after.settings.seed == 0
    assert heard[-1].before.settings.seed == 4
    doc.set_file(Path("/tmp/x.swsession"))
    assert heard[-1].changed == {FILE}
    stop()
    doc.execute(SetChat(False))
    assert len(heard) == 3


def test_views_change_without_undo_steps_or_the_modified_mark():
    doc = Document()
    heard: list[Update] = []
    doc.subscribe(heard.append)
    doc.set_analysis(heatmap_pane="ocean", selected_feature=5)
    doc.set_model(ModelChoice("/models/smol.gguf", "cpu"))
    assert doc.state.analysis == {"heatmap_pane": "ocean", "selected_feature": 5}
    assert doc.state.model.spec == "/models/smol.gguf"
    doc.set_analysis(selected_feature=None)
    assert doc.state.analysis == {"heatmap_pane": "ocean"}
    assert [u.changed for u in heard] == [{"analysis"}, {"model"}, {"analysis"}]
    doc.set_analysis(heatmap_pane="ocean")  # no change: no news
    assert len(heard) == 3 and not doc.can_undo and not doc.modified
