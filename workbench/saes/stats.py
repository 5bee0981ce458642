"""Per-feature statistics that make the `maxact` and `resid` strength units work.

Stored as a small npz (arrays plus a JSON header) next to a shipped SAE (`feature_stats.npz`) or in the cache,
keyed by the SAE's fingerprint. Position 0 is left out everywhere: the first token's residual carries a far
larger norm than the rest and would dominate max activations and the mean norm.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import InputError, WorkbenchError
from workbench.jobs import CancelToken, Progress, ProgressCallback, ignore_progress
from workbench.npzfile import read_npz, write_npz

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
    import torch

    d_sae = int(sae.cfg.d_sae)
    max_act = torch.zeros(d_sae)
    count = torch.zeros(d_sae, dtype=torch.float64)
    total_act = torch.zeros(d_sae, dtype=torch.float64)
    norm_sum, n_tokens = 0.0, 0
    for done, text in enumerate(texts):
        if cancel is not None:
            cancel.raise_if_cancelled()
        ids = backend.encode_prompt(text, chat=False)[:max_tokens_per_text]
        if len(ids) < 2:
            continue
        resid = backend.residuals(ids, [layer])[layer][1:]  # drop position 0 (see module docstring)
        with torch.no_grad():
            x = torch.from_numpy(resid).to(sae.W_dec.device, sae.W_dec.dtype)
            acts = sae.encode(x).float().cpu()
        max_act = torch.maximum(max_act, acts.max(dim=0).values)
        count += (acts > 0).sum(dim=0)
        total_act += acts.sum(dim=0).double()
        norm_sum += float(np.linalg.norm(resid, axis=-1).sum())
        n_tokens += resid.shape[0]
        progress(Progress("computing feature statistics", done + 1, total))
    if n_tokens == 0:
        raise InputError("no usable text for statistics (every text was empty or one token long)")
    mean_active = torch.where(count > 0, total_act / count.clamp(min=1), torch.zeros_like(total_act))
    return FeatureStatistics(
        max_activation=max_act.numpy().astype(np.float32),
        density=(count / n_tokens).numpy().astype(np.float32),
        mean_activation=mean_active.numpy().astype(np.float32),
        resid_norm=norm_sum / n_tokens,
        n_tokens=n_tokens,
        source=source,
    )
