"""The real window on a real X11 display (Xvfb in `make test`): the xcb platform with its libraries and fonts,
which the offscreen platform of tests/ui hides. packaging/run-tests.sh runs this folder on its own, with
QT_QPA_PLATFORM=xcb and a display; anywhere else (a plain `pytest`, offscreen) it is skipped."""

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from tests.ui.conftest import wait_for
from workbench.jobs import events as ev
from workbench.saes.demo import demo_sae_folders

ROOT = Path(__file__).resolve().parents[2]
# Where the screenshot of the screen goes (build/ is not committed); run-tests.sh may point it elsewhere.
SHOT = Path(os.environ.get("WORKBENCH_X11_SHOT", ROOT / "build" / "x11" / "real-window.png"))
saved: list[Path] = []


def pytest_collection_modifyitems(config, items):
    if os.environ.get("QT_QPA_PLATFORM") == "xcb" and os.environ.get("DISPLAY"):
        return
    skip = pytest.mark.skip(reason="needs an X11 display and QT_QPA_PLATFORM=xcb (make test starts Xvfb)")
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    for path in saved:
        terminalreporter.write_line(f"real-window screenshot (X11, {os.environ.get('DISPLAY')}): {path}")


@pytest.fixture(scope="session")
def real_window(qapp, request, tmp_path_factory):
    """The window as a user opens it: the embedded SmolLM2 and the shipped demo SAEs, on the xcb platform; its
    settings and data (autosave) in a test folder, never the user's. Built as tests/ui's `shared_window` is."""
    from pytestqt.qtbot import QtBot

    from ui.main_window import MainWindow

    folder = tmp_path_factory.mktemp("x11")
    saes = [str(p) for p in demo_sae_folders()]
    assert saes, "the demo SAEs (resources/saes) are missing"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STEERING_WORKBENCH_DATA", str(folder / "data"))
        settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
        win = MainWindow(settings=settings, default_saes=saes)
        win.resize(1600, 960)
        win.move(0, 0)
        win.show()
        qtbot = QtBot(request)
        qtbot.waitExposed(win, timeout=30_000)
        with wait_for(qtbot, win, ev.SaesChanged, timeout=180_000, check=lambda e: len(e.saes) == len(saes)):
            win.load_model("default", "cpu", "auto")
        yield win
        win.close()
