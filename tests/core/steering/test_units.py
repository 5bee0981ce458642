import pytest

from workbench.errors import SteeringError
from workbench.steering.plan import StrengthUnit
from workbench.steering.units import all_units, to_raw, unit_scales


def test_maxact_multiplies_by_the_features_max_activation():
    scales = unit_scales(max_activation=7.0, resid_norm=None, direction_norm=1.0)
    assert to_raw(2.0, StrengthUnit.MAXACT, scales) == pytest.approx(14.0)


def test_resid_unit_gives_an_added_vector_of_that_fraction_of_the_residual_norm():
    # direction norm 2, residual norm 30: 0.5 resid → ‖s·d‖ = 15 → s = 7.5
    scales = unit_scales(max_activation=None, resid_norm=30.0, direction_norm=2.0)
    s = to_raw(0.5, StrengthUnit.RESID, scales)
    assert s * 2.0 == pytest.approx(0.5 * 30.0)


def test_units_without_statistics_raise_a_clear_error():
    scales = unit_scales(None, None, 1.0)
    assert to_raw(3.0, StrengthUnit.RAW, scales) == 3.0
    with pytest.raises(SteeringError, match="not computed yet"):
        to_raw(1.0, StrengthUnit.MAXACT, scales)


def test_all_units_round_trip():
    scales = unit_scales(max_activation=4.0, resid_norm=10.0, direction_norm=1.0)
    shown = all_units(8.0, scales)
    assert shown == {"raw": 8.0, "maxact": 2.0, "resid": 0.8}
    assert all_units(8.0, unit_scales(None, None, 1.0))["maxact"] is None
