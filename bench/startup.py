"""Start-up figures: launch → first paint of the window, launch → "ready" (the embedded model and the 3 demo SAEs
loaded) with an empty cache (cold: the GGUF conversion included) and warm, `info --json` warm, and a one-shot CLI
`generate` against the same generation in a warm process. Each figure is one line with its target.

Every run is a fresh process on the real entry points (`steering-workbench` and ui.launcher.main), with its own
empty data and settings folders, and a cache folder of its own (STEERING_WORKBENCH_CACHE, workbench/paths.py):
empty for the cold launch, and the one that launch filled for every warm figure, so the user's cache is neither
used nor changed. The window draws offscreen unless there is a DISPLAY (run under Xvfb for the real X11 window).
Beside each wall time, the CPU seconds of the process and its children: on a shared machine the wall time grows
with the load, the CPU time much less.

    .venv/bin/python bench/startup.py            # about 3 minutes of CPU on a 2-core machine (far longer when shared)
    .venv/bin/python bench/startup.py --no-cold  # skip the cold launch (uses the user's cache for warm figures)
    .venv/bin/python bench/startup.py --no-cold --no-generate  # the start-up figures alone
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SCRIPT = Path(PYTHON).parent / "steering-workbench"  # the console script, as a user runs it
CLI = (
    [str(SCRIPT)] if SCRIPT.is_file() else [PYTHON, "-c", "import sys; from ui.launcher import main; sys.exit(main())"]
)
PROMPT = "Write a short story about a lighthouse keeper."
GENERATE = ["generate", "--prompt", PROMPT, "--variant", "ocean=15:3877:8", "--max-new-tokens", "64", "--json"]
APP_TIMEOUT_S = 240

TARGETS = {
    "first_paint": 2.0,
    "ready_warm": 5.0,
    "ready_cold": 40.0,
    "info_warm": 5.0,
    "oneshot_ratio": 1.3,
}


# -- the window, in its own process -----------------------------------------------------------------------------
def app_child() -> int:
    """Run the real app (ui.launcher.main, no arguments) and print when its window first painted and when the model
    panel said "ready"; then close the window as a user would, which ends the model process."""
    sys.path.insert(0, str(ROOT))
    from ui import main_window, model_panel

    def stamp(what: str) -> None:
        print(f"STARTUP {what} {time.time():.4f}", flush=True)

    first_paint = main_window.MainWindow.after_first_paint

    def after_first_paint(self: main_window.MainWindow, callback: object) -> None:
        def both() -> None:
            stamp("first-paint")
            callback()  # type: ignore[operator]

        first_paint(self, both)

    idle = model_panel.ModelPanel.idle

    def idle_and_stamp(self: model_panel.ModelPanel, message: str = "idle") -> None:
        idle(self, message)
        if message in ("ready", "load failed", "load cancelled"):
            stamp(message.replace(" ", "-"))
            from PySide6.QtCore import QTimer
            from PySide6.QtWidgets import QApplication

            QTimer.singleShot(0, lambda: [w.close() for w in QApplication.topLevelWidgets() if w.isWindow()])

    main_window.MainWindow.after_first_paint = after_first_paint  # type: ignore[method-assign]
    model_panel.ModelPanel.idle = idle_and_stamp  # type: ignore[method-assign]
    from ui.launcher import main

    return main([])


def launch_app(env: dict[str, str]) -> dict[str, float]:
    """Seconds from launch to first paint and to ready, and the CPU seconds of the app and its model process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    done = subprocess.run(
        [PYTHON, __file__, "--app-child"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=APP_TIMEOUT_S,
        check=False,
    )
    stamps: dict[str, float] = {}
    for line in done.stdout.splitlines():
        if line.startswith("STARTUP "):
            _, what, when = line.split()
            stamps.setdefault(what, float(when) - start)  # the first time: the panel may say "ready" again
    if "ready" not in stamps:
        tail = (done.stderr or done.stdout)[-1500:]
        raise SystemExit(f"the app did not reach 'ready' (exit {done.returncode}, stamps {stamps}):\n{tail}")
    stamps["cpu"] = _cpu_since(before)
    return stamps


# -- the CLI ------------------------------------------------------------------------------------------------------
def run_cli(args: list[str], env: dict[str, str]) -> tuple[float, float, dict[str, Any]]:
    """Wall seconds, CPU seconds and the JSON printed by one fresh `steering-workbench` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([*CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"steering-workbench {' '.join(args)} failed (exit {done.returncode}): {done.stderr[-800:]}")
    return wall, _cpu_since(before), json.loads(done.stdout)


def warm_generate_child(repeats: int) -> int:
    """The CLI's generate, `repeats` times in this one process: the later runs are the warm figure."""
    import contextlib
    import io

    sys.path.insert(0, str(ROOT))
    from workbench.cli.main import main

    for _ in range(repeats):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(GENERATE)
        if code != 0:
            return code
        print(out.getvalue().strip().replace("\n", " "), flush=True)
    return 0


def warm_generation(env: dict[str, str], repeats: int = 2) -> list[dict[str, float]]:
    done = subprocess.run(
        [PYTHON, __file__, "--warm-generate-child", str(repeats)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"warm generate failed (exit {done.returncode}): {done.stderr[-800:]}")
    return [json.loads(line)["timing"] for line in done.stdout.splitlines() if line.startswith("{")]


# -- the import that motivated sae_lens_lite -------------------------------------------------------------------
IMPORT_COST = """
import os, sys, time
def cpu():
    t = os.times()
    return t.user + t.system
import torch, transformers.modeling_utils
from transformers import AutoModelForCausalLM, AutoTokenizer
start = cpu()
if sys.argv[1] == "plain":
    from sae_lens import SAE
else:
    from workbench.saes.sae_lens_lite import sae_classes
    SAE = sae_classes().SAE
print(cpu() - start)
"""


# What the model process imports on its way to "ready", in order, in CPU seconds: the most of the warm figure. The
# third stage is what transformers' model code (modeling_utils) imports at module level for features a local
# model never uses here: torch._dynamo (deepgemm's and continuous batching's decorators), DTensor and FSDP
# (sharding), scipy.optimize (object-detection losses); imported first, so the fourth stage is the rest of it.
IMPORT_STAGES = """
import os, time
def cpu():
    t = os.times()
    return t.user + t.system
stages = []
def stage(name, modules):
    import importlib
    start = cpu()
    for module in modules:
        importlib.import_module(module)
    stages.append(f"{name} {cpu() - start:.2f}")
stage("transformers (package)", ["transformers"])
stage("torch", ["torch"])
stage("torch._dynamo + torch.distributed.tensor/fsdp + scipy.optimize", ["torch._dynamo", "torch.distributed.tensor",
      "torch.distributed.fsdp", "scipy.optimize"])
stage("rest of transformers' model and tokenizer code", ["transformers.modeling_utils",
      "transformers.models.auto.modeling_auto", "transformers.models.auto.tokenization_auto"])
print("; ".join(stages))
"""


def import_stages(env: dict[str, str]) -> str:
    done = subprocess.run(
        [PYTHON, "-c", IMPORT_STAGES], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    return done.stdout.strip().splitlines()[-1] if done.returncode == 0 else f"(failed: {done.stderr[-300:]})"


def sae_lens_import_cpu(mode: str, env: dict[str, str]) -> float:
    done = subprocess.run(
        [PYTHON, "-c", IMPORT_COST, mode], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    return float(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else float("nan")  # before the lite


# -- the report -----------------------------------------------------------------------------------------------------
def _cpu_since(before: resource.struct_rusage) -> float:
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _joined(values: Iterable[float], digits: int = 2) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def line(label: str, value: float, target: float, unit: str = "s", extra: str = "") -> None:
    verdict = "ok" if value < target else "OVER"
    shown = f"{value:.2f} {unit}" if unit else f"{value:.2f}"
    print(f"{label:<48} {shown:>9}   target < {target:g}{unit and ' ' + unit}   {verdict}{extra}", flush=True)


def environment(scratch: Path, cache: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["STEERING_WORKBENCH_DATA"] = str(scratch / "data")
    env["XDG_CONFIG_HOME"] = str(scratch / "config")  # QSettings: the window's remembered layout and model
    if cache is not None:
        env["STEERING_WORKBENCH_CACHE"] = str(cache)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-cold", action="store_true", help="skip the cold launch; warm runs use the user's cache")
    parser.add_argument("--no-generate", action="store_true", help="skip the one-shot vs warm generate figure")
    parser.add_argument("--repeats", type=int, default=2, help="warm launches and info calls (median)")
    parser.add_argument("--app-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--warm-generate-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.app_child:
        return app_child()
    if args.warm_generate_child:
        return warm_generate_child(args.warm_generate_child)

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import machine_line

    print(machine_line(), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        scratch = Path(tmp)
        cache = None if args.no_cold else scratch / "cache"
        env = environment(scratch, cache)
        platform = env.get("QT_QPA_PLATFORM") or "display " + env.get("DISPLAY", env.get("WAYLAND_DISPLAY", ""))
        print(f"window platform: {platform}; cache: {cache or 'the user cache'}", flush=True)

        plain, light = sae_lens_import_cpu("plain", env), sae_lens_import_cpu("light", env)
        print(f"sae-lens import after torch + transformers: plain {plain:.2f} s CPU, light (sae_lens_lite) {light:.2f}")
        print(f"model-process imports, CPU s: {import_stages(env)}", flush=True)

        if cache is not None:
            cold = launch_app(env)
            line(
                "launch → ready, cold (GGUF conversion included)",
                cold["ready"],
                TARGETS["ready_cold"],
                extra=f"   (first paint {cold.get('first-paint', float('nan')):.2f} s, CPU {cold['cpu']:.1f} s)",
            )

        warm = [launch_app(env) for _ in range(args.repeats)]
        paints = [w.get("first-paint", float("nan")) for w in warm]
        paint = statistics.median(paints)
        ready = statistics.median(w["ready"] for w in warm)
        cpu = statistics.median(w["cpu"] for w in warm)
        line(
            "launch → first paint of the window",
            paint,
            TARGETS["first_paint"],
            extra=f"   (runs: {_joined(paints)})",
        )
        line(
            "launch → ready, warm (model + 3 demo SAEs)",
            ready,
            TARGETS["ready_warm"],
            extra=f"   (runs: {_joined(w['ready'] for w in warm)}; CPU {cpu:.1f} s)",
        )

        infos = [run_cli(["info", "--json"], env) for _ in range(args.repeats)]
        n_saes = len(infos[-1][2]["saes"])
        line(
            "info --json, warm",
            statistics.median(i[0] for i in infos),
            TARGETS["info_warm"],
            extra=f"   (runs: {_joined(i[0] for i in infos)}; CPU {infos[-1][1]:.1f} s; {n_saes} SAEs)",
        )

        if args.no_generate:
            print(f"load average after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
            return 0
        wall, cpu_s, record = run_cli(GENERATE, env)
        oneshot = record["timing"]
        warm_runs = warm_generation(env)
        warm_tps = statistics.median(t["tokens_per_s"] for t in warm_runs[1:])
        ratio = warm_tps / oneshot["tokens_per_s"]
        print(
            f"generate, 64 tokens, baseline + 1 steered: one-shot process {oneshot['tokens_per_s']:.1f} tokens/s per "
            f"pane ({oneshot['steps']} steps, generation {oneshot['wall_s']:.2f} s, whole process {wall:.2f} s, "
            f"CPU {cpu_s:.1f} s); warm process {warm_tps:.1f} tokens/s "
            f"(runs: {_joined((t['tokens_per_s'] for t in warm_runs), 1)}, the first is that process's own "
            "first)",
            flush=True,
        )
        line("one-shot generate: warm / one-shot tokens/s", ratio, TARGETS["oneshot_ratio"], unit="")
    print(f"load average after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
