"""Every command applies, undoes itself exactly, names itself for the Edit menu, and merges only with its kind."""

from __future__ import annotations

from dataclasses import replace

import pytest

from workbench.document import (
    AddEdit,
    AddVariant,
    Command,
    Compound,
    DocumentState,
    DuplicateVariant,
    RemoveEdit,
    RemoveVariant,
    RenameVariant,
    SetChat,
    SetEdit,
    SetPrompt,
    SetSetting,
)
from workbench.models.sampling import SamplingSettings
from workbench.steering.plan import EditMode, FeatureEdit, PositionScope, SteeringPlan, StrengthUnit, Variant

F5 = FeatureEdit(layer=8, feature=5, strength=4.0)
F9 = FeatureEdit(layer=8, feature=9, strength=-2.0, sae="L8b")
START = DocumentState(
    prompt="Hello",
    settings=SamplingSettings(seed=3),
    plan=SteeringPlan.with_baseline(Variant("ocean", (F5, F9)), Variant("desert")),
)


def _variant(state: DocumentState, i: int) -> Variant:
    return state.plan.variants[i]


CASES: list[tuple[Command, str, object]] = [
    (SetPrompt("Hello", "Hello there"), "Edit prompt", lambda s: s.prompt == "Hello there"),
    (SetChat(False), "Use raw text", lambda s: s.chat is False),
    (SetSetting("seed", 3, 99), "Change seed", lambda s: s.settings.seed == 99),
    (SetSetting("top_p", 0.9, 0.5), "Change top-p", lambda s: s.settings.top_p == 0.5),
    (SetSetting("max_new_tokens", 64, 9), "Change max tokens", lambda s: s.settings.max_new_tokens == 9),
    (AddVariant(3, Variant("variant 3")), "Add variant “variant 3”", lambda s: s.plan.names[3] == "variant 3"),
    (
        DuplicateVariant(1, Variant("ocean", (F5, F9))),
        "Duplicate variant “ocean”",
        lambda s: s.plan.names == ["baseline", "ocean", "ocean copy", "desert"] and _variant(s, 2).edits == (F5, F9),
    ),
    (RemoveVariant(1, Variant("ocean", (F5, F9))), "Remove variant “ocean”", lambda s: s.plan.names[1] == "desert"),
    (RenameVariant(2, "desert", "dunes"), "Rename variant “desert” to “dunes”", lambda s: s.plan.names[2] == "dunes"),
    (AddEdit(2, F5, "desert"), "Add L8:f5 to “desert”", lambda s: _variant(s, 2).edits == (F5,)),
    (RemoveEdit(1, 0, F5, "ocean"), "Remove L8:f5 from “ocean”", lambda s: _variant(s, 1).edits == (F9,)),
    (
        SetEdit(1, 1, F9, F9.with_strength(12.0)),
        "Set L8:f9 strength to 12",
        lambda s: _variant(s, 1).edits[1].strength == 12.0,
    ),
    (SetEdit(1, 0, F5, replace(F5, enabled=False)), "Disable L8:f5", lambda s: not _variant(s, 1).edits[0].enabled),
    (
        SetEdit(1, 0, F5, replace(F5, mode=EditMode.CLAMP)),
        "Set L8:f5 mode to clamp",
        lambda s: _variant(s, 1).edits[0].mode is EditMode.CLAMP,
    ),
    (
        SetEdit(1, 0, F5, replace(F5, unit=StrengthUnit.MAXACT)),
        "Set L8:f5 unit to maxact",
        lambda s: _variant(s, 1).edits[0].unit is StrengthUnit.MAXACT,
    ),
    (
        SetEdit(1, 0, F5, replace(F5, positions=PositionScope.GENERATED)),
        "Set L8:f5 positions to generated",
        lambda s: _variant(s, 1).edits[0].positions is PositionScope.GENERATED,
    ),
    (
        SetEdit(1, 0, F5, replace(F5, strength=1.0, mode=EditMode.CLAMP)),
        "Change L8:f5",
        lambda s: _variant(s, 1).edits[0] == replace(F5, strength=1.0, mode=EditMode.CLAMP),
    ),
    (
        Compound("Add variant “variant 3”", (AddVariant(3, Variant("variant 3")), AddEdit(3, F9, "variant 3"))),
        "Add variant “variant 3”",
        lambda s: _variant(s, 3) == Variant("variant 3", (F9,)),
    ),
]


@pytest.mark.parametrize(("command", "label", "check"), CASES, ids=[c[1] for c in CASES])
def test_each_command_applies_undoes_exactly_and_names_itself(command, label, check):
    after = command.apply(START)
    assert after != START and check(after)
    assert command.undo(after) == START
    assert command.label == label


def test_only_the_touched_part_of_the_state_changes():
    after = SetSetting("temperature", 0.7, 1.25).apply(START)
    assert after.settings == replace(START.settings, temperature=1.25)
    assert (after.prompt, after.chat, after.plan) == (START.prompt, START.chat, START.plan)
    renamed = RenameVariant(1, "ocean", "sea").apply(START)
    assert _variant(renamed, 1).edits == (F5, F9) and _variant(renamed, 2) == _variant(START, 2)


def test_typing_merges_prompt_edits_and_one_settings_box_but_not_others():
    merged = SetPrompt("Hello", "Hello t").merge(SetPrompt("Hello t", "Hello th"))
    assert merged == SetPrompt("Hello", "Hello th")
    assert SetSetting("seed", 3, 4).merge(SetSetting("seed", 4, 45)) == SetSetting("seed", 3, 45)
    assert SetSetting("seed", 3, 4).merge(SetSetting("top_k", 0, 4)) is None
    assert SetPrompt("a", "b").merge(SetChat(False)) is None
    assert SetChat(False).merge(SetChat(True)) is None
    assert AddVariant(3, Variant("v")).merge(AddVariant(4, Variant("w"))) is None


def test_strength_steps_of_one_edit_merge_and_keep_the_first_value_for_undo():
    first = SetEdit(1, 0, F5, F5.with_strength(6.0))
    merged = first.merge(SetEdit(1, 0, F5.with_strength(6.0), F5.with_strength(24.0)))
    assert merged == SetEdit(1, 0, F5, F5.with_strength(24.0))
    assert merged.label == "Set L8:f5 strength to 24"
    assert merged.undo(merged.apply(START)) == START
    assert first.merge(SetEdit(1, 1, F9, F9.with_strength(1.0))) is None  # another edit
    assert first.merge(SetEdit(1, 0, F5.with_strength(6.0), replace(F5, strength=6.0, enabled=False))) is None
    assert SetEdit(1, 0, F5, replace(F5, enabled=False)).merge(first) is None
    assert SetEdit.gesture_only and not SetPrompt.gesture_only


def test_a_drag_back_to_its_start_still_reads_as_a_strength_step():
    back = SetEdit(1, 0, F5.with_strength(6.0), F5.with_strength(24.0)).merge(
        SetEdit(1, 0, F5.with_strength(24.0), F5.with_strength(6.0))
    )
    assert back is not None and back.label == "Set L8:f5 strength to 6"
