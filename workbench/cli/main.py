"""`steering-workbench`: the headless entry point on the same core as the window.

Scripts depend on these subcommand names and JSON shapes. Bad input exits with code 2 and one readable line on
stderr, never a traceback (set STEERING_WORKBENCH_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from workbench import __version__
from workbench.cancel import CancelToken
from workbench.cli.features import COMMANDS as FEATURE_COMMANDS
from workbench.cli.selftest import SELFTEST_COMMANDS, add_selftest_parsers
from workbench.cli.session import COMMANDS as SESSION_COMMANDS
from workbench.cli.session import check_save_target, save_generated
from workbench.errors import Cancelled, InputError, WorkbenchError, describe_unexpected
from workbench.models.registry import DEFAULT_BACKEND, backend_names
from workbench.progress import Progress
from workbench.quiet import quiet_libraries

if TYPE_CHECKING:
    from workbench.engine import Engine
    from workbench.models.generation import GenerationResult
    from workbench.steering.plan import SteeringPlan

EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="steering-workbench",
        description="Steer Llama-family models with SAE features and measure the effect. "
        "Without a subcommand, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from workbench.cli.session import add_max_memory_option

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--model",
            default="default",
            help="'default' (embedded SmolLM2-135M), a model folder, a .gguf file or a hub id",
        )
        sae_help = "a sae-lens SAE folder or RELEASE:SAE_ID (repeatable)"
        p.add_argument("--sae", action="append", default=[], metavar="SPEC", help=sae_help)
        p.add_argument("--device", default="auto", help="auto (CUDA → MPS → CPU), cpu, cuda, cuda:N, mps")
        p.add_argument("--dtype", default="auto", help="auto (bf16 CUDA, fp16 MPS, fp32 CPU), float32, ...")
        p.add_argument(
            "--backend",
            default=DEFAULT_BACKEND,
            choices=backend_names(),
            help="torch (add/clamp/ablate, any model) or llama.cpp (GGUF files, add edits only, faster on a CPU)",
        )
        add_max_memory_option(p)
        p.add_argument("--ignore-memory-check", action="store_true", help="load even if it may not fit in free memory")
        p.add_argument("--trust-remote-code", action="store_true", help="allow a hub model's own code to run")
        p.add_argument("--json", action="store_true", help="print one JSON document")

    g = sub.add_parser("generate", help="generate baseline and steered variants side by side")
    common(g)
    g.add_argument("--prompt", required=True)
    g.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="EDITS",
        help="[NAME=]LAYER:FEATURE:STRENGTH[:MODE][:UNIT][:POSITIONS],... (repeatable)",
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--max-new-tokens", type=int, default=64)
    g.add_argument("--temperature", type=float, default=0.7, help="0 = greedy")
    g.add_argument("--top-p", type=float, default=0.9)
    g.add_argument("--top-k", type=int, default=0)
    g.add_argument("--repetition-penalty", type=float, default=1.0)
    g.add_argument("--raw", action="store_true", help="no chat template: the prompt is the raw text")
    g.add_argument("--save-session", default=None, metavar="PATH", help="save the session (replay / export it later)")

    f = sub.add_parser("features", help="per-token top SAE features of a text")
    common(f)
    f.add_argument("--text", required=True)
    f.add_argument("--layer", type=int, required=True)
    f.add_argument("--top", type=int, default=5)

    i = sub.add_parser("info", help="the loaded model and SAEs")
    common(i)

    s = sub.add_parser("stats", help="compute per-feature statistics (for the maxact / resid units)")
    common(s)
    s.add_argument("--layer", type=int, required=True)
    s.add_argument(
        "--text-file",
        default=None,
        help="one text per line, or JSONL with a 'text' field (default: the shipped held-out corpus)",
    )

    from workbench.cli.features import add_parsers as add_feature_parsers
    from workbench.cli.saes import add_parsers
    from workbench.cli.session import add_parsers as add_session_parsers
    from workbench.cli.sweep import add_parsers as add_sweep_parsers

    add_parsers(sub, common)
    add_session_parsers(sub, common)
    add_feature_parsers(sub, common)
    add_sweep_parsers(sub, common)
    add_selftest_parsers(sub, common)
    return parser


def main(argv: Sequence[str] | None = None, launch_window: Callable[[], int] | None = None) -> int:
    """Run a subcommand; without one, open the window through `launch_window` (the ui layer passes it in)."""
    args = build_parser().parse_args(argv)
    if args.command is None:
        if launch_window is None:
            print(
                "error: no subcommand given (see --help); the window starts with `steering-workbench`", file=sys.stderr
            )
            return EXIT_BAD_INPUT
        return launch_window()
    quiet_libraries()
    cancel = CancelToken()
    signal.signal(signal.SIGINT, lambda *_: cancel.cancel())
    try:
        result: dict[str, Any] | None = COMMANDS[args.command](args, cancel)
    except Cancelled:
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        if os.environ.get("STEERING_WORKBENCH_DEBUG"):
            traceback.print_exc()
        print(f"error: {describe_unexpected(exc)}", file=sys.stderr)
        return 1
    if args.json and result is not None:
        try:
            print(json.dumps(result, ensure_ascii=False), flush=True)
        except BrokenPipeError:  # the reader stopped early (`| head`): not an error of ours, and no traceback
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _engine(args: argparse.Namespace, cancel: CancelToken) -> Engine:
    from workbench.engine import Engine
    from workbench.models.device_map import parse_max_memory
    from workbench.models.spec import ModelSpec
    from workbench.saes.spec import SaeSpec

    # Parse every spec before the slow model load, so a typo fails in milliseconds.
    model_spec = ModelSpec.parse(args.model)
    parse_max_memory(args.max_memory)
    given = args.sae
    if not given and _demo_saes_apply(args):
        from workbench.cli.saes import demo_sae_specs

        given = demo_sae_specs()  # the embedded model comes with its demo SAEs
    sae_specs = [SaeSpec.parse(s) for s in given]
    engine = Engine()
    show = _print_progress if sys.stderr.isatty() else None
    engine.load_model(
        model_spec,
        args.device,
        args.dtype,
        args.trust_remote_code,
        progress=show or (lambda _p: None),
        cancel=cancel,
        backend=args.backend,
        max_memory=args.max_memory,
        ignore_memory_check=args.ignore_memory_check,
    )
    for spec in sae_specs:
        engine.add_sae(spec)
    return engine


def _demo_saes_apply(args: argparse.Namespace) -> bool:
    """Without --sae, the embedded default model gets the shipped demo SAEs (if this install has them)."""
    from workbench.cli.saes import demo_sae_specs

    return args.model == "default" and bool(demo_sae_specs())


def cmd_generate(args: argparse.Namespace, cancel: CancelToken) -> dict[str, Any] | None:
    from workbench.models.sampling import SamplingSettings

    settings = SamplingSettings(
        seed=args.seed,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        repetition_penalty=args.repetition_penalty,
        max_new_tokens=args.max_new_tokens,
    )
    plan = parse_variants(args.variant)
    check_save_target(args.save_session)
    engine = _engine(args, cancel)
    engine.compile(plan)  # check every edit before spending time on the prompt
    run = engine.generate(args.prompt, plan, settings, chat=not args.raw, cancel=cancel)
    result = run.run()
    if result.cancelled:
        raise Cancelled()
    if args.save_session:
        saved = save_generated(args.save_session, engine, args.prompt, plan, settings, not args.raw, result)
    if args.json:
        record = generation_record(engine, plan, result)
        return {**record, "session": saved} if args.save_session else record
    _print_panes(plan, result)
    if args.save_session:
        print(f"session saved to {saved}")
    return None


def parse_variants(texts: Sequence[str]) -> SteeringPlan:
    """`--variant` values → a plan with the baseline first."""
    from workbench.steering.parse import parse_edits
    from workbench.steering.plan import SteeringPlan, Variant

    variants = []
    for n, text in enumerate(texts, start=1):
        name, sep, edits = text.partition("=")
        if not sep:
            name, edits = f"variant {n}", text
        if not name.strip():
            raise InputError(f"empty variant name in {text!r}")
        variants.append(Variant(name.strip(), parse_edits(edits)))
    return SteeringPlan.with_baseline(*variants)


def generation_record(engine: Engine, plan: SteeringPlan, result: GenerationResult) -> dict[str, Any]:
    info = engine.info()
    panes = []
    for variant, pane in zip(plan.variants, result.panes, strict=True):
        panes.append(
            {
                "name": pane.name,
                "edits": [_edit_dict(e) for e in variant.edits],
                "text": pane.text,
                "token_ids": list(pane.token_ids),
                "finish_reason": pane.finish_reason,
                "edits_fired": [f.to_dict() for f in pane.edits_fired],
            }
        )
    return {
        "model": info["model"],
        "saes": info["saes"],
        "seed": result.settings.seed,
        "settings": result.settings.to_dict(),
        "prompt_token_ids": list(result.prompt_ids),
        "panes": panes,
        "timing": {
            "tokens_per_s": round(result.tokens_per_s, 3),
            "wall_s": round(result.wall_s, 3),
            "steps": result.steps,
            "panes": len(panes),
        },
    }


def _edit_dict(edit: Any) -> dict[str, Any]:
    return {
        "spec": edit.describe(),
        "layer": edit.layer,
        "feature": edit.feature,
        "strength": edit.strength,
        "mode": edit.mode.value,
        "unit": edit.unit.value,
        "positions": edit.positions.value,
        "enabled": edit.enabled,
    }


def cmd_features(args: argparse.Namespace, cancel: CancelToken) -> dict[str, Any] | None:
    if args.top < 1:
        raise InputError("--top must be ≥ 1")
    if not args.sae and not _demo_saes_apply(args):
        raise InputError("no SAE given: add --sae FOLDER (or RELEASE:SAE_ID) for the layer to analyse")
    engine = _engine(args, cancel)
    cancel.raise_if_cancelled()
    sae = engine.sae(args.layer)
    acts = engine.features(args.text, [sae.key], top_k=args.top)[sae.key]
    if args.json:
        return acts.to_dict()
    for i, token in enumerate(acts.tokens):
        feats = "  ".join(f"{f}:{a:.2f}" for f, a in acts.top_features(i))
        print(f"{token!r:>16}  {feats}")
    return None


def cmd_info(args: argparse.Namespace, cancel: CancelToken) -> dict[str, Any] | None:
    info = _engine(args, cancel).info()
    if args.json:
        return info
    m = info["model"]
    print(f"{m['name']}: {m['n_layers']} layers, d_model {m['d_model']}, {m['device']} {m['dtype']}")
    print(f"  weights: {m['path']}" + (f"; blocks on {m['layer_devices']}" if "layer_devices" in m else ""))
    for s in info["saes"]:
        print(f"  SAE {s['key']}: layer {s['layer']}, d_sae {s['d_sae']}, {s['source']}")
    return None


def cmd_stats(args: argparse.Namespace, cancel: CancelToken) -> dict[str, Any] | None:
    from workbench.analysis.texts import texts_from

    texts, source = texts_from(args.text_file)
    if not args.sae and not _demo_saes_apply(args):
        raise InputError("no SAE given: add --sae FOLDER for the layer")
    engine = _engine(args, cancel)
    show = _print_progress if sys.stderr.isatty() else None
    stats = engine.compute_statistics(
        args.layer,
        texts,
        source=source,
        total=len(texts),
        progress=show or (lambda _p: None),
        cancel=cancel,
    )
    sae = engine.sae(args.layer)
    record = {
        "layer": args.layer,
        "n_tokens": stats.n_tokens,
        "resid_norm": stats.resid_norm,
        "alive_fraction": float((stats.density > 0).mean()),
        "max_statistic": stats.max_statistic,  # maxact leaves massive tokens out (saes/stats.py)
        "massive_tokens": stats.n_massive,
        "cached_at": str(sae.stats_cache_path()),
    }
    if not args.json:
        print(
            f"\nlayer {args.layer}: {stats.n_tokens} tokens, mean residual norm {stats.resid_norm:.2f}, "
            f"{record['alive_fraction']:.1%} of features fired; saved to {record['cached_at']}"
        )
    return record


def cmd_sae_metrics(args: argparse.Namespace, cancel: CancelToken) -> dict[str, Any] | None:
    from workbench.cli.saes import cmd_sae_metrics as run

    return run(args, cancel, _engine)


def cmd_feature(args: argparse.Namespace, cancel: CancelToken) -> dict[str, Any] | None:
    from workbench.cli.saes import cmd_feature as run

    return run(args, cancel)


def cmd_sweep(args: argparse.Namespace, cancel: CancelToken) -> dict[str, Any] | None:
    from workbench.cli.sweep import cmd_sweep as run

    return run(args, cancel, _engine)


COMMANDS = {
    "generate": cmd_generate,
    "features": cmd_features,
    "info": cmd_info,
    "stats": cmd_stats,
    "sae-metrics": cmd_sae_metrics,
    "feature": cmd_feature,
    "sweep": cmd_sweep,
    **SESSION_COMMANDS,
    **FEATURE_COMMANDS,
    **SELFTEST_COMMANDS,
}


def _print_panes(plan: SteeringPlan, result: GenerationResult) -> None:
    for variant, pane in zip(plan.variants, result.panes, strict=True):
        edits = ", ".join(e.describe() for e in variant.edits) or "no edits"
        print(f"=== {pane.name} ({edits}) ===")
        print(pane.text)
        for firing in pane.edits_fired:
            if firing.flagged:
                print(f"warning: edit {firing.edit.describe()} changed no position", file=sys.stderr)
    print(f"--- {result.steps} steps, {result.tokens_per_s:.1f} tokens/s per pane, {len(result.panes)} panes")


def _print_progress(p: Progress) -> None:
    step = f" ({p.done}/{p.total})" if p.total else ""
    print(f"\r{p.phase}{step}\033[K", end="", file=sys.stderr, flush=True)
    if p.total and p.done >= p.total:
        print(file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
