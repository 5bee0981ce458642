"""The window on the real embedded SmolLM2 (offscreen): streaming, stop, heatmap click, errors, clean close."""

import contextlib

import pytest
from PySide6.QtCore import QSettings

from tests.factories import make_sae

pytestmark = pytest.mark.integration


def _open_window(qtbot, folder):
    from ui.main_window import MainWindow

    sae = make_sae(folder / "L8", d_in=576, layer=8, d_sae=512)
    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings, default_saes=[str(sae)])
    win.show()
    with qtbot.waitSignal(win.worker.saesChanged, timeout=180_000, check_params_cb=lambda s: len(s) == 1):
        win.load_model("default", "cpu", "auto")
    return win


@pytest.fixture(scope="module")
def shared_window(qapp, request, tmp_path_factory):
    """One window (and model process) for the tests that leave it usable."""
    from pytestqt.qtbot import QtBot

    win = _open_window(QtBot(request), tmp_path_factory.mktemp("window"))
    yield win
    win.close()


@pytest.fixture
def window(shared_window, qtbot):
    shared_window.banner.hide()
    for signal in (shared_window.worker.tokens,):
        with contextlib.suppress(RuntimeError, TypeError):
            signal.disconnect()
    shared_window.worker.tokens.connect(shared_window.generation.panes.on_tokens)
    return shared_window


def _generate(qtbot, win, tokens=12, wait=True):
    win.generation.max_tokens.setValue(tokens)
    win.generation.temperature.setValue(0.0)
    if wait:
        with qtbot.waitSignal(win.worker.generationFinished, timeout=120_000) as done:
            win.generate()
        return done.args[0]
    win.generate()
    return None


def test_generate_streams_text_into_each_pane(qtbot, window):
    window.steering.add_feature("L8", 3, strength=30.0)
    streamed = []
    window.worker.tokens.connect(lambda e: streamed.append(e))
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

    window.worker.tokens.connect(on_token)
    with qtbot.waitSignal(window.worker.generationFinished, timeout=120_000) as done:
        _generate(qtbot, window, tokens=60, wait=False)
    result = done.args[0]
    assert result.cancelled
    # The stop request travels from the GUI thread to the worker: at most one more token follows.
    assert result.steps <= 3 and seen[-1] <= 3


def test_clicking_a_heatmap_cell_opens_that_feature(qtbot, window):
    with qtbot.waitSignal(window.worker.heatmapReady, timeout=120_000) as ready:
        _generate(qtbot, window, tokens=6)
    data = ready.args[0]
    assert data.matrix.shape == (len(data.features), len(data.tokens))
    with qtbot.waitSignal(window.worker.cardReady, timeout=60_000) as card:
        window.heatmap.features_grid.clicked.emit(2, 5)
    assert card.args[0].feature == data.features[2]
    assert f"f{data.features[2]}" in window.inspector.title.text()


def test_a_bad_sae_folder_shows_an_error_and_the_app_keeps_working(qtbot, window, tmp_path):
    wrong = make_sae(tmp_path / "wrong", d_in=64, layer=3)
    with qtbot.waitSignal(window.worker.failed, timeout=60_000) as failed:
        window.worker.add_sae(str(wrong))
    assert "d_in 64" in failed.args[1]
    qtbot.waitUntil(lambda: window.banner.isVisible())
    assert "d_in 64" in window.banner.label.text()
    result = _generate(qtbot, window, tokens=3)
    assert result.panes[0].token_ids


def test_closing_mid_generation_leaves_no_running_thread_or_process(qtbot, tmp_path):
    window = _open_window(qtbot, tmp_path)
    _generate(qtbot, window, tokens=200, wait=False)
    qtbot.waitUntil(lambda: window.running and window.generation.panes.panes[0].plain != "", timeout=60_000)
    host = window.worker.host
    assert host is not None
    window.close()
    assert not host.alive and not host.reader_alive
