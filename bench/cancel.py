"""Stop latency: from the window's cancel to the job's end event, for a generation, a heatmap, an SAE load and a sweep.

Each job runs in the model process (`workbench.host.ModelHost`, the window's host) and is cancelled the way the
window's Stop does it (`ModelClient.cancel` → `JobHandle.cancel` → a ("cancel", id) message to the model process).
The cancel is sent once the job is really working:
  generate    after its first token event (3 panes, 200 tokens asked);
  heatmap     a fraction (0.2–0.7) of the way through an uncancelled run of the same text (a heatmap sends no
              progress), over a long text so the forward pass is what gets interrupted;
  SAE load    a model load with the three demo SAEs, cancelled just after "loading SAE 1 of 3";
  sweep       after the first progress event of its generation (a fresh folder each time: nothing is resumed).
The latency ends when the job's end event (JobCancelled, or JobFinished with a stopped result) reaches this
process, as it reaches the window. On a shared, loaded CPU that wall time is mostly waiting for a time slice, so
each kind also prints the CPU time the model process spent between the cancel and the end (all its threads: up
to torch's thread count × the wall time on an idle machine): the work a stop still waits for, whatever the load.
Prints the machine line first, each kind's latencies, then
`cancel latency ms: median X, max Y` over all of them (target: max < 300).

Run: .venv/bin/python bench/cancel.py [repeats=10] [--model-nice N]
(--model-nice: how much lower the model process runs than this one; the window uses 10.)
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from _common import machine_line

from workbench.host import JobHandle, ModelHost
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.models.sampling import SamplingSettings
from workbench.saes.demo import demo_sae_folders
from workbench.steering.plan import EditMode, FeatureEdit, SteeringPlan, StrengthUnit, Variant
from workbench.sweeps.spec import SweepPrompt, SweepSpec, SweepTarget

PROMPT = "Write a short story about a lighthouse keeper."
END = (ev.JobFinished, ev.JobFailed, ev.JobCancelled)


class Watch:
    """Events as the window's side receives them (on the host's reader thread), with their arrival times."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.working: dict[int, threading.Event] = {}  # job id → set at its first sign of work
        self.ended_at: dict[int, float] = {}
        self.token_times: dict[int, list[float]] = {}
        self.saes: tuple[str, ...] = ()
        self.generated: ev.Generated | None = None
        self.pid = 0
        self.cpu_ms: list[float] = []  # the model process's CPU time from each cancel to its end event
        self.cue: Callable[[ev.Event], bool] = lambda e: False

    def flag(self, job: int) -> threading.Event:
        with self.lock:
            return self.working.setdefault(job, threading.Event())

    def on_event(self, event: ev.Event) -> None:
        now = time.perf_counter()
        if isinstance(event, END):
            self.ended_at[event.job] = now
            return
        if isinstance(event, ev.TokensGenerated):
            self.token_times.setdefault(event.job, []).append(now)
        if isinstance(event, ev.Generated):
            self.generated = event
        if isinstance(event, ev.SaesChanged):
            self.saes = tuple(s.key for s in event.saes)
        if self.cue(event):
            self.flag(event.job).set()


def cancel_when_working(host: ModelHost, watch: Watch, request: rq.Request, extra_s: float = 0.0) -> float:
    """Submit, wait for the job's cue, cancel after `extra_s`; the ms from the cancel to the end event."""
    job = host.submit(request)
    if not watch.flag(job.id).wait(600):
        raise SystemExit(f"cancel: {request.label} showed no sign of work")
    latency = cancel_and_time(job, watch, extra_s)
    if latency is None:
        raise SystemExit(f"cancel: {request.label} ended before it could be cancelled; make it longer")
    return latency


def cancel_and_time(job: JobHandle, watch: Watch, extra_s: float) -> float | None:
    """The ms from the cancel to the end event; None if the job ended before the cancel was sent."""
    time.sleep(extra_s)
    if job.done:
        return None
    cpu = cpu_seconds(watch.pid)
    asked = time.perf_counter()
    job.cancel()
    end = job.wait(600)
    if isinstance(end, ev.JobFailed):
        raise SystemExit(f"cancel: {job.request.label} failed: {end.message}")
    watch.cpu_ms.append((cpu_seconds(watch.pid) - cpu) * 1000)
    return (watch.ended_at[job.id] - asked) * 1000


def cpu_seconds(pid: int) -> float:
    """CPU time the model process has used (all its threads): what it spent after a cancel, whatever the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ok(job: JobHandle) -> None:
    end = job.wait(600)
    if not isinstance(end, ev.JobFinished):
        raise SystemExit(f"cancel: {job.request.label} ended with {end}")


def generations(host: ModelHost, watch: Watch, repeats: int, rng: random.Random) -> list[float]:
    watch.cue = lambda e: isinstance(e, ev.TokensGenerated)
    plan = SteeringPlan.with_baseline(
        Variant("add", (FeatureEdit(layer=8, feature=100, strength=6.0),)),
        Variant("clamp", (FeatureEdit(layer=15, feature=3877, strength=8.0, mode=EditMode.CLAMP),)),
    )
    settings = SamplingSettings(max_new_tokens=200, stop_at_eos=False)
    out = []
    for n in range(repeats):
        request = rq.Generate(PROMPT, plan, SamplingSettings(**{**settings.to_dict(), "seed": n}))
        out.append(cancel_when_working(host, watch, request, rng.uniform(0, 0.5)))
    steps = [b - a for times in watch.token_times.values() for a, b in itertools.pairwise(times)]
    if steps:  # the job looks at its token once per step: a stop waits for at most about one step
        step_ms = statistics.median(steps) * 1000
        print(
            f"  (generation: median {step_ms:.0f} ms between token events; stop latency in steps: median "
            f"{statistics.median(out) / step_ms:.2f}, max {max(out) / step_ms:.2f})"
        )
    return out


def heatmaps(host: ModelHost, watch: Watch, repeats: int, rng: random.Random) -> list[float]:
    watch.cue = lambda e: False
    ids = host_tokens(host, watch)
    request = rq.Heatmap("baseline", tuple(ids), 16, watch.saes[-1])
    wait_ok(host.submit(request))  # warm-up
    started = time.perf_counter()
    wait_ok(host.submit(request))
    whole = time.perf_counter() - started
    out: list[float] = []
    missed = 0
    while len(out) < repeats and missed < repeats:
        latency = cancel_and_time(host.submit(request), watch, whole * rng.uniform(0.2, 0.7))
        if latency is None:  # the load changed and it ended first: not a stop, try again
            missed += 1
        else:
            out.append(latency)
    print(f"  (heatmap of {len(ids)} tokens: {whole * 1000:.0f} ms uncancelled; {missed} ended before the stop)")
    return out


def host_tokens(host: ModelHost, watch: Watch) -> list[int]:
    """A long text's token ids (about 400), from a short generation after a long prompt: a long pane's text."""
    wait_ok(host.submit(rq.Generate(PROMPT * 40, SteeringPlan(), SamplingSettings(max_new_tokens=8), chat=False)))
    assert watch.generated is not None
    result = watch.generated.result
    return list(result.prompt_ids) + list(result.panes[0].token_ids)


def sae_loads(host: ModelHost, watch: Watch, repeats: int, rng: random.Random) -> list[float]:
    watch.cue = lambda e: isinstance(e, ev.ProgressMade) and e.progress.phase.startswith("loading SAE 1 ")
    saes = tuple(str(p) for p in demo_sae_folders())
    out: list[float] = []
    missed = 0
    while len(out) < repeats and missed < repeats:
        job = host.submit(rq.LoadModel("default", saes=saes))
        if not watch.flag(job.id).wait(600):
            raise SystemExit("cancel: the model load never reached its SAEs")
        latency = cancel_and_time(job, watch, rng.uniform(0, 0.02))  # the demo SAEs load in tens of ms each
        if latency is None:  # all three SAEs loaded before the cancel was sent: not a stop, try again
            missed += 1
        else:
            out.append(latency)
    print(f"  ({missed} model loads ended before the stop)")
    return out


def sweeps(host: ModelHost, watch: Watch, repeats: int, rng: random.Random) -> list[float]:
    watch.cue = lambda e: isinstance(e, ev.ProgressMade) and e.progress.done > 0
    spec = SweepSpec(
        targets=(SweepTarget("L15", 3877),),
        strengths=(0.0, 2.0, 5.0, 10.0),
        prompts=(SweepPrompt("Tell me about your day."), SweepPrompt("Describe a city.")),
        unit=StrengthUnit.MAXACT,
        max_new_tokens=48,
    )
    root = Path(tempfile.mkdtemp(prefix="bench-cancel-sweeps-"))
    return [
        cancel_when_working(host, watch, rq.RunSweep(f"s{n}", spec, folder=str(root / f"s{n}")), rng.uniform(0, 0.3))
        for n in range(repeats)
    ]


def line(name: str, values: list[float]) -> str:
    return f"{name}: median {statistics.median(values):.0f}, max {max(values):.0f} ({len(values)} stops)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("repeats", nargs="?", type=int, default=10)
    parser.add_argument("--model-nice", type=int, default=10, help="the model process's extra niceness (window: 10)")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    watch = Watch()
    host = ModelHost(watch.on_event)
    if host.pid is not None and args.model_nice:
        os.setpriority(os.PRIO_PROCESS, host.pid, os.getpriority(os.PRIO_PROCESS, 0) + args.model_nice)
    assert host.pid is not None
    watch.pid = host.pid
    saes = tuple(str(p) for p in demo_sae_folders())
    wait_ok(host.submit(rq.LoadModel("default", saes=saes)))
    rng = random.Random(0)
    results: dict[str, list[float]] = {}
    for name, kind in (("generate", generations), ("heatmap", heatmaps), ("sweep", sweeps), ("SAE load", sae_loads)):
        watch.cpu_ms = []
        results[name] = kind(host, watch, args.repeats, rng)
        print("cancel latency ms, " + line(name, results[name]) + f"; load {os.getloadavg()[0]:.2f}", flush=True)
        print(f"  model process CPU ms after the cancel, {line(name, watch.cpu_ms)}", flush=True)
    everything = [v for values in results.values() for v in values]
    print(f"cancel latency ms: median {statistics.median(everything):.0f}, max {max(everything):.0f}")
    print(machine_line())
    host.shutdown()


if __name__ == "__main__":
    main()
