"""Bad files opened in the window reach the real model process and come back as one message in the banner;
the SAEs loaded stay loaded, and the next request works (the shared window on the embedded model, SAEs at 8 and 15).

The files go in the way the window sends them: the model panel's addSaeRequested (what Add folder… emits with
the chosen folder) and FeatureTools.import_labels_file (what Import labels… and a drop on an SAE call)."""

from __future__ import annotations

import pytest

from tests.factories import make_sae
from tests.ui.conftest import wait_for
from workbench.jobs import events as ev
from workbench.jobs import requests as rq

pytestmark = pytest.mark.integration


def _saes(win):
    return [win.model_panel.sae_list.item(i).text() for i in range(win.model_panel.sae_list.count())]


def _failed(kind):
    return lambda e: isinstance(e.request, kind)


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda f: (f / "cfg.json").write_text('{"d_in": 576, "d_sae": "512"'), "cfg.json is not valid JSON"),
        (lambda f: (f / "sae_weights.safetensors").write_bytes(b""), "sae_weights.safetensors is empty (0 bytes)"),
        (
            lambda f: (f / "sae_weights.safetensors").write_bytes((f / "sae_weights.safetensors").read_bytes()[:5000]),
            "sae_weights.safetensors is truncated: its tensors need",
        ),
    ],
    ids=["garbled cfg.json", "empty weights", "truncated weights"],
)
def test_a_bad_sae_folder_is_one_message_and_the_loaded_saes_stay(qtbot, shared_window, tmp_path, spoil, message):
    win = shared_window
    before = _saes(win)
    folder = make_sae(tmp_path / "bad", d_in=576, layer=8, d_sae=512)
    spoil(folder)
    with wait_for(qtbot, win, ev.JobFailed, check=_failed(rq.AddSae)):
        win.model_panel.addSaeRequested.emit(str(folder))
    text = win.banner.label.text()
    assert win.banner.isVisibleTo(win) and "\n" not in text
    assert text.startswith(f"add SAE failed: {folder}") and message in text
    assert _saes(win) == before and win.info is not None  # nothing unloaded, the model still there


def test_a_bad_labels_file_is_one_message_and_the_next_import_works(qtbot, shared_window, tmp_path):
    win = shared_window
    bad = tmp_path / "labels.csv"
    bad.write_bytes("feature,label\n85,océan\n".encode("latin-1"))  # what Excel on Windows writes
    with wait_for(qtbot, win, ev.JobFailed, check=_failed(rq.ImportLabels)):
        win.tools.import_labels_file(str(bad), "L15")
    text = win.banner.label.text()
    assert win.banner.isVisibleTo(win) and "\n" not in text
    assert text.startswith(f"import labels failed: {bad} is not UTF-8 text") and "save it as UTF-8" in text
    good = tmp_path / "labels-utf16.csv"
    good.write_bytes("feature,label\n85,océan\n".encode("utf-16"))  # Excel's "Unicode text": read as it is
    with wait_for(qtbot, win, ev.LabelsImported):
        win.tools.import_labels_file(str(good), "L15")
    assert win.statusBar().currentMessage() == "imported 1 labels for layer 15"
