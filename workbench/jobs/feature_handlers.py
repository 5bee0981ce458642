"""The handlers that tell features apart (issue 12): neighbours, minimal pairs, contrast sets, differential
steering, the warnings shown on a steered feature, and label imports (see workbench/jobs/dispatch.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.cancel import CancelToken
from workbench.engine import Engine
from workbench.errors import WorkbenchError
from workbench.jobs import events as ev
from workbench.jobs import requests as rq
from workbench.jobs.dispatch import Emit, handles
from workbench.progress import Progress

if TYPE_CHECKING:
    from workbench.analysis.coactivation import Coactivation
    from workbench.analysis.neighbours import FeatureNeighbours
    from workbench.saes.loader import LoadedSae

# Co-activation tables read from the cache, by SAE fingerprint: the model process keeps them while it lives, so
# clicking through neighbours does not re-read a file of several megabytes each time.
_COACTIVATION: dict[str, Coactivation] = {}


def _cached_coactivation(sae: LoadedSae) -> Coactivation | None:
    """The SAE's co-activation on the default corpus if it was computed before (memory, else the cache file)."""
    from workbench.analysis.coactivation import (
        MAX_WINDOWS,
        WINDOW,
        cache_path,
        corpus_key,
        default_texts,
        load_coactivation,
    )

    if sae.fingerprint not in _COACTIVATION:
        texts, _ = default_texts()
        try:
            _COACTIVATION[sae.fingerprint] = load_coactivation(
                cache_path(sae.fingerprint, corpus_key(texts, WINDOW, MAX_WINDOWS))
            )
        except WorkbenchError:
            return None  # not computed yet (or a damaged file: the corpus pass replaces it)
    return _COACTIVATION[sae.fingerprint]


@handles(rq.Neighbours)
def neighbours(engine: Engine, r: rq.Neighbours, token: CancelToken, emit: Emit) -> None:
    """STEP 1: cosine neighbours (a second for a new SAE, then cached), sent at once with co-activation if it is
    cached. STEP 2, only when asked and not cached: the corpus pass for every loaded SAE that lacks it (one pass of
    the model serves them all), with progress, cancellable between batches; then the full table again."""
    from workbench.analysis.coactivation import cached_coactivations
    from workbench.analysis.neighbours import feature_neighbours

    sae = engine.sae(r.sae_key)
    emit(ev.ProgressMade, progress=Progress(f"neighbours of L{sae.layer} f{r.feature}"))
    coactivation = _cached_coactivation(sae)
    first = feature_neighbours(sae, r.feature, r.top, coactivation, cancel=token)
    emit(ev.NeighboursReady, data=first, coactivation=coactivation is not None, imported=_imported(sae, first))
    if coactivation is not None or not r.coactivation:
        emit(ev.ProgressMade, progress=Progress("ready", 1, 1))
        return
    missing = [s for s in engine.saes if _cached_coactivation(s) is None]
    found = cached_coactivations(
        engine.backend, missing, progress=lambda p: emit(ev.ProgressMade, progress=p), cancel=token
    )
    for s in missing:
        _COACTIVATION[s.fingerprint] = found[s.key]
    full = feature_neighbours(sae, r.feature, r.top, found[sae.key], cancel=token)
    token.raise_if_cancelled()
    emit(ev.NeighboursReady, data=full, coactivation=True, imported=_imported(sae, full))
    emit(ev.ProgressMade, progress=Progress("ready", 1, 1))


def _imported(sae: LoadedSae, found: FeatureNeighbours) -> tuple[tuple[int, str], ...]:
    """The imported labels of the feature and its neighbours, shown beside their automatic ones."""
    from workbench.saes.labels import stored_labels

    labels = stored_labels(sae.fingerprint)
    wanted = [found.feature, *(n.feature for n in found.neighbours)]
    return tuple((f, labels[f]) for f in wanted if f in labels)


@handles(rq.MinimalPair)
def minimal_pair(engine: Engine, r: rq.MinimalPair, token: CancelToken, emit: Emit) -> None:
    from workbench.analysis.contrast import minimal_pair as contrast_pair

    contrast = contrast_pair(engine, r.sae_key, r.text_a, r.text_b, r.top)
    token.raise_if_cancelled()
    emit(ev.ContrastReady, contrast=contrast, text_a=r.text_a, text_b=r.text_b)


@handles(rq.ContrastSets)
def contrast_sets(engine: Engine, r: rq.ContrastSets, token: CancelToken, emit: Emit) -> None:
    from pathlib import Path

    from workbench.analysis.contrast import contrast_sets as rank_sets
    from workbench.analysis.texts import read_texts

    texts_a, texts_b = read_texts(r.file_a), read_texts(r.file_b)  # a missing or empty file fails here, fast
    contrast = rank_sets(
        engine, r.sae_key, texts_a, texts_b, r.top, progress=lambda p: emit(ev.ProgressMade, progress=p), cancel=token
    )
    emit(ev.ContrastReady, contrast=contrast, text_a=Path(r.file_a).name, text_b=Path(r.file_b).name)
    emit(ev.ProgressMade, progress=Progress("ready", 1, 1))


@handles(rq.Selectivity)
def selectivity(engine: Engine, r: rq.Selectivity, token: CancelToken, emit: Emit) -> None:
    """Greedy, so the 2 × 2 table does not move with sampling noise."""
    from workbench.analysis.selectivity import DEFAULT_PROMPT, FeatureRef, measure_selectivity
    from workbench.models.sampling import SamplingSettings

    a, b = engine.sae(r.sae_key_a), engine.sae(r.sae_key_b)
    ref_a, ref_b = FeatureRef(a.layer, r.feature_a, a.key), FeatureRef(b.layer, r.feature_b, b.key)
    settings = SamplingSettings(temperature=0.0, max_new_tokens=r.max_new_tokens, stop_at_eos=False)
    emit(ev.ProgressMade, progress=Progress(f"steering {ref_a.describe()} and {ref_b.describe()} separately"))
    result = measure_selectivity(
        engine, ref_a, ref_b, r.strength, r.unit, r.prompt or DEFAULT_PROMPT, settings, cancel=token
    )
    emit(ev.SelectivityReady, result=result)
    emit(ev.ProgressMade, progress=Progress("ready", 1, 1))


@handles(rq.FeatureWarnings)
def feature_warnings(engine: Engine, r: rq.FeatureWarnings, token: CancelToken, emit: Emit) -> None:
    """One line per reason to doubt the feature as a steering knob (see workbench/analysis/feature_checks.py)."""
    from workbench.analysis.feature_checks import loaded_surface_check, near_duplicates
    from workbench.analysis.neighbours import default_label

    sae = engine.sae(r.sae_key)
    warnings = []
    duplicates = near_duplicates(list(engine.saes), sae.key, r.feature)
    token.raise_if_cancelled()
    if duplicates:
        shown = "; ".join(
            f"L{d.layer} f{d.feature} {default_label(engine.sae(d.sae_key), d.feature)!r} ({d.cosine:.2f})"
            for d in duplicates[:3]
        )
        more = f" and {len(duplicates) - 3} more" if len(duplicates) > 3 else ""
        warnings.append(f"near-duplicate (decoder cosine ≥ 0.7): {shown}{more}")
    check = loaded_surface_check(sae, r.feature)
    if check is not None and check.dominated:
        warnings.append(f"surface string: {check.describe()}")
    emit(ev.FeatureWarningsReady, sae_key=sae.key, feature=r.feature, warnings=tuple(warnings))


@handles(rq.ImportLabels)
def import_labels(engine: Engine, r: rq.ImportLabels, _token: CancelToken, emit: Emit) -> None:
    """Check the file against the loaded SAE (its fingerprint, layer, size and the model's names), store the
    labels, and send the SAE's refreshed search index so the imported labels are found at once."""
    from pathlib import Path

    from workbench.analysis.feature_search import feature_index
    from workbench.saes.labels import import_labels as import_file
    from workbench.saes.labels import loaded_identity

    sae = engine.sae(r.sae_key)
    info = engine.backend.info
    metadata = getattr(getattr(sae.sae, "cfg", None), "metadata", None)
    names = [info.name, Path(str(info.path)).name, str(getattr(metadata, "model_name", "") or "")]
    outcome = import_file(r.path, loaded_identity(sae.fingerprint, sae.layer, sae.d_sae, names))
    skipped = len(outcome.out_of_range) + outcome.other_layers + outcome.blank + outcome.unreadable
    emit(ev.LabelsImported, sae_key=sae.key, summary=outcome.summary(), imported=outcome.imported, skipped=skipped)
    emit(ev.FeatureIndexReady, indexes=(feature_index(sae),))
