#!/usr/bin/env bash
# Check the PyInstaller bundle as a user would run it: build dist/steering-workbench/ (or reuse it when it is newer
# than the sources), run its `steering-workbench self-test`, then its window's `--screenshot PATH` demo on an Xvfb
# display (xvfb-run). One PASS/FAIL line per step; exit 0 only when every step passes. Slow (the build alone takes
# minutes), so it is not part of `make test` or CI.
#   packaging/check-bundle.sh [--rebuild | --reuse]   (--reuse: take the bundle there is, even if sources changed)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
app="dist/steering-workbench/steering-workbench"
out="build/bundle-check"
mode="${1:-}"
if [[ -n "$mode" && "$mode" != "--rebuild" && "$mode" != "--reuse" ]]; then
    echo "usage: packaging/check-bundle.sh [--rebuild | --reuse]" >&2
    exit 2
fi
mkdir -p "$out"
failed=0
steps=0

step() {  # step NAME STATUS SECONDS DETAIL
    steps=$((steps + 1))
    [[ "$2" == PASS ]] || failed=$((failed + 1))
    echo "$2  $1 ($3 s): $4"
}

# A bundle older than any source it was built from would check yesterday's code.
stale() {
    [[ ! -x "$app" ]] && return 0
    [[ -n "$(find workbench ui resources packaging/steering-workbench.spec pyproject.toml -newer "$app" \
        -type f -not -path '*/__pycache__/*' -print -quit)" ]]
}

start=$SECONDS
if [[ "$mode" == "--reuse" && -x "$app" ]] || { [[ "$mode" != "--rebuild" ]] && ! stale; }; then
    step "bundle" PASS $((SECONDS - start)) "reused $app ($(du -sh dist/steering-workbench | cut -f1))"
elif bash packaging/build-bundle.sh >"$out/build.log" 2>&1; then
    step "bundle" PASS $((SECONDS - start)) "built $app ($(du -sh dist/steering-workbench | cut -f1), $(grep -m1 'build time' "$out/build.log"))"
else
    step "bundle" FAIL $((SECONDS - start)) "build failed; the end of $out/build.log:"
    tail -n 20 "$out/build.log"
    echo "check-bundle: FAILED (no bundle to check)"
    exit 1
fi

# The bundle's own CLI: model, demo SAEs, steering, heatmap, session save and replay (workbench/cli/selftest.py).
start=$SECONDS
"$app" self-test --device cpu 2>&1 | tee "$out/self-test.log"
if [[ "${PIPESTATUS[0]}" == 0 ]]; then
    step "self-test" PASS $((SECONDS - start)) "$(tail -n 1 "$out/self-test.log")"
else
    step "self-test" FAIL $((SECONDS - start)) "see the lines above ($out/self-test.log)"
fi

# The window on a real X server: the xcb platform plugin, its libraries and fonts, and the model process the
# frozen app starts by re-running itself. The demo exits 0 only when it steered, drew a heatmap and saved the PNG.
start=$SECONDS
shot="$root/$out/window.png"
rm -f "$shot"
if ! command -v xvfb-run >/dev/null; then
    step "window under Xvfb" FAIL 0 "xvfb-run not found (install the xvfb package)"
elif env -u QT_QPA_PLATFORM xvfb-run -a -s "-screen 0 1920x1080x24" "$app" --screenshot "$shot" \
        >"$out/screenshot.log" 2>&1 && [[ -s "$shot" ]]; then
    size="$(command -v identify >/dev/null && identify -format '%wx%h' "$shot" 2>/dev/null)"
    step "window under Xvfb" PASS $((SECONDS - start)) "$shot ${size:+($size) }$(grep -m1 'gui max stall' "$out/screenshot.log")"
else
    step "window under Xvfb" FAIL $((SECONDS - start)) "no screenshot; the end of $out/screenshot.log:"
    tail -n 20 "$out/screenshot.log"
fi

if ((failed)); then
    echo "check-bundle: FAILED ($failed of $steps steps)"
    exit 1
fi
echo "check-bundle: passed ($steps of $steps steps); bundle $(du -sh dist/steering-workbench | cut -f1)"
