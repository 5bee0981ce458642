"""Start the Qt application: the window appears at once; the default model loads in the background."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ui.main_window import MainWindow

APP_NAME = "Steering Workbench"


def parse_window_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """The window's own options, and the rest for Qt (`-platform xcb`, `-style fusion`)."""
    from workbench.models.registry import backend_names  # names only: imports neither torch nor llama.cpp

    parser = argparse.ArgumentParser(prog="steering-workbench")
    parser.add_argument("--screenshot", metavar="PATH", help="run the demo (offscreen without a display), save a PNG")
    parser.add_argument(
        "--backend", choices=backend_names(), default=None, help="load the model on this backend (default: the last)"
    )
    return parser.parse_known_args(list(argv))


def has_display() -> bool:
    """Whether a Linux session has a display (X11, or Xvfb under xvfb-run, or Wayland) to draw on."""
    return sys.platform.startswith("linux") and bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_app(argv: Sequence[str] | None = None) -> int:
    args, qt_args = parse_window_args(argv if argv is not None else sys.argv[1:])
    if args.screenshot and not has_display():
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    early = None
    if not args.screenshot and (os.cpu_count() or 1) >= 2:
        # The model process starts while the window is built, and imports torch while it paints (niced, on the
        # other core); the first load takes it over. On one core the overlap would only take time from the paint.
        from ui.model_client import start_model_process

        early = start_model_process()

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
        choose_backend(window, args.backend)
        window.resize(1680, 1000)
        demo = ScreenshotDemo(window, Path(args.screenshot))
        window.show()
        window.after_first_paint(demo.start)
        app.exec()
        return demo.exit_code
    window = MainWindow(default_saes=saes)
    choose_backend(window, args.backend)
    if early is not None:
        early.warm_up(window.document.state.model.backend)  # torch and transformers import while the window paints
    window.show()
    window.after_first_paint(lambda: window.load_model(backend=window.document.state.model.backend))
    return int(app.exec())


def choose_backend(window: MainWindow, backend: str | None) -> None:
    """--backend: the model panel's backend choice (else the remembered one stays), which the first load uses."""
    if backend is not None:
        window.document.set_model(replace(window.document.state.model, backend=backend))
