"""The quality report the CLI prints and the window's quality panel will request: progress, cancel, warning."""

import pytest

from workbench.analysis.sae_quality import LOW_FVE, measure_sae_quality, quality_warning
from workbench.cancel import CancelToken
from workbench.errors import Cancelled

TEXTS = ["the tide came in over the sand", "boats rocked gently in the harbour", "gulls over the pier at dawn"]


def test_the_report_is_plain_data_with_every_figure_and_what_it_was_measured_on(any_engine):
    seen = []
    report = measure_sae_quality(any_engine, "L1", TEXTS, "unit texts", max_texts=2, progress=seen.append)
    record = report.as_dict()
    for key in ("fve", "fve_all", "fve_ci", "normalized_mse", "kl", "pca_fve", "random_fve", "massive_tokens"):
        assert key in record
    assert record["text"] == "unit texts" and "first 2 texts" in record["texts"] and record["n_texts"] == 2
    assert [p.done for p in seen if p.total] == [1, 2] and seen[-1].phase == "baselines and intervals"
    assert report.feature_density.shape == (any_engine.sae("L1").d_sae,)
    # A random SAE explains little: the report says so in one line.
    assert report.metrics.fve < LOW_FVE and report.warning == quality_warning(report.metrics)
    assert "hook" in report.warning


def test_a_cancelled_token_stops_the_evaluation(any_engine):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        measure_sae_quality(any_engine, "L1", TEXTS, "unit texts", cancel=token)


def test_cancel_is_checked_between_texts(any_engine):
    token = CancelToken()

    def cancel_after_first(progress):
        if progress.done == 1:
            token.cancel()

    with pytest.raises(Cancelled):
        measure_sae_quality(any_engine, "L1", TEXTS, "unit texts", progress=cancel_after_first, cancel=token)
