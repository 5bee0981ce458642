#!/usr/bin/env bash
# Build the one-folder PyInstaller bundle into dist/steering-workbench/ (about 4 minutes on 2 cores, ~1.3 GB; not
# part of `make test` or CI). Uses .venv (made by `make venv`) and installs the pinned PyInstaller into it if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# The versions the bundle was built and checked with (pyproject's optional `bundle` group pins the first).
PYINSTALLER_VERSION=6.22.3
HOOKS_VERSION=2026.9
if [ ! -x "$PY" ]; then
    echo "no .venv: run 'make venv' first" >&2
    exit 1
fi
installed=$("$PY" -c 'import importlib.metadata as m
print(m.version("pyinstaller"), m.version("pyinstaller-hooks-contrib"))' 2>/dev/null || true)
if [ "$installed" != "$PYINSTALLER_VERSION $HOOKS_VERSION" ]; then
    "$PY" -m pip install --quiet "pyinstaller==$PYINSTALLER_VERSION" "pyinstaller-hooks-contrib==$HOOKS_VERSION"
fi
start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/steering-workbench.spec
end=$(date +%s)
echo "bundle: dist/steering-workbench/steering-workbench"
echo "bundle size: $(du -sh dist/steering-workbench | cut -f1)"
echo "build time: $((end - start)) s"
