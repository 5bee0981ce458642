"""The shared window on the embedded model, for test_sessions.py and test_window.py."""

import pytest
from PySide6.QtCore import QSettings

from tests.factories import make_sae
from workbench.jobs import events as ev


def wait_for(qtbot, window, kind, timeout=120_000, check=lambda _e: True):
    """Wait for the model client's next event of type `kind` (that passes `check`): `.args[0]` is the event."""
    return qtbot.waitSignal(
        window.client.received, timeout=timeout, check_params_cb=lambda e: isinstance(e, kind) and check(e)
    )


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
