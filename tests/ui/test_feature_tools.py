"""Telling features apart in the window: the inspector's neighbours, the Compare view, warnings on a steered
feature, and label imports. No model: what the window asks is recorded, and the answers are fed as events."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from tests.ui.conftest import recording_window
from workbench.analysis.contrast import Contrast, ContrastFeature, Firing
from workbench.analysis.inspect import FeatureCard
from workbench.analysis.neighbours import FeatureNeighbours, Neighbour
from workbench.analysis.selectivity import FeatureRef, Selectivity, SteeredRow
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.progress import Progress
from workbench.saes.loader import SaeSummary
from workbench.steering.units import UnitScales

SAES = [
    SaeSummary("L8", 8, 576, 4608, "/x", "topk", "blocks.8.hook_resid_post", True),
    SaeSummary("L15", 15, 576, 4608, "/y", "topk", "blocks.15.hook_resid_post", True),
]
NEIGHBOURS = FeatureNeighbours(
    15,
    "L15",
    852,
    "ocean · water",
    (
        Neighbour(3306, "sea · coastal", 0.42, 0.35, None, None, 0.004),
        Neighbour(77, "beach · sand", 0.31, 0.40, None, None, 0.002),
        Neighbour(1200, "river · lake", 0.18, 0.22, None, None, 0.003),
    ),
)


def _card(feature=852, imported=None):
    return FeatureCard(
        "L15",
        15,
        feature,
        "ocean · water",
        9.1,
        0.003,
        2.0,
        (),
        (),
        UnitScales(9.1, 30.0),
        "held-out text",
        (),
        imported,
    )


@pytest.fixture
def window(qtbot, tmp_path):
    return recording_window(qtbot, tmp_path, SAES)


def _rows(tree):
    return [[tree.topLevelItem(r).text(c) for c in range(tree.columnCount())] for r in range(tree.topLevelItemCount())]


def test_an_inspected_feature_shows_its_neighbours_and_a_click_inspects_one(window):
    window.client.receive(ev.CardReady(0, _card(imported="the Atlantic")))
    assert "imported:</i> the Atlantic" in window.inspector.title.text()
    assert window.requests[-1] == rq.Neighbours("L15", 852)
    window.client.receive(ev.NeighboursReady(0, NEIGHBOURS, False, ((77, "dunes"),)))
    section = window.inspector.neighbours
    rows = _rows(section.table)
    assert [r[0] for r in rows] == ["3306", "77", "1200"]  # by decoder cosine
    assert rows[1][1] == "beach · sand  ⇐ dunes" and rows[0][2:5] == ["0.42", "0.35", "—"]
    section.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)  # by encoder cosine
    assert [r[0] for r in _rows(section.table)] == ["77", "3306", "1200"]
    section.table.setCurrentItem(section.table.topLevelItem(0))
    section.inspect_button.click()
    assert window.requests[-1] == rq.Inspect("L15", 77)
    assert section.coactivation_button.isEnabled()


def test_coactivation_shows_progress_can_be_cancelled_and_arrives_in_the_same_table(window):
    window.client.receive(ev.CardReady(0, _card()))
    window.client.receive(ev.NeighboursReady(0, NEIGHBOURS, False))
    section = window.inspector.neighbours
    section.coactivation_button.click()
    request = window.requests[-1]
    assert request == rq.Neighbours("L15", 852, coactivation=True)
    job = window.tools._views and max(window.tools._views)
    window.client.receive(ev.ProgressMade(job, Progress("co-activation: reading the corpus", 3, 16)))
    assert section.progress.isVisibleTo(section) and section.progress.value() == 3
    assert not section.coactivation_button.isEnabled()
    section.cancel_button.click()
    assert window.cancelled == [rq.Neighbours]
    window.client.receive(ev.JobCancelled(job, request))
    assert not section.progress.isVisibleTo(section) and "co-activation cancelled" in section.status.text()
    assert [r[0] for r in _rows(section.table)] == ["3306", "77", "1200"]  # the cosine neighbours stay

    section.coactivation_button.click()
    full = FeatureNeighbours(
        15, "L15", 852, "ocean · water", (Neighbour(3306, "sea · coastal", 0.42, 0.35, 0.21, 0.5, 0.004),)
    )
    window.client.receive(ev.NeighboursReady(0, full, True))
    window.client.receive(ev.JobFinished(max(window.tools._views), window.requests[-1]))
    assert _rows(section.table)[0][4:6] == ["0.21", "0.50"]
    assert not section.coactivation_button.isEnabled()  # nothing more to compute


def test_compare_opens_differential_steering_with_the_neighbour(window):
    window.client.receive(ev.CardReady(0, _card()))
    window.client.receive(ev.NeighboursReady(0, NEIGHBOURS, False))
    window.inspector.neighbours.compare_button.click()  # the first neighbour is selected
    compare = window.tools.compare
    assert window.analysis_tabs.currentWidget() is compare and compare.tabs.currentWidget() is compare.selectivity
    compare.selectivity.run_button.click()
    assert window.requests[-1] == rq.Selectivity("L15", 852, "L15", 3306, 8.0, "raw", "")
    a, b = FeatureRef(15, 852, "L15"), FeatureRef(15, 3306, "L15")
    rows = (
        SteeredRow("baseline", "I went hiking.", (1, 2), 0.0, 0.1),
        SteeredRow("steer A", "The ocean waves.", (1, 2), 3.0, 0.4),
        SteeredRow("steer B", "The coast is sandy.", (1, 2), 0.5, 2.0),
    )
    window.client.receive(ev.SelectivityReady(0, Selectivity(a, b, 8.0, "raw", "p", rows, 6.0, 4.0, "maxact")))
    table = compare.selectivity.table
    assert [table.item(r, 0).text() for r in range(3)] == ["baseline", "steer A", "steer B"]
    assert table.item(1, 1).text() == "3.000" and "selectivity +0.417" in compare.selectivity.summary.text()
    assert "The coast is sandy." in compare.selectivity.output_b.toPlainText()


def _pair():
    a_tokens, b_tokens = ("<s>", "The", " coffee", " was"), ("<s>", "The", " coff", "in", " was")
    features = (
        ContrastFeature(5, "drink · cup", 2.0, 0.0, 2.0, (Firing(2, " coffee", 2.0),), ()),
        ContrastFeature(9, "coff · spelling", 1.0, 0.9, 0.1, (Firing(2, " coffee", 1.0),), (Firing(2, " coff", 0.9),)),
    )
    return Contrast(15, a_tokens, b_tokens, features)


def test_a_shipped_minimal_pair_shows_two_heatmaps_and_the_difference_table(window):
    pair = window.tools.compare.pair
    pair.pick.setCurrentIndex(1)
    pair.pick.activated.emit(1)
    assert window.requests[-1] == rq.MinimalPair("L15", "The coffee was bitter.", "The coffin was bitter.")
    assert window.tools.compare.progress.isVisibleTo(window.tools.compare)
    window.client.receive(ev.ContrastReady(0, _pair(), "a", "b"))
    window.client.receive(ev.JobFinished(0, window.requests[-1]))
    assert pair.grid_a.currentWidget() is pair.grid_a.plot and pair.grid_b.currentWidget() is pair.grid_b.plot
    assert pair.grid_a.rows == ["f5 drink · cup", "f9 coff · spelling"]
    assert pair.grid_a.columns[2] == "▸ coffee" and pair.grid_b.columns[3] == "▸in"
    table = pair.table
    assert [table.item(r, 5).text() for r in range(2)] == ["A's meaning", "fires on both (shared form)"]
    pair.table.cellDoubleClicked.emit(1, 0)
    assert window.requests[-1] == rq.Inspect("L15", 9)


def test_contrast_sets_read_two_files(window, tmp_path):
    sets = window.tools.compare.sets
    sets.file_a.setText(str(tmp_path / "a.txt"))
    sets.file_b.setText(str(tmp_path / "b.txt"))
    sets.run_button.click()
    assert window.requests[-1] == rq.ContrastSets("L15", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"))
    feature = ContrastFeature(5, "sea", 3.0, 0.2, 2.5, (Firing(2, " sea", 3.0, 0),), (), 2.1, 0.95)
    contrast = Contrast(15, (("<s>", "The", " sea", "."),), (("<s>", "A", " car"),), (feature,), sets=True)
    window.client.receive(ev.ContrastReady(0, contrast, "a.txt", "b.txt"))
    assert [sets.table.item(0, c).text() for c in (0, 2, 3)] == ["f5", "+2.10", "0.95"]
    assert sets.table.item(0, 6).text() == "The⟦ sea⟧. (3.00)"


def test_a_feature_picked_for_a_slider_shows_its_warnings(window):
    window.steering.add_feature("L15", 852)
    assert rq.FeatureWarnings("L15", 852) in window.requests
    (row,) = window.steering.rows
    assert not row.warning.isVisibleTo(row)
    window.client.receive(ev.FeatureWarningsReady(0, "L15", 852, ("near-duplicate (decoder cosine ≥ 0.7): L8 f3",)))
    assert row.warning.isVisibleTo(row) and "near-duplicate" in row.warning.toolTip()
    window.steering.variant_list.setCurrentRow(0)
    window.steering.variant_list.setCurrentRow(1)  # rows rebuilt: the warning is remembered, not asked again
    assert window.steering.rows[0].warning.isVisibleTo(window.steering.rows[0])
    assert window.requests.count(rq.FeatureWarnings("L15", 852)) == 1


def test_a_labels_file_dropped_on_an_sae_is_imported_and_a_refused_one_says_why(window, tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("feature,label\n1,x\n")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    sae_list = window.model_panel.sae_list
    sae_list.setCurrentRow(1)
    drop = QDropEvent(
        QPointF(-5, -5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier(0)
    )
    sae_list.dropEvent(drop)
    request = window.requests[-1]
    assert request == rq.ImportLabels(str(path), "L15")
    window.client.receive(ev.LabelsImported(0, "L15", "imported 1 labels for layer 15; 2 rows out of range", 1, 2))
    assert window.statusBar().currentMessage() == "imported 1 labels for layer 15; 2 rows out of range (2 rows skipped)"
    window.client.receive(ev.JobFailed(0, request, "labels.csv is for model 'gemma-2-2b', not 'SmolLM2': refused"))
    assert window.banner.isVisibleTo(window)
    assert (
        window.banner.label.text()
        == "import labels failed: labels.csv is for model 'gemma-2-2b', not 'SmolLM2': refused"
    )
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "notes.txt"))])
    before = len(window.requests)
    sae_list.dropEvent(
        QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier(0))
    )
    assert len(window.requests) == before  # not a labels file: nothing is asked


def test_the_features_menu_offers_compare_and_label_import(window):
    features = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Features")
    texts = [a.text() for a in features.actions()]
    assert "Compare features" in texts and "Import labels…" in texts
    next(a for a in features.actions() if a.text() == "Compare features").trigger()
    assert window.analysis_tabs.currentWidget() is window.tools.compare


@pytest.mark.integration
def test_on_the_real_model_a_minimal_pair_and_the_neighbours_of_a_feature(qtbot, shared_window):
    from tests.ui.conftest import wait_for

    win = shared_window
    win.banner.hide()
    win.tools.show_compare()
    pair = win.tools.compare.pair
    pair.text_a.setText("The coffee was bitter.")
    pair.text_b.setText("The coffin was bitter.")
    with wait_for(qtbot, win, ev.ContrastReady) as ready:
        pair.run_button.click()
    contrast = ready.args[0].contrast
    assert contrast.layer == 15 and not contrast.sets  # the deepest SAE is chosen first
    assert contrast.a_tokens != contrast.b_tokens and pair.table.rowCount() == len(contrast.features)
    if contrast.features:
        assert pair.grid_a.currentWidget() is pair.grid_a.plot
    qtbot.waitUntil(lambda: not win.tools.compare.progress.isVisibleTo(win.tools.compare), timeout=10_000)

    with wait_for(qtbot, win, ev.NeighboursReady, check=lambda e: e.data.feature == 7) as shown:
        win.analysis.inspect("L15", 7)
    data = shown.args[0].data
    section = win.inspector.neighbours
    qtbot.waitUntil(lambda: section.data is not None and section.data.feature == 7, timeout=10_000)
    assert section.table.topLevelItemCount() == len(data.neighbours) > 0
    assert section.table.topLevelItem(0).text(0) == str(data.neighbours[0].feature)
    assert not win.banner.isVisibleTo(win)


def test_the_compare_view_offers_the_deepest_sae_until_another_is_chosen(window):
    pair = window.tools.compare.pair
    window.client.receive(ev.SaesChanged(0, (SAES[0],)))
    assert pair.sae.currentData() == "L8"
    window.client.receive(ev.SaesChanged(0, tuple(SAES)))  # SAEs load one after another
    assert pair.sae.currentData() == "L15"
    pair.sae.setCurrentIndex(0)
    window.client.receive(ev.SaesChanged(0, (*SAES, SaeSummary("L20", 20, 576, 8, "/z", "topk", "h", False))))
    assert pair.sae.currentData() == "L8"  # the user's choice stays
