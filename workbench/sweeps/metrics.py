"""The judge-free sweep metrics as plain formulas on numpy arrays (DESIGN.md "Metrics"); each is tested against a
direct computation. Measuring a row (which model pass feeds them) is measure.py's job.

- concept: a feature's mean activation over the generated positions ÷ its max activation; `fires` is the
  fraction of those positions where it is active;
- fluency: mean negative log-likelihood per generated token (perplexity = exp of it);
- repetition: distinct-n = unique n-grams ÷ n-grams, and the longest n-gram that occurs twice;
- drift: KL(steered ‖ unsteered) between next-token distributions, averaged over positions;
- summaries: mean with a 95 % Student-t interval, least-squares slope.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np

# Two-sided 95 % Student-t quantiles for 1–30 degrees of freedom; beyond 30 the normal 1.96 is within 2 %.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64 (the max is subtracted first, so large logits do not overflow)."""
    x = np.asarray(logits, np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def generated_nll(logits: np.ndarray, token_ids: Sequence[int], prompt_len: int) -> float | None:
    """Mean NLL of the generated tokens `token_ids[prompt_len:]` under `logits` ((seq, vocab), position t
    predicting token t + 1). None when nothing was generated."""
    n = len(token_ids) - prompt_len
    if n <= 0:
        return None
    logp = log_softmax(logits[prompt_len - 1 : len(token_ids) - 1])
    targets = np.asarray(token_ids[prompt_len:], dtype=np.int64)
    return float(-logp[np.arange(n), targets].mean())


def perplexity(nll: float | None) -> float | None:
    return math.exp(nll) if nll is not None else None


def concept(activations: np.ndarray, max_activation: float) -> tuple[float, float]:
    """(mean activation ÷ `max_activation`, fraction of positions that fire) over the generated positions'
    activations of one feature; (0, 0) when nothing was generated."""
    values = np.asarray(activations, np.float64)
    if values.size == 0:
        return 0.0, 0.0
    return float(values.mean() / max_activation), float((values > 0).mean())


def distinct_n(items: Sequence[Hashable], n: int) -> float | None:
    """Unique n-grams ÷ n-grams; None when the sequence is shorter than n."""
    grams = [tuple(items[i : i + n]) for i in range(len(items) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def longest_repeat(items: Sequence[Hashable]) -> int:
    """The length of the longest n-gram that occurs at least twice (overlaps count); 0 when none repeats.

    If an n-gram repeats, so does its prefix, so n grows until no n-gram repeats."""
    n = 0
    while n < len(items):
        grams = [tuple(items[i : i + n + 1]) for i in range(len(items) - n)]
        if len(set(grams)) == len(grams):
            break
        n += 1
    return n


def kl_divergence(steered_logits: np.ndarray, clean_logits: np.ndarray) -> float:
    """Mean over positions of KL(p_steered ‖ p_clean) = Σ_v p_s(v) (log p_s(v) − log p_c(v)), in nats."""
    logp_s, logp_c = log_softmax(steered_logits), log_softmax(clean_logits)
    per_position = (np.exp(logp_s) * (logp_s - logp_c)).sum(axis=-1)
    return float(np.maximum(per_position, 0.0).mean())  # ≥ 0 in exact arithmetic; clip rounding


def mean_ci(values: Sequence[float]) -> tuple[float | None, tuple[float, float] | None]:
    """Mean and the 95 % Student-t interval of the mean; no interval for fewer than two values."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], np.float64)
    if x.size == 0:
        return None, None
    mean = float(x.mean())
    if x.size < 2:
        return mean, None
    t = _T95[x.size - 2] if x.size - 1 <= len(_T95) else 1.96
    half = t * float(x.std(ddof=1)) / math.sqrt(x.size)
    return mean, (mean - half, mean + half)


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ys over xs; None with fewer than two distinct xs."""
    x, y = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    if x.size < 2 or np.ptp(x) == 0:
        return None
    dx = x - x.mean()
    return float((dx * (y - y.mean())).sum() / (dx**2).sum())
