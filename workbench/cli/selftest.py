"""`steering-workbench self-test`: check that an install works end to end (a pip install, `make venv`, or the
PyInstaller bundle), without a window.

It loads the embedded model and the demo SAEs, finds a feature by its label, generates a steered pair, draws a
heatmap, saves the session in a temporary folder, reads it back and replays it. One line per check (PASS, FAIL
or SKIP, what, seconds), then a summary. Exit 0 only when every check passes; a failed check exits 1 (the
install is at fault, not the input, which exits 2), and the checks that needed it are skipped, not run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.cancel import CancelToken
from workbench.errors import Cancelled, WorkbenchError, describe_unexpected

if TYPE_CHECKING:
    from workbench.engine import Engine
    from workbench.models.generation import GenerationResult
    from workbench.session import Session
    from workbench.steering.plan import SteeringPlan

EXIT_FAILED = 1
PROMPT = "Describe your ideal holiday in three sentences."
# The demo's steer (ui/screenshot.py): the feature whose label holds "sea · ocean", preferably at layer 15, at
# 0.25 x the residual norm: strong enough that greedy text changes within a few tokens on any CPU.
FEATURE_WORD, FEATURE_LAYER, STRENGTH, VARIANT = "sea · ocean", 15, 0.25, "ocean"
TOKENS = 16


class CheckFailed(Exception):
    """A check's own finding (the install works but gives the wrong answer): its message is the reason."""


def add_selftest_parsers(sub: Any, _common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "self-test",
        help="check this install: load the default model and demo SAEs, steer, heatmap, save and replay",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA → MPS → CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--dtype", default="auto", help="auto (fp32 on a CPU), float32, bfloat16, ...")
    p.set_defaults(json=False)  # the lines are the output (main prints a JSON record only when asked)


@dataclass
class _State:
    """What the checks hand to one another."""

    folder: Path
    engine: Engine | None = None
    plan: SteeringPlan | None = None
    result: GenerationResult | None = None
    session: Session | None = None
    loaded: Session | None = None
    failed: list[str] = field(default_factory=list)


def cmd_self_test(args: argparse.Namespace, cancel: CancelToken) -> dict[str, Any] | None:
    _check_options(args)
    with tempfile.TemporaryDirectory(prefix="workbench-self-test-") as tmp:
        state = _State(Path(tmp))
        checks: list[tuple[str, Callable[[_State, argparse.Namespace, CancelToken], str]]] = [
            ("load the default model", _load_model),
            ("load the demo SAEs", _load_saes),
            ("generate a steered pair", _generate),
            ("compute a heatmap", _heatmap),
            ("save the session", _save),
            ("replay the session", _replay),
        ]
        for what, check in checks:
            _run_check(what, check, state, args, cancel)
    total = len(checks)
    if state.failed:
        print(f"self-test FAILED: {len(state.failed)} of {total} checks ({', '.join(state.failed)})", flush=True)
        raise SystemExit(EXIT_FAILED)
    print(f"self-test passed: {total} of {total} checks", flush=True)
    return None


def _check_options(args: argparse.Namespace) -> None:
    """A device or dtype this machine cannot use is the user's input, not the install's fault: it exits 2 (one
    line, from main) before any check runs."""
    try:
        from workbench.devices import resolve_device, resolve_dtype

        resolve_dtype(args.dtype, resolve_device(args.device))
    except WorkbenchError:
        raise
    except Exception:  # torch itself does not import: the first check reports that as the install's failure
        return


def _run_check(
    what: str,
    check: Callable[[_State, argparse.Namespace, CancelToken], str],
    state: _State,
    args: argparse.Namespace,
    cancel: CancelToken,
) -> None:
    if state.failed:
        # Every check builds on the one before: after a failure, running on would only repeat it.
        print(f"SKIP  {what}: needs '{state.failed[0]}'", flush=True)
        return
    start = time.perf_counter()
    try:
        detail = check(state, args, cancel)
    except Cancelled:
        raise
    except (CheckFailed, WorkbenchError) as exc:
        verdict, detail = "FAIL", str(exc)
    except Exception as exc:  # an install problem shows up as any exception: report it as this check's reason
        verdict, detail = "FAIL", describe_unexpected(exc)
    else:
        verdict = "PASS"
    if verdict == "FAIL":
        state.failed.append(what)
    print(f"{verdict}  {what} ({time.perf_counter() - start:.1f} s): {detail}", flush=True)


def _load_model(state: _State, args: argparse.Namespace, cancel: CancelToken) -> str:
    from workbench.engine import Engine

    engine = Engine()
    engine.load_model("default", args.device, args.dtype, cancel=cancel)
    state.engine = engine
    i = engine.backend.info
    return f"{i.name}, {i.n_layers} layers, {i.device} {i.dtype}"


def _load_saes(state: _State, _args: argparse.Namespace, cancel: CancelToken) -> str:
    from workbench.saes.demo import demo_sae_folders

    engine = _need(state.engine)
    folders = demo_sae_folders()
    if not folders:
        raise CheckFailed("this install has no demo SAEs (resources/saes is missing or empty)")
    for folder in folders:
        cancel.raise_if_cancelled()
        engine.add_sae(str(folder))
    return ", ".join(f"{s.key} (d_sae {s.d_sae})" for s in engine.sae_summaries())


def _generate(state: _State, _args: argparse.Namespace, cancel: CancelToken) -> str:
    from workbench.analysis.feature_search import feature_index, search_features
    from workbench.models.sampling import SamplingSettings
    from workbench.steering.plan import FeatureEdit, SteeringPlan, StrengthUnit, Variant

    engine = _need(state.engine)
    # Found by its atlas label, as a user would: this also checks that the labels shipped with the SAEs.
    hits = search_features([feature_index(s) for s in engine.saes], FEATURE_WORD)
    if not hits:
        raise CheckFailed(f"no demo SAE feature is labelled {FEATURE_WORD!r} (are the feature atlases missing?)")
    hit = min(hits, key=lambda h: h.layer != FEATURE_LAYER)  # min is stable: keeps the label ranking
    edit = FeatureEdit(hit.layer, hit.feature, STRENGTH, unit=StrengthUnit.RESID, sae=hit.sae_key)
    plan = SteeringPlan.with_baseline(Variant(VARIANT, (edit,)))
    settings = SamplingSettings(seed=0, temperature=0.0, max_new_tokens=TOKENS)
    result = engine.generate(PROMPT, plan, settings, chat=True, cancel=cancel).run()
    if result.cancelled:
        raise Cancelled()
    base, steered = result.panes
    if not base.token_ids or not steered.token_ids:
        raise CheckFailed("a pane generated no tokens")
    if not steered.edits_fired or any(f.flagged for f in steered.edits_fired):
        raise CheckFailed(f"the edit {edit.describe()} changed no position")
    if list(base.token_ids) == list(steered.token_ids):
        raise CheckFailed(f"the steered pane ({edit.describe()}) is the same as the baseline: {base.text!r}")
    state.plan, state.result = plan, result
    return f"{edit.describe()}: baseline {_short(base.text)} | steered {_short(steered.text)}"


def _heatmap(state: _State, _args: argparse.Namespace, cancel: CancelToken) -> str:
    import numpy as np

    from workbench.analysis.heatmap import build_heatmap

    engine, result, plan = _need(state.engine), _need(state.result), _need(state.plan)
    pane = result.panes[1]
    sae = engine.sae(plan.variants[1].edits[0].layer)
    prompt = list(result.prompt_ids)
    data = build_heatmap(engine, pane.name, prompt + list(pane.token_ids), len(prompt), sae.key, cancel=cancel)
    n_tokens = len(prompt) + len(pane.token_ids)
    if data.matrix.shape != (len(data.features), n_tokens) or not data.features:
        raise CheckFailed(f"a heatmap of shape {data.matrix.shape} for {n_tokens} tokens")
    if not np.isfinite(data.matrix).all():
        raise CheckFailed("the heatmap holds NaN or Inf")
    body = data.matrix[:, 1:]  # position 0 is an outlier that lights up features everywhere (analysis/heatmap.py)
    if float(body.max()) <= 0.0:
        raise CheckFailed("no feature fires on the text after its first token")
    return f"{len(data.features)} features x {n_tokens} tokens at {sae.key}, peak {float(body.max()):.2f} after token 0"


def _save(state: _State, _args: argparse.Namespace, _cancel: CancelToken) -> str:
    from workbench.session import load_session, missing_files, record_session, save_session

    engine, result, plan = _need(state.engine), _need(state.result), _need(state.plan)
    session = record_session(engine, PROMPT, plan, result.settings, True, result)
    path = save_session(state.folder / "self-test.swsession", session)
    loaded = load_session(path)
    if loaded.outputs != session.outputs or loaded.prompt_ids != session.prompt_ids:
        raise CheckFailed(f"{path.name} reads back with other outputs than were saved")
    missing = missing_files(loaded)
    if missing:
        raise CheckFailed("; ".join(m.message for m in missing))
    state.session, state.loaded = session, loaded
    return f"{path.stat().st_size} bytes, read back with its {len(loaded.outputs)} panes"


def _replay(state: _State, _args: argparse.Namespace, cancel: CancelToken) -> str:
    from workbench.session.replay import replay_session, summarise_panes

    report = replay_session(_need(state.engine), _need(state.loaded), cancel)
    if not report.all_identical:
        what = summarise_panes(report.panes) if report.prompt_identical else "the prompt's token ids differ"
        why = f" (notes: {'; '.join(report.notes)})" if report.notes else ""
        raise CheckFailed(what + why)
    return summarise_panes(report.panes)


def _need(value: Any) -> Any:
    if value is None:  # only when a check runs without the one it builds on, which _run_check prevents
        raise CheckFailed("an earlier check did not finish")
    return value


def _short(text: str, width: int = 40) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= width else flat[: width - 1] + "…")


SELFTEST_COMMANDS = {"self-test": cmd_self_test}
