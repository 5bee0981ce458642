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
    """The CPU model, torch's thread count, the BLAS backend and the load average: figures on a shared box mean
    little without them, and the same torch runs different kernels per BLAS library and CPU (MKL on AMD)."""
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
        f"CPU: {model or platform.processor() or 'unknown'}; torch {torch.__version__} threads "
        f"{torch.get_num_threads()} (interop {torch.get_num_interop_threads()}); os.cpu_count {os.cpu_count()}; "
        f"{blas_backend()}; load average {load}"
    )


# Environment variables that change which kernels torch's BLAS and oneDNN run, or on how many threads.
BLAS_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_DEBUG_CPU_TYPE",
    "MKL_CBWR",
    "ONEDNN_MAX_CPU_ISA",
    "ATEN_CPU_CAPABILITY",
)


def blas_backend() -> str:
    """torch's BLAS library and version, oneDNN's, the CPU kernels it picked, its parallel backend, and any
    environment variable that overrides them, in one clause."""
    import os
    import re

    import torch

    config = torch.__config__.show()
    build = re.search(r"BLAS_INFO=([^,\s]+)", config)
    parts = [f"BLAS {build.group(1) if build else 'unknown'}"]
    mkl = re.search(r"Math Kernel Library Version ([\w.]+)", config)
    if mkl and torch.backends.mkl.is_available():
        parts.append(f"MKL {mkl.group(1)}")
    onednn = re.search(r"MKL-DNN (v[\w.]+)", config)
    if onednn and torch.backends.mkldnn.is_available():
        parts.append(f"oneDNN {onednn.group(1)}")
    capability = torch.backends.cpu.get_cpu_capability()
    parallel = re.search(r"ATen parallel backend: (\w+)", torch.__config__.parallel_info())
    parts.append(f"CPU kernels {capability}; parallel {parallel.group(1) if parallel else 'unknown'}")
    overrides = [f"{name}={os.environ[name]}" for name in BLAS_ENV if name in os.environ]
    parts.append("env " + (" ".join(overrides) if overrides else "(no BLAS/thread overrides)"))
    return ", ".join(parts)
