"""The handlers of the model, SAE, generation and analysis requests (see workbench/jobs/dispatch.py)."""

from __future__ import annotations

from workbench.cancel import CancelToken
from workbench.engine import Engine
from workbench.errors import WorkbenchError
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.jobs.dispatch import Emit, handles
from workbench.progress import Progress


@handles(rq.LoadModel)
def load_model(engine: Engine, r: rq.LoadModel, token: CancelToken, emit: Emit) -> None:
    """Load the model, then its SAEs (keyed by `keys` where given: a reopened session's keys)."""
    backend = engine.load_model(
        r.spec,
        r.device,
        r.dtype,
        progress=lambda p: emit(ev.ProgressMade, progress=p),
        cancel=token,
        backend=r.backend,
        max_memory=r.max_memory,
        ignore_memory_check=r.ignore_memory_check,
    )
    emit(ev.ModelLoaded, info=backend.info, capabilities=backend.capabilities, backend=r.backend)
    emit(ev.SaesChanged, saes=tuple(engine.sae_summaries()))
    for n, sae in enumerate(r.saes, start=1):
        token.raise_if_cancelled()
        emit(ev.ProgressMade, progress=Progress(f"loading SAE {n} of {len(r.saes)}", n, len(r.saes)))
        try:
            engine.add_sae(sae, r.keys[n - 1] if r.keys and n <= len(r.keys) else None)
        except WorkbenchError as exc:  # one bad SAE must not undo the model load
            emit(ev.SaeLoadFailed, spec=sae, message=str(exc))
        emit(ev.SaesChanged, saes=tuple(engine.sae_summaries()))
    emit(ev.ProgressMade, progress=Progress("ready", 1, 1))


@handles(rq.AddSae)
def add_sae(engine: Engine, r: rq.AddSae, _token: CancelToken, emit: Emit) -> None:
    emit(ev.ProgressMade, progress=Progress(f"loading SAE {r.spec}"))
    engine.add_sae(r.spec, r.key)
    emit(ev.SaesChanged, saes=tuple(engine.sae_summaries()))
    emit(ev.ProgressMade, progress=Progress("ready", 1, 1))


@handles(rq.RemoveSae)
def remove_sae(engine: Engine, r: rq.RemoveSae, _token: CancelToken, emit: Emit) -> None:
    engine.remove_sae(r.key)
    emit(ev.SaesChanged, saes=tuple(engine.sae_summaries()))


@handles(rq.Generate)
def generate(engine: Engine, r: rq.Generate, token: CancelToken, emit: Emit) -> None:
    run_ = engine.generate(r.prompt, r.plan, r.settings, chat=r.chat, cancel=token)
    result = run_.run(on_token=lambda step: emit(ev.TokensGenerated, step=step))
    emit(ev.Generated, result=result, plan=r.plan)


@handles(rq.Heatmap)
def heatmap(engine: Engine, r: rq.Heatmap, token: CancelToken, emit: Emit) -> None:
    from workbench.analysis.heatmap import build_heatmap

    data = build_heatmap(engine, r.pane, list(r.token_ids), r.prompt_len, r.sae_key, r.n_features, cancel=token)
    token.raise_if_cancelled()
    emit(ev.HeatmapReady, data=data)


@handles(rq.FeatureLayers)
def feature_layers(engine: Engine, r: rq.FeatureLayers, token: CancelToken, emit: Emit) -> None:
    """One feature across layers: the anchor and its nearest decoder direction at every other SAE, per token."""
    from workbench.analysis.feature_layers import feature_across_layers

    data = feature_across_layers(
        engine.backend, engine.saes, r.sae_key, r.feature, list(r.token_ids), r.pane, r.prompt_len, cancel=token
    )
    token.raise_if_cancelled()
    emit(ev.FeatureLayersReady, data=data)


@handles(rq.Inspect)
def inspect(engine: Engine, r: rq.Inspect, token: CancelToken, emit: Emit) -> None:
    from workbench.analysis.inspect import feature_card

    card = feature_card(engine.backend, engine.sae(r.sae_key), r.feature, cancel=token)
    emit(ev.CardReady, card=card)


@handles(rq.UnitScales)
def unit_scales(engine: Engine, r: rq.UnitScales, token: CancelToken, emit: Emit) -> None:
    from workbench.analysis.inspect import feature_card

    card = feature_card(engine.backend, engine.sae(r.sae_key), r.feature, n_tokens=1, cancel=token)
    emit(ev.ScalesReady, sae_key=r.sae_key, feature=r.feature, scales=card.scales, feature_label=card.label)


@handles(rq.Effect)
def effect(engine: Engine, r: rq.Effect, token: CancelToken, emit: Emit) -> None:
    from workbench.analysis.effect import steer_effect

    rows = steer_effect(engine, r.plan, r.result, cancel=token)
    emit(ev.EffectReady, rows=tuple(rows))


@handles(rq.SearchFeatures)
def search_features(engine: Engine, r: rq.SearchFeatures, _token: CancelToken, emit: Emit) -> None:
    """Features whose label (or id) matches the query, over every loaded SAE."""
    from workbench.analysis.feature_search import feature_index, search_features

    hits = search_features([feature_index(s) for s in engine.saes], r.query, r.limit)
    emit(ev.SearchResults, query=r.query, hits=tuple(hits))


@handles(rq.FeatureIndexes)
def feature_indexes(engine: Engine, r: rq.FeatureIndexes, token: CancelToken, emit: Emit) -> None:
    """Labels and densities of the SAEs' features, one SAE per event so each message stays small."""
    from workbench.analysis.feature_search import feature_index

    for sae in list(engine.saes):
        if r.keys is None or sae.key in r.keys:
            token.raise_if_cancelled()
            emit(ev.FeatureIndexReady, indexes=(feature_index(sae),))


@handles(rq.RecordSession)
def record(engine: Engine, r: rq.RecordSession, token: CancelToken, emit: Emit) -> None:
    """The Session of the loaded model and SAEs with these inputs: frozen plain data, so it crosses as is."""
    from workbench.session.record import record_session

    session = record_session(engine, r.prompt, r.plan, r.settings, r.chat, r.result, dict(r.analysis))
    token.raise_if_cancelled()
    emit(ev.SessionRecorded, session=session)
