"""Neighbours of a feature within its SAE: the features nearest to it by decoder cosine, by encoder cosine, and by
co-activation on the reference corpus (Jaccard, correlation; coactivation.py), with labels and densities.

Why all four: the decoder row is what steering adds, so decoder neighbours are what a steer may also move; the
encoder row is what the feature reads, so encoder neighbours compete for the same inputs (feature splitting and
absorption show up there); co-activation says which features fire on the same tokens whatever their directions.

The d_sae × d_sae cosine products are taken a block of rows at a time, keeping the top `KEEP` per feature, and
cached per SAE (by its fingerprint) under the cache folder: the first call costs about a second per matrix on a
laptop CPU for 4608 features, later calls read a small file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.analysis.coactivation import CHUNK, KEEP, Coactivation, TopTable
from workbench.cancel import CancelToken, check
from workbench.errors import InputError, WorkbenchError
from workbench.npzfile import read_npz, write_npz
from workbench.paths import cache_dir

if TYPE_CHECKING:
    from workbench.saes.loader import LoadedSae

NEIGHBOURS_VERSION = 1
MEASURES = ("decoder", "encoder", "jaccard", "correlation")


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero, so a dead feature has cosine 0 with everything)."""
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def top_cosines(rows: np.ndarray, k: int = KEEP, chunk: int = CHUNK, cancel: CancelToken | None = None) -> TopTable:
    """For each row of `rows` (n, d), the k other rows with the largest cosine, best first; blocks of `chunk` rows
    so the n × n matrix is never held whole."""
    import torch

    n = rows.shape[0]
    if n < 2:
        raise InputError("an SAE needs at least two features to have neighbours")
    k = min(k, n - 1)
    unit = torch.from_numpy(np.ascontiguousarray(unit_rows(rows.astype(np.float32))))
    ids = np.zeros((n, k), np.int32)
    values = np.zeros((n, k), np.float32)
    with torch.no_grad():
        for start in range(0, n, chunk):
            check(cancel)
            block = unit[start : start + chunk] @ unit.T
            local = torch.arange(block.shape[0])
            block[local, local + start] = -float("inf")  # a feature is not its own neighbour
            top = block.topk(k, dim=1)
            ids[start : start + block.shape[0]] = top.indices.numpy()
            values[start : start + block.shape[0]] = top.values.numpy()
    return TopTable(ids, values)


def sae_matrices(sae: LoadedSae) -> tuple[np.ndarray, np.ndarray]:
    """(decoder directions, encoder directions), each (d_sae, d_in) float32 and unit rows.

    The decoder direction is what steering adds (decode(e_i) − decode(0): architectures that rescale by decoder
    norms are handled there); the encoder direction is W_enc's column i, what the feature reads."""
    from workbench.analysis.feature_layers import unit_directions

    decoder = unit_directions(sae)
    encoder = sae.sae.W_enc.detach().float().cpu().numpy().T
    return decoder, unit_rows(np.ascontiguousarray(encoder, dtype=np.float32))


@dataclass(frozen=True)
class DirectionTables:
    decoder: TopTable
    encoder: TopTable


def cache_path(fingerprint: str) -> Path:
    return cache_dir() / "neighbours" / f"{fingerprint}-directions.npz"


def direction_tables(sae: LoadedSae, cancel: CancelToken | None = None) -> DirectionTables:
    """Top decoder- and encoder-cosine neighbours of every feature: from the cache, else computed and cached."""
    path = cache_path(sae.fingerprint)
    if path.is_file():
        try:
            return _load(path, sae.d_sae)
        except WorkbenchError:
            pass  # recomputed and replaced below
    decoder, encoder = sae_matrices(sae)
    tables = DirectionTables(top_cosines(decoder, cancel=cancel), top_cosines(encoder, cancel=cancel))
    write_npz(
        path,
        {"format_version": NEIGHBOURS_VERSION, "d_sae": sae.d_sae},
        {
            "decoder_ids": tables.decoder.ids,
            "decoder": tables.decoder.values,
            "encoder_ids": tables.encoder.ids,
            "encoder": tables.encoder.values,
        },
    )
    return tables


def _load(path: Path, d_sae: int) -> DirectionTables:
    try:
        header, a = read_npz(path)
        if header.get("format_version") != NEIGHBOURS_VERSION or int(header["d_sae"]) != d_sae:
            raise ValueError("another version or another SAE size")
        return DirectionTables(TopTable(a["decoder_ids"], a["decoder"]), TopTable(a["encoder_ids"], a["encoder"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WorkbenchError(f"unreadable neighbours cache {path}: {exc}") from exc


@dataclass(frozen=True)
class Neighbour:
    feature: int
    label: str
    decoder_cosine: float
    encoder_cosine: float
    jaccard: float | None  # None without a co-activation pass
    correlation: float | None
    density: float | None  # fraction of reference tokens it fires on (statistics, else the co-activation corpus)

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "label": self.label,
            "decoder_cosine": _round(self.decoder_cosine),
            "encoder_cosine": _round(self.encoder_cosine),
            "jaccard": _round(self.jaccard),
            "correlation": _round(self.correlation),
            "density": _round(self.density),
        }


@dataclass(frozen=True)
class FeatureNeighbours:
    layer: int
    sae_key: str
    feature: int
    label: str
    neighbours: tuple[Neighbour, ...]  # sorted by decoder cosine, highest first

    def ranked(self, measure: str) -> list[Neighbour]:
        """The same neighbours ranked by one of MEASURES (missing values last)."""
        if measure not in MEASURES:
            raise InputError(f"unknown measure {measure!r}: one of {', '.join(MEASURES)}")
        attr = {"decoder": "decoder_cosine", "encoder": "encoder_cosine"}.get(measure, measure)

        def key(n: Neighbour) -> float:
            value = getattr(n, attr)
            return -value if value is not None else float("inf")

        return sorted(self.neighbours, key=key)

    def to_dict(self) -> dict[str, Any]:
        """The `neighbours --json` record."""
        return {
            "layer": self.layer,
            "feature": self.feature,
            "label": self.label,
            "neighbours": [n.to_dict() for n in self.neighbours],
        }


def feature_neighbours(
    sae: LoadedSae,
    feature: int,
    top: int = 10,
    coactivation: Coactivation | None = None,
    label_of: Callable[[int], str] | None = None,
    cancel: CancelToken | None = None,
) -> FeatureNeighbours:
    """The `top` nearest features by each measure, listed once each with every measure, by decoder cosine.

    A neighbour found by one measure gets the other measures computed for that pair exactly, so a co-firing
    feature that points elsewhere shows its low cosine, and a near direction that never co-fires its Jaccard 0."""
    if not 0 <= feature < sae.d_sae:
        raise InputError(f"feature {feature} does not exist: the SAE at layer {sae.layer} has 0–{sae.d_sae - 1}")
    if top < 1:
        raise InputError("--top must be ≥ 1")
    tables = direction_tables(sae, cancel)
    candidates = [i for i, _ in tables.decoder.row(feature, top)]
    candidates += [i for i, _ in tables.encoder.row(feature, top)]
    if coactivation is not None:
        candidates += [i for i, v in coactivation.jaccard.row(feature, top) if v > 0]
        candidates += [i for i, v in coactivation.correlation.row(feature, top) if v > 0]
    chosen = [i for i in dict.fromkeys(candidates) if i != feature]
    decoder, encoder = sae_matrices(sae)
    label_of = label_of or (lambda i: default_label(sae, i))
    density = _densities(sae, coactivation)
    rows = []
    for other in chosen:
        jac, corr = coactivation.pair(feature, other) if coactivation is not None else (None, None)
        rows.append(
            Neighbour(
                feature=other,
                label=label_of(other),
                decoder_cosine=float(decoder[feature] @ decoder[other]),
                encoder_cosine=float(encoder[feature] @ encoder[other]),
                jaccard=jac,
                correlation=corr,
                density=float(density[other]) if density is not None else None,
            )
        )
    rows.sort(key=lambda n: -n.decoder_cosine)
    return FeatureNeighbours(sae.layer, sae.key, feature, label_of(feature), tuple(rows))


def default_label(sae: LoadedSae, feature: int) -> str:
    """The atlas's automatic label; where the SAE has none, an imported label; else "feature N"."""
    from workbench.analysis.inspect import atlas_for
    from workbench.saes.labels import imported_label

    atlas = atlas_for(sae)
    if atlas is not None and 0 <= feature < atlas.d_sae:
        return atlas.labels[feature]
    return imported_label(sae.fingerprint, feature) or f"feature {feature}"


def _densities(sae: LoadedSae, coactivation: Coactivation | None) -> np.ndarray | None:
    if sae.stats is not None:
        return np.asarray(sae.stats.density)
    return coactivation.density() if coactivation is not None else None


def _round(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.4g}")


def nearest_by(table: TopTable, features: Sequence[int], k: int) -> dict[int, list[tuple[int, float]]]:
    """Each feature's k best (feature, value) pairs in one table: what the window's neighbour list reads."""
    return {f: table.row(f, k) for f in features}
