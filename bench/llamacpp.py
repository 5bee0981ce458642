"""The llama.cpp backend against bare llama-cpp-python and against the torch backend (embedded SmolLM2, CPU).

Prints: the CPU and thread count; steered/bare tokens-per-second ratio (2 add edits on layers 8 and 15 against a
plain `llama_cpp.Llama` on the same GGUF, greedy, 64 tokens, same threads); llama.cpp/torch wall-time ratios for
4 panes (baseline + 3 variants) and for 1 pane; three ways of running 4 panes on one model (sequences of one
context, one batch per step, which the backend uses (models/llamacpp_batch.py); a context per pane, stepped
together, which it used before and still uses with layers on a GPU; one context with its KV cache cleared
between panes); and the llama.cpp-f32 backend (float32 weights and cache: torch's numbers) against torch for 1
and 4 panes.

    .venv/bin/python bench/llamacpp.py [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
from _common import GREEDY_64, PROMPT, engine_with_saes, machine_line, median_seconds

from workbench.engine import Engine
from workbench.models.control_vector import control_vector
from workbench.models.llamacpp import LlamaCppBackend, default_threads, load_f32
from workbench.models.llamacpp_native import NativeContext
from workbench.models.spec import ModelSpec, embedded_gguf_path
from workbench.steering.plan import FeatureEdit, SteeringPlan, Variant

EDITS = (FeatureEdit(layer=8, feature=3, strength=4.0), FeatureEdit(layer=15, feature=5, strength=4.0))
VARIANTS = [Variant(f"v{k}", (FeatureEdit(layer=8, feature=k, strength=6.0),)) for k in range(3)]


def bare_llama(threads: int, prompt_ids: list[int]) -> object:
    import llama_cpp

    llm = llama_cpp.Llama(
        str(embedded_gguf_path()), n_ctx=1024, n_threads=threads, n_threads_batch=threads, verbose=False
    )

    def run() -> None:
        llm.reset()
        for n, _token in enumerate(llm.generate(prompt_ids, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True)):
            if n + 1 >= GREEDY_64.max_new_tokens:
                break

    run.llm = llm  # type: ignore[attr-defined]
    return run


def one_context_sequential(backend: LlamaCppBackend, engine: Engine, plan: SteeringPlan, ids: list[int]) -> None:
    """The alternative: one context, KV cache cleared between panes, panes one after another (greedy)."""
    compiled = engine.compile(plan)
    adds = compiled.constant_adds()
    ctx = backend._pane_contexts(1, len(ids) + 70)[0]
    for row in range(compiled.n_rows):
        mine = [(a.layer, a.vector) for a in adds if a.row == row]
        ctx.clear()
        ctx.set_vector(control_vector(mine, backend.info.n_layers, backend.info.d_model) if mine else None)
        ctx.decode(ids, 0)
        pos = len(ids)
        for _ in range(GREEDY_64.max_new_tokens):
            token = int(np.argmax(ctx.last_logits()))
            ctx.decode([token], pos)
            pos += 1


def _once(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=default_threads())
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(machine_line())
    import llama_cpp

    # What the build may use: the instruction sets it was compiled for (packaging/llama-cpp-flags.sh picks them).
    built = llama_cpp.llama_print_system_info().decode().strip().rstrip("|").strip()
    print(f"llama.cpp threads: {args.threads} (torch: the same); llama-cpp-python {llama_cpp.__version__}, {built}")

    torch_engine = engine_with_saes()
    llama = LlamaCppBackend.load(ModelSpec.parse("default"), device="cpu", threads=args.threads)
    llama_engine = Engine()
    llama_engine.use_backend(llama)
    llama_engine.saes = list(torch_engine.saes)  # the same SAEs (CPU, same width): only decoder rows are read
    ids = llama.encode_prompt(PROMPT, chat=True)

    def gen(engine: Engine, plan: SteeringPlan) -> None:
        engine.generate(PROMPT, plan, GREEDY_64).run()

    try:
        # 1. steered vs bare llama-cpp-python, one pane, alternating so load swings hit both alike
        bare = bare_llama(args.threads, ids)
        steered_plan = SteeringPlan((Variant("steered", EDITS),))
        t_bare, t_steered = [], []
        for _ in range(args.repeats):
            t_bare.append(median_seconds(bare, 1)[0])  # type: ignore[arg-type]
            t_steered.append(median_seconds(lambda: gen(llama_engine, steered_plan), 1)[0])
        tb, ts = float(np.median(t_bare)), float(np.median(t_steered))
        print(f"bare llama-cpp-python: {64 / tb:.1f} tok/s; steered llama.cpp backend: {64 / ts:.1f} tok/s")
        print(f"steered/bare llama-cpp-python tokens-per-second ratio: {tb / ts:.2f}")
        bare.llm.close()  # type: ignore[attr-defined]

        # 2. 4 panes and 1 pane, torch vs llama.cpp
        four = SteeringPlan.with_baseline(*VARIANTS)
        runs = {
            "lc4": lambda: gen(llama_engine, four),
            "th4": lambda: gen(torch_engine, four),
            "lc1": lambda: gen(llama_engine, SteeringPlan()),
            "th1": lambda: gen(torch_engine, SteeringPlan()),
        }
        times: dict[str, list[float]] = {name: [] for name in runs}
        for run in runs.values():
            run()  # warm-up
        for _ in range(args.repeats):  # interleaved, so load swings hit all four alike
            for name, run in runs.items():
                times[name].append(_once(run))
        lc4, th4, lc1, th1 = (float(np.median(times[name])) for name in runs)
        print(f"4 panes x 64 tokens: llama.cpp {lc4:.2f} s, torch {th4:.2f} s")
        print(f"llama.cpp/torch 4-pane speed ratio: {th4 / lc4:.2f}")
        print(
            f"1 pane x 64 tokens: llama.cpp {lc1:.2f} s ({64 / lc1:.1f} tok/s), "
            f"torch {th1:.2f} s ({64 / th1:.1f} tok/s)"
        )
        print(f"llama.cpp/torch 1-pane speed ratio: {th1 / lc1:.2f}")

        # 3. panes: one context with a sequence per pane vs a context per pane vs one context cleared between panes
        def per_pane_contexts() -> None:
            llama.batch_panes = False
            try:
                gen(llama_engine, four)
            finally:
                llama.batch_panes = True

        batched, contexts = [], []
        for _ in range(args.repeats):  # alternating, so load swings hit both alike
            batched.append(_once(lambda: gen(llama_engine, four)))
            contexts.append(_once(per_pane_contexts))
        seq, _ = median_seconds(lambda: one_context_sequential(llama, llama_engine, four, ids), args.repeats)
        start = time.perf_counter()
        NativeContext(llama.native, 1024, args.threads).close()
        make_ctx = time.perf_counter() - start
        lb, lc = float(np.median(batched)), float(np.median(contexts))
        print(
            f"4 panes: sequences of one context {lb:.2f} s ({lb / lc1:.2f}x one pane); a context per pane {lc:.2f} s "
            f"({lc / lc1:.2f}x); one context cleared between panes {seq:.2f} s (panes one after another); "
            f"creating a context {make_ctx * 1000:.0f} ms"
        )
        print(f"one context / a context per pane, 4 panes, time ratio: {lb / lc:.2f}")

        # 4. the llama.cpp-f32 backend: what exact agreement with torch costs
        exact = Engine()
        exact.use_backend(load_f32(ModelSpec.parse("default"), device="cpu", threads=args.threads))
        exact.saes = list(torch_engine.saes)
        try:
            f1, _ = median_seconds(lambda: gen(exact, SteeringPlan()), args.repeats)
            th1b, _ = median_seconds(lambda: gen(torch_engine, SteeringPlan()), args.repeats)
            f4, _ = median_seconds(lambda: gen(exact, four), args.repeats)
            th4b, _ = median_seconds(lambda: gen(torch_engine, four), args.repeats)
        finally:
            exact.backend.close()
        print(f"1 pane x 64 tokens: llama.cpp-f32 {f1:.2f} s ({64 / f1:.1f} tok/s), torch {th1b:.2f} s")
        print(f"llama.cpp-f32/torch 1-pane speed ratio: {th1b / f1:.2f}")
        print(f"4 panes x 64 tokens: llama.cpp-f32 {f4:.2f} s ({f4 / f1:.2f}x one pane), torch {th4b:.2f} s")
        print(f"llama.cpp-f32/torch 4-pane speed ratio: {th4b / f4:.2f}")
        print(f"load average after: {os.getloadavg()}")
    finally:
        llama.close()


if __name__ == "__main__":
    main()
