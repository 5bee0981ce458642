"""Single-pane decoding against the torch backend's memory-bandwidth bound (SmolLM2, CPU, float32).

A decoding step reads every weight once: the block linears and the unembedding (the embedding lookup reads one
row). The bound is a plain matrix-vector product over the same number of float32 bytes in one matrix, in both
storage orders (torch's matrix-vector code streams one much faster than the other on some CPUs; the faster one is
the bound). Also timed: one matrix-vector product per matrix of the model itself as it is stored for decoding
(q|k|v and gate|up fused, each in its storage order: models/fused_linears.py), which adds the cost of ~120
separate calls of a few MB each. Decoding is timed between the first and the last generated token, so the prompt is left
out. Runs alternate between the bound and decoding so that load changes hit both alike; decoding runs twice per
round, with the lean one-position step (models/lean_decode.py, the default) and with transformers' own forward
for every step, so the two compare under the same load (the tokens are the same, checked here too).

Prints `single-pane decode: X % of the memory-bandwidth bound` (target ≥ 70 %).
Run: .venv/bin/python bench/bandwidth.py [repeats]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
from _common import PROMPT, engine_with_saes, machine_line

from workbench.models.fused_linears import decoding_products
from workbench.models.sampling import SamplingSettings
from workbench.steering.plan import SteeringPlan

TOKENS = 64


def step_weights(backend: object) -> list[torch.Tensor]:
    """Every matrix one decoding step multiplies by, as the backend stores it: the block linears (q|k|v and
    gate|up fused) and the unembedding."""
    model = backend.model  # type: ignore[attr-defined]
    head = backend._head  # type: ignore[attr-defined]
    unembedding = (
        head._weight if head is not None and head._weight is not None else model.get_output_embeddings().weight
    )
    return [*decoding_products(backend.blocks), unembedding]  # type: ignore[attr-defined]


def timed(run: object, calls: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        run()  # type: ignore[operator]
    return (time.perf_counter() - start) / calls


def main(repeats: int = 5) -> None:
    print(machine_line(), flush=True)
    engine = engine_with_saes()
    weights = step_weights(engine.backend)
    n_bytes = sum(w.numel() * w.element_size() for w in weights)
    d_model = engine.backend.info.d_model
    rows = sum(w.numel() for w in weights) // d_model
    matrix = torch.randn(rows, d_model)
    matrix_t = matrix.t().contiguous()  # the same bytes, the other storage order
    vector = torch.randn(d_model)
    inputs = {w.shape[1]: torch.randn(1, w.shape[1]) for w in weights}
    settings = SamplingSettings(temperature=0.0, max_new_tokens=TOKENS, stop_at_eos=False)
    plan = SteeringPlan()

    backend = engine.backend
    tokens: dict[bool, tuple[int, ...]] = {}

    def decode_rate(lean: bool = True) -> float:
        stamps: list[float] = []
        backend.lean_decoding = lean  # type: ignore[attr-defined]
        result = engine.generate(PROMPT, plan, settings).run(lambda _event: stamps.append(time.perf_counter()))
        backend.lean_decoding = True  # type: ignore[attr-defined]
        tokens[lean] = result.panes[0].token_ids
        return (len(stamps) - 1) / (stamps[-1] - stamps[0])

    def one_matrix() -> None:
        torch.mv(matrix, vector)

    def one_matrix_column_major() -> None:
        torch.mv(matrix_t.t(), vector)

    def per_weight() -> None:
        for w in weights:
            torch.nn.functional.linear(inputs[w.shape[1]], w)

    figures: dict[str, list[float]] = {
        "row-major": [],
        "column-major": [],
        "per weight": [],
        "decode": [],
        "decode, transformers' path": [],
    }
    with torch.inference_mode():
        decode_rate()  # warm-up
        for _ in range(repeats):
            figures["row-major"].append(1 / timed(one_matrix, 5))
            figures["column-major"].append(1 / timed(one_matrix_column_major, 5))
            figures["per weight"].append(1 / timed(per_weight, 5))
            figures["decode"].append(decode_rate())
            figures["decode, transformers' path"].append(decode_rate(lean=False))
    median = {name: statistics.median(values) for name, values in figures.items()}
    bound = max(median["row-major"], median["column-major"])
    print(f"bytes per decoding step: {n_bytes / 1e6:.0f} MB of float32 weights ({len(weights)} matrices)")
    for name in ("row-major", "column-major"):
        print(
            f"bound, one {rows} x {d_model} matrix-vector product ({name}): {median[name]:.2f} tokens/s "
            f"= {median[name] * n_bytes / 1e9:.1f} GB/s {[round(v, 2) for v in figures[name]]}"
        )
    print(f"the model's own matrices, one product each: {median['per weight']:.2f} tokens/s")
    hf_path = "decode, transformers' path"
    print(f"single-pane decode: {median['decode']:.2f} tokens/s {[round(v, 2) for v in figures['decode']]}")
    print(
        f"single-pane decode, transformers' forward at every step: {median[hf_path]:.2f} tokens/s "
        f"{[round(v, 2) for v in figures[hf_path]]} ({100 * median[hf_path] / bound:.0f} % of the bound); "
        f"same tokens: {tokens[True] == tokens[False]}"
    )
    print(f"load average after: {' '.join(Path('/proc/loadavg').read_text(encoding='utf-8').split()[:3])}")
    print(f"single-pane decode: {100 * median['decode'] / bound:.0f} % of the memory-bandwidth bound")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
