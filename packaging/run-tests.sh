#!/usr/bin/env bash
# The whole check: lint, format and types, the import contract, the core tests with PySide6 made unimportable,
# then the UI tests (offscreen Qt).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="$root/.venv/bin"
export QT_QPA_PLATFORM=offscreen

echo "== lint and format (ruff), types (mypy), import contract (the core never imports Qt)"
"$bin/ruff" check workbench ui tests bench packaging
"$bin/ruff" format --check workbench ui tests bench packaging
"$bin/mypy"
"$bin/lint-imports"

echo "== core tests, with PySide6 and pyqtgraph made unimportable"
"$bin/python" packaging/without_qt.py -m pytest tests/core -q -p no:pytest-qt -p no:cacheprovider "$@"

if compgen -G "tests/ui/test_*.py" >/dev/null; then
    echo "== UI tests (offscreen Qt)"
    "$bin/python" -m pytest tests/ui -q -p no:cacheprovider "$@"
fi
