"""The operations a front end asks of the model owner, by name, with plain arguments.

Each takes the engine, the job's cancel token and an `emit(event, payload)` callback, so the same operations
run on an in-process worker thread or in a separate model process (workbench.host) — names and plain data
cross a process boundary where closures cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workbench.engine import Engine
from workbench.errors import WorkbenchError
from workbench.cancel import CancelToken
from workbench.progress import Progress
from workbench.models.generation import GenerationResult
from workbench.models.sampling import SamplingSettings
from workbench.steering.plan import SteeringPlan

Emit = Callable[[str, Any], None]


def load_model(
    engine: Engine,
    token: CancelToken,
    emit: Emit,
    spec: str,
    device: str,
    dtype: str,
    saes: list[str],
    keys: list[str] | None = None,
) -> Any:
    """Load the model, then `saes` (keyed by `keys` where given: a reopened session's keys)."""
    backend = engine.load_model(spec, device, dtype, progress=lambda p: emit("progress", p), cancel=token)
    emit("model", backend.info)
    emit("saes", engine.sae_summaries())
    for n, sae in enumerate(saes, start=1):
        token.raise_if_cancelled()
        emit("progress", Progress(f"loading SAE {n} of {len(saes)}", n, len(saes)))
        try:
            engine.add_sae(sae, keys[n - 1] if keys and n <= len(keys) else None)
        except WorkbenchError as exc:  # one bad SAE must not undo the model load
            emit("failed", ("load SAE", str(exc)))
        emit("saes", engine.sae_summaries())
    emit("progress", Progress("ready", 1, 1))
    return backend.info


def add_sae(engine: Engine, _token: CancelToken, emit: Emit, spec: str, key: str | None = None) -> Any:
    emit("progress", Progress(f"loading SAE {spec}"))
    summary = engine.add_sae(spec, key)
    emit("saes", engine.sae_summaries())
    emit("progress", Progress("ready", 1, 1))
    return summary


def remove_sae(engine: Engine, _token: CancelToken, emit: Emit, key: str) -> None:
    engine.remove_sae(key)
    emit("saes", engine.sae_summaries())


def generate(
    engine: Engine,
    token: CancelToken,
    emit: Emit,
    prompt: str,
    plan: SteeringPlan,
    settings: SamplingSettings,
    chat: bool,
) -> GenerationResult:
    run = engine.generate(prompt, plan, settings, chat=chat, cancel=token)
    result = run.run(on_token=lambda event: emit("token", event))
    emit("generation", (result, plan))
    return result


def heatmap(
    engine: Engine,
    token: CancelToken,
    emit: Emit,
    pane: str,
    token_ids: list[int],
    prompt_len: int,
    sae_key: str,
    n_features: int = 16,
) -> Any:
    from workbench.analysis.heatmap import build_heatmap

    data = build_heatmap(engine, pane, token_ids, prompt_len, sae_key, n_features)
    token.raise_if_cancelled()
    emit("heatmap", data)
    return data


def inspect(engine: Engine, _token: CancelToken, emit: Emit, sae_key: str, feature: int) -> Any:
    from workbench.analysis.inspect import feature_card

    card = feature_card(engine.backend, engine.sae(sae_key), feature)
    emit("card", card)
    return card


def unit_scales(engine: Engine, _token: CancelToken, emit: Emit, sae_key: str, feature: int) -> Any:
    from workbench.analysis.inspect import feature_card

    card = feature_card(engine.backend, engine.sae(sae_key), feature, n_tokens=1)
    emit("scales", (sae_key, feature, (card.scales, card.label)))
    return card.scales


def effect(engine: Engine, _token: CancelToken, emit: Emit, plan: SteeringPlan, result: GenerationResult) -> Any:
    from workbench.analysis.effect import steer_effect

    rows = steer_effect(engine, plan, result)
    emit("effect", rows)
    return rows


def search_features(engine: Engine, _token: CancelToken, emit: Emit, query: str, limit: int = 50) -> Any:
    """Features whose label (or id) matches `query`, over every loaded SAE: a list of FeatureHit."""
    from workbench.analysis.feature_search import feature_index
    from workbench.analysis.feature_search import search_features as search

    hits = search([feature_index(s) for s in engine.saes], query, limit)
    emit("search", (query, hits))
    return hits


def feature_indexes(engine: Engine, _token: CancelToken, emit: Emit, keys: list[str] | None = None) -> Any:
    """Labels and densities of the SAEs' features (all SAEs, or `keys`), for searching in the front end."""
    from workbench.analysis.feature_search import feature_index

    indexes = []
    for sae in engine.saes:
        if keys is None or sae.key in keys:
            indexes.append(feature_index(sae))
            emit("feature_index", indexes[-1:])  # one SAE at a time: each message stays small
    return len(indexes)


def feature_layers(
    engine: Engine,
    token: CancelToken,
    emit: Emit,
    pane: str,
    token_ids: list[int],
    prompt_len: int,
    sae_key: str,
    feature: int,
) -> Any:
    """One feature across layers: the anchor and its nearest decoder direction at every other SAE, per token."""
    from workbench.analysis.feature_layers import feature_across_layers

    data = feature_across_layers(engine.backend, engine.saes, sae_key, feature, token_ids, pane, prompt_len)
    token.raise_if_cancelled()
    emit("feature_layers", data)
    return data


def record(
    engine: Engine,
    token: CancelToken,
    emit: Emit,
    prompt: str,
    plan: SteeringPlan,
    settings: SamplingSettings,
    chat: bool,
    result: GenerationResult | None = None,
    analysis: dict[str, Any] | None = None,
) -> Any:
    """The Session of the loaded model and SAEs with this prompt, plan and (if given) run: emitted as `session`.

    Runs here because a session records what only the model's side knows (weight hashes, device, the unit scales
    each edit was converted with); the Session is frozen plain data, so it crosses the process boundary as is.
    """
    from workbench.session.record import record_session

    session = record_session(engine, prompt, plan, settings, chat, result, analysis)
    token.raise_if_cancelled()
    emit("session", session)
    return session


OPERATIONS: dict[str, Callable[..., Any]] = {
    "load_model": load_model,
    "add_sae": add_sae,
    "remove_sae": remove_sae,
    "generate": generate,
    "heatmap": heatmap,
    "inspect": inspect,
    "unit_scales": unit_scales,
    "effect": effect,
    "search_features": search_features,
    "feature_indexes": feature_indexes,
    "feature_layers": feature_layers,
    "record": record,
}
