"""The sweep handler (issue 11): run or resume a sweep, streaming its rows to the window as they finish.

Every message stays small: one event per finished row (rows read back from disk go in small groups), progress at
most a few times a second, and the end names only the drift cells. Rows go to the sweep's folder as they finish
(workbench/sweeps/store.py), so a killed model process loses only the rows it was generating: running the same
spec again reads the others back. The folder also gets cells.csv and the PNG plots, as `sweep --out` writes them.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.cancel import CancelToken
from workbench.engine import Engine
from workbench.errors import Cancelled
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.jobs.dispatch import Emit, handles
from workbench.progress import Progress

if TYPE_CHECKING:
    from workbench.sweeps.records import SweepResult
    from workbench.sweeps.spec import SweepSpec

READ_BACK_GROUP = 16  # rows per event when sending rows read back from disk
PROGRESS_EVERY_S = 0.25


def sweep_folder(spec: SweepSpec) -> Path:
    """Where the window keeps a spec's rows: one folder per spec in the cache, so running it again resumes."""
    from workbench.paths import cache_dir

    digest = hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / "sweeps" / digest


@handles(rq.RunSweep)
def run_sweep(engine: Engine, r: rq.RunSweep, token: CancelToken, emit: Emit) -> None:
    """STEP 1 resolve the grid (an unknown feature fails here, before any work); STEP 2 send the rows the folder
    already holds; STEP 3 run the rest, each row sent as it finishes; STEP 4 write the summary files, send the end."""
    from workbench.sweeps.grid import build_grid
    from workbench.sweeps.runner import run_sweep as run
    from workbench.sweeps.store import RowStore

    folder = Path(r.folder).expanduser() if r.folder else sweep_folder(r.spec)
    store = RowStore(folder)
    grid = build_grid(engine, r.spec)
    store.write_spec(r.spec.to_dict())
    done = [store.rows[g.id] for g in grid.rows if g.id in store.rows]
    emit(
        ev.SweepStarted,
        sweep_id=r.sweep_id,
        targets=grid.targets,
        rows_total=len(grid.rows),
        reused=len(done),
        folder=str(folder),
    )
    for i in range(0, len(done), READ_BACK_GROUP):
        emit(ev.SweepRowsReady, sweep_id=r.sweep_id, rows=tuple(done[i : i + READ_BACK_GROUP]))
    last = [0.0]

    def progress(p: Progress) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S or (p.total and p.done >= p.total):
            last[0] = now
            emit(ev.ProgressMade, progress=p)

    result = run(
        engine,
        r.spec,
        store=store,
        batch_size=r.batch_size,
        progress=progress,
        on_row=lambda row: emit(ev.SweepRowsReady, sweep_id=r.sweep_id, rows=(row,)),
        cancel=token,
    )
    _write_outputs(folder, result)
    emit(
        ev.SweepEnded,
        sweep_id=r.sweep_id,
        drift=result.drift,
        cancelled=result.cancelled,
        wall_s=result.timing.get("wall_s", 0.0),
    )
    if result.cancelled:
        raise Cancelled("sweep stopped: the finished rows are kept")
    emit(ev.ProgressMade, progress=Progress("ready", 1, 1))


def _write_outputs(folder: Path, result: SweepResult) -> None:
    """cells.csv and the plots beside rows.jsonl, as the CLI's --out writes them (also for a stopped sweep)."""
    from workbench.sweeps.plots import write_plots
    from workbench.sweeps.report import write_cells_csv
    from workbench.sweeps.summary import summarise

    summary = summarise(result)
    write_cells_csv(folder, summary)
    if summary.cells:
        write_plots(folder, summary, result.spec.unit.value)
