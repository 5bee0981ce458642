"""What each feature *is*: top-activating examples, promoted / suppressed tokens, and a short automatic label.

Stored next to an SAE as `feature_atlas.npz` (read lazily: the steering path never needs it). Arrays, with
d = d_sae, E = examples per feature, W = snippet width, T = top tokens:
  ex_tokens   (d, E, W) int32  snippet token ids, -1 = padding (snippets are left-aligned)
  ex_pos      (d, E)    int16  index of the firing token inside its snippet (-1 = no example)
  ex_act      (d, E)    float16 its activation, descending per feature
  promoted / suppressed            (d, T) int32   token ids with the largest / smallest logit effect
  promoted_logit / suppressed_logit (d, T) float16 that effect: unembed(final_norm(W_dec[i]))
  header       uint8 JSON: format_version, labels (list of d strings), token_strings ({id: text} for every id
               above), source, n_tokens
Examples come from distinct texts (at most one per text and feature), so one long document cannot fill them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import InputError, WorkbenchError
from workbench.cancel import CancelToken
from workbench.progress import ProgressCallback, ignore_progress
from workbench.npzfile import read_npz, write_npz
from workbench.saes.stats import FeatureStatistics, StatisticsTally, encode_texts

ATLAS_FILE = "feature_atlas.npz"
ATLAS_VERSION = 1
N_EXAMPLES = 10
LEFT, RIGHT = 12, 4  # snippet context around the firing token
N_TOP_TOKENS = 10


@dataclass(frozen=True)
class FeatureAtlas:
    labels: list[str]
    ex_tokens: np.ndarray
    ex_pos: np.ndarray
    ex_act: np.ndarray
    promoted: np.ndarray
    promoted_logit: np.ndarray
    suppressed: np.ndarray
    suppressed_logit: np.ndarray
    token_strings: dict[int, str]
    source: str
    n_tokens: int

    @property
    def d_sae(self) -> int:
        return len(self.labels)

    def save(self, path: Path) -> None:
        header = {
            "format_version": ATLAS_VERSION,
            "labels": self.labels,
            "token_strings": {str(k): v for k, v in sorted(self.token_strings.items())},
            "source": self.source,
            "n_tokens": self.n_tokens,
        }
        write_npz(
            path,
            header,
            dict(
                ex_tokens=self.ex_tokens.astype(np.int32),
                ex_pos=self.ex_pos.astype(np.int16),
                ex_act=self.ex_act.astype(np.float16),
                promoted=self.promoted.astype(np.int32),
                promoted_logit=self.promoted_logit.astype(np.float16),
                suppressed=self.suppressed.astype(np.int32),
                suppressed_logit=self.suppressed_logit.astype(np.float16),
            ),
        )

    @classmethod
    def load(cls, path: Path) -> FeatureAtlas:
        try:
            header, arrays = read_npz(path)
            atlas = cls(
                labels=[str(s) for s in header["labels"]],
                token_strings={int(k): str(v) for k, v in header["token_strings"].items()},
                source=str(header.get("source", "")),
                n_tokens=int(header.get("n_tokens", 0)),
                **arrays,
            )
        except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise WorkbenchError(f"unreadable feature atlas {path}: {exc}") from exc
        if not atlas.ex_act.shape[0] == atlas.promoted.shape[0] == atlas.d_sae:
            raise WorkbenchError(f"inconsistent feature atlas in {path}")
        return atlas

    def card(self, feature: int, stats: FeatureStatistics | None = None) -> dict[str, Any]:
        """The `feature --json` record: label, statistics, top tokens, examples (firing token in [[ ]])."""
        if not 0 <= feature < self.d_sae:
            raise InputError(f"feature {feature} is out of range: this SAE has features 0–{self.d_sae - 1}")

        def tokens(ids: np.ndarray, logits: np.ndarray) -> list[dict[str, Any]]:
            return [
                {"token": self.token_strings.get(int(t), ""), "logit": _sig(float(v))}
                for t, v in zip(ids, logits, strict=True)
            ]

        examples = []
        for e in range(self.ex_act.shape[1]):
            pos = int(self.ex_pos[feature, e])
            if pos < 0:
                continue
            ids = [int(t) for t in self.ex_tokens[feature, e] if t >= 0]
            parts = [self.token_strings.get(t, "") for t in ids]
            marked = "".join(parts[:pos]) + "[[" + parts[pos] + "]]" + "".join(parts[pos + 1 :])
            examples.append(
                {
                    "text": marked,
                    "tokens": parts,
                    "position": pos,
                    "activation": _sig(float(self.ex_act[feature, e])),
                }
            )
        record: dict[str, Any] = {"id": feature, "label": self.labels[feature]}
        if stats is not None:
            record.update(
                max_act=float(stats.max_activation[feature]),
                density=float(stats.density[feature]),
                mean_act=float(stats.mean_activation[feature]),
            )
        record["promoted"] = tokens(self.promoted[feature], self.promoted_logit[feature])
        record["suppressed"] = tokens(self.suppressed[feature], self.suppressed_logit[feature])
        record["examples"] = examples
        return record


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


def logit_effects(backend: Any, w_dec: Any, n_top: int = N_TOP_TOKENS) -> tuple[np.ndarray, ...]:
    """Top promoted / suppressed token ids and logits of each decoder row through the final norm and unembedding."""
    import torch

    model = backend.model
    norm, head = model.model.norm, model.get_output_embeddings()
    out: list[list[np.ndarray]] = [[], [], [], []]
    with torch.no_grad():
        for start in range(0, w_dec.shape[0], 256):
            rows = w_dec[start : start + 256].to(backend.device, head.weight.dtype)
            logits = head(norm(rows.unsqueeze(0)))[0].float()
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
    backend: Any,
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
    backend: Any, sae: Any, top: _TopExamples, docs: list[list[int]], source: str, n_tokens: int
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
    strings = dict(zip(ordered, backend.tokenizer.convert_ids_to_tokens(ordered), strict=True))
    strings = {k: backend.tokenizer.convert_tokens_to_string([v]) for k, v in strings.items()}
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
    from sae_lens import SAE

    from workbench.corpus.build import load_documents
    from workbench.engine import Engine
    from workbench.saes.demo import demo_sae_folder
    from workbench.saes.stats import STATS_FILE

    backend = Engine().load_model("default", device=device, dtype="float32")
    saes = {layer: SAE.load_from_disk(str(demo_sae_folder(layer)), device=device).float() for layer in layers}
    texts = [d.text for d in load_documents(heldout)]
    for layer, (stats, atlas) in build_assets(backend, saes, texts, f"held-out split ({len(texts)} texts)").items():
        stats.save(demo_sae_folder(layer) / STATS_FILE)
        atlas.save(demo_sae_folder(layer) / ATLAS_FILE)


def _sig(value: float) -> float:
    """Four significant digits: enough to read, and small activations keep their size."""
    return float(f"{value:.4g}")
