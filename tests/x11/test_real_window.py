"""The real window on X11, as a user sees it: it maps on the display, gets to "ready" with the embedded model and
the demo SAEs, steers one variant, shows the panes' text and a heatmap, and is captured from the X server."""

import numpy as np
import pytest
from PySide6.QtGui import QGuiApplication

from tests.ui.conftest import wait_for
from tests.x11.conftest import SHOT, saved
from workbench.jobs import events as ev
from workbench.steering.plan import StrengthUnit

pytestmark = pytest.mark.integration


def test_the_real_window_steers_draws_a_heatmap_and_is_captured_from_the_x_server(qtbot, real_window):
    win = real_window
    assert QGuiApplication.platformName() == "xcb"
    assert win.isVisible() and win.windowHandle().isExposed()
    panel = win.model_panel
    qtbot.waitUntil(lambda: panel.progress.format() == "ready", timeout=120_000)
    assert "SmolLM2" in panel.facts.text() and panel.sae_list.count() == len(win.steering.saes) == 3

    # Steer as a user would: find the feature by its label, then add it to a variant.
    keys = [s.key for s in win.steering.saes]
    qtbot.waitUntil(lambda: not win.search.missing(keys), timeout=60_000)
    win.search.field.setText("ocean")
    win.search.run()
    assert win.search.hits, "no demo SAE feature is labelled 'ocean'"
    hit = sorted(win.search.hits, key=lambda h: h.layer != 15)[0]
    win.steering.add_feature(hit.sae_key, hit.feature, strength=0.25, unit=StrengthUnit.RESID)
    win.generation.prompt.setPlainText("Describe your ideal holiday in three sentences.")
    win.generation.max_tokens.setValue(8)
    win.generation.temperature.setValue(0.0)
    with wait_for(qtbot, win, ev.Generated, timeout=300_000) as done:
        win.generate()
        assert win.running, f"generation did not start: {win.banner.label.text()!r}"
    result = done.args[0].result

    panes = win.generation.panes.panes
    assert len(panes) == 2
    for pane, data in zip(panes, result.panes, strict=True):
        assert pane.plain == data.text and data.text.strip()
    assert result.panes[0].token_ids != result.panes[1].token_ids  # the steer changed the text

    # The heatmap of the analysed pane, drawn in the features grid.
    name, ids, prompt_len = win.analysis.analysed_text()
    qtbot.waitUntil(
        lambda: (d := win.heatmap.data) is not None and (d.pane, len(d.tokens)) == (name, len(ids)),
        timeout=120_000,
    )
    data = win.heatmap.data
    grid = win.heatmap.features_grid
    qtbot.waitUntil(lambda: grid.shape == data.matrix.shape, timeout=10_000)
    assert grid.currentWidget() is grid.plot and grid.plot.isVisible()
    np.testing.assert_array_equal(grid.image.image, data.matrix)
    assert data.matrix.shape == (len(data.features), len(ids)) and data.matrix.max() > 0
    assert data.prompt_len == prompt_len and grid.prompt_line.isVisible()

    # The screen as the X server holds it (window id 0 is the root window): what a user would see.
    qtbot.wait(500)  # let the last paints reach the server
    shot = win.screen().grabWindow(0)
    SHOT.parent.mkdir(parents=True, exist_ok=True)
    assert shot.save(str(SHOT)), f"could not write {SHOT}"
    saved.append(SHOT)
    image = shot.toImage()
    assert (image.width(), image.height()) == (win.screen().size().width(), win.screen().size().height())
    # Something was drawn: a blank (black) screen, or a window without fonts, has a handful of colours.
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 50
