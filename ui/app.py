"""Start the Qt application: the window appears at once; the default model loads in the background."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

APP_NAME = "Steering Workbench"


def run_app(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="steering-workbench")
    parser.add_argument("--screenshot", metavar="PATH", help="run the demo offscreen, save a PNG, and exit")
    args, qt_args = parser.parse_known_args(list(argv) if argv is not None else sys.argv[1:])
    if args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    import pyqtgraph as pg
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from ui.main_window import MainWindow
    from ui.theme import apply_theme
    from workbench.saes.demo import demo_sae_folders

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0], *qt_args])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName("steering-workbench")
    apply_theme(app)
    pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")
    saes = [str(p) for p in demo_sae_folders()]
    if args.screenshot:
        import tempfile

        from ui.screenshot import ScreenshotDemo, fallback_saes

        # A fresh settings file and data folder of its own: the screenshot never depends on (or changes) a user's
        # layout, and neither offers nor leaves unsaved work to recover.
        scratch = Path(tempfile.mkdtemp(prefix="workbench-screenshot-"))
        os.environ["STEERING_WORKBENCH_DATA"] = str(scratch / "data")
        ini = scratch / "settings.ini"
        settings = QSettings(str(ini), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, default_saes=saes or fallback_saes())
        window.resize(1680, 1000)
        demo = ScreenshotDemo(window, Path(args.screenshot))
        window.show()
        window.after_first_paint(demo.start)
        app.exec()
        return demo.exit_code
    window = MainWindow(default_saes=saes)
    window.show()
    window.after_first_paint(window.load_model)
    return int(app.exec())
