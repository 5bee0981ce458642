"""Shared set-up for the benchmarks: the embedded SmolLM2 on the CPU with the demo SAEs at layers 8 and 15
(random sae-lens SAEs if the demo SAEs are missing: steering cost depends on the edits, not on what a feature
means)."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.factories import make_sae  # noqa: E402
from workbench.engine import Engine  # noqa: E402
from workbench.models.sampling import SamplingSettings  # noqa: E402
from workbench.saes.demo import demo_sae_folder  # noqa: E402

PROMPT = "Write a short story about a lighthouse keeper."
GREEDY_64 = SamplingSettings(temperature=0.0, max_new_tokens=64, stop_at_eos=False)


def engine_with_saes(layers: tuple[int, ...] = (8, 15)) -> Engine:
    engine = Engine()
    engine.load_model("default", device="cpu")
    folder = Path(tempfile.mkdtemp(prefix="bench-saes-"))
    for layer in layers:
        demo = demo_sae_folder(layer)
        if (demo / "cfg.json").exists():
            engine.add_sae(str(demo))
            continue
        random_sae = make_sae(
            folder / f"L{layer}", d_in=engine.backend.info.d_model, layer=layer, d_sae=4608, seed=layer
        )
        engine.add_sae(str(random_sae))
    return engine


def median_seconds(run: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    run()  # warm-up: first-call allocations and lazy imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def machine_line() -> str:
    """The CPU model, torch's thread count and the load average: figures on a shared box mean little without them."""
    import os
    import platform

    import torch

    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
        model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "")
    except OSError:
        model = ""
    try:
        load = " ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])
    except OSError:
        load = "unknown"
    return (
        f"CPU: {model or platform.processor() or 'unknown'}; torch threads {torch.get_num_threads()}; "
        f"os.cpu_count {os.cpu_count()}; load average {load}"
    )
