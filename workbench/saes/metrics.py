"""How good an SAE is on some text: sparsity, reconstruction, and the model's loss with the SAE spliced in.

Definitions (DESIGN.md "Metrics"); every one is tested against a hand-computed reference:
- L0: mean over tokens of the number of features with f_i > 0.
- dead fraction: features that never fire on the evaluation tokens; dense fraction: features firing on more
  than `DENSE_THRESHOLD` (10 %) of them.
- FVE = 1 − Σ‖x − x̂‖² / Σ‖x − μ‖², μ the per-dimension mean over the evaluation tokens (not about zero:
  a residual stream has a large mean, and measuring variance about zero inflates FVE).
- MSE: mean over tokens and dimensions of (x − x̂)².
- CE-loss recovered = (CE_zero − CE_sae) / (CE_zero − CE_clean), where CE_zero zero-ablates the layer's output
  and CE_sae replaces it by the SAE's reconstruction; delta loss = CE_sae − CE_clean.
Position 0 is left out everywhere (its residual is an attention-sink outlier the SAE was not trained on): it is
neither measured nor replaced, and next-token losses are counted from position 1 on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.cancel import CancelToken, check
from workbench.errors import InputError
from workbench.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from workbench.models.protocol import ModelBackend

DENSE_THRESHOLD = 0.1


def l0(acts: np.ndarray) -> float:
    """Mean number of active features per token; `acts` is (tokens, d_sae)."""
    return float((acts > 0).sum(axis=-1).mean())


def fve(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Fraction of variance explained, variance about the per-dimension mean of `x` (tokens, d)."""
    x64, r64 = np.asarray(x, np.float64), np.asarray(x_hat, np.float64)
    residual = ((x64 - r64) ** 2).sum()
    total = ((x64 - x64.mean(axis=0)) ** 2).sum()
    return float(1.0 - residual / total)


def mse(x: np.ndarray, x_hat: np.ndarray) -> float:
    return float(((np.asarray(x, np.float64) - np.asarray(x_hat, np.float64)) ** 2).mean())


def dead_fraction(fire_counts: np.ndarray) -> float:
    return float((np.asarray(fire_counts) == 0).mean())


def dense_fraction(fire_counts: np.ndarray, n_tokens: int, threshold: float = DENSE_THRESHOLD) -> float:
    return float((np.asarray(fire_counts) / max(n_tokens, 1) > threshold).mean())


def ce_loss_recovered(ce_clean: float, ce_sae: float, ce_zero: float) -> float:
    return (ce_zero - ce_sae) / (ce_zero - ce_clean)


def delta_loss(ce_clean: float, ce_sae: float) -> float:
    return ce_sae - ce_clean


class ReconstructionTally:
    """Streaming sums for L0, FVE, MSE and firing counts, so evaluation never holds all activations at once.

    Σ‖x − μ‖² = Σ‖x‖² − n‖μ‖² with μ = Σx / n, accumulated in float64 (the subtraction loses little there).
    """

    def __init__(self, d_in: int, d_sae: int) -> None:
        self.n = 0
        self.sum_x = np.zeros(d_in, np.float64)
        self.sum_sq_x = 0.0
        self.sum_sq_err = 0.0
        self.active = 0
        self.fire_counts = np.zeros(d_sae, np.int64)
        self.d_in = d_in

    def add(self, x: np.ndarray, x_hat: np.ndarray, acts: np.ndarray) -> None:
        x64 = np.asarray(x, np.float64)
        self.n += x64.shape[0]
        self.sum_x += x64.sum(axis=0)
        self.sum_sq_x += float((x64**2).sum())
        self.sum_sq_err += float(((x64 - np.asarray(x_hat, np.float64)) ** 2).sum())
        fired = np.asarray(acts) > 0
        self.active += int(fired.sum())
        self.fire_counts += fired.sum(axis=0)

    def fve(self) -> float:
        mean = self.sum_x / self.n
        total = self.sum_sq_x - self.n * float(mean @ mean)
        return 1.0 - self.sum_sq_err / total

    def mse(self) -> float:
        return self.sum_sq_err / (self.n * self.d_in)

    def l0(self) -> float:
        return self.active / self.n


@dataclass(frozen=True)
class SaeMetrics:
    l0: float
    fve: float
    mse: float
    ce_loss_recovered: float
    delta_loss: float
    dead_fraction: float
    dense_fraction: float
    n_tokens: int
    ce_clean: float
    ce_sae: float
    ce_zero: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def evaluate_sae(
    backend: ModelBackend,
    sae: Any,
    layer: int,
    texts: Iterable[str],
    max_tokens_per_text: int = 128,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    total: int = 0,
) -> SaeMetrics:
    """Run three forwards per text (clean, SAE spliced in, layer zeroed) and tally every metric."""
    import torch

    from workbench.models.protocol import ResidualSplice

    backend.capabilities.require_capture("evaluate an SAE")
    tally = ReconstructionTally(int(sae.cfg.d_in), int(sae.cfg.d_sae))
    ce = {"clean": 0.0, "sae": 0.0, "zero": 0.0}
    n_predictions = 0
    for done, text in enumerate(texts):
        check(cancel)
        ids = backend.encode_prompt(text, chat=False)[:max_tokens_per_text]
        if len(ids) < 3:
            continue
        clean = backend.forward(ids, capture=[layer], cancel=cancel)
        # Position 0 is neither measured nor replaced (see the module docstring): splices start at 1.
        with torch.no_grad():
            x = torch.from_numpy(clean.residuals[layer][1:]).to(sae.W_dec.device, sae.W_dec.dtype)
            acts = sae.encode(x)
            x_hat = sae.decode(acts).float().cpu().numpy()
        x_np = x.float().cpu().numpy()
        with_sae = backend.forward(ids, splice=ResidualSplice(layer, x_hat, start=1), cancel=cancel)
        zeroed = backend.forward(ids, splice=ResidualSplice(layer, np.zeros_like(x_hat), start=1), cancel=cancel)
        tally.add(x_np, x_hat, acts.float().cpu().numpy())
        for name, result in (("clean", clean), ("sae", with_sae), ("zero", zeroed)):
            ce[name] += _summed_ce(result.logits, ids)
        n_predictions += len(ids) - 2
        progress(Progress("evaluating the SAE", done + 1, total))
    if tally.n == 0:
        raise InputError("no usable text for evaluation (every text was shorter than three tokens)")
    clean_ce, sae_ce, zero_ce = (ce[k] / n_predictions for k in ("clean", "sae", "zero"))
    return SaeMetrics(
        l0=tally.l0(),
        fve=tally.fve(),
        mse=tally.mse(),
        ce_loss_recovered=ce_loss_recovered(clean_ce, sae_ce, zero_ce),
        delta_loss=delta_loss(clean_ce, sae_ce),
        dead_fraction=dead_fraction(tally.fire_counts),
        dense_fraction=dense_fraction(tally.fire_counts, tally.n),
        n_tokens=tally.n,
        ce_clean=clean_ce,
        ce_sae=sae_ce,
        ce_zero=zero_ce,
    )


def _summed_ce(logits: np.ndarray, ids: Sequence[int]) -> float:
    """Summed next-token cross-entropy of predictions made at positions 1..n-2 (targets 2..n-1)."""
    import torch

    pred = torch.from_numpy(logits[1:-1])
    target = torch.tensor(list(ids[2:]), dtype=torch.long)
    return float(torch.nn.functional.cross_entropy(pred, target, reduction="sum"))


def summarise(metrics: Sequence[SaeMetrics]) -> dict[str, float]:
    """Token-weighted mean of several runs' headline numbers (for reports over many files)."""
    n = sum(m.n_tokens for m in metrics)
    keys = ("l0", "fve", "mse", "ce_loss_recovered", "delta_loss")
    return {k: sum(getattr(m, k) * m.n_tokens for m in metrics) / n for k in keys}
