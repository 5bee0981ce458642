"""What an SAE's reconstruction is worth beside simple baselines on the same tokens, and how sure the FVE is.

- PCA with k = round(L0) components: the best any *fixed* k-dimensional subspace can do. An SAE spends the same
  L0 on a token-dependent choice among d_sae directions, so it should beat this clearly.
- Random decoder at the same L0: d_sae random unit directions (seeded); each token picks the k most correlated
  with it and least-squares fits their coefficients (either sign). What k sparse codes get without learning
  anything: the floor.
Both are cross-fitted over texts: folds are the texts' indices mod 2; each fold's tokens are reconstructed from a
mean (and, for PCA, components) fitted on the other fold, so no baseline is scored on tokens it was fitted to.
Their FVE uses the same denominator as the SAE's: Σ‖x − μ‖², μ the mean of the scored tokens.
- FVE interval: percentile bootstrap over texts (texts resampled with replacement, tokens kept together).
"""

from __future__ import annotations

import numpy as np

N_FOLDS = 2
N_BOOTSTRAP = 1000
CHUNK = 512  # tokens per step of the random-decoder fit


def fve_from_errors(x: np.ndarray, sq_err: np.ndarray) -> float:
    """1 − Σ sq_err / Σ‖x − μ‖² for per-token squared errors `sq_err` of the tokens `x` (tokens, d)."""
    x64 = np.asarray(x, np.float64)
    total = float(((x64 - x64.mean(axis=0)) ** 2).sum())
    return 1.0 - float(np.sum(sq_err)) / total


def folds_of(groups: np.ndarray) -> np.ndarray:
    """The cross-fitting fold of each token: its text's index mod N_FOLDS."""
    return np.asarray(groups) % N_FOLDS


def pca_errors(x: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray | None:
    """Per-token squared error of a k-component PCA reconstruction fitted on the other fold (None: one fold)."""
    x64 = np.asarray(x, np.float64)
    folds = folds_of(groups)
    if len(np.unique(folds)) < N_FOLDS:
        return None
    k = int(min(max(k, 1), x64.shape[1]))
    err = np.zeros(x64.shape[0])
    for fold in range(N_FOLDS):
        fit, score = x64[folds != fold], x64[folds == fold]
        mean = fit.mean(axis=0)
        centred = fit - mean
        _, vectors = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
        basis = vectors[:, -k:]
        c = score - mean
        err[folds == fold] = ((c - (c @ basis) @ basis.T) ** 2).sum(axis=1)
    return err


def random_dictionary(d_sae: int, d_in: int, seed: int = 0) -> np.ndarray:
    """`d_sae` random unit directions (rows) in d_in dimensions."""
    rows = np.random.default_rng(seed).standard_normal((d_sae, d_in))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def random_decoder_errors(x: np.ndarray, groups: np.ndarray, k: int, d_sae: int, seed: int = 0) -> np.ndarray | None:
    """Per-token squared error of k-sparse least-squares codes over a random dictionary (None: one fold)."""
    x64 = np.asarray(x, np.float64)
    folds = folds_of(groups)
    if len(np.unique(folds)) < N_FOLDS:
        return None
    atoms_all = random_dictionary(d_sae, x64.shape[1], seed)
    k = int(min(max(k, 1), d_sae, x64.shape[1]))
    err = np.zeros(x64.shape[0])
    for fold in range(N_FOLDS):
        mean = x64[folds != fold].mean(axis=0)
        rows = np.flatnonzero(folds == fold)
        for start in range(0, len(rows), CHUNK):
            idx = rows[start : start + CHUNK]
            c = x64[idx] - mean
            scores = np.abs(c @ atoms_all.T)
            chosen = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            atoms = atoms_all[chosen]  # (n, k, d)
            gram = atoms @ atoms.transpose(0, 2, 1) + 1e-9 * np.eye(k)
            coef = np.linalg.solve(gram, (atoms @ c[:, :, None]))[:, :, 0]
            recon = np.einsum("nk,nkd->nd", coef, atoms)
            err[idx] = ((c - recon) ** 2).sum(axis=1)
    return err


def bootstrap_fve(
    x: np.ndarray,
    sq_err: np.ndarray,
    groups: np.ndarray,
    n_boot: int = N_BOOTSTRAP,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of FVE when the texts (`groups`, one id per token) are resampled with replacement."""
    x64 = np.asarray(x, np.float64)
    _, inverse = np.unique(groups, return_inverse=True)
    n_groups = int(inverse.max()) + 1
    count = np.bincount(inverse, minlength=n_groups).astype(np.float64)
    sum_x = np.zeros((n_groups, x64.shape[1]))
    np.add.at(sum_x, inverse, x64)
    sum_sq = np.bincount(inverse, weights=(x64**2).sum(axis=1), minlength=n_groups)
    err = np.bincount(inverse, weights=np.asarray(sq_err, np.float64), minlength=n_groups)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(n_boot, n_groups))
    weights = np.zeros((n_boot, n_groups))
    np.add.at(weights, (np.arange(n_boot)[:, None], draws), 1.0)
    n = weights @ count
    sx = weights @ sum_x
    # Σ‖x − μ‖² = Σ‖x‖² − ‖Σx‖² / n over the resampled tokens.
    total = weights @ sum_sq - (sx**2).sum(axis=1) / n
    values = 1.0 - (weights @ err) / total
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
