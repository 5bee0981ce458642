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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import InputError, WorkbenchError
from workbench.npzfile import write_npz
from workbench.saes.data_files import read_checked_npz
from workbench.saes.stats import FeatureStatistics

ATLAS_FILE = "feature_atlas.npz"
ATLAS_VERSION = 1
ATLAS_ARRAYS = (
    "ex_tokens",
    "ex_pos",
    "ex_act",
    "promoted",
    "promoted_logit",
    "suppressed",
    "suppressed_logit",
)


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
        header, arrays = read_checked_npz(path, "feature atlas", ATLAS_ARRAYS)
        try:
            labels = header["labels"]
            token_strings = header["token_strings"]
            if not isinstance(labels, list) or not isinstance(token_strings, dict):
                raise TypeError("labels must be a list and token_strings an object")
            atlas = cls(
                labels=[str(s) for s in labels],
                token_strings={int(k): str(v) for k, v in token_strings.items()},
                source=str(header.get("source", "")),
                n_tokens=int(header.get("n_tokens", 0)),
                **{name: arrays[name] for name in ATLAS_ARRAYS},
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise WorkbenchError(f"unreadable feature atlas {path}: {exc}") from exc
        _check_atlas_shapes(atlas, path)
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


def _check_atlas_shapes(atlas: FeatureAtlas, path: Path) -> None:
    """Shapes as the module docstring gives them, and every example's firing token inside its snippet."""
    d = atlas.d_sae
    examples = atlas.ex_act.shape
    width = atlas.ex_tokens.shape[-1] if atlas.ex_tokens.ndim == 3 else -1
    top = atlas.promoted.shape
    fits = (
        len(examples) == 2
        and examples[0] == d
        and atlas.ex_pos.shape == examples
        and atlas.ex_tokens.shape[:2] == examples
        and width >= 0
        and len(top) == 2
        and top[0] == d
        and atlas.promoted_logit.shape == atlas.suppressed.shape == atlas.suppressed_logit.shape == top
    )
    if not fits:
        raise WorkbenchError(f"inconsistent feature atlas in {path}: its arrays do not match its {d} labels")
    tokens = (atlas.ex_tokens >= 0).sum(axis=-1)
    if bool(((atlas.ex_pos >= 0) & (atlas.ex_pos >= tokens)).any()):
        raise WorkbenchError(f"inconsistent feature atlas in {path}: an example's position lies past its snippet")


def _sig(value: float) -> float:
    """Four significant digits: enough to read, and small activations keep their size."""
    return float(f"{value:.4g}")
