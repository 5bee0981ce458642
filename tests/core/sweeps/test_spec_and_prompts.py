"""The sweep spec round-trips as plain data; prompt sets from files and built-ins; recipes fill the spec."""

import json

import pytest

from workbench.errors import InputError
from workbench.models.edits import EditMode
from workbench.steering.plan import StrengthUnit
from workbench.sweeps.prompts import BUILTIN_SETS, load_prompt_set
from workbench.sweeps.recipes import build_spec
from workbench.sweeps.spec import SweepSpec, SweepTarget, parse_layers, parse_numbers, parse_seeds


def test_the_spec_round_trips_through_plain_json():
    spec = build_spec((SweepTarget.parse("15:852"),), "context", seeds=(0, 3), mode=EditMode.CLAMP)
    again = SweepSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert again.mode is EditMode.CLAMP and any(p.system for p in again.prompts)
    assert any(not p.chat for p in again.prompts)  # the raw openings stay raw


def test_recipes_fill_the_spec_and_explicit_values_win():
    target = (SweepTarget("L15", 852),)
    magnitude = build_spec(target, "magnitude")
    assert len(magnitude.strengths) == 9 and min(magnitude.strengths) == -10 and max(magnitude.strengths) == 10
    assert magnitude.unit is StrengthUnit.MAXACT and magnitude.layers == "own"
    assert build_spec(target, "layer").layers == "all"
    assert build_spec(target, "seeds").seeds == tuple(range(8))
    assert {p.source for p in build_spec(target, "context").prompts} == {f"builtin:{n}" for n in BUILTIN_SETS}
    custom = build_spec(target, "magnitude", strengths=(1.0, 2.0), unit=StrengthUnit.RAW, layers="8,15")
    assert custom.strengths == (1.0, 2.0) and custom.unit is StrengthUnit.RAW and custom.explicit_layers() == (8, 15)
    with pytest.raises(InputError, match="unknown recipe"):
        build_spec(target, "nope")


def test_parsers_give_one_clear_line():
    assert SweepTarget.parse("L8.2:7") == SweepTarget("L8.2", 7)
    assert parse_numbers("-8,-4, 0,4,8", "strength list") == (-8.0, -4.0, 0.0, 4.0, 8.0)
    assert parse_seeds("0,1") == (0, 1)
    assert parse_layers("own") is None and parse_layers("8,15") == (8, 15)
    for bad, message in [
        (lambda: parse_numbers("1,two", "strength list"), "malformed strength list '1,two'"),
        (lambda: parse_numbers("1,nan", "strength list"), "not finite"),
        (lambda: parse_seeds("0.5"), "whole numbers"),
        (lambda: parse_layers("eight"), "malformed layers"),
        (lambda: SweepTarget.parse("852"), "expected LAYER:ID"),
        (lambda: SweepTarget.parse("15:x"), "is not an integer"),
        (lambda: build_spec((SweepTarget("1", 1),), strengths=(1.0, 1.0)), "listed twice"),
    ]:
        with pytest.raises(InputError, match=message):
            bad()


def test_prompt_files_text_and_jsonl(tmp_path):
    text = tmp_path / "p.txt"
    text.write_text("first prompt\n\n  second  \n")
    assert [p.text for p in load_prompt_set(str(text))] == ["first prompt", "second"]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "a", "system": "be brief"}\n{"prompt": "b"}\n')
    prompts = load_prompt_set(str(jsonl))
    assert prompts[0].system == "be brief" and prompts[1].system is None
    raw = load_prompt_set(str(jsonl), chat=False)
    assert raw[0].chat and not raw[1].chat  # a system prompt keeps its chat template


@pytest.mark.parametrize(
    ("content", "message"),
    [("\n \n", "holds no prompt"), ('{"text": "x"}\n', 'non-empty "prompt"'), ("{oops\n", "not valid JSON")],
)
def test_bad_prompt_files_are_one_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        load_prompt_set(str(path))


def test_every_builtin_set_loads_and_unknown_ones_are_named():
    for name in BUILTIN_SETS:
        assert len(load_prompt_set(f"builtin:{name}")) >= 8
    assert not any(p.chat for p in load_prompt_set("builtin:openings"))
    assert len({p.system for p in load_prompt_set("builtin:system")}) >= 3
    with pytest.raises(InputError, match="built-in sets: neutral"):
        load_prompt_set("builtin:nope")
    with pytest.raises(InputError, match="prompt file not found"):
        load_prompt_set("/nonexistent/prompts.txt")
