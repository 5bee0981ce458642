"""The `steering-workbench` console script: subcommands run the headless CLI; no subcommand opens the window.

Lives in ui/ because the core (workbench/) must never import the Qt layer; nothing here imports Qt until the
window is actually requested.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from workbench import cli


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, launch_window=_open_window)


def _open_window() -> int:
    from ui.app import run_app

    return run_app(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
