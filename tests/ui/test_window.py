"""The window on the real embedded SmolLM2 (offscreen): streaming, stop, heatmap click, one feature across layers,
feature search, errors, clean close."""

import multiprocessing
import os

import numpy as np
import pytest

from tests.factories import make_sae
from tests.ui.conftest import wait_for
from workbench.jobs import events as ev
from workbench.jobs import requests as rq

pytestmark = pytest.mark.integration


@pytest.fixture
def window(shared_window, qtbot):
    shared_window.banner.hide()
    shared_window.listeners = []
    yield shared_window
    for listener in shared_window.listeners:  # what this test connected to the client
        shared_window.client.received.disconnect(listener)


def _listen(window, listener):
    window.client.received.connect(listener)
    window.listeners.append(listener)


def _tokens(listener):
    """`listener(step)` for every token step the client reports."""
    return lambda e: listener(e.step) if isinstance(e, ev.TokensGenerated) else None


def _generate(qtbot, win, tokens=12, wait=True):
    win.generation.max_tokens.setValue(tokens)
    win.generation.temperature.setValue(0.0)
    if wait:
        with wait_for(qtbot, win, ev.Generated) as done:
            win.generate()
        return done.args[0].result
    win.generate()
    return None


def test_generate_streams_text_into_each_pane(qtbot, window):
    window.steering.add_feature("L8", 3, strength=30.0)
    streamed = []
    _listen(window, _tokens(streamed.append))
    result = _generate(qtbot, window)
    assert len(window.generation.panes.panes) == 2
    assert len(streamed) >= 2  # token by token, not one block at the end
    for pane, data in zip(window.generation.panes.panes, result.panes, strict=True):
        assert pane.plain == data.text and data.text
        assert "tok/s" in pane.rate.text()


def test_stop_stops_within_one_token(qtbot, window):
    seen = []

    def on_token(event):
        seen.append(event.step)
        if event.step == 2:
            window.stop()

    _listen(window, _tokens(on_token))
    with wait_for(qtbot, window, ev.Generated) as done:
        _generate(qtbot, window, tokens=60, wait=False)
    result = done.args[0].result
    assert result.cancelled
    # The stop request travels from the GUI thread to the model process: at most one more token follows.
    assert result.steps <= 3 and seen[-1] <= 3


def test_clicking_a_heatmap_cell_opens_that_feature(qtbot, window):
    _generate(qtbot, window, tokens=6)
    pane, ids, _prompt_len = window.analysis.analysed_text()
    # Wait for this text's heatmap: one requested by an earlier test may still arrive first.
    qtbot.waitUntil(
        lambda: (d := window.heatmap.data) is not None and (d.pane, len(d.tokens)) == (pane, len(ids)),
        timeout=120_000,
    )
    data = window.heatmap.data
    assert data.matrix.shape == (len(data.features), len(data.tokens))
    with (
        wait_for(qtbot, window, ev.CardReady, timeout=60_000) as card,
        wait_for(qtbot, window, ev.FeatureLayersReady, timeout=60_000) as layers,
    ):
        window.heatmap.features_grid.clicked.emit(2, 5)
    assert card.args[0].card.feature == data.features[2]
    assert f"f{data.features[2]}" in window.inspector.title.text()
    # The clicked feature, followed across layers: one row per SAE layer, the clicked one at its own layer.
    across = layers.args[0].data
    assert [r.layer for r in across.rows] == [8, 15]
    assert across.activations.shape == (2, len(data.tokens))
    anchor = across.rows[across.anchor_row]
    assert (anchor.sae_key, anchor.feature, anchor.layer) == (data.sae_key, data.features[2], data.layer)
    np.testing.assert_allclose(across.activations[across.anchor_row], data.matrix[2], rtol=1e-4, atol=1e-5)
    qtbot.waitUntil(lambda: window.heatmap.layers_data is across, timeout=10_000)


def test_search_finds_features_of_every_sae_by_id_and_steers_one(qtbot, window):
    # The test SAEs have no atlas (no labels): their ids are still searchable.
    qtbot.waitUntil(lambda: not window.search.missing(["L8", "L15"]), timeout=60_000)
    window.search.field.setText("f7")
    qtbot.waitUntil(lambda: window.search.query == "f7", timeout=5_000)
    assert [(h.sae_key, h.feature) for h in window.search.hits] == [("L8", 7), ("L15", 7)]
    before = len(window.steering.plan.variants[window.steering.selected].edits)
    window.search.steer_button.click()
    edits = window.steering.plan.variants[window.steering.selected].edits
    assert len(edits) == before + 1 and (edits[-1].layer, edits[-1].feature) == (8, 7)


def test_a_bad_sae_folder_shows_an_error_and_the_app_keeps_working(qtbot, window, tmp_path):
    wrong = make_sae(tmp_path / "wrong", d_in=64, layer=3)
    with wait_for(qtbot, window, ev.JobFailed, timeout=60_000) as failed:
        window.client.send(rq.AddSae(str(wrong)))
    assert isinstance(failed.args[0].request, rq.AddSae) and "d_in 64" in failed.args[0].message
    qtbot.waitUntil(lambda: window.banner.isVisible())
    assert "d_in 64" in window.banner.label.text()
    result = _generate(qtbot, window, tokens=3)
    assert result.panes[0].token_ids


def test_the_model_process_yields_the_cpu_to_the_window(window):
    hosts = [p for p in multiprocessing.active_children() if p.name == "workbench-model-host"]
    assert hosts
    for host in hosts:
        assert os.getpriority(os.PRIO_PROCESS, host.pid) > os.getpriority(os.PRIO_PROCESS, 0)


def test_closing_mid_generation_leaves_no_running_thread_or_process(qtbot, window):
    # Runs last in this file: it closes the shared window (a second model load would cost half a minute).
    _generate(qtbot, window, tokens=200, wait=False)
    qtbot.waitUntil(lambda: window.running and window.generation.panes.panes[0].plain != "", timeout=60_000)
    host = window.client.host
    assert host is not None
    window.close()
    assert not host.alive and not host.reader_alive
