"""Heatmap of a long text: a 2,000-token text at one layer, the window's Heatmap job and its drawing.

The job is the one the window sends (workbench/jobs/handlers.py `heatmap` → analysis/heatmap.py
`build_heatmap`): one forward of the embedded SmolLM2 to the deepest SAE layer (8, 15 and 22 are loaded, as at
start-up; the residual norms of each are drawn too), then the SAE's encode, the ranking and the tokens × features
matrix. Both SAEs read layer 15: the demo SAE (4,608 features) and a random sae-lens SAE of 32,768 features.

Prints, after the machine line:
- `forward`: the residual forward alone (not in the encode/build figure; it does not depend on the SAE);
- per SAE, `encode/build` (targets: < 1 s demo, < 3 s 32,768): what follows the forward in the job, i.e. the
  encode, top-k, ranking, matrix, norms and labels, plus the event's trip through the model-process pipe
  (pickled and unpickled), in wall time and in process CPU time (all threads; on a shared machine the wall time
  includes waiting for a core); and `job` = the whole handler once, forward included;
- the longest time the Qt event loop is blocked (a 5 ms QTimer's largest gap, offscreen platform) while the
  heatmap view receives and draws the 32,768-feature result, switches tabs, resizes and follows the mouse
  (target < 50 ms).

The text is the README, cut at 2,000 tokens (the model's context is 8,192 positions; the
window's text is the prompt plus up to 4,096 new tokens, so a 2,000-token text is one the app allows).
Run: .venv/bin/python bench/heatmap.py [repeats]
"""

from __future__ import annotations

import os
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, engine_with_saes, machine_line

from tests.factories import make_sae
from workbench.analysis.heatmap import HeatmapData, top_features
from workbench.analysis.inspect import feature_label
from workbench.cancel import CancelToken
from workbench.engine import Engine
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.jobs.handlers import heatmap as heatmap_handler

N_TOKENS = 2000
N_FEATURES = 16  # the window's request (rq.Heatmap's default)


def long_text(engine: Engine) -> list[int]:
    """The README as one text (about 6,000 tokens), cut at N_TOKENS."""
    ids = engine.backend.encode_prompt((ROOT / "README.md").read_text(encoding="utf-8"), chat=False)
    while len(ids) < N_TOKENS:  # a shorter README: repeat it rather than measure a shorter text
        ids = ids + ids
    return ids[:N_TOKENS]


def timed(run: Any, repeats: int) -> tuple[float, list[float], float]:
    """Median wall time, each run's wall time, and the median process CPU time (all threads): on a shared machine
    the wall time includes waiting for a core, and CPU time / threads is what the run would take alone."""
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(times), times, statistics.median(cpu)


def after_forward(engine: Engine, key: str, residuals: dict[int, Any], ids: list[int]) -> HeatmapData:
    """build_heatmap's steps after the forward, on captured residuals; then the event's pickle round trip."""
    import numpy as np

    sae = engine.sae(key)
    features, matrix = top_features(sae, residuals[sae.layer], N_FEATURES)
    layers = sorted(residuals)
    data = HeatmapData(
        "bench",
        key,
        sae.layer,
        tuple(engine.backend.token_strings(ids)),
        10,
        features,
        tuple(feature_label(sae, f) for f in features),
        matrix,
        tuple(layers),
        np.stack([np.linalg.norm(residuals[layer], axis=-1) for layer in layers]),
    )
    event = pickle.loads(pickle.dumps(ev.HeatmapReady(job=1, data=data), protocol=pickle.HIGHEST_PROTOCOL))
    return event.data


def job(engine: Engine, key: str, ids: list[int]) -> HeatmapData:
    """The window's job as the model process runs it: the handler, its event pickled for the pipe."""
    got: list[HeatmapData] = []

    def emit(kind: type[ev.Event], /, **fields: Any) -> None:
        event = pickle.loads(pickle.dumps(kind(job=1, **fields), protocol=pickle.HIGHEST_PROTOCOL))
        got.append(event.data)

    heatmap_handler(engine, rq.Heatmap("bench", tuple(ids), 10, key, N_FEATURES), CancelToken(), emit)
    return got[0]


def gui_stalls(data: HeatmapData) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QPointF, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from ui.heatmap_view import TAB_FEATURES, TAB_NORMS, HeatmapView

    view = HeatmapView()
    view.set_choices(["baseline", data.pane], [(data.sae_key, data.sae_key)])
    view.resize(1400, 600)
    view.show()
    # Each tick's wall-clock gap, and the GUI thread's CPU time in it: on a loaded machine a gap is partly time
    # the process waited for a core, which the CPU time leaves out.
    last, gaps, cpu = [time.perf_counter(), time.thread_time()], [], []

    def tick() -> None:
        now, now_cpu = time.perf_counter(), time.thread_time()
        gaps.append(now - last[0])
        cpu.append(now_cpu - last[1])
        last[:] = [now, now_cpu]

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()

    def spin(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.0005)

    def hover() -> None:
        scene = view.features_grid.plot.scene()
        for x in range(100, 1300, 40):
            scene.sigMouseMoved.emit(QPointF(x, 200))
            app.processEvents()

    steps = [
        ("receive and draw", lambda: view.show_data(data)),
        ("norms tab", lambda: view.tabs.setCurrentIndex(TAB_NORMS)),
        ("back to features", lambda: view.tabs.setCurrentIndex(TAB_FEATURES)),
        ("resize", lambda: view.resize(1000, 500)),
        ("hover 30 cells", hover),
        ("a second result", lambda: view.show_data(data)),
    ]
    worst, worst_cpu = 0.0, 0.0
    spin(0.5)
    for name, action in steps:
        spin(0.2)
        gaps.clear()
        cpu.clear()
        last[:] = [time.perf_counter(), time.thread_time()]
        QTimer.singleShot(0, action)
        spin(0.8)
        worst, worst_cpu = max(worst, max(gaps)), max(worst_cpu, max(cpu))
        print(f"  {name}: longest event-loop block {max(gaps) * 1000:.1f} ms (GUI-thread CPU {max(cpu) * 1000:.1f} ms)")
    shape = view.features_grid.shape
    print(
        f"GUI: {shape[0]} features x {shape[1]} tokens drawn; longest event-loop block {worst * 1000:.1f} ms "
        f"(most GUI-thread CPU in one block {worst_cpu * 1000:.1f} ms)"
    )
    timer.stop()
    view.close()


def main(repeats: int = 5) -> None:
    print(machine_line())
    engine = engine_with_saes((8, 15, 22))
    folder = Path(tempfile.mkdtemp(prefix="bench-heatmap-"))
    big = make_sae(folder / "L15-32k", d_in=engine.backend.info.d_model, layer=15, d_sae=32768, seed=15)
    keys = {"demo (4,608 features)": "L15", "32,768 features": engine.add_sae(str(big)).key}
    ids = long_text(engine)
    layers = sorted({s.layer for s in engine.saes})
    print(f"text: {len(ids)} tokens (model context {engine.backend.info.context_length}); SAE layers {layers}")
    job(engine, "L15", ids[:200])  # warm-up: lazy imports and first-call allocations
    residuals: dict[int, Any] = {}

    def forward() -> None:
        residuals.update(engine.backend.residuals(ids, layers))

    median, times, cpu = timed(forward, 2)
    print(
        f"forward (layers up to {max(layers)}, not in encode/build): median {median:.2f} s {_round(times)}, "
        f"CPU {cpu:.2f} s"
    )
    for name, key in keys.items():
        after_forward(engine, key, residuals, ids)  # warm-up
        median, times, cpu = timed(lambda k=key: after_forward(engine, k, residuals, ids), repeats)
        print(f"{name}: encode/build median {median:.3f} s {_round(times)}, CPU {cpu:.3f} s")
        start = time.perf_counter()
        data = job(engine, key, ids)
        print(f"{name}: job (forward + encode/build) {time.perf_counter() - start:.2f} s")
    print(f"load average after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    gui_stalls(data)


def _round(times: list[float]) -> list[float]:
    return [round(t, 3) for t in times]


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
