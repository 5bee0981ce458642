"""The subcommands that tell features apart: `neighbours`, `contrast`, `selectivity` and `labels import`.

Registered into workbench/cli/main.py's COMMANDS like the session subcommands. Bad input (an unknown feature,
an empty file, a layer without an SAE, an id out of range) exits with code 2 and one line on stderr.
"""

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


def add_parsers(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    n = sub.add_parser("neighbours", help="features near one feature of its SAE: decoder, encoder, co-activation")
    common(n)
    n.add_argument("--layer", type=int, required=True)
    n.add_argument("--id", type=int, required=True, dest="feature_id")
    n.add_argument("--top", type=int, default=10, help="the K nearest by each measure (listed together)")
    n.add_argument(
        "--no-coactivation", action="store_true", help="skip the corpus pass (Jaccard and correlation are null)"
    )

    c = sub.add_parser("contrast", help="features that tell two texts (a minimal pair) or two sets of texts apart")
    common(c)
    c.add_argument("--layer", type=int, required=True)
    c.add_argument("--a", default=None, metavar="TEXT", help="text A of a minimal pair")
    c.add_argument("--b", default=None, metavar="TEXT", help="text B of a minimal pair")
    c.add_argument("--pair", default=None, metavar="ID", help="a built-in minimal pair (see --list-pairs)")
    c.add_argument("--a-file", default=None, metavar="FILE", help="set A: one text per line (or JSONL)")
    c.add_argument("--b-file", default=None, metavar="FILE", help="set B: one text per line (or JSONL)")
    c.add_argument("--top", type=int, default=10)
    c.add_argument("--list-pairs", action="store_true", help="print the built-in minimal pairs and exit")

    s = sub.add_parser("selectivity", help="steer A and B separately; does A's steer raise A more than B's does?")
    common(s)
    s.add_argument("--feature", required=True, metavar="L:A")
    s.add_argument("--versus", required=True, metavar="L:B")
    s.add_argument("--strength", type=float, required=True)
    s.add_argument("--unit", default="raw", choices=("raw", "maxact", "resid"))
    s.add_argument("--prompt", default=None, help="default: a neutral chat prompt")
    s.add_argument("--max-new-tokens", type=int, default=32)
    s.add_argument("--seed", type=int, default=0)

    labels = sub.add_parser("labels", help="feature labels from elsewhere (Neuronpedia export, CSV)")
    actions = labels.add_subparsers(dest="labels_action", metavar="ACTION", required=True)
    i = actions.add_parser("import", help="import labels for one SAE (kept in the user's data folder)")
    i.add_argument("file", metavar="FILE", help="a Neuronpedia JSON export or a CSV feature,label")
    i.add_argument("--layer", type=int, required=True)
    i.add_argument("--sae", default=None, metavar="SPEC", help="an SAE folder (default: the demo SAE of the layer)")
    i.add_argument("--json", action="store_true", help="print one JSON document")


def _engine_for(args: argparse.Namespace, cancel: CancelToken) -> Engine:
    from workbench.cli.main import _demo_saes_apply, _engine

    if not args.sae and not _demo_saes_apply(args):
        raise InputError("no SAE given: add --sae FOLDER (or RELEASE:SAE_ID) for the layer to analyse")
    return _engine(args, cancel)


def _progress(p: Progress) -> None:
    if not sys.stderr.isatty():
        return
    step = f" ({p.done}/{p.total})" if p.total else ""
    print(f"\r{p.phase}{step}\033[K", end="", file=sys.stderr, flush=True)
    if p.total and p.done >= p.total:
        print(file=sys.stderr)


def cmd_neighbours(args: argparse.Namespace, cancel: CancelToken) -> dict[str, Any] | None:
    from workbench.analysis.coactivation import cached_coactivations
    from workbench.analysis.neighbours import feature_neighbours

    if args.top < 1:
        raise InputError("--top must be ≥ 1")
    engine = _engine_for(args, cancel)
    sae = engine.sae(args.layer)
    if not 0 <= args.feature_id < sae.d_sae:
        raise InputError(
            f"feature {args.feature_id} does not exist: the SAE at layer {sae.layer} has 0–{sae.d_sae - 1}"
        )
    coactivation = None
    if not args.no_coactivation:
        # One pass of the model serves every loaded SAE, so later questions about other layers are cached too.
        found = cached_coactivations(engine.backend, engine.saes, progress=_progress, cancel=cancel)
        coactivation = found[sae.key]
    result = feature_neighbours(sae, args.feature_id, args.top, coactivation, cancel=cancel)
    if args.json:
        return result.to_dict()
    print(f"L{result.layer} #{result.feature}: {result.label}")
    print(f"{'feature':>8}  {'decoder':>7}  {'encoder':>7}  {'jaccard':>7}  {'corr':>7}  {'density':>8}  label")
    for n in result.neighbours:
        print(
            f"{n.feature:>8}  {n.decoder_cosine:7.3f}  {n.encoder_cosine:7.3f}  {_num(n.jaccard, 7, '.3f')}  "
            f"{_num(n.correlation, 7, '.3f')}  {_num(n.density, 8, '.3%')}  {n.label}"
        )
    return None


def _num(value: float | None, width: int, spec: str) -> str:
    return f"{'—':>{width}}" if value is None else f"{value:{width}{spec}}"


def cmd_contrast(args: argparse.Namespace, cancel: CancelToken) -> dict[str, Any] | None:
    from workbench.analysis.contrast import builtin_pair, builtin_pairs, contrast_sets, minimal_pair

    if args.list_pairs:
        pairs = builtin_pairs()
        if args.json:
            return {"pairs": pairs}
        for p in pairs:
            print(f"{p['id']:>20}  {p['a']!r} / {p['b']!r}  ({p['note']})")
        return None
    text_a, text_b = args.a, args.b
    files = args.a_file is not None or args.b_file is not None
    if args.pair is not None:
        if text_a is not None or text_b is not None or files:
            raise InputError("--pair replaces --a/--b and --a-file/--b-file: give one of them")
        text_a, text_b = builtin_pair(args.pair)
    if files:
        if args.a_file is None or args.b_file is None or text_a is not None or text_b is not None:
            raise InputError("contrast sets need both --a-file and --b-file (and no --a/--b)")
        from workbench.analysis.texts import read_texts

        texts_a, texts_b = read_texts(args.a_file), read_texts(args.b_file)  # an empty file fails here, fast
        engine = _engine_for(args, cancel)
        key = engine.sae(args.layer).key
        result = contrast_sets(engine, key, texts_a, texts_b, args.top, progress=_progress, cancel=cancel)
    else:
        if text_a is None or text_b is None:
            raise InputError("give --a TEXT and --b TEXT, a built-in --pair ID, or --a-file and --b-file")
        if not text_a.strip() or not text_b.strip():
            raise InputError("empty text: both --a and --b need some text")
        engine = _engine_for(args, cancel)
        result = minimal_pair(engine, engine.sae(args.layer).key, text_a, text_b, args.top)
    if args.json:
        return result.to_dict()
    for f in result.features:
        extra = "" if f.effect_size is None and f.auroc is None else f"  d {f.effect_size}  auroc {f.auroc:.3f}"
        print(
            f"{f.feature:>6}  diff {f.difference:+8.3f}  A max {f.a_max:7.3f}  B max {f.b_max:7.3f}{extra}  {f.label}"
        )
    return None


def cmd_selectivity(args: argparse.Namespace, cancel: CancelToken) -> dict[str, Any] | None:
    from workbench.analysis.selectivity import DEFAULT_PROMPT, measure_selectivity, parse_feature_ref
    from workbench.models.sampling import SamplingSettings

    settings = SamplingSettings(
        seed=args.seed, temperature=0.0, max_new_tokens=args.max_new_tokens, stop_at_eos=False
    )  # greedy: the 2 × 2 table must not move with sampling noise
    engine = _engine_for(args, cancel)
    feature_a, feature_b = parse_feature_ref(engine, args.feature), parse_feature_ref(engine, args.versus)
    prompt = args.prompt if args.prompt is not None else DEFAULT_PROMPT
    result = measure_selectivity(
        engine, feature_a, feature_b, args.strength, args.unit, prompt, settings, cancel=cancel
    )
    if args.json:
        return result.to_dict()
    a, b = feature_a.describe(), feature_b.describe()
    print(f"{'':>10}  {a:>12}  {b:>12}")
    for row in result.rows:
        print(f"{row.name:>10}  {row.activation_a:12.3f}  {row.activation_b:12.3f}   {row.text[:60]!r}")
    print(f"selectivity {result.selectivity:+.3f} ({result.scaled_by}); reverse {result.reverse:+.3f}")
    return None


def cmd_labels(args: argparse.Namespace, _cancel: CancelToken) -> dict[str, Any] | None:
    """Reads the SAE folder's cfg.json only: no model load. The file is checked against the SAE's model name,
    layer and size."""
    from workbench.saes.demo import demo_sae_folder
    from workbench.saes.labels import folder_identity, import_labels

    folder = Path(args.sae).expanduser() if args.sae else demo_sae_folder(args.layer)
    if not (folder / "cfg.json").is_file():
        hint = "" if args.sae else " (no demo SAE at this layer: give --sae FOLDER)"
        raise InputError(f"no SAE in {folder}{hint}")
    outcome = import_labels(args.file, folder_identity(folder, args.layer))
    if args.json:
        return {**outcome.to_dict(), "sae": str(folder), "summary": outcome.summary()}
    print(outcome.summary())
    return None


COMMANDS = {
    "neighbours": cmd_neighbours,
    "contrast": cmd_contrast,
    "selectivity": cmd_selectivity,
    "labels": cmd_labels,
}
