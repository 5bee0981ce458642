"""The SAE-quality subcommands of `steering-workbench`: `sae-metrics` and `feature` (see workbench/cli/main.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.cancel import CancelToken
from workbench.errors import InputError
from workbench.progress import Progress

if TYPE_CHECKING:
    from workbench.engine import Engine

METRIC_KEYS = ("l0", "fve", "mse", "ce_loss_recovered", "delta_loss", "dead_fraction", "dense_fraction", "n_tokens")
EXTRA_KEYS = ("fve_ci", "fve_all", "mse_all", "normalized_mse", "kl", "pca_fve", "random_fve", "ce_clean", "ce_sae")


def add_parsers(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    m = sub.add_parser("sae-metrics", help="L0, FVE, MSE, CE-loss recovered, dead / dense features of an SAE")
    common(m)
    m.add_argument("--layer", type=int, required=True)
    m.add_argument("--text-file", default=None, help="default: the shipped held-out corpus")
    m.add_argument("--max-texts", type=int, default=400, help="evaluate on at most this many texts")
    m.add_argument("--max-tokens", type=int, default=128, help="tokens per text (longer texts are cut)")
    m.add_argument(
        "--massive-factor",
        type=float,
        default=10.0,
        help="tokens whose residual norm exceeds this × the median are massive: reported apart, left out of fve",
    )

    f = sub.add_parser("feature", help="a feature's label, statistics, top tokens and top-activating examples")
    f.add_argument("--layer", type=int, required=True)
    f.add_argument("--id", type=int, required=True, dest="feature_id")
    f.add_argument("--sae", default=None, metavar="FOLDER", help="an SAE folder (default: the demo SAE)")
    f.add_argument("--examples", type=int, default=10, help="examples to show")
    f.add_argument("--json", action="store_true", help="print one JSON document")


def cmd_sae_metrics(
    args: argparse.Namespace, cancel: CancelToken, engine_for: Callable[..., Engine]
) -> dict[str, Any] | None:
    from workbench.analysis.sae_quality import measure_sae_quality
    from workbench.analysis.texts import texts_from

    texts, source = texts_from(args.text_file)
    engine = engine_for(args, cancel)
    show = _progress if sys.stderr.isatty() else None
    report = measure_sae_quality(
        engine,
        args.layer,
        texts,
        source,
        max_texts=args.max_texts,
        max_tokens=args.max_tokens,
        massive_factor=args.massive_factor,
        progress=show or (lambda _p: None),
        cancel=cancel,
    )
    record = report.as_dict()
    if not args.json:
        for key in (*METRIC_KEYS, *EXTRA_KEYS):
            print(f"{key:>18}  {_figure(record[key])}")
        m = report.metrics.massive_tokens
        print(f"{'massive tokens':>18}  {m.count} (norm > {m.factor:g} × median {m.median_norm:.1f}): {m.by_token}")
        print(f"{'measured on':>18}  {report.texts}")
        if report.warning:
            print(f"{'warning':>18}  {report.warning}")
    return record


def _figure(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(f"{v:.4f}" for v in value) + "]"
    return f"{value:.4f}"


def cmd_feature(args: argparse.Namespace, _cancel: CancelToken) -> dict[str, Any] | None:
    """Reads the SAE folder's files only: no model load, so it answers in well under a second."""
    from workbench.saes.demo import demo_sae_folder
    from workbench.saes.features import ATLAS_FILE, FeatureAtlas
    from workbench.saes.stats import STATS_FILE, FeatureStatistics

    folder = Path(args.sae).expanduser() if args.sae else demo_sae_folder(args.layer)
    if not (folder / "cfg.json").is_file():
        hint = "" if args.sae else " (no demo SAE at this layer; demo layers are in resources/saes)"
        raise InputError(f"no SAE in {folder}{hint}")
    if not (folder / ATLAS_FILE).is_file():
        raise InputError(
            f"{folder} has no {ATLAS_FILE} (examples and labels are built by packaging/train_demo_saes.py)"
        )
    atlas = FeatureAtlas.load(folder / ATLAS_FILE)
    stats = FeatureStatistics.load(folder / STATS_FILE) if (folder / STATS_FILE).is_file() else None
    card = atlas.card(args.feature_id, stats)
    card["examples"] = card["examples"][: max(0, args.examples)]
    card.update(layer=args.layer, sae=str(folder), imported_label=_imported_label(folder, args.feature_id))
    if not args.json:
        print(f"L{args.layer} #{card['id']}: {card['label']}")
        if card["imported_label"]:
            print(f"  imported label: {card['imported_label']}")
        if stats is not None:
            print(f"  max act {card['max_act']:.3g}, density {card['density']:.3%}, mean act {card['mean_act']:.3g}")
        print("  promotes:   " + " ".join(repr(t["token"]) for t in card["promoted"]))
        print("  suppresses: " + " ".join(repr(t["token"]) for t in card["suppressed"]))
        for e in card["examples"]:
            print(f"  {e['activation']:8.3g}  {e['text']!r}")
    return card


def _imported_label(folder: Path, feature: int) -> str | None:
    """The label imported for this feature (`labels import`), shown beside the automatic one; None if none."""
    from workbench.saes.labels import folder_fingerprint, imported_label

    return imported_label(folder_fingerprint(folder), feature)


def demo_sae_specs() -> list[str]:
    """The shipped SAE folders, used when the embedded model is loaded without any --sae."""
    from workbench.saes.demo import demo_sae_folders

    return [str(p) for p in demo_sae_folders()]


def _progress(p: Progress) -> None:
    step = f" ({p.done}/{p.total})" if p.total else ""
    print(f"\r{p.phase}{step}\033[K", end="", file=sys.stderr, flush=True)
    if p.total and p.done >= p.total:
        print(file=sys.stderr)
