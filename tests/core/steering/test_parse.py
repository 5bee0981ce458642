import pytest

from workbench.errors import InputError
from workbench.steering.parse import parse_edit, parse_edits
from workbench.steering.plan import EditMode, PositionScope, StrengthUnit


def test_minimal_edit_defaults_to_add_raw_all_positions():
    edit = parse_edit("8:123:4")
    assert (edit.layer, edit.feature, edit.strength) == (8, 123, 4.0)
    assert edit.mode is EditMode.ADD and edit.unit is StrengthUnit.RAW and edit.positions is PositionScope.ALL


def test_optional_words_in_any_order():
    edit = parse_edit("15:42:-2.5:maxact:clamp:generated")
    assert edit.mode is EditMode.CLAMP
    assert edit.unit is StrengthUnit.MAXACT
    assert edit.positions is PositionScope.GENERATED
    assert edit.strength == -2.5


def test_list_of_edits():
    edits = parse_edits("8:1:2, 15:3:0:ablate")
    assert [e.layer for e in edits] == [8, 15]
    assert edits[1].mode is EditMode.ABLATE


@pytest.mark.parametrize(
    "text",
    [
        "8:123",
        "x:1:2",
        "8:y:2",
        "8:1:big",
        "8:1:2:sideways",
        "-1:2:3",
        "8:-2:3",
        "8:1:nan",
        "8:1:2:add:clamp",
        "1:2:3:4:5:6:7",
    ],
)
def test_malformed_edits_raise_input_error_naming_the_edit(text):
    with pytest.raises(InputError) as info:
        parse_edit(text)
    assert repr(text) in str(info.value)
