#!/usr/bin/env bash
# The whole check: lint, format and types, the import contract, the core tests with PySide6 made unimportable,
# then the UI tests (offscreen Qt), then the real window on an X11 display (Xvfb when there is none).
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

# The real window (tests/x11): the xcb platform, its system libraries and fonts, which offscreen hides. On a
# virtual display of our own when there is no display; it is stopped however this script ends.
echo "== the real window on X11 (xcb platform)"
display="${DISPLAY:-}"
if [[ -z "$display" ]]; then
    if ! command -v Xvfb >/dev/null; then
        echo "FAILED: no display and no Xvfb: run packaging/system-libs.sh (as root), or set DISPLAY" >&2
        exit 1
    fi
    xvfb_dir="$(mktemp -d)"
    # -displayfd: Xvfb picks a free display number itself and writes it once it accepts connections.
    Xvfb -displayfd 3 -screen 0 1920x1080x24 -nolisten tcp 3>"$xvfb_dir/display" >"$xvfb_dir/log" 2>&1 &
    xvfb_pid=$!
    trap 'kill "$xvfb_pid" 2>/dev/null; wait "$xvfb_pid" 2>/dev/null; rm -rf "$xvfb_dir"' EXIT
    for _ in $(seq 100); do
        [[ -s "$xvfb_dir/display" ]] && break
        kill -0 "$xvfb_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ ! -s "$xvfb_dir/display" ]]; then
        echo "FAILED: Xvfb did not start:" >&2
        cat "$xvfb_dir/log" >&2
        exit 1
    fi
    display=":$(head -n 1 "$xvfb_dir/display")"
    echo "(Xvfb on display $display)"
fi
DISPLAY="$display" QT_QPA_PLATFORM=xcb "$bin/python" -m pytest tests/x11 -q -p no:cacheprovider "$@"
