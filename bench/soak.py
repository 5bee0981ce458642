"""Soak: N steered generations through the model process, with the analysis jobs the window asks for after each.

Each round is what the window sends after Generate (ui/main_window.py `_generation_finished`, ui/analysis_requests.py):
a 3-pane Generate (baseline, an add edit, a clamp edit; 24 tokens), then Heatmap of the first pane at the first SAE,
FeatureLayers of the followed feature (the add edit's), and Effect of the plan on the result — all three sent at
once, as the window does, and waited for. The model runs in `workbench.host.ModelHost`, the window's host; this
process stands in for the window (it keeps only the latest result, as the window does).

Prints the machine line, a row every 50 rounds, then the growth between round 50 (warmed up: allocator pools and
lazy imports settled) and round N: the model process's RSS (`soak rss growth 50→N: X %`, target < 5 %), this
process's RSS, threads, open file handles, and files left in the temp dir (both processes use a private one).

Run: nice -n 10 .venv/bin/python bench/soak.py [N=500] [--warm 50] [--every 25] [--tiny]
(No time limit on a job: on a starved CPU a 3-pane generation can take minutes; a hang shows as no new row.
The model process inherits the environment: on a shared, overloaded CPU, OMP_NUM_THREADS=1 keeps torch's threads
from waiting on each other for time slices, about 15x faster there; the machine line shows it.)
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from _common import machine_line

from workbench.host import ModelHost
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.models.sampling import SamplingSettings
from workbench.saes.demo import demo_sae_folders
from workbench.steering.plan import EditMode, FeatureEdit, SteeringPlan, Variant

PROMPTS = (
    "Write a short story about a lighthouse keeper.",
    "Describe the ocean at night.",
    "What makes a good cup of coffee?",
    "Explain how a bicycle works.",
)
WARM_ROUND = 50  # rounds before the first measurement (fewer for a short trial run: N // 2)
EVERY = 25  # a row (and the growth so far) every EVERY rounds: a long run read part way still says something


@dataclass
class Snapshot:
    rss_model_kb: int
    threads_model: int
    fds_model: int
    rss_self_kb: int
    threads_self: list[str]
    fds_self: int
    temp_files: set[str]


def status_kb(pid: int | str, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def count(path: str) -> int:
    return len(os.listdir(path))


def temp_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def snapshot(pid: int, temp: Path) -> Snapshot:
    gc.collect()
    return Snapshot(
        status_kb(pid, "VmRSS"),
        count(f"/proc/{pid}/task"),
        count(f"/proc/{pid}/fd"),
        status_kb("self", "VmRSS"),
        sorted(t.name for t in threading.enumerate()),
        count("/proc/self/fd"),
        temp_files(temp),
    )


class Window:
    """The window's side of the model process: events land here (on the host's reader thread)."""

    def __init__(self) -> None:
        self.generated: ev.Generated | None = None
        self.saes: tuple[ev.SaesChanged, ...] = ()
        self.failures: list[str] = []

    def on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.Generated):
            self.generated = event  # the window keeps only the run it shows
        elif isinstance(event, ev.SaesChanged):
            self.saes = (event,)
        elif isinstance(event, ev.JobFailed):
            self.failures.append(f"{event.request.label}: {event.message}")


def plan_for(round_: int, rng: random.Random, d_sae: int, layers: list[int]) -> SteeringPlan:
    """3 panes: baseline, an add edit and a clamp edit, features and strengths varying from round to round."""
    add = FeatureEdit(layer=layers[0], feature=rng.randrange(d_sae), strength=rng.choice((4.0, 8.0, -6.0)))
    clamp = FeatureEdit(
        layer=layers[-1], feature=rng.randrange(d_sae), strength=rng.choice((5.0, 10.0)), mode=EditMode.CLAMP
    )
    if round_ % 3 == 2:  # some rounds stack both edits in one pane
        return SteeringPlan.with_baseline(Variant("add", (add,)), Variant("both", (add, clamp)))
    return SteeringPlan.with_baseline(Variant("add", (add,)), Variant("clamp", (clamp,)))


def tiny_model(folder: Path) -> tuple[str, tuple[str, ...]]:
    """The tests' tiny random Llama and three random SAEs, written to disk so the model process loads them as it
    loads any model folder: the same jobs and messages as SmolLM2, many times faster."""
    from tests.factories import make_sae, tiny_llama, tiny_tokenizer

    model = folder / "tiny-llama"
    tiny_llama().save_pretrained(model)
    tiny_tokenizer().save_pretrained(model)
    saes = tuple(str(make_sae(folder / f"sae-L{layer}", d_in=64, layer=layer, seed=layer)) for layer in (1, 2, 3))
    return str(model), saes


def main(n: int = 500, warm_round: int = WARM_ROUND, every_rounds: int = EVERY, tiny: bool = False) -> None:
    print(machine_line(), flush=True)
    temp = Path(tempfile.mkdtemp(prefix="soak-tmp-"))
    os.environ["TMPDIR"] = str(temp)  # the model process inherits it: its temp files land where we can count them
    tempfile.tempdir = None
    window = Window()
    host = ModelHost(window.on_event)
    assert host.pid is not None
    pid = host.pid
    model, saes = tiny_model(temp) if tiny else ("default", tuple(str(p) for p in demo_sae_folders()))
    start = time.perf_counter()
    end = host.submit(rq.LoadModel(model, saes=saes)).wait()
    if not isinstance(end, ev.JobFinished) or not window.saes:
        sys.exit(f"soak: the model did not load: {end}")
    summaries = window.saes[0].saes
    keys, layers, d_sae = [s.key for s in summaries], sorted(s.layer for s in summaries), summaries[0].d_sae
    print(f"loaded in {time.perf_counter() - start:.1f} s: SAEs {keys}", flush=True)
    rng = random.Random(0)
    warm, every = min(warm_round, max(1, n // 2)), min(every_rounds, max(1, n // 2))
    at_warm = None
    spent: dict[str, float] = defaultdict(float)  # seconds waited for each kind of job (they run one at a time)
    settings_base = SamplingSettings(temperature=0.7, max_new_tokens=24, stop_at_eos=False)
    t0 = time.perf_counter()
    print("round  model RSS MiB  threads  fds  bench RSS MiB  threads  fds  temp files  s/round", flush=True)
    last = t0
    for round_ in range(1, n + 1):
        plan = plan_for(round_, rng, d_sae, layers)
        settings = SamplingSettings(**{**settings_base.to_dict(), "seed": round_})
        prompt = PROMPTS[round_ % len(PROMPTS)]
        began = time.perf_counter()
        end = host.submit(rq.Generate(prompt, plan, settings)).wait()
        spent["generate"] += time.perf_counter() - began
        result = window.generated
        if not isinstance(end, ev.JobFinished) or result is None:
            sys.exit(f"soak: round {round_} generate ended with {end}")
        # What the window sends once the run is shown: heatmap of the first pane at the first SAE, the followed
        # feature across layers (the add edit's), and the steer effect.
        ids = list(result.result.prompt_ids) + list(result.result.panes[0].token_ids)
        prompt_len = len(result.result.prompt_ids)
        followed = plan.variants[1].edits[0]
        followed_key = next(s.key for s in summaries if s.layer == followed.layer)
        handles = [
            host.submit(rq.Heatmap(plan.names[0], tuple(ids), prompt_len, keys[0])),
            host.submit(rq.FeatureLayers(plan.names[0], tuple(ids), prompt_len, followed_key, followed.feature or 0)),
            host.submit(rq.Effect(plan, result.result)),
        ]
        for h in handles:
            began = time.perf_counter()
            end = h.wait()
            spent[h.request.label] += time.perf_counter() - began
            if not isinstance(end, ev.JobFinished):
                sys.exit(f"soak: round {round_} {h.request.label} ended with {end}")
        if round_ % every == 0 or round_ == n:
            snap = snapshot(pid, temp)
            now = time.perf_counter()
            per = (now - last) / (every if round_ % every == 0 else round_ % every)
            last = now
            print(
                f"{round_:5d}  {snap.rss_model_kb / 1024:13.1f}  {snap.threads_model:7d}  {snap.fds_model:3d}  "
                f"{snap.rss_self_kb / 1024:13.1f}  {len(snap.threads_self):7d}  {snap.fds_self:3d}  "
                f"{len(snap.temp_files):10d}  {per:7.2f}  load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            print("       waited for: " + ", ".join(f"{k} {v:.0f} s" for k, v in spent.items()), flush=True)
            if round_ == warm:
                at_warm = snap
            elif at_warm is not None and round_ < n:
                growth = 100.0 * (snap.rss_model_kb - at_warm.rss_model_kb) / at_warm.rss_model_kb
                print(f"       model rss growth {warm}->{round_} so far: {growth:.2f} %", flush=True)
    final = snapshot(pid, temp)
    if window.failures:
        print(f"failed jobs: {len(window.failures)}; first: {window.failures[0]}")
    if at_warm is not None:
        report(at_warm, final, warm, n)
    print(f"wall {time.perf_counter() - t0:.0f} s for {n} rounds; {machine_line()}")
    host.shutdown()


def report(a: Snapshot, b: Snapshot, warm: int, n: int) -> None:
    def pct(x: int, y: int) -> float:
        return 100.0 * (y - x) / x

    print(
        f"soak rss growth {warm}->{n}: {pct(a.rss_model_kb, b.rss_model_kb):.2f} % "
        f"(model process {a.rss_model_kb / 1024:.1f} -> {b.rss_model_kb / 1024:.1f} MiB)"
    )
    print(
        f"window-side rss growth {warm}->{n}: {pct(a.rss_self_kb, b.rss_self_kb):.2f} % "
        f"({a.rss_self_kb / 1024:.1f} -> {b.rss_self_kb / 1024:.1f} MiB)"
    )
    new_threads = sorted(set(b.threads_self) - set(a.threads_self)) or "none"
    print(
        f"leaked threads {warm}->{n}: model process {b.threads_model - a.threads_model:+d} "
        f"({a.threads_model} -> {b.threads_model}); window side {len(b.threads_self) - len(a.threads_self):+d} "
        f"(new: {new_threads})"
    )
    print(
        f"leaked file handles {warm}->{n}: model process {b.fds_model - a.fds_model:+d} "
        f"({a.fds_model} -> {b.fds_model}); window side {b.fds_self - a.fds_self:+d} ({a.fds_self} -> {b.fds_self})"
    )
    new_files = sorted(b.temp_files - a.temp_files)
    print(f"leaked temp files {warm}->{n}: {len(new_files)} {new_files[:5] if new_files else ''}".rstrip())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("rounds", nargs="?", type=int, default=500)
    parser.add_argument("--warm", type=int, default=WARM_ROUND, help="the round growth is measured from")
    parser.add_argument("--every", type=int, default=EVERY, help="a row every this many rounds")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny random model and SAEs (fast)")
    args = parser.parse_args()
    main(args.rounds, args.warm, args.every, args.tiny)
