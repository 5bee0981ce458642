"""How good an SAE is on some text: sparsity, reconstruction, the model's loss with the SAE spliced in, and the
baselines and interval that make the figures mean something.

Definitions (DESIGN.md "Metrics"); every one is tested against a hand-computed reference:
- L0: mean over tokens of the number of features with f_i > 0.
- dead fraction: features that never fire on the evaluation tokens; dense fraction: features firing on more
  than `DENSE_THRESHOLD` (10 %) of them.
- FVE = 1 − Σ‖x − x̂‖² / Σ‖x − μ‖², μ the per-dimension mean over the evaluation tokens (not about zero:
  a residual stream has a large mean, and measuring variance about zero inflates FVE).
- MSE: mean over tokens and dimensions of (x − x̂)²; normalised MSE = Σ‖x − x̂‖² / Σ‖x‖².
- CE-loss recovered = (CE_zero − CE_sae) / (CE_zero − CE_clean), where CE_zero zero-ablates the layer's output
  and CE_sae replaces it by the SAE's reconstruction; delta loss = CE_sae − CE_clean.
- KL = mean over predicted tokens of KL(P_clean ‖ P_sae) of the next-token distributions.
Massive tokens (residual norm > 10 × the median, saes/massive.py) are left out of FVE, MSE and normalised MSE,
which are the robust figures; `fve_all` and `mse_all` keep them. The SAE is still spliced in at those positions
for CE and KL: those figures describe the model with the SAE in place, wherever it is bad.
Baselines (PCA and a random decoder at the same L0) and the bootstrap interval: saes/baselines.py.
Position 0 is left out everywhere (its residual is an attention-sink outlier the SAE was not trained on): it is
neither measured nor replaced, and next-token losses are counted from position 1 on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.cancel import CancelToken, check
from workbench.errors import InputError
from workbench.progress import Progress, ProgressCallback, ignore_progress
from workbench.saes.baselines import (
    N_BOOTSTRAP,
    bootstrap_fve,
    fve_from_errors,
    pca_errors,
    random_decoder_errors,
)
from workbench.saes.massive import MASSIVE_FACTOR, MassiveTokens, describe_massive

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


def normalized_mse(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Σ‖x − x̂‖² / Σ‖x‖² (about zero, as sae-lens and SAEBench report it)."""
    x64 = np.asarray(x, np.float64)
    return float(((x64 - np.asarray(x_hat, np.float64)) ** 2).sum() / (x64**2).sum())


def kl_divergence(p_logits: np.ndarray, q_logits: np.ndarray) -> np.ndarray:
    """KL(P ‖ Q) per row of next-token distributions given by logits (rows, vocab), in nats."""
    log_p = _log_softmax(np.asarray(p_logits, np.float64))
    log_q = _log_softmax(np.asarray(q_logits, np.float64))
    return (np.exp(log_p) * (log_p - log_q)).sum(axis=-1)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@dataclass(frozen=True)
class SaeMetrics:
    """The figures of one evaluation. `fve`, `mse` and `normalized_mse` leave the massive tokens out (see
    saes/massive.py); `fve_all` / `mse_all` keep them. L0, dead and dense count every scored token."""

    l0: float
    fve: float
    mse: float
    ce_loss_recovered: float
    delta_loss: float
    dead_fraction: float
    dense_fraction: float
    n_tokens: int  # scored tokens (position 0 of each text left out), massive ones included
    ce_clean: float
    ce_sae: float
    ce_zero: float
    fve_all: float
    mse_all: float
    fve_ci: tuple[float, float]  # 95 % bootstrap interval of `fve` over texts
    normalized_mse: float
    kl: float  # mean KL(clean ‖ SAE spliced in) per predicted token, nats
    pca_fve: float | None  # None: fewer than two texts, nothing to cross-fit
    random_fve: float | None
    n_texts: int
    massive_tokens: MassiveTokens
    feature_density: np.ndarray = field(repr=False, compare=False)  # (d_sae,) fraction of scored tokens firing

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (the density array is left out: it is the panel's histogram, not a figure)."""
        record = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "feature_density"}
        record["fve_ci"] = list(self.fve_ci)
        record["massive_tokens"] = self.massive_tokens.as_dict()
        return record


class EvaluationTally:
    """Per-token data of an evaluation, kept until the end: the massive-token threshold is a median over all of
    it, and the bootstrap and baselines need the tokens themselves (tokens × d_model float32: 120 texts of 128
    tokens at d_model 576 is about 35 MB). Losses are summed as texts come."""

    def __init__(self, d_sae: int) -> None:
        self.x: list[np.ndarray] = []
        self.sq_err: list[np.ndarray] = []
        self.texts: list[np.ndarray] = []
        self.positions: list[np.ndarray] = []
        self.ids: list[np.ndarray] = []
        self.position0_norms: list[float] = []
        self.fire_counts = np.zeros(d_sae, np.int64)
        self.active = 0
        self.ce = {"clean": 0.0, "sae": 0.0, "zero": 0.0}
        self.kl = 0.0
        self.n_predictions = 0

    def add_text(
        self,
        index: int,
        ids: Sequence[int],
        residual: np.ndarray,
        x_hat: np.ndarray,
        acts: np.ndarray,
        logits: Mapping[str, np.ndarray],
    ) -> None:
        """One text: `residual` (seq, d) with position 0, `x_hat` and `acts` for positions 1…, and the logits
        (seq, vocab) of the "clean", "sae" and "zero" forwards."""
        x = np.asarray(residual[1:], np.float32)
        fired = np.asarray(acts) > 0
        self.x.append(x)
        self.sq_err.append(((x.astype(np.float64) - np.asarray(x_hat, np.float64)) ** 2).sum(axis=1))
        self.texts.append(np.full(len(x), index))
        self.positions.append(np.arange(1, len(ids)))
        self.ids.append(np.asarray(ids[1:]))
        self.position0_norms.append(float(np.linalg.norm(residual[0])))
        self.active += int(fired.sum())
        self.fire_counts += fired.sum(axis=0)
        for name in self.ce:
            self.ce[name] += _summed_ce(logits[name], ids)
        self.kl += float(kl_divergence(logits["clean"][1:-1], logits["sae"][1:-1]).sum())
        self.n_predictions += len(ids) - 2

    def finish(
        self,
        token_strings: Callable[[Sequence[int]], list[str]],
        massive_factor: float = MASSIVE_FACTOR,
        n_boot: int = N_BOOTSTRAP,
        seed: int = 0,
    ) -> SaeMetrics:
        """STEP 2–4 of `evaluate_sae`: massive tokens, the robust and all-token figures, interval, baselines."""
        x, sq_err, text_of, positions, ids = (
            np.concatenate(v) for v in (self.x, self.sq_err, self.texts, self.positions, self.ids)
        )
        norms = np.linalg.norm(x.astype(np.float64), axis=1)
        massive, report = describe_massive(
            norms, text_of, positions, ids, token_strings, massive_factor, np.asarray(self.position0_norms)
        )
        keep = ~massive
        xr, er, gr = x[keep], sq_err[keep], text_of[keep]
        n, d = x.shape
        l0_value = self.active / n
        pca = pca_errors(xr, gr, round(l0_value))
        rand = random_decoder_errors(xr, gr, round(l0_value), len(self.fire_counts), seed)
        clean_ce, sae_ce, zero_ce = (self.ce[key] / self.n_predictions for key in ("clean", "sae", "zero"))
        return SaeMetrics(
            l0=l0_value,
            fve=fve_from_errors(xr, er),
            mse=float(er.sum() / (len(xr) * d)),
            ce_loss_recovered=ce_loss_recovered(clean_ce, sae_ce, zero_ce),
            delta_loss=delta_loss(clean_ce, sae_ce),
            dead_fraction=dead_fraction(self.fire_counts),
            dense_fraction=dense_fraction(self.fire_counts, n),
            n_tokens=n,
            ce_clean=clean_ce,
            ce_sae=sae_ce,
            ce_zero=zero_ce,
            fve_all=fve_from_errors(x, sq_err),
            mse_all=float(sq_err.sum() / (n * d)),
            fve_ci=bootstrap_fve(xr, er, gr, n_boot, seed),
            normalized_mse=float(er.sum() / (xr.astype(np.float64) ** 2).sum()),
            kl=self.kl / self.n_predictions,
            pca_fve=fve_from_errors(xr, pca) if pca is not None else None,
            random_fve=fve_from_errors(xr, rand) if rand is not None else None,
            n_texts=len(self.x),
            massive_tokens=report,
            feature_density=(self.fire_counts / n).astype(np.float32),
        )


def evaluate_sae(
    backend: ModelBackend,
    sae: Any,
    layer: int,
    texts: Iterable[str],
    max_tokens_per_text: int = 128,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    total: int = 0,
    massive_factor: float = MASSIVE_FACTOR,
    n_boot: int = N_BOOTSTRAP,
    seed: int = 0,
) -> SaeMetrics:
    """Every metric of `sae` on `texts`; cancellable between texts (and between blocks inside a forward).

    STEP 1, per text: three forwards (clean with the layer captured, SAE spliced in, layer zeroed); CE and KL
            from their logits; the SAE's per-token error kept.
    STEP 2: massive tokens against the median norm of all scored tokens.
    STEP 3: robust and all-token FVE / MSE, normalised MSE, the bootstrap interval.
    STEP 4: the PCA and random-decoder baselines on the robust tokens.
    """
    import torch

    from workbench.models.protocol import ResidualSplice

    backend.capabilities.require_capture("evaluate an SAE")
    tally = EvaluationTally(int(sae.cfg.d_sae))
    for done, text in enumerate(texts):
        check(cancel)
        ids = backend.encode_prompt(text, chat=False)[:max_tokens_per_text]
        if len(ids) >= 3:
            clean = backend.forward(ids, capture=[layer], cancel=cancel)
            # Position 0 is neither measured nor replaced (see the module docstring): splices start at 1.
            with torch.no_grad():
                x = torch.from_numpy(clean.residuals[layer][1:]).to(sae.W_dec.device, sae.W_dec.dtype)
                acts = sae.encode(x)
                x_hat = sae.decode(acts).float().cpu().numpy()
            with_sae = backend.forward(ids, splice=ResidualSplice(layer, x_hat, start=1), cancel=cancel)
            zeroed = backend.forward(ids, splice=ResidualSplice(layer, np.zeros_like(x_hat), start=1), cancel=cancel)
            logits = {"clean": clean.logits, "sae": with_sae.logits, "zero": zeroed.logits}
            tally.add_text(done, ids, clean.residuals[layer], x_hat, acts.float().cpu().numpy(), logits)
        progress(Progress("evaluating the SAE", done + 1, total))
    if not tally.x:
        raise InputError("no usable text for evaluation (every text was shorter than three tokens)")
    check(cancel)
    progress(Progress("baselines and intervals"))
    return tally.finish(backend.token_strings, massive_factor, n_boot, seed)


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
