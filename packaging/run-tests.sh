#!/usr/bin/env bash
# The whole check: lint and types, the import contract, the core tests with PySide6 hidden, then every test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="$root/.venv/bin"
export QT_QPA_PLATFORM=offscreen

echo "== lint (ruff), types (mypy), import contract (the core never imports Qt)"
"$bin/ruff" check workbench ui tests bench
"$bin/mypy"
"$bin/lint-imports"

echo "== core tests with PySide6 and pyqtgraph made unimportable"
"$bin/python" packaging/without_qt.py -m pytest tests/core -q -p no:pytestqt -p no:cacheprovider "$@"

echo "== all tests"
"$bin/python" -m pytest tests -q -p no:cacheprovider "$@"
