"""Co-activation of SAE features on a reference corpus: which features fire on the same tokens.

Two features can point in different decoder directions and still fire together (one reads "Atlantic Ocean" as a
place, the other as water), or point the same way and never share a token. So next to the decoder and encoder
cosines (neighbours.py) this measures, over the tokens of a bounded corpus (by default the shipped held-out texts
the feature statistics come from; position 0, the attention sink, left out as in the statistics):
- Jaccard = |T_i ∩ T_j| / |T_i ∪ T_j|, T_i the set of tokens where feature i fires (activation > 0);
- correlation = Pearson's r of the two activation columns over every token (zeros included).

Activations of a TopK SAE are sparse (k of d_sae per token), so the tokens × features matrix is kept as a sparse
matrix and the d_sae × d_sae products are taken a block of features at a time, keeping only the top k per feature.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.cancel import CancelToken, check
from workbench.errors import InputError, WorkbenchError
from workbench.npzfile import read_npz, write_npz
from workbench.paths import cache_dir
from workbench.progress import Progress, ProgressCallback, ignore_progress

if TYPE_CHECKING:
    from workbench.models.protocol import ModelBackend
    from workbench.saes.loader import LoadedSae

COACT_VERSION = 1
DEFAULT_TEXTS = 200  # a few hundred held-out texts, packed into at most MAX_WINDOWS windows of WINDOW tokens:
WINDOW = 128  # ~16 k tokens, enough to rank the co-firing of features that fire on 0.1 % of tokens, and a
MAX_WINDOWS = 128  # bounded, once-per-SAE cost (cached)
BATCH = 8
KEEP = 32  # neighbours kept per feature in the cache; callers ask for fewer
CHUNK = 512


@dataclass(frozen=True)
class TopTable:
    """Per feature, the `k` other features with the largest value of one measure, best first."""

    ids: np.ndarray  # (d_sae, k) int32
    values: np.ndarray  # (d_sae, k) float32

    def row(self, feature: int, k: int) -> list[tuple[int, float]]:
        return [(int(i), float(v)) for i, v in zip(self.ids[feature, :k], self.values[feature, :k], strict=True)]


@dataclass(frozen=True)
class Coactivation:
    """The sparse activations of one SAE on a corpus, and each feature's top co-firing features."""

    activations: Any  # scipy.sparse.csc_matrix (n_tokens, d_sae) float32
    jaccard: TopTable
    correlation: TopTable
    source: str

    @property
    def n_tokens(self) -> int:
        return int(self.activations.shape[0])

    def density(self) -> np.ndarray:
        """Fraction of the corpus tokens each feature fires on."""
        counts = np.diff(self.activations.indptr)
        return (counts / max(self.n_tokens, 1)).astype(np.float32)

    def pair(self, i: int, j: int) -> tuple[float, float]:
        """(Jaccard, correlation) of features i and j, computed from their columns (any pair, not only the top)."""
        a, b = _column(self.activations, i), _column(self.activations, j)
        return jaccard_of(a, b), correlation_of(a, b)


def _column(matrix: Any, j: int) -> np.ndarray:
    return np.asarray(matrix[:, j].toarray()).ravel()


def jaccard_of(a: np.ndarray, b: np.ndarray) -> float:
    """|fires(a) ∩ fires(b)| / |fires(a) ∪ fires(b)| (0 when neither fires)."""
    fa, fb = a > 0, b > 0
    union = int(np.count_nonzero(fa | fb))
    return int(np.count_nonzero(fa & fb)) / union if union else 0.0


def correlation_of(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r of two activation columns (0 when either is constant: it says nothing)."""
    sa, sb = float(a.std()), float(b.std())
    if sa == 0 or sb == 0:
        return 0.0
    return float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb))


def coactivation_tables(
    activations: Any, k: int = KEEP, chunk: int = CHUNK, cancel: CancelToken | None = None
) -> tuple[TopTable, TopTable]:
    """Top-k Jaccard and top-k correlation per feature from a sparse (tokens, d_sae) matrix, a block at a time.

    STEP 1: per-feature counts, means and spreads over all tokens. STEP 2: per block of features, the sparse
    products (co-firing counts, sums of activation products) with every feature, made dense for that block only.
    STEP 3: Jaccard and Pearson's r from those sums; the feature itself is excluded; keep the top k.
    """
    import scipy.sparse as sp
    import torch

    acts = sp.csc_matrix(activations, dtype=np.float64)
    n, d = acts.shape
    if n == 0:
        raise InputError("no tokens to measure co-activation on")
    k = min(k, d - 1)
    fires = acts.copy()
    fires.data = (fires.data > 0).astype(np.float64)
    count = np.asarray(fires.sum(axis=0)).ravel()
    mean = np.asarray(acts.sum(axis=0)).ravel() / n
    spread = np.sqrt(np.maximum(np.asarray(acts.multiply(acts).sum(axis=0)).ravel() / n - mean**2, 0.0))
    fires_t, acts_t = fires.T.tocsr(), acts.T.tocsr()
    out = {name: (np.zeros((d, k), np.int32), np.zeros((d, k), np.float32)) for name in ("jaccard", "corr")}
    for start in range(0, d, chunk):
        check(cancel)
        stop = min(start + chunk, d)
        rows = np.arange(stop - start)
        both = (fires_t[start:stop] @ fires).toarray()
        products = (acts_t[start:stop] @ acts).toarray()
        union = count[start:stop, None] + count[None, :] - both
        jac = np.divide(both, union, out=np.zeros_like(both), where=union > 0)
        scale = spread[start:stop, None] * spread[None, :]
        cov = products / n - mean[start:stop, None] * mean[None, :]
        corr = np.divide(cov, scale, out=np.zeros_like(cov), where=scale > 0)
        for name, matrix in (("jaccard", jac), ("corr", corr)):
            matrix[rows, rows + start] = -np.inf  # a feature is not its own neighbour
            values, ids = torch.from_numpy(matrix).topk(k, dim=1)
            out[name][0][start:stop] = ids.numpy()
            out[name][1][start:stop] = values.numpy()
    return TopTable(*out["jaccard"]), TopTable(*out["corr"])


def corpus_key(texts: Sequence[str], window: int, max_windows: int) -> str:
    """What a cache file is keyed by besides the SAE: the exact texts and how they were cut."""
    digest = hashlib.sha256(f"{window}\0{max_windows}\0".encode())
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def cache_path(fingerprint: str, key: str) -> Path:
    return cache_dir() / "neighbours" / f"{fingerprint}-coact-{key}.npz"


def default_texts(max_texts: int = DEFAULT_TEXTS) -> tuple[list[str], str]:
    """The first `max_texts` of the shipped held-out corpus (the texts the demo statistics come from)."""
    from workbench.analysis.texts import texts_from

    texts, source = texts_from(None)
    return texts[: max(1, max_texts)], f"{source}, first {min(len(texts), max_texts)} texts"


def pack_windows(backend: ModelBackend, texts: Sequence[str], window: int, max_windows: int) -> list[list[int]]:
    """Texts joined (end-of-text between them) and cut into windows of `window` tokens, as the demo SAEs were
    trained: equal rows run as one batch, several times faster on a CPU than one text at a time."""
    separator = backend.info.eos_token_id
    stream: list[int] = []
    windows: list[list[int]] = []
    for text in texts:
        stream += backend.encode_text(text) + ([separator] if separator is not None else [])
        while len(stream) >= window and len(windows) < max_windows:
            windows.append(stream[:window])
            del stream[:window]
        if len(windows) >= max_windows:
            break
    return windows


def compute_coactivations(
    backend: ModelBackend,
    saes: Sequence[LoadedSae],
    texts: Sequence[str],
    source: str,
    window: int = WINDOW,
    max_windows: int = MAX_WINDOWS,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> dict[str, Coactivation]:
    """One pass of the model over `texts` (packed windows, position 0 of each left out as in the statistics)
    for every SAE in `saes`, then each SAE's co-firing ranking; by SAE key, not cached."""
    import scipy.sparse as sp
    import torch

    backend.capabilities.require_capture("measure co-activation")
    windows = pack_windows(backend, texts, window, max_windows)
    if not windows:
        raise InputError(f"too little text for co-activation: fewer than {window} tokens")
    layers = sorted({s.layer for s in saes})
    blocks: dict[str, list[Any]] = {s.key: [] for s in saes}
    what = "co-activation: reading the corpus"
    for start in range(0, len(windows), BATCH):
        check(cancel)  # between batches: a cancelled pass stops within one batch
        residuals = backend.residual_batch(windows[start : start + BATCH], layers)
        for s in saes:
            x = residuals[s.layer][:, 1:].reshape(-1, residuals[s.layer].shape[-1])
            with torch.no_grad():
                acts = s.sae.encode(torch.from_numpy(x).to(s.sae.W_dec.device, s.sae.W_dec.dtype)).float()
            blocks[s.key].append(sp.csr_matrix(acts.cpu().numpy()))  # sparse at once: dense is 2 MB a window
        progress(Progress(what, min(start + BATCH, len(windows)), len(windows)))
    out = {}
    for s in saes:
        progress(Progress(f"co-activation: ranking layer {s.layer} features", 0, 0))
        matrix = sp.vstack(blocks.pop(s.key)).tocsc().astype(np.float32)
        jaccard, correlation = coactivation_tables(matrix, cancel=cancel)
        out[s.key] = Coactivation(matrix, jaccard, correlation, source)
    return out


def cached_coactivations(
    backend: ModelBackend,
    saes: Sequence[LoadedSae],
    texts: Sequence[str] | None = None,
    source: str = "",
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> dict[str, Coactivation]:
    """Co-activation of each SAE's features on `texts` (default: the shipped held-out texts), by SAE key: from the
    cache when an SAE (by fingerprint) has met these exact texts before; the others computed in one shared pass
    of the model and cached."""
    if texts is None:
        texts, source = default_texts()
    key = corpus_key(texts, WINDOW, MAX_WINDOWS)
    out: dict[str, Coactivation] = {}
    missing = []
    for s in saes:
        path = cache_path(s.fingerprint, key)
        try:
            out[s.key] = load_coactivation(path)
        except WorkbenchError:
            missing.append(s)  # not computed yet, or a damaged file: recomputed and replaced
    if missing:
        computed = compute_coactivations(backend, missing, texts, source, progress=progress, cancel=cancel)
        for s in missing:
            save_coactivation(computed[s.key], cache_path(s.fingerprint, key))
        out.update(computed)
    return out


def save_coactivation(result: Coactivation, path: Path) -> None:
    m = result.activations
    write_npz(
        path,
        {"format_version": COACT_VERSION, "source": result.source, "shape": list(m.shape)},
        {
            "data": m.data.astype(np.float32),
            "indices": m.indices.astype(np.int32),
            "indptr": m.indptr.astype(np.int64),
            "jaccard_ids": result.jaccard.ids,
            "jaccard": result.jaccard.values,
            "correlation_ids": result.correlation.ids,
            "correlation": result.correlation.values,
        },
    )


def load_coactivation(path: Path) -> Coactivation:
    import scipy.sparse as sp

    if not path.is_file():
        raise WorkbenchError(f"no co-activation cache {path}")
    try:
        header, a = read_npz(path)
        if header.get("format_version") != COACT_VERSION:
            raise ValueError("written by another version")
        matrix = sp.csc_matrix((a["data"], a["indices"], a["indptr"]), shape=tuple(header["shape"]))
        return Coactivation(
            matrix,
            TopTable(a["jaccard_ids"], a["jaccard"]),
            TopTable(a["correlation_ids"], a["correlation"]),
            str(header.get("source", "")),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WorkbenchError(f"unreadable co-activation cache {path}: {exc}") from exc
