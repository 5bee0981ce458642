"""Feature search in the window: typing finds features by label or id; a result opens or steers (no model)."""

from PySide6.QtCore import Qt

from workbench.analysis.feature_search import FeatureIndex
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.saes.loader import SaeSummary

INDEXES = [
    FeatureIndex("L8", 8, 4, labels=("sea · coastal", "travel · trip", "beach · sand", "seasons"), density=(0.01,) * 4),
    FeatureIndex("L15", 15, 3, labels=("ocean · sea", "city · town", "sea")),
]
SAES = [
    SaeSummary("L8", 8, 576, 4, "/x", "topk", "blocks.8.hook_resid_post", True),
    SaeSummary("L15", 15, 576, 3, "/y", "topk", "blocks.15.hook_resid_post", False),
]


def _search(qtbot):
    from ui.feature_search import FeatureSearch

    search = FeatureSearch()
    qtbot.addWidget(search)
    search.set_saes(["L8", "L15"])
    search.add_indexes(INDEXES)
    return search


def _rows(search):
    items = [search.results.topLevelItem(i) for i in range(search.results.topLevelItemCount())]
    return [(item.text(0), item.text(1), item.text(2), item.text(3)) for item in items]


def test_typing_a_label_word_shows_matching_features_after_a_pause(qtbot):
    search = _search(qtbot)
    qtbot.keyClicks(search.field, "sea")
    assert _rows(search) == []  # debounced: nothing yet while typing
    qtbot.waitUntil(lambda: search.results.topLevelItemCount() == 4, timeout=2000)
    assert _rows(search)[:2] == [("L8", "0", "sea · coastal", "1.00%"), ("L15", "2", "sea", "—")]
    assert "4 matching features" in search.status.text()


def test_the_newest_text_wins(qtbot):
    search = _search(qtbot)
    qtbot.keyClicks(search.field, "sea")
    search.field.setText("travel")  # typed on before the pause ended
    qtbot.waitUntil(lambda: search.query == "travel", timeout=2000)
    assert _rows(search) == [("L8", "1", "travel · trip", "1.00%")]
    qtbot.wait(300)  # no late result for "sea" replaces it
    assert _rows(search) == [("L8", "1", "travel · trip", "1.00%")]


def test_enter_inspects_the_best_hit_and_the_buttons_act_on_the_selected_one(qtbot):
    search = _search(qtbot)
    qtbot.keyClicks(search.field, "L15 city")
    with qtbot.waitSignal(search.inspectRequested) as inspected:
        qtbot.keyClick(search.field, Qt.Key.Key_Return)  # Enter does not wait for the pause
    assert inspected.args == ["L15", 1]
    with qtbot.waitSignal(search.steerRequested) as steer:
        search.steer_button.click()
    assert steer.args == ["L15", 1]
    with qtbot.waitSignal(search.layersRequested) as layers:
        search.layers_button.click()
    assert layers.args == ["L15", 1]


def test_labels_still_loading_are_said_so(qtbot):
    from ui.feature_search import FeatureSearch

    search = FeatureSearch()
    qtbot.addWidget(search)
    search.set_saes(["L8"])
    assert "loading" in search.status.text()
    search.field.setText("sea")
    search.run()
    assert search.status.text() == "no matching feature (labels still loading)"
    search.add_indexes(INDEXES[:1])
    assert _rows(search)[0][:3] == ("L8", "0", "sea · coastal")


def test_in_the_window_ctrl_f_focuses_search_and_steer_adds_an_edit(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from ui.main_window import MainWindow

    window = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    requested = []
    # The model process is not needed here: record what the window asks of it instead.
    window.client.send = requested.append
    window.show()
    qtbot.waitExposed(window)
    window._saes_changed(SAES)
    assert rq.FeatureIndexes(("L8", "L15")) in requested
    window.client.receive(ev.FeatureIndexReady(0, tuple(INDEXES)))
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(window.generation.prompt, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)  # typing a prompt
    assert window.search.field.hasFocus()
    qtbot.keyClicks(window.search.field, "ocean")
    qtbot.waitUntil(lambda: window.search.results.topLevelItemCount() == 1, timeout=2000)
    window.search.steer_button.click()
    edits = window.steering.plan.variants[window.steering.selected].edits
    assert [(e.layer, e.feature) for e in edits] == [(15, 0)]
    qtbot.keyClick(window.search.field, Qt.Key.Key_Return)
    assert requested[-1] == rq.Inspect("L15", 0)
    window.search.layers_button.click()
    assert window.heatmap.anchor == ("L15", 0)
    assert window.heatmap.tabs.currentWidget() is window.heatmap.layers_grid
    window.close()
