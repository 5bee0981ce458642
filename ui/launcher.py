"""The `steering-workbench` console script: subcommands run the headless CLI; no subcommand opens the window.

Lives in ui/ because the core (workbench/) must never import the Qt layer; nothing here imports Qt until the
window is actually requested.
"""

from __future__ import annotations

import difflib
import multiprocessing
import sys
from collections.abc import Sequence

from workbench import cli, startup_gc
from workbench.cli.fast_exit import exit_now


def main(argv: Sequence[str] | None = None) -> int:
    # A frozen (PyInstaller) app starts the model process by re-running itself; this hands that run over.
    multiprocessing.freeze_support()
    args = list(sys.argv[1:] if argv is None else argv)
    if args and (args[0] in cli.COMMANDS or args[0] in ("-h", "--help", "--version")):
        if argv is None:
            startup_gc.pause()  # resumed once the model is loaded (workbench/startup_gc.py)
        code = cli.main(args, launch_window=lambda: _open_window([]))
        if argv is None:
            # The console script: skip the interpreter's teardown of the model's heap (workbench/cli/fast_exit.py).
            # Called with arguments (tests, scripts), main returns as any function does.
            exit_now(code)
        return code
    problem = unknown_argument(args)
    if problem is not None:
        print(f"steering-workbench: {problem}", file=sys.stderr)
        return 2
    return _open_window(args)  # window options such as --screenshot PATH, and Qt's own (-platform xcb)


WINDOW_OPTIONS = ("--screenshot", "--backend")


def unknown_argument(args: Sequence[str]) -> str | None:
    """One line naming what is neither a subcommand nor a window option, or None.

    A mistyped subcommand must not open the window (offscreen it would never return): it gets the nearest
    command's name instead. Single-dash arguments are Qt's (`-platform xcb`, `-style fusion`) and pass through.
    """
    if not args:
        return None
    first = args[0]
    if not first.startswith("-"):
        close = difflib.get_close_matches(first, list(cli.COMMANDS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown command '{first}'{hint}; commands: {', '.join(sorted(cli.COMMANDS))}"
    for n, arg in enumerate(args):
        name = arg.split("=", 1)[0]
        if name.startswith("--") and name not in WINDOW_OPTIONS:
            close = difflib.get_close_matches(name, list(WINDOW_OPTIONS), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            return (
                f"unknown option '{name}'{hint}; the window takes --screenshot PATH and --backend NAME, "
                "or run a command: --help"
            )
        if name == "--backend":
            value = arg.split("=", 1)[1] if "=" in arg else (args[n + 1] if n + 1 < len(args) else "")
            problem = _unknown_backend(value)
            if problem is not None:
                return problem
    return None


def _unknown_backend(name: str) -> str | None:
    from workbench.models.registry import backend_names

    names = backend_names()
    if name in names:
        return None
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown backend '{name}'{hint}; backends: {', '.join(names)}"


def _open_window(args: list[str]) -> int:
    from ui.app import run_app

    return run_app(args)


if __name__ == "__main__":
    raise SystemExit(main())
