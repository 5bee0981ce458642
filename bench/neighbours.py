"""Neighbours of a 4608-feature demo SAE: the first computation (decoder and encoder top-k, chunked) and a cached
read, then the co-activation pass (one model pass over the held-out corpus for all three demo SAEs).

    .venv/bin/python bench/neighbours.py
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path

from _common import engine_with_saes


def cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    found = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return found[0] if found else platform.processor() or "unknown"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])
    except OSError:
        return "unknown"


def main() -> None:
    import torch

    print(f"CPU: {cpu_model()}; torch threads {torch.get_num_threads()}; os.cpu_count {os.cpu_count()}")
    print(f"load average before: {load_average()}")
    engine = engine_with_saes((8, 15, 22))
    # A fresh cache folder for the neighbour tables, so the first computation is really the first.
    os.environ["STEERING_WORKBENCH_CACHE"] = tempfile.mkdtemp(prefix="bench-neighbours-")
    from workbench.analysis.coactivation import cached_coactivations
    from workbench.analysis.neighbours import direction_tables, feature_neighbours

    sae = engine.sae(8)
    start = time.perf_counter()
    direction_tables(sae)
    first = time.perf_counter() - start
    start = time.perf_counter()
    direction_tables(sae)
    cached = time.perf_counter() - start
    print(f"decoder + encoder neighbours, d_sae {sae.d_sae}: first {first:.2f} s, cached {cached * 1000:.0f} ms")
    start = time.perf_counter()
    coacts = cached_coactivations(engine.backend, engine.saes)
    coact_s = time.perf_counter() - start
    tokens = coacts[sae.key].n_tokens
    print(f"co-activation pass, 3 SAEs, {tokens} tokens: first {coact_s:.1f} s", end="")
    start = time.perf_counter()
    cached_coactivations(engine.backend, engine.saes)
    print(f", cached {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    result = feature_neighbours(sae, 809, 10, coacts[sae.key])
    print(f"one feature's neighbours from the caches: {(time.perf_counter() - start) * 1000:.0f} ms")
    for n in result.ranked("decoder")[:3]:
        print(f"  L8 #809 ~ #{n.feature} {n.label!r}: decoder {n.decoder_cosine:.3f}, jaccard {n.jaccard:.3f}")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
