"""Massive-activation tokens: found against the median norm, counted and described."""

import numpy as np
import pytest

from workbench.saes.massive import describe_massive, massive_mask, massive_threshold


def test_a_token_is_massive_above_factor_times_the_median_norm():
    norms = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    assert massive_threshold(norms) == pytest.approx(30.0)
    assert massive_mask(norms).tolist() == [False, False, False, False, True]
    assert massive_mask(norms, factor=1.2).tolist() == [False, False, False, True, True]
    assert massive_threshold(np.array([])) == float("inf")


def test_the_report_names_each_massive_token_and_the_first_positions():
    norms = np.array([10.0, 11.0, 900.0, 12.0, 13.0, 1500.0])
    texts = np.array([0, 0, 0, 1, 1, 1])
    positions = np.array([1, 2, 3, 1, 2, 3])
    ids = np.array([5, 6, 7, 8, 9, 7])
    mask, report = describe_massive(
        norms, texts, positions, ids, lambda t: [f"tok{i}" for i in t], position0_norms=np.array([5000.0, 20.0])
    )
    assert mask.tolist() == [False, False, True, False, False, True]
    assert report.count == 2 and report.median_norm == pytest.approx(12.5)
    assert [(t.text, t.position, t.token, t.norm) for t in report.listed] == [
        (1, 3, "tok7", 1500.0),
        (0, 3, "tok7", 900.0),
    ]
    record = report.as_dict()
    assert record["by_token"] == {"tok7": 2} and record["norm_max"] == 1500.0
    assert record["position0"] == {"scored": False, "texts": 2, "massive": 1, "norm_median": 2510.0}
