#!/usr/bin/env bash
# Print the CMake flags that build llama.cpp (inside llama-cpp-python) for the x86-64 instruction sets this CPU
# reports in /proc/cpuinfo (CPUINFO names another file, for tests). Named flags rather than -march=native, so a
# build says what it needs and a wheel can be kept per flag set. ggml's AVX512 option compiles for the F, CD,
# VL, DQ and BW subsets together, so it needs all five; VBMI, VNNI and BF16 are extras on top of it.
set -euo pipefail
flags=" $(grep -m1 '^flags' "${CPUINFO:-/proc/cpuinfo}" 2>/dev/null | cut -d: -f2) "
has() {
    local f
    for f in "$@"; do [[ "$flags" == *" $f "* ]] || return 1; done
}
on() { if has "$@"; then echo ON; else echo OFF; fi; }

args=(-DGGML_NATIVE=OFF -DGGML_AVX="$(on avx)" -DGGML_AVX2="$(on avx2)" -DGGML_FMA="$(on fma)"
    -DGGML_F16C="$(on f16c)" -DGGML_AVX512="$(on avx512f avx512cd avx512vl avx512dq avx512bw)")
if has avx512f avx512cd avx512vl avx512dq avx512bw; then
    args+=(-DGGML_AVX512_VBMI="$(on avx512vbmi)" -DGGML_AVX512_VNNI="$(on avx512_vnni)"
        -DGGML_AVX512_BF16="$(on avx512_bf16)")
fi
echo "${args[*]}"
