"""Differential steering on a tiny real model: the 2 × 2 table is the unsteered model's reading of each output."""

import pytest

from tests.factories import make_sae, tiny_backend
from workbench.analysis.selectivity import (
    FeatureRef,
    SteeredRow,
    generated_activations,
    measure_selectivity,
    parse_feature_ref,
    selectivity_of,
)
from workbench.errors import InputError
from workbench.models.sampling import SamplingSettings

GREEDY = SamplingSettings(temperature=0.0, max_new_tokens=6, stop_at_eos=False)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from workbench.engine import Engine

    engine = Engine()
    engine.use_backend(tiny_backend())
    engine.add_sae(str(make_sae(tmp_path_factory.mktemp("sae") / "L1", d_in=64, layer=1, d_sae=64)))
    return engine


def _row(a, b):
    return SteeredRow("r", "", (), a, b)


def test_selectivity_is_how_much_more_a_raises_a_than_b_does():
    rows = (_row(1.0, 2.0), _row(5.0, 3.0), _row(2.0, 6.0))
    assert selectivity_of(rows, "a") == pytest.approx((5 - 1) - (2 - 1))
    assert selectivity_of(rows, "b") == pytest.approx((6 - 2) - (3 - 2))


def test_the_table_is_the_unsteered_reading_of_each_output(engine):
    a, b = FeatureRef(1, 3, "L1"), FeatureRef(1, 7, "L1")
    result = measure_selectivity(engine, a, b, strength=8.0, prompt="hello", settings=GREEDY)
    assert [r.name for r in result.rows] == ["baseline", "steer A", "steer B"]
    prompt_ids = engine.backend.encode_prompt("hello", chat=True)
    for row in result.rows:
        assert generated_activations(engine, prompt_ids, row.token_ids, (a, b)) == [row.activation_a, row.activation_b]
    assert result.scaled_by == "raw"  # the tiny SAE has no statistics
    assert result.selectivity == pytest.approx(result.rows[1].activation_a - result.rows[2].activation_a)


def test_steering_a_feature_against_itself_is_not_selective(engine):
    a = FeatureRef(1, 3, "L1")
    result = measure_selectivity(engine, a, a, strength=8.0, prompt="hello", settings=GREEDY)
    assert result.rows[1].token_ids == result.rows[2].token_ids
    assert result.selectivity == 0.0 and result.reverse == 0.0


def test_zero_strength_leaves_every_output_as_the_baseline(engine):
    result = measure_selectivity(engine, FeatureRef(1, 3, "L1"), FeatureRef(1, 7, "L1"), 0.0, settings=GREEDY)
    assert len({r.token_ids for r in result.rows}) == 1 and result.selectivity == 0.0


@pytest.mark.parametrize(("text", "message"), [("1:999", "does not exist"), ("8:3", "no SAE"), ("x", "malformed")])
def test_bad_feature_references_are_refused(engine, text, message):
    with pytest.raises(Exception, match=message) as info:
        parse_feature_ref(engine, text)
    assert isinstance(info.value, InputError) or "no SAE" in str(info.value)
