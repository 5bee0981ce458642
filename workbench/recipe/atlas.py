"""Build each demo SAE's feature atlas and statistics in one pass over reference text (build time only).

What each feature *is*: its top-activating examples (from distinct texts), the tokens its decoder row promotes
and suppresses through the final norm and unembedding, and a short automatic label. The file format and its
reader are `workbench.saes.features`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.cancel import CancelToken
from workbench.progress import ProgressCallback, ignore_progress
from workbench.saes.features import ATLAS_FILE, FeatureAtlas
from workbench.saes.stats import STATS_FILE, FeatureStatistics, StatisticsTally, encode_texts

if TYPE_CHECKING:
    from workbench.models.protocol import ModelBackend

N_EXAMPLES = 10
LEFT, RIGHT = 12, 4  # snippet context around the firing token
N_TOP_TOKENS = 10


class _TopExamples:
    """Keeps each feature's N best (activation, text, position), at most one per text."""

    def __init__(self, d_sae: int, n: int) -> None:
        self.act = np.zeros((d_sae, n), np.float32)
        self.doc = np.full((d_sae, n), -1, np.int64)
        self.pos = np.full((d_sae, n), -1, np.int64)

    def add(self, acts: np.ndarray, doc: int) -> None:
        """`acts` is one text's (positions, d_sae); its best position per feature competes with the kept ones."""
        best_pos = acts.argmax(axis=0)
        best = acts[best_pos, np.arange(acts.shape[1])]
        act = np.concatenate([self.act, best[:, None]], axis=1)
        docs = np.concatenate([self.doc, np.full((acts.shape[1], 1), doc)], axis=1)
        pos = np.concatenate([self.pos, best_pos[:, None]], axis=1)
        order = np.argsort(-act, axis=1, kind="stable")[:, : self.act.shape[1]]
        self.act = np.take_along_axis(act, order, axis=1)
        self.doc = np.take_along_axis(docs, order, axis=1)
        self.pos = np.take_along_axis(pos, order, axis=1)


def logit_effects(backend: ModelBackend, w_dec: Any, n_top: int = N_TOP_TOKENS) -> tuple[np.ndarray, ...]:
    """Top promoted / suppressed token ids and logits of each decoder row through the final norm and unembedding."""
    import torch

    out: list[list[np.ndarray]] = [[], [], [], []]
    with torch.no_grad():
        for start in range(0, w_dec.shape[0], 256):
            rows = w_dec[start : start + 256].float().cpu().numpy()
            logits = torch.from_numpy(backend.unembed(rows, normalize=True))
            top, bottom = logits.topk(n_top, dim=-1), logits.topk(n_top, dim=-1, largest=False)
            for bucket, value in zip(out, (top.indices, top.values, bottom.indices, bottom.values), strict=True):
                bucket.append(value.cpu().numpy())
    return tuple(np.concatenate(b) for b in out)


def auto_label(firing: Sequence[tuple[str, float]], promoted: Sequence[str], n: int = 3) -> str:
    """ "ocean · sea · waves": the firing tokens weighted by activation; promoted tokens ("→ x") fill the rest."""
    weight: dict[str, float] = {}
    for token, act in firing:
        key = token.strip().lower()
        if key and act > 0:
            weight[key] = weight.get(key, 0.0) + act
    words = sorted(weight, key=lambda k: -weight[k])[:n]
    if len(words) < 2:
        seen = set(words)
        extra = [p.strip().lower() for p in promoted if p.strip() and p.strip().lower() not in seen]
        words += [f"→ {p}" for p in dict.fromkeys(extra)][: n - len(words)]
    return " · ".join(words) if words else "(never fired)"


def build_assets(
    backend: ModelBackend,
    saes: dict[int, Any],
    texts: Sequence[str],
    source: str,
    max_tokens_per_text: int = 128,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> dict[int, tuple[FeatureStatistics, FeatureAtlas]]:
    """One pass over `texts` for all layers: statistics (position 0 left out) and the atlas of every SAE."""
    tallies = {layer: StatisticsTally(int(sae.cfg.d_sae)) for layer, sae in saes.items()}
    tops = {layer: _TopExamples(int(sae.cfg.d_sae), N_EXAMPLES) for layer, sae in saes.items()}
    docs: list[list[int]] = []
    what = "feature statistics and examples"
    for encoded in encode_texts(backend, saes, texts, max_tokens_per_text, what, progress, cancel, len(texts)):
        docs.append(encoded.ids)
        for layer, acts in encoded.acts.items():
            tallies[layer].add(encoded.residuals[layer], acts)
            # Positions inside the stored snippet are offset by one: acts row r is token r + 1.
            padded = np.concatenate([np.zeros((1, acts.shape[1]), np.float32), acts])
            tops[layer].add(padded, len(docs) - 1)
    result = {}
    for layer in sorted(saes):
        stats = tallies[layer].finish(source)
        result[layer] = (stats, _atlas(backend, saes[layer], tops[layer], docs, source, stats.n_tokens))
    return result


def _atlas(
    backend: ModelBackend, sae: Any, top: _TopExamples, docs: list[list[int]], source: str, n_tokens: int
) -> FeatureAtlas:
    d_sae, n_ex = top.act.shape
    width = LEFT + 1 + RIGHT
    ex_tokens = np.full((d_sae, n_ex, width), -1, np.int32)
    ex_pos = np.full((d_sae, n_ex), -1, np.int16)
    for i, e in zip(*np.nonzero(top.act > 0), strict=True):
        ids, p = docs[top.doc[i, e]], int(top.pos[i, e])
        start = max(0, p - LEFT)
        snippet = ids[start : p + RIGHT + 1]
        ex_tokens[i, e, : len(snippet)] = snippet
        ex_pos[i, e] = p - start
    promoted, promoted_logit, suppressed, suppressed_logit = logit_effects(backend, sae.W_dec.detach().float())
    used = set(np.unique(ex_tokens[ex_tokens >= 0]).tolist()) | set(np.unique(promoted).tolist())
    used |= set(np.unique(suppressed).tolist())
    ordered = sorted(used)
    strings = dict(zip(ordered, backend.token_strings(ordered), strict=True))
    labels = []
    for i in range(d_sae):
        firing = [
            (strings[int(ex_tokens[i, e, ex_pos[i, e]])], float(top.act[i, e]))
            for e in range(n_ex)
            if ex_pos[i, e] >= 0
        ]
        labels.append(auto_label(firing, [strings[int(t)] for t in promoted[i]]))
    return FeatureAtlas(
        labels=labels,
        ex_tokens=ex_tokens,
        ex_pos=ex_pos,
        ex_act=top.act.astype(np.float16),
        promoted=promoted.astype(np.int32),
        promoted_logit=promoted_logit.astype(np.float16),  # the stored precision, so a reload reads the same
        suppressed=suppressed.astype(np.int32),
        suppressed_logit=suppressed_logit.astype(np.float16),
        token_strings=strings,
        source=source,
        n_tokens=n_tokens,
    )


def build_feature_assets(layers: Sequence[int], heldout: Path, device: str = "cpu") -> None:
    """The recipe's last stage: statistics and atlas next to each shipped demo SAE, on the full held-out split."""
    from workbench.analysis.texts import load_documents
    from workbench.engine import Engine
    from workbench.saes.demo import demo_sae_folder
    from workbench.saes.sae_lens_lite import sae_classes

    SAE = sae_classes().SAE

    backend = Engine().load_model("default", device=device, dtype="float32")
    saes = {layer: SAE.load_from_disk(str(demo_sae_folder(layer)), device=device).float() for layer in layers}
    texts = [d.text for d in load_documents(heldout)]
    for layer, (stats, atlas) in build_assets(backend, saes, texts, f"held-out split ({len(texts)} texts)").items():
        stats.save(demo_sae_folder(layer) / STATS_FILE)
        atlas.save(demo_sae_folder(layer) / ATLAS_FILE)
