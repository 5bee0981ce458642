"""Per-feature statistics that make the `maxact` and `resid` strength units work.

Stored as a small npz (arrays plus a JSON header) next to a shipped SAE (`feature_stats.npz`) or in the cache,
keyed by the SAE's fingerprint. Position 0 is left out everywhere: the first token's residual carries a far
larger norm than the rest and would dominate max activations and the mean norm.

`max_activation` is the max over tokens that are *not massive* (residual norm ≤ 10 × the median norm of the
tokens seen, saes/massive.py): a massive token is not position 0 alone, and one of them could otherwise set a
feature's maxact unit, and with it every steer in that unit. The header says which statistic a file holds
(`max_statistic`); a file without the field is an older one whose max counts every token but position 0
("max"). Such files keep loading as they are (recomputing costs a pass over the corpus; `stats` does it into
the cache, and the loader prefers a robust file to an old one). `resid_norm` leaves massive tokens out too;
density and mean activation count every token (a few tokens in tens of thousands barely move them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np

from workbench.cancel import CancelToken, check
from workbench.errors import InputError, WorkbenchError
from workbench.npzfile import write_npz
from workbench.progress import Progress, ProgressCallback, ignore_progress
from workbench.saes.data_files import read_checked_npz
from workbench.saes.massive import MASSIVE_FACTOR, massive_threshold

if TYPE_CHECKING:
    from workbench.models.protocol import ModelBackend

STATS_FILE = "feature_stats.npz"
FORMAT_VERSION = 2
ROBUST_MAX = "max_without_massive"  # the max over tokens whose residual norm is ≤ factor × the median
LEGACY_MAX = "max"  # files before format 2: the max over every token but position 0
TOP_KEPT = 16  # per feature, the largest activations kept (with their tokens' norms) until the median is known


@dataclass(frozen=True)
class FeatureStatistics:
    max_activation: np.ndarray  # (d_sae,) float32
    density: np.ndarray  # (d_sae,) fraction of tokens where the feature fires
    mean_activation: np.ndarray  # (d_sae,) mean activation when active (0 where never active)
    resid_norm: float  # mean ‖x‖ of the layer's residual over the same tokens
    n_tokens: int
    source: str  # what text they were computed on
    max_statistic: str = ROBUST_MAX  # which max `max_activation` holds (ROBUST_MAX or LEGACY_MAX)
    massive_factor: float | None = MASSIVE_FACTOR  # the threshold's multiple of the median (None: legacy)
    n_massive: int = 0  # massive tokens left out of max_activation and resid_norm

    @property
    def robust(self) -> bool:
        """Whether massive tokens were kept from setting `max_activation` (False for files before format 2)."""
        return self.max_statistic == ROBUST_MAX

    @property
    def d_sae(self) -> int:
        return int(self.max_activation.shape[0])

    def save(self, path: Path) -> None:
        """Write atomically, so an interrupted write never replaces good statistics."""
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "format_version": FORMAT_VERSION,
            "resid_norm": self.resid_norm,
            "n_tokens": self.n_tokens,
            "source": self.source,
            "max_statistic": self.max_statistic,
            "massive_factor": self.massive_factor,
            "n_massive": self.n_massive,
        }
        arrays = {
            "max_activation": self.max_activation.astype(np.float32),
            "density": self.density.astype(np.float32),
            "mean_activation": self.mean_activation.astype(np.float32),
        }
        write_npz(path, header, arrays)

    @classmethod
    def load(cls, path: Path) -> FeatureStatistics:
        """Read and check a statistics file: one line naming the file and the fault (not an npz, truncated, a
        missing or ill-typed field, arrays of other lengths or shapes, NaN, values no statistic can take)."""
        header, data = read_checked_npz(path, "feature statistics", STATS_ARRAYS)
        n = _vector_length(data, path)
        if n == 0:
            raise WorkbenchError(f"feature statistics {path} are for 0 features")
        for name, low, high in (("max_activation", 0, np.inf), ("density", 0, 1), ("mean_activation", -np.inf, np.inf)):
            values = data[name].astype(np.float64)
            bad = int((~np.isfinite(values)).sum())
            if bad:
                raise WorkbenchError(f"feature statistics {path}: {name} holds {bad} NaN or infinite values")
            if values.min() < low or values.max() > high:
                allowed = "≥ 0" if high == np.inf else f"in {low}–{high}"
                raise WorkbenchError(f"feature statistics {path}: {name} has values that are not {allowed}")
        massive_factor = header.get("massive_factor")
        if massive_factor is not None and not _positive(massive_factor):
            raise WorkbenchError(f"feature statistics {path}: massive_factor must be a positive number or null")
        resid_norm = header.get("resid_norm")
        if not _positive(resid_norm):
            raise WorkbenchError(f"feature statistics {path}: resid_norm must be a positive number, not {resid_norm!r}")
        counts = {key: header.get(key, 0) for key in ("n_tokens", "n_massive")}
        if "n_tokens" not in header or any(not _count(v) for v in counts.values()):
            raise WorkbenchError(f"feature statistics {path}: n_tokens and n_massive must be whole numbers ≥ 0")
        return cls(
            max_activation=data["max_activation"].astype(np.float32),
            density=data["density"].astype(np.float32),
            mean_activation=data["mean_activation"].astype(np.float32),
            resid_norm=float(resid_norm),
            n_tokens=int(counts["n_tokens"]),
            source=str(header.get("source", "")),
            max_statistic=str(header.get("max_statistic", LEGACY_MAX)),
            massive_factor=None if massive_factor is None else float(massive_factor),
            n_massive=int(counts["n_massive"]),
        )


STATS_ARRAYS = ("max_activation", "density", "mean_activation")


def _vector_length(data: dict[str, np.ndarray], path: Path) -> int:
    shapes = {name: data[name].shape for name in STATS_ARRAYS}
    if any(len(shape) != 1 for shape in shapes.values()) or len(set(shapes.values())) != 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise WorkbenchError(f"inconsistent feature statistics in {path}: one value per feature expected ({listed})")
    return int(data["max_activation"].shape[0])


def _positive(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class EncodedText:
    """One text's pass: its token ids and, per layer, residuals and SAE activations with position 0 left out
    (row r is token r + 1)."""

    index: int  # the text's index in the input sequence
    ids: list[int]
    residuals: dict[int, np.ndarray]  # layer → (positions - 1, d_model) float32
    acts: dict[int, np.ndarray]  # layer → (positions - 1, d_sae) float32


def encode_texts(
    backend: ModelBackend,
    saes: Mapping[int, Any],
    texts: Iterable[str],
    max_tokens_per_text: int,
    what: str,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    total: int = 0,
) -> Iterator[EncodedText]:
    """Run the model over `texts` (raw, no chat template) once for all layers and encode each layer's residual.

    Texts shorter than two tokens are skipped: with position 0 left out nothing would remain.
    """
    import torch

    backend.capabilities.require_capture("compute feature statistics")
    layers = sorted(saes)
    for index, text in enumerate(texts):
        check(cancel)
        ids = backend.encode_prompt(text, chat=False)[:max_tokens_per_text]
        if len(ids) >= 2:
            resid = {layer: r[1:] for layer, r in backend.residuals(ids, layers, cancel=cancel).items()}
            acts = {}
            for layer in layers:
                sae = saes[layer]
                with torch.no_grad():
                    x = torch.from_numpy(resid[layer]).to(sae.W_dec.device, sae.W_dec.dtype)
                    acts[layer] = sae.encode(x).float().cpu().numpy()
            yield EncodedText(index, ids, resid, acts)
        progress(Progress(what, index + 1, total))


class StatisticsTally:
    """Running sums for `FeatureStatistics`, one text at a time.

    Which tokens are massive is known only at the end (the median is over every token), so each feature keeps its
    TOP_KEPT largest activations with their tokens' norms; `finish` takes the largest whose token is not massive.
    If all kept ones are massive (more than TOP_KEPT massive tokens outrank every ordinary token), the smallest
    kept one stands in: an upper bound of the robust max.
    """

    def __init__(self, d_sae: int, massive_factor: float = MASSIVE_FACTOR) -> None:
        self.top_act = np.zeros((TOP_KEPT, d_sae), np.float32)
        self.top_norm = np.zeros((TOP_KEPT, d_sae), np.float32)
        self.count = np.zeros(d_sae, np.int64)
        self.sum = np.zeros(d_sae, np.float64)
        self.norms: list[np.ndarray] = []
        self.n_tokens = 0
        self.massive_factor = massive_factor

    def add(self, resid: np.ndarray, acts: np.ndarray) -> None:
        norms = np.linalg.norm(resid.astype(np.float64), axis=-1).astype(np.float32)
        act = np.concatenate([self.top_act, acts.astype(np.float32)])
        norm = np.concatenate([self.top_norm, np.broadcast_to(norms[:, None], acts.shape)])
        keep = np.argpartition(-act, TOP_KEPT - 1, axis=0)[:TOP_KEPT]
        self.top_act = np.take_along_axis(act, keep, axis=0)
        self.top_norm = np.take_along_axis(norm, keep, axis=0)
        self.count += (acts > 0).sum(axis=0)
        self.sum += acts.sum(axis=0)
        self.norms.append(norms)
        self.n_tokens += resid.shape[0]

    def finish(self, source: str) -> FeatureStatistics:
        if self.n_tokens == 0:
            raise InputError("no usable text for statistics (every text was empty or one token long)")
        norms = np.concatenate(self.norms).astype(np.float64)
        threshold = massive_threshold(norms, self.massive_factor)
        ordinary = norms <= threshold
        count = self.count
        return FeatureStatistics(
            max_activation=robust_max(self.top_act, self.top_norm, threshold),
            density=(count / self.n_tokens).astype(np.float32),
            mean_activation=np.where(count > 0, self.sum / np.maximum(count, 1), 0).astype(np.float32),
            resid_norm=float(norms[ordinary].mean()),
            n_tokens=self.n_tokens,
            source=source,
            max_statistic=ROBUST_MAX,
            massive_factor=self.massive_factor,
            n_massive=int((~ordinary).sum()),
        )


def robust_max(top_act: np.ndarray, top_norm: np.ndarray, threshold: float) -> np.ndarray:
    """Per feature (column), the largest kept activation whose token's norm is ≤ `threshold`, else the smallest
    kept one (see StatisticsTally)."""
    allowed = np.where(top_norm <= threshold, top_act, -np.inf).max(axis=0)
    return np.where(np.isfinite(allowed), allowed, top_act.min(axis=0)).astype(np.float32)


def compute_statistics(
    backend: ModelBackend,
    sae: Any,
    layer: int,
    texts: Iterable[str],
    source: str,
    max_tokens_per_text: int = 256,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    total: int = 0,
) -> FeatureStatistics:
    """Run the model over `texts` (raw, no chat template), encode the layer's residual, and summarise."""
    tally = StatisticsTally(int(sae.cfg.d_sae))
    passes = encode_texts(
        backend, {layer: sae}, texts, max_tokens_per_text, "computing feature statistics", progress, cancel, total
    )
    for encoded in passes:
        tally.add(encoded.residuals[layer], encoded.acts[layer])
    return tally.finish(source)
