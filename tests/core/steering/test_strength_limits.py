"""Strengths that cannot steer anything (inf, NaN, 1e308) are refused where an edit is made, and a steer that still
pushes the numbers past float range stops the run with one line naming the pane and its edits."""

import json
import math

import pytest

from tests.core.session.test_session_file import make_session
from workbench.cli import main
from workbench.errors import SteeringError
from workbench.models.sampling import SamplingSettings
from workbench.session import SessionError, load_session, save_session
from workbench.steering.compiled import compile_plan
from workbench.steering.plan import MAX_STRENGTH, FeatureEdit, SteeringPlan, Variant


@pytest.mark.parametrize("strength", [math.inf, -math.inf, math.nan, 1e308, -2 * MAX_STRENGTH])
def test_an_edit_refuses_a_strength_no_steer_can_use(strength):
    with pytest.raises(ValueError, match="strength must be a finite number"):
        FeatureEdit(layer=1, feature=3, strength=strength)
    assert FeatureEdit(layer=1, feature=3, strength=-MAX_STRENGTH).strength == -MAX_STRENGTH


def test_a_raw_vector_must_be_finite():
    with pytest.raises(ValueError, match="finite"):
        FeatureEdit(layer=1, vector=(1.0, math.nan))


def test_a_session_asking_for_1e308_is_refused_with_one_line_and_left_as_it_was(tmp_path):
    path = tmp_path / "huge.swsession"
    save_session(path, make_session())
    data = json.loads(path.read_text())
    data["variants"][1]["edits"][0]["strength"] = 1e308
    path.write_text(json.dumps(data))
    before = path.read_bytes()
    with pytest.raises(SessionError, match="strength must be a finite number") as err:
        load_session(path)
    assert "\n" not in str(err.value)
    assert path.read_bytes() == before


def test_the_cli_refuses_an_infinite_strength_with_exit_2(capsys):
    assert main(["generate", "--prompt", "x", "--variant", "8:3:inf", "--json"]) == 2
    err = capsys.readouterr().err
    assert "strength" in err and err.count("\n") == 1


def test_a_steer_past_float_range_stops_the_run_naming_its_pane(backend, loaded_sae):
    # Finite inputs, but 1e33 per dimension × 1e6 is past float32 range: inf in the residual, NaN after the norm.
    huge = FeatureEdit(layer=1, vector=(1e33,) * backend.info.d_model, strength=MAX_STRENGTH)
    plan = SteeringPlan.with_baseline(Variant("too far", (huge,)))
    compiled = compile_plan(plan, [loaded_sae], backend.info, backend.capabilities)
    run = backend.generate([1, 2, 3], compiled, SamplingSettings(max_new_tokens=3, temperature=0))
    with pytest.raises(SteeringError, match="pane 'too far' produced non-finite numbers") as err:
        run.run()
    assert "L1" in str(err.value) or "layer 1" in str(err.value) or "vector" in str(err.value)


def test_a_sweep_refuses_strengths_past_the_limit_with_exit_2(capsys):
    assert main(["sweep", "--feature", "15:3877", "--strengths", "1,1e7", "--json"]) == 2
    err = capsys.readouterr().err
    assert "strengths must be finite numbers within" in err and err.count("\n") == 1
