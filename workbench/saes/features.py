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
The atlas is built at build time (workbench/recipe/atlas.py); the app only reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import InputError, WorkbenchError
from workbench.npzfile import read_npz, write_npz
from workbench.saes.stats import FeatureStatistics

ATLAS_FILE = "feature_atlas.npz"
ATLAS_VERSION = 1


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


def _sig(value: float) -> float:
    """Four significant digits: enough to read, and small activations keep their size."""
    return float(f"{value:.4g}")
