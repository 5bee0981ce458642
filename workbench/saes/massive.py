"""Massive-activation tokens: residuals whose norm is far above the layer's typical norm.

A token is *massive* when its residual norm exceeds `MASSIVE_FACTOR` (10) × the median norm of the tokens it
is measured with. Position 0 (the attention sink) is the best-known kind, but not the only one: in SmolLM2 a few
later tokens reach norms above 100× the median too. A handful of such tokens carry most of Σ‖x − μ‖², so an FVE
computed with them says more about three tokens than about the SAE. Metrics and feature statistics therefore
leave them out by default and report them apart (what they are, how many, how large).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MASSIVE_FACTOR = 10.0
LISTED = 20  # massive tokens listed one by one in a report (all are counted)


def massive_threshold(norms: np.ndarray, factor: float = MASSIVE_FACTOR) -> float:
    """`factor` × the median of `norms` (inf for no tokens: nothing is massive)."""
    norms = np.asarray(norms, np.float64)
    return float(factor * np.median(norms)) if norms.size else float("inf")


def massive_mask(norms: np.ndarray, factor: float = MASSIVE_FACTOR) -> np.ndarray:
    """True where a token's residual norm exceeds `factor` × the median norm."""
    norms = np.asarray(norms, np.float64)
    return norms > massive_threshold(norms, factor)


@dataclass(frozen=True)
class MassiveToken:
    text: int  # index of the text in the evaluated sequence
    position: int  # token position in that text (0 = first)
    token: str
    norm: float


@dataclass(frozen=True)
class MassiveTokens:
    """What was left out of the robust figures, and why (plain data)."""

    factor: float
    median_norm: float
    threshold: float
    count: int
    n_tokens: int  # tokens the median and the count are taken over
    norms: tuple[float, ...]  # every massive token's norm, largest first
    by_token: dict[str, int]  # token string → how many of the massive tokens it is
    listed: tuple[MassiveToken, ...]  # the largest ones (at most LISTED)
    position0: dict[str, Any] = field(default_factory=dict)  # the first position, never scored (see metrics.py)

    def as_dict(self) -> dict[str, Any]:
        norms = np.asarray(self.norms)
        return {
            "count": self.count,
            "n_tokens": self.n_tokens,
            "factor": self.factor,
            "median_norm": self.median_norm,
            "threshold": self.threshold,
            "norm_min": float(norms.min()) if norms.size else None,
            "norm_median": float(np.median(norms)) if norms.size else None,
            "norm_max": float(norms.max()) if norms.size else None,
            "by_token": self.by_token,
            "tokens": [{"text": t.text, "position": t.position, "token": t.token, "norm": t.norm} for t in self.listed],
            "position0": self.position0,
        }


def describe_massive(
    norms: np.ndarray,
    texts: np.ndarray,
    positions: np.ndarray,
    token_ids: np.ndarray,
    token_strings: Callable[[Sequence[int]], list[str]],
    factor: float = MASSIVE_FACTOR,
    position0_norms: np.ndarray | None = None,
) -> tuple[np.ndarray, MassiveTokens]:
    """The massive-token mask over scored tokens and its report.

    `norms`, `texts`, `positions` and `token_ids` describe each scored token; `token_strings` (the backend's)
    names the massive ones. `position0_norms` (one per text) are the never-scored first positions, compared with
    the same threshold for the report only.
    """
    norms = np.asarray(norms, np.float64)
    threshold = massive_threshold(norms, factor)
    mask = norms > threshold
    order = [int(i) for i in np.argsort(-norms, kind="stable") if mask[i]]
    strings = token_strings([int(token_ids[i]) for i in order]) if order else []
    listed = tuple(
        MassiveToken(int(texts[i]), int(positions[i]), s, float(norms[i]))
        for i, s in zip(order[:LISTED], strings, strict=False)
    )
    position0: dict[str, Any] = {}
    if position0_norms is not None and len(position0_norms):
        p0 = np.asarray(position0_norms, np.float64)
        position0 = {
            "scored": False,
            "texts": len(p0),
            "massive": int((p0 > threshold).sum()),
            "norm_median": float(np.median(p0)),
        }
    report = MassiveTokens(
        factor=factor,
        median_norm=float(np.median(norms)) if norms.size else 0.0,
        threshold=threshold,
        count=int(mask.sum()),
        n_tokens=int(norms.size),
        norms=tuple(float(norms[i]) for i in order),
        by_token=dict(Counter(strings).most_common()),
        listed=listed,
        position0=position0,
    )
    return mask, report
