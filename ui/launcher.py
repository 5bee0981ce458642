"""The `steering-workbench` console script: subcommands run the headless CLI; no subcommand opens the window.

Lives in ui/ because the core (workbench/) must never import the Qt layer; nothing here imports Qt until the
window is actually requested.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Sequence

from workbench import cli


def main(argv: Sequence[str] | None = None) -> int:
    # A frozen (PyInstaller) app starts the model process by re-running itself; this hands that run over.
    multiprocessing.freeze_support()
    args = list(sys.argv[1:] if argv is None else argv)
    if args and (args[0] in cli.COMMANDS or args[0] in ("-h", "--help", "--version")):
        return cli.main(args, launch_window=lambda: _open_window([]))
    return _open_window(args)  # window options such as --screenshot PATH


def _open_window(args: list[str]) -> int:
    from ui.app import run_app

    return run_app(args)


if __name__ == "__main__":
    raise SystemExit(main())
