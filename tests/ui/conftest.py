"""The shared window on the embedded model, for test_sessions.py and test_window.py; and a window with no model
process that records what it would send, for the tests of its tools."""

import itertools
from dataclasses import dataclass

import pytest
from PySide6.QtCore import QSettings

from tests.factories import make_sae
from workbench.jobs import events as ev


def wait_for(qtbot, window, kind, timeout=120_000, check=lambda _e: True):
    """Wait for the model client's next event of type `kind` (that passes `check`): `.args[0]` is the event."""
    return qtbot.waitSignal(
        window.client.received, timeout=timeout, check_params_cb=lambda e: isinstance(e, kind) and check(e)
    )


@dataclass
class RecordedJob:
    id: int


def recording_window(qtbot, tmp_path, saes):
    """A window whose model client records requests (`win.requests`) and cancels (`win.cancelled`) instead of
    starting a model process, with `saes` (SaeSummary) announced as loaded."""
    from ui.main_window import MainWindow

    win = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.requests, win.cancelled = [], []
    ids = itertools.count(100)

    def send(request):
        win.requests.append(request)
        return RecordedJob(next(ids))

    win.client.send = send
    win.client.cancel = win.cancelled.append
    win.client.receive(ev.SaesChanged(0, tuple(saes)))
    return win


def _open_window(qtbot, folder):
    from ui.main_window import MainWindow

    saes = [str(make_sae(folder / f"L{layer}", d_in=576, layer=layer, d_sae=512, seed=layer)) for layer in (8, 15)]
    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings, default_saes=saes)
    win.show()
    with wait_for(qtbot, win, ev.SaesChanged, timeout=180_000, check=lambda e: len(e.saes) == 2):
        win.load_model("default", "cpu", "auto")
    return win


@pytest.fixture(scope="session")
def shared_window(qapp, request, tmp_path_factory):
    """One window on the embedded model with SAEs at layers 8 and 15, for every test that leaves it usable
    (loading the model in a new process costs half a minute); test_window.py's last test closes it."""
    from pytestqt.qtbot import QtBot

    win = _open_window(QtBot(request), tmp_path_factory.mktemp("window"))
    yield win
    # Closed after the last test, whose data folder is gone: unsaved work goes to a test folder, not the user's.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STEERING_WORKBENCH_DATA", str(tmp_path_factory.mktemp("data")))
        win.close()
