"""The heatmap view draws what the core computed: one row per SAE layer for one feature; clicks inspect."""

import numpy as np

from workbench.analysis.feature_layers import FeatureLayers, LayerMatch
from workbench.analysis.heatmap import HeatmapData

TOKENS = ("<s>", "Waves", " crash", " on", " the", " shore")


def _layers():
    rows = (
        LayerMatch("L8", 8, 3807, "water · rain", 0.46, False, 10.0),
        LayerMatch("L15", 15, 852, "ocean · water", 1.0, True, 20.0),
        LayerMatch("L22", 22, 973, "feature 973", 0.12, False, None),
    )
    acts = np.arange(18, dtype=np.float32).reshape(3, 6)
    return FeatureLayers("ocean", TOKENS, 2, "L15", 852, rows, acts, acts / 17)


def _heatmap():
    return HeatmapData(
        pane="ocean",
        sae_key="L8",
        layer=8,
        tokens=TOKENS,
        prompt_len=2,
        features=(5, 9),
        labels=("sea · coast", "feature 9"),
        matrix=np.ones((2, 6), np.float32),
        norm_layers=(8, 15, 22),
        norms=np.ones((3, 6), np.float32),
    )


def _view(qtbot):
    from ui.heatmap_view import HeatmapView

    view = HeatmapView()
    qtbot.addWidget(view)
    view.set_choices(["baseline", "ocean"], [("layer 8", "L8"), ("layer 15", "L15"), ("layer 22", "L22")])
    view.resize(900, 400)
    view.show()
    return view


def test_one_feature_view_has_a_row_per_sae_layer_labelled_with_id_label_and_cosine(qtbot):
    from ui.heatmap_view import TAB_LAYERS

    view = _view(qtbot)
    view.tabs.setCurrentIndex(TAB_LAYERS)
    assert view.layers_grid.currentWidget() is view.layers_grid.hint  # a hint until there is data
    view.show_layers(_layers())
    grid = view.layers_grid
    assert grid.currentWidget() is grid.plot and grid.shape == (3, len(TOKENS))
    ticks = grid.rows
    assert ticks[0].startswith("L8 f3807 water · rain") and ticks[0].endswith("cos 0.46")
    assert ticks[1].startswith("L15 f852 ocean · water") and ticks[1].endswith("★")
    assert ticks[2].endswith("cos 0.12 weak") and "feature 973" not in ticks[2]
    np.testing.assert_allclose(grid.image.image, _layers().scaled)  # the core's scaled matrix, as is
    grid.hovered.emit(0, 5)
    assert "L8 f3807" in view.readout.text() and "cos 0.46 to L15 f852" in view.readout.text()
    with qtbot.waitSignal(view.featureClicked) as clicked:
        grid.clicked.emit(2, 1)
    assert clicked.args == ["L22", 973]


def test_clicking_a_feature_row_inspects_it_and_follows_it_across_layers(qtbot):
    view = _view(qtbot)
    view.show_data(_heatmap())
    assert view.features_grid.shape == (2, len(TOKENS))
    with qtbot.waitSignal(view.anchorChanged) as anchored, qtbot.waitSignal(view.featureClicked) as clicked:
        view.features_grid.clicked.emit(1, 3)
    assert clicked.args == ["L8", 9] and anchored.args == ["L8", 9]
    assert view.anchor == ("L8", 9)
    assert (view.anchor_sae.currentData(), view.anchor_feature.value()) == ("L8", 9)


def test_the_feature_field_picks_what_to_follow(qtbot):
    view = _view(qtbot)
    view.anchor_sae.setCurrentIndex(2)
    view.anchor_feature.setValue(44)
    with qtbot.waitSignal(view.anchorChanged) as anchored:
        view.anchor_button.click()
    assert anchored.args == ["L22", 44]
    assert "L22 f44" in view.layers_grid.hint.text()  # no text analysed yet: says what will show


def test_hidden_tabs_draw_when_shown(qtbot):
    from ui.heatmap_view import TAB_NORMS

    view = _view(qtbot)
    view.show_data(_heatmap())
    assert view.norms_grid.shape == (0, 0)  # not drawn while hidden
    view.tabs.setCurrentIndex(TAB_NORMS)
    assert view.norms_grid.shape == (3, len(TOKENS))


def test_forgetting_the_followed_feature_shows_the_hint_again(qtbot):
    from ui.heatmap_view import TAB_LAYERS

    view = _view(qtbot)
    view.tabs.setCurrentIndex(TAB_LAYERS)
    view.set_anchor("L15", 852)
    view.show_layers(_layers())
    view.clear_anchor()
    assert view.anchor is None and view.layers_grid.currentWidget() is view.layers_grid.hint


def _long(n_tokens, token):
    rng = np.random.default_rng(0)
    return HeatmapData(
        pane="ocean",
        sae_key="L8",
        layer=8,
        tokens=(token,) * n_tokens,
        prompt_len=10,
        features=tuple(range(16)),
        labels=tuple(f"feature {i}" for i in range(16)),
        matrix=np.maximum(rng.normal(size=(16, n_tokens)), 0).astype(np.float32),
        norm_layers=(8,),
        norms=np.ones((1, n_tokens), np.float32),
    )


def _tick_step(grid):
    ticks = grid.plot.getAxis("bottom")._tickLevels[0]
    return ticks[1][0] - ticks[0][0] if len(ticks) > 1 else None


def test_a_long_text_labels_fewer_tokens_the_wider_they_are_and_the_narrower_the_grid(qtbot):
    view = _view(qtbot)
    grid = view.features_grid
    view.show_data(_long(2000, " a"))
    narrow_labels = _tick_step(grid)
    view.show_data(_long(2000, " lighthouse"))
    wide_labels = _tick_step(grid)
    view.show_data(_long(2000, " a"))
    assert _tick_step(grid) == narrow_labels < wide_labels  # widths remembered per label, not per grid
    view.resize(450, 400)
    assert _tick_step(grid) > narrow_labels


def test_the_heatmap_draws_the_same_pixels_as_a_plain_pyqtgraph_image(qtbot, monkeypatch):
    import pyqtgraph as pg

    import ui.heatmap_grid as hg

    grids = [hg.Grid("inferno", "")]
    monkeypatch.setattr(hg, "_Image", pg.ImageItem)
    grids.append(hg.Grid("inferno", ""))
    data = _long(2000, " a")
    shots = []
    for grid in grids:
        qtbot.addWidget(grid)
        grid.resize(900, 300)
        grid.show()
        grid.show_matrix(data.matrix, list(map(str, range(16))), list(data.tokens), data.prompt_len)
        shots.append(grid.plot.grab().toImage())
    assert type(grids[0].image) is not type(grids[1].image)
    assert shots[0] == shots[1]
