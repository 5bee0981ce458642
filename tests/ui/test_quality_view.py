"""The SAE quality panel (Model > SAE quality…): what it asks the model process, the figures of a report beside
their baselines, the warning at a low FVE, the density histogram, Cancel, and the SAE list's FVE badge. The unit
tests feed events to a window without a model; the integration test measures a real SAE on the embedded model."""

from __future__ import annotations

import numpy as np
import pytest

from tests.ui.conftest import recording_window, wait_for
from ui.quality_tool import QualityDialog, open_quality
from workbench.analysis.sae_quality import SaeQualityReport
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.progress import Progress
from workbench.saes.loader import SaeSummary
from workbench.saes.massive import MassiveTokens
from workbench.saes.metrics import SaeMetrics

SAES = [
    SaeSummary("L8", 8, 576, 4608, "/x", "topk", "blocks.8.hook_resid_post", True, (0.861, "held-out: 80 texts")),
    SaeSummary("L15", 15, 576, 4608, "/y", "topk", "blocks.15.hook_resid_post", True),
]
# Three dead features; two near 1e-4, one at 1e-2, one at 0.5, one firing on every token.
DENSITY = np.array([0.0, 0.0, 0.0, 1e-4, 1.5e-4, 1e-2, 0.5, 1.0])


def _report(fve=0.749, key="L15", density=DENSITY):
    massive = MassiveTokens(10.0, 169.9, 1699.0, 3, 8165, (24744.0, 22817.0, 8263.0), {"am": 1}, ())
    metrics = SaeMetrics(
        l0=32.0,
        fve=fve,
        mse=6.02,
        ce_loss_recovered=0.966,
        delta_loss=0.430,
        dead_fraction=3 / 8,
        dense_fraction=2 / 8,
        n_tokens=8165,
        ce_clean=2.847,
        ce_sae=3.277,
        ce_zero=15.55,
        fve_all=0.920,
        mse_all=6.12,
        fve_ci=(0.736, 0.759),
        normalized_mse=0.116,
        kl=0.569,
        pca_fve=0.444,
        random_fve=0.349,
        n_texts=80,
        massive_tokens=massive,
        feature_density=density,
    )
    texts = "demo held-out corpus: the first 80 texts, at most 128 tokens each, position 0 left out"
    return SaeQualityReport(key, 15, "/y", "demo held-out corpus", texts, metrics, density, None)


@pytest.fixture
def window(qtbot, tmp_path):
    return recording_window(qtbot, tmp_path, SAES)


def _menu_action(window, text):
    for menu_action in window.menuBar().actions():
        for a in menu_action.menu().actions():
            if a.text() == text:
                return a
    raise AssertionError(f"no menu action {text!r}")


def _table(view):
    t = view.table
    return [[t.item(r, c).text() for c in range(t.columnCount())] for r in range(t.rowCount())]


def test_the_model_menu_opens_one_panel_that_measures_the_chosen_sae_on_the_shipped_corpus(window):
    _menu_action(window, "SAE quality…").trigger()
    dialog = window.findChild(QualityDialog)
    assert dialog is not None and dialog.isVisible()
    assert open_quality(window) is dialog  # made once, then shown again
    view = dialog.view
    assert [view.sae.itemData(i) for i in range(view.sae.count())] == ["L8", "L15"]
    view.max_texts.setValue(12)
    view.measure.click()
    assert window.requests[-1] == rq.SaeQuality("L15", rq.SHIPPED_TEXTS, max_texts=12)
    assert not view.measure.isEnabled() and view.cancel.isEnabled()


def test_progress_then_cancel_sends_the_cancel_and_ends_idle(window):
    view = open_quality(window).view
    view.measure.click()
    request, job = window.requests[-1], open_quality(window).job
    window.client.receive(ev.ProgressMade(job, Progress("evaluating the SAE", 3, 80)))
    assert (view.progress.value(), view.progress.maximum()) == (3, 80) and "3 of 80" in view.progress.format()
    window.client.receive(ev.ProgressMade(job + 1, Progress("another job", 9, 10)))  # not this panel's
    assert view.progress.value() == 3
    view.cancel.click()
    assert window.cancelled == [rq.SaeQuality]
    window.client.receive(ev.JobCancelled(job, request))
    assert view.progress.format() == "cancelled" and view.measure.isEnabled() and not view.cancel.isEnabled()


def test_the_users_text_file_is_sent_as_the_source_and_an_empty_path_asks_for_one(window, tmp_path):
    view = open_quality(window).view
    view.own.setChecked(True)
    view.measure.click()
    assert not any(isinstance(r, rq.SaeQuality) for r in window.requests)
    assert "choose a text file" in view.progress.format()
    view.path.setText(str(tmp_path / "mine.txt"))
    view.sae.setCurrentIndex(0)
    view.measure.click()
    assert window.requests[-1] == rq.SaeQuality("L8", str(tmp_path / "mine.txt"), max_texts=80)


def test_a_report_shows_every_figure_beside_its_baseline_and_badges_the_sae(window):
    view = open_quality(window).view
    window.client.receive(ev.SaeQualityReady(7, "L15", _report()))
    rows = {r[0].strip(): r[1:] for r in _table(view)}
    assert rows["FVE, massive tokens left out"][0] == "0.749  [0.736, 0.759]"
    assert rows["PCA baseline, k = L0"][0] == "0.444" and rows["random decoder, k = L0"][0] == "0.349"
    assert rows["PCA baseline, k = L0"][1].endswith("the SAE does better")
    assert rows["FVE with massive tokens"][0] == "0.920" and rows["FVE with massive tokens"][1].startswith("3 massive")
    assert rows["normalised MSE"][0] == "0.116" and rows["CE-loss recovered"][0] == "0.966"
    assert rows["KL to the clean model"][0] == "0.569 nats" and rows["L0"][0] == "32.0"
    assert (
        rows["dead features"] == ["37.5%", "3 of 8 never fire on these tokens"]
        and rows["dense features"][0] == "25.00%"
    )
    assert rows["tokens scored"] == ["8,165", "in 80 texts, position 0 left out"]
    assert "the first 80 texts" in view.measured_on.text() and not view.warning.isVisibleTo(view)

    items = [window.model_panel.sae_list.item(i) for i in range(2)]
    assert "layer 15  ·  FVE 0.75  ·" in items[1].text() and "the first 80 texts" in items[1].toolTip()
    assert "layer 8  ·  FVE 0.86  ·" in items[0].text() and "held-out: 80 texts" in items[0].toolTip()  # metrics.json


def test_the_sae_list_shows_no_badge_when_the_fve_is_unknown(window):
    item = window.model_panel.sae_list.item(1)
    assert "FVE" not in item.text() and "FVE" not in item.toolTip()


def test_a_low_fve_warns_of_the_wrong_hook_or_normalisation(window):
    view = open_quality(window).view
    window.client.receive(ev.SaeQualityReady(7, "L15", _report(fve=0.31)))
    assert view.warning.isVisibleTo(view)
    assert "wrong hook or normalisation" in view.warning.text() and "0.31" in view.warning.text()
    assert _table(view)[1][2].endswith("the SAE does NOT beat it")  # 0.31 against PCA's 0.444
    window.client.receive(ev.SaeQualityReady(8, "L15", _report(fve=0.5)))
    assert not view.warning.isVisibleTo(view)


def test_the_histogram_counts_live_features_by_log_density_and_dead_ones_apart(window):
    plot = open_quality(window).view.plot
    window.client.receive(ev.SaeQualityReady(7, "L15", _report()))
    assert plot.dead == 3 and plot.counts.sum() == 5
    assert np.allclose(np.diff(plot.edges), 0.2) and plot.edges[0] <= -4 < plot.edges[1]
    assert plot.counts[0] == 2  # 1e-4 and 1.5e-4 share the first bin
    at = {round(float(e), 1): int(c) for e, c in zip(plot.edges[:-1], plot.counts, strict=True)}
    assert at[-2.0] == 1 and at[-0.4] == 1 and at[-0.2] == 1  # 1e-2, 0.5 (log −0.30) and 1.0 (log 0, last bin)
    assert "3 dead" in plot.plotItem.titleLabel.text


@pytest.mark.integration
def test_a_quality_job_on_the_embedded_model_fills_the_panel_and_the_badge(qtbot, shared_window):
    window = shared_window
    view = open_quality(window).view
    view.sae.setCurrentIndex(view.sae.findData(window.saes[0].key))
    view.shipped.setChecked(True)
    view.max_texts.setValue(2)
    with wait_for(qtbot, window, ev.JobFinished, timeout=300_000, check=lambda e: isinstance(e.request, rq.SaeQuality)):
        view.measure.click()
    report = view.report
    assert report is not None and report.sae_key == window.saes[0].key and report.metrics.n_texts == 2
    assert report.text == "demo held-out corpus" and view.progress.format() == "done"
    assert plot_total(view) == window.saes[0].d_sae
    # The test SAEs are random: far below 0.5, and the panel says why that matters.
    assert report.metrics.fve < 0.5 and view.warning.isVisibleTo(view)
    assert f"FVE {report.metrics.fve:.2f}" in window.model_panel.sae_list.item(0).text()
    open_quality(window).close()


def plot_total(view):
    return view.plot.dead + int(view.plot.counts.sum())
