"""The SAE-quality job (issue 13): the quality panel's figures for one loaded SAE, on the shipped held-out
corpus or the user's own text file (see workbench/analysis/sae_quality.py and workbench/jobs/dispatch.py)."""

from __future__ import annotations

from workbench.cancel import CancelToken
from workbench.engine import Engine
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.jobs.dispatch import Emit, handles
from workbench.progress import Progress


@handles(rq.SaeQuality)
def sae_quality(engine: Engine, r: rq.SaeQuality, token: CancelToken, emit: Emit) -> None:
    """Texts first (a missing or empty file fails here, before any forward pass), then one forward per text with
    progress, cancellable between texts and inside each forward; the report is sent once, at the end."""
    from workbench.analysis.sae_quality import measure_sae_quality
    from workbench.analysis.texts import texts_from

    sae = engine.sae(r.sae_key)
    texts, source = texts_from(None if r.source == rq.SHIPPED_TEXTS else r.source)
    emit(ev.ProgressMade, progress=Progress(f"L{sae.layer} quality on {source}: starting", 0, 0))
    report = measure_sae_quality(
        engine,
        sae.key,
        texts,
        source,
        max_texts=r.max_texts,
        max_tokens=r.max_tokens,
        progress=lambda p: emit(ev.ProgressMade, progress=p),
        cancel=token,
    )
    token.raise_if_cancelled()
    emit(ev.SaeQualityReady, sae_key=sae.key, report=report)
    emit(ev.ProgressMade, progress=Progress("ready", 1, 1))
