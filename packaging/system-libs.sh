#!/usr/bin/env bash
# The system packages the window needs beside the virtualenv, installed only when missing (run by bootstrap.sh):
# - what Qt needs even offscreen (the tests, the --screenshot demo without a display);
# - what Qt's xcb platform links against, to open the real window on X11 (libxcb-cursor0, libxcb-icccm4, ...):
#   the offscreen platform hides their absence, so `ldd` on the xcb plugin is asked what is not found;
# - a font (without one, an X11 window draws no text), and Xvfb (with xauth, for xvfb-run) when there is no
#   display, so that `make test` can show the real window on a virtual one.
# On a machine that has all of it, it installs nothing. Without root or apt-get it names what to install.
#   packaging/system-libs.sh [--check]   (--check: only list what is missing; exit 1 when something is)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$root/.venv/bin/python"
check_only=0
[[ "${1:-}" == "--check" ]] && check_only=1

installed() {  # installed PACKAGE: dpkg knows it as installed
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q " installed$"
}

# Debian names a library package after its soname (libX11-xcb.so.1 -> libx11-xcb1; a name ending in a digit
# takes a dash: libxkbcommon-x11.so.0 -> libxkbcommon-x11-0), except for the few below.
package_for() {
    local soname="$1" base version
    case "$soname" in
        libglib-2.0.so.*) echo libglib2.0-0; return ;;
        libgthread-2.0.so.* | libgobject-2.0.so.*) echo libglib2.0-0; return ;;
        libGLdispatch.so.*) echo libglvnd0; return ;;
        libbrotli*.so.*) echo libbrotli1; return ;;
        libz.so.*) echo zlib1g; return ;;
        libgcc_s.so.*) echo libgcc-s1; return ;;
    esac
    base="${soname%%.so.*}"
    version="${soname##*.so.}"
    version="${version%%.*}"
    base="${base,,}"
    [[ "$base" =~ [0-9]$ ]] && base="$base-"
    echo "$base$version"
}

wanted=()    # packages to install
unknown=()   # libraries not found, on a system without dpkg (named for the user to find)

qt="$(ls -d "$root"/.venv/lib/python*/site-packages/PySide6/Qt 2>/dev/null | head -n 1)"
if [[ -z "$qt" ]]; then
    echo "system-libs: no PySide6 in .venv yet (run packaging/bootstrap.sh)" >&2
    exit 1
fi

# Offscreen: Qt must start at all.
if ! QT_QPA_PLATFORM=offscreen "$python" -c 'from PySide6.QtWidgets import QApplication; QApplication([])' \
        >/dev/null 2>&1; then
    wanted+=(libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0)
fi

# The real window: every library the xcb platform plugin (and Qt's xcb library beside it) links against.
for lib in $(ldd "$qt/plugins/platforms/libqxcb.so" 2>/dev/null | awk '/not found/ {print $1}' | sort -u); do
    if command -v dpkg-query >/dev/null; then
        wanted+=("$(package_for "$lib")")
    else
        unknown+=("$lib")
    fi
done

# Fonts: fontconfig finds none on a bare container, and the window's text then draws as nothing.
if ! find /usr/share/fonts /usr/local/share/fonts "${HOME:-/nonexistent}/.fonts" \
        \( -name '*.ttf' -o -name '*.otf' -o -name '*.pfb' \) -print -quit 2>/dev/null | grep -q .; then
    wanted+=(fonts-dejavu-core)
fi

# A virtual display for the real-window test (packaging/run-tests.sh) when there is no display to use.
if [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" ]]; then
    command -v Xvfb >/dev/null || wanted+=(xvfb)
    command -v xauth >/dev/null || wanted+=(xauth)  # xvfb-run needs it; xvfb only recommends it
fi

missing=()
for pkg in "${wanted[@]+"${wanted[@]}"}"; do
    if ! command -v dpkg-query >/dev/null || ! installed "$pkg"; then
        [[ " ${missing[*]+"${missing[*]}"} " == *" $pkg "* ]] || missing+=("$pkg")
    fi
done

if ((${#unknown[@]})); then
    echo "Qt's xcb platform (the window on X11) cannot find: ${unknown[*]}; install them with your package manager" >&2
fi
if ((${#missing[@]} == 0)); then
    ((${#unknown[@]} == 0)) || exit 1
    exit 0
fi
if ((check_only)); then
    echo "missing system packages: ${missing[*]}"
    exit 1
fi
if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
    echo "installing system packages: ${missing[*]}"
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
        echo "could not install: ${missing[*]} (the window may not open on X11)" >&2
    fi
else
    echo "The window needs these system packages: ${missing[*]} (install them, e.g. sudo apt-get install ...)" >&2
fi
