"""Per-feature statistics that make the `maxact` and `resid` strength units work.

Stored as a small npz (arrays plus a JSON header) next to a shipped SAE (`feature_stats.npz`) or in the cache,
keyed by the SAE's fingerprint. Position 0 is left out everywhere: the first token's residual carries a far
larger norm than the rest and would dominate max activations and the mean norm.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.cancel import CancelToken, check
from workbench.errors import InputError, WorkbenchError
from workbench.npzfile import read_npz, write_npz
from workbench.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from workbench.models.protocol import ModelBackend

STATS_FILE = "feature_stats.npz"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class FeatureStatistics:
    max_activation: np.ndarray  # (d_sae,) float32
    density: np.ndarray  # (d_sae,) fraction of tokens where the feature fires
    mean_activation: np.ndarray  # (d_sae,) mean activation when active (0 where never active)
    resid_norm: float  # mean ‖x‖ of the layer's residual over the same tokens
    n_tokens: int
    source: str  # what text they were computed on

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
        }
        arrays = {
            "max_activation": self.max_activation.astype(np.float32),
            "density": self.density.astype(np.float32),
            "mean_activation": self.mean_activation.astype(np.float32),
        }
        write_npz(path, header, arrays)

    @classmethod
    def load(cls, path: Path) -> FeatureStatistics:
        try:
            header, data = read_npz(path)
            stats = cls(
                max_activation=data["max_activation"],
                density=data["density"],
                mean_activation=data["mean_activation"],
                resid_norm=float(header["resid_norm"]),
                n_tokens=int(header["n_tokens"]),
                source=str(header.get("source", "")),
            )
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise WorkbenchError(f"unreadable feature statistics {path}: {exc}") from exc
        if not (stats.max_activation.shape == stats.density.shape == stats.mean_activation.shape):
            raise WorkbenchError(f"inconsistent feature statistics in {path}")
        return stats


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
    """Running sums for `FeatureStatistics`, one text at a time."""

    def __init__(self, d_sae: int) -> None:
        self.max = np.zeros(d_sae, np.float32)
        self.count = np.zeros(d_sae, np.int64)
        self.sum = np.zeros(d_sae, np.float64)
        self.norm = 0.0
        self.n_tokens = 0

    def add(self, resid: np.ndarray, acts: np.ndarray) -> None:
        self.max = np.maximum(self.max, acts.max(axis=0))
        self.count += (acts > 0).sum(axis=0)
        self.sum += acts.sum(axis=0)
        self.norm += float(np.linalg.norm(resid, axis=-1).sum())
        self.n_tokens += resid.shape[0]

    def finish(self, source: str) -> FeatureStatistics:
        if self.n_tokens == 0:
            raise InputError("no usable text for statistics (every text was empty or one token long)")
        count = self.count
        return FeatureStatistics(
            max_activation=self.max.copy(),
            density=(count / self.n_tokens).astype(np.float32),
            mean_activation=np.where(count > 0, self.sum / np.maximum(count, 1), 0).astype(np.float32),
            resid_norm=self.norm / self.n_tokens,
            n_tokens=self.n_tokens,
            source=source,
        )


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
