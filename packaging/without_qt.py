"""Run a Python module with PySide6 (and pyqtgraph) unimportable, to prove the core does not need Qt.

Usage: python packaging/without_qt.py -m pytest tests/core ...
"""

from __future__ import annotations

import runpy
import sys
from importlib.abc import MetaPathFinder

BLOCKED = ("PySide6", "shiboken6", "pyqtgraph", "ui")


class _Blocker(MetaPathFinder):
    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        if fullname.split(".")[0] in BLOCKED:
            raise ImportError(f"{fullname} is blocked: the core must work without Qt")
        return None


def main() -> None:
    sys.meta_path.insert(0, _Blocker())
    if len(sys.argv) < 3 or sys.argv[1] != "-m":
        raise SystemExit(__doc__)
    module = sys.argv[2]
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
