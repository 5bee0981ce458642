"""The session file format (JSON, plain data only) and its validation.

Layout of schema 2 (the current one); `migrations.py` turns older files into it:

    {"format": "steering-workbench-session", "schema_version": 2, "created": ISO-8601,
     "environment": {"device", "dtype", "versions": {name: version}, "backend" (optional, default "torch")},
     "model": {"spec", "source", "name", "architecture", "n_layers", "d_model", "vocab_size", "sha256", "revision"},
     "saes": [{"key", "spec", "source", "layer", "d_sae", "hook_name", "sha256"}],
     "prompt": {"text", "chat", "token_ids"},
     "sampling": {"seed", "temperature", "top_p", "top_k", "repetition_penalty", "max_new_tokens", "stop_at_eos"},
     "variants": [{"name", "edits": [{"layer", "feature", "vector", "strength", "mode", "unit", "positions",
                                      "enabled", "sae"}]}],
     "outputs": [{"name", "token_ids", "text", "finish_reason",
                  "edits": [{"edit", "raw_strength", "positions", "units": {"maxact", "resid"}}]}],
     "analysis": {name: scalar or list of scalars},
     "sweeps" (optional, written when there are any): [{"id", "spec", "thresholds", "status", "targets", "rows",
                                                        "drift"}] (see sweeps.py)}

Reading checks every field's type and range and the cross-references (an edit's layer exists in the model, its
SAE key is one of the session's SAEs, each pane matches its variant), so anything that loads can be replayed
and exported; any problem is one SessionError naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, NoReturn

from workbench.errors import WorkbenchError
from workbench.models.sampling import SamplingSettings
from workbench.session.errors import SessionError
from workbench.session.model import (
    AnalysisValue,
    EditOutcome,
    Environment,
    ModelRecord,
    PaneOutput,
    SaeRecord,
    Session,
)
from workbench.session.sweeps import sweep_to_dict, sweeps_from
from workbench.session.validate import Node
from workbench.steering.plan import EditMode, FeatureEdit, PositionScope, SteeringPlan, StrengthUnit, Variant

FORMAT = "steering-workbench-session"
SCHEMA_VERSION = 2
MAX_FILE_BYTES = 256 * 1024 * 1024  # far above any real session (a raw-vector edit is ~10 kB); stops a mistake early
MAX_ANALYSIS_KEYS = 64
MAX_ANALYSIS_LIST = 256
FINISH_REASONS = ("eos", "length", "cancelled")


# -- writing ------------------------------------------------------------------------------------------------
def session_to_dict(session: Session) -> dict[str, Any]:
    m, env = session.model, session.environment
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "created": session.created,
        "environment": {
            "device": env.device,
            "dtype": env.dtype,
            "versions": dict(env.versions),
            "backend": env.backend,
        },
        "model": {
            "spec": m.spec,
            "source": m.source,
            "name": m.name,
            "architecture": m.architecture,
            "n_layers": m.n_layers,
            "d_model": m.d_model,
            "vocab_size": m.vocab_size,
            "sha256": m.sha256,
            "revision": m.revision,
        },
        "saes": [
            {
                "key": s.key,
                "spec": s.spec,
                "source": s.source,
                "layer": s.layer,
                "d_sae": s.d_sae,
                "hook_name": s.hook_name,
                "sha256": s.sha256,
            }
            for s in session.saes
        ],
        "prompt": {"text": session.prompt, "chat": session.chat, "token_ids": list(session.prompt_ids)},
        "sampling": session.settings.to_dict(),
        "variants": [{"name": v.name, "edits": [edit_to_dict(e) for e in v.edits]} for v in session.plan.variants],
        "outputs": [
            {
                "name": p.name,
                "token_ids": list(p.token_ids),
                "text": p.text,
                "finish_reason": p.finish_reason,
                "edits": [
                    {
                        "edit": o.edit,
                        "raw_strength": o.raw_strength,
                        "positions": o.positions,
                        "units": {"maxact": o.maxact_scale, "resid": o.resid_scale},
                    }
                    for o in p.edits
                ],
            }
            for p in session.outputs
        ],
        "analysis": {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in session.analysis.items()},
        **({"sweeps": [sweep_to_dict(s) for s in session.sweeps]} if session.sweeps else {}),
    }


def edit_to_dict(edit: FeatureEdit) -> dict[str, Any]:
    return {
        "layer": edit.layer,
        "feature": edit.feature,
        "vector": list(edit.vector) if edit.vector is not None else None,
        "strength": edit.strength,
        "mode": edit.mode.value,
        "unit": edit.unit.value,
        "positions": edit.positions.value,
        "enabled": edit.enabled,
        "sae": edit.sae,
    }


def session_to_json(session: Session) -> str:
    """Validated text: a session that would not load again is refused here, before any file is touched."""
    data = session_to_dict(session)
    try:
        text = json.dumps(data, ensure_ascii=False, indent=1, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SessionError(f"the session cannot be saved: {exc}") from exc
    session_from_dict(json.loads(text))  # the same checks a later load makes
    return _NUMBER_LIST.sub(_one_line, text) + "\n"


# An indented list of numbers (token ids, a raw vector) goes on one line. JSON strings cannot hold a raw newline
# and the class has no quote, so a match is always a list, never text inside a string.
_NUMBER_LIST = re.compile(r"\[\n[\s0-9.eE+,-]*\]")


def _one_line(match: re.Match[str]) -> str:
    return ", ".join(re.sub(r"\s+", "", match.group()).split(","))


# -- reading ------------------------------------------------------------------------------------------------
def parse_json(text: str | bytes) -> Any:
    """JSON → Python data; NaN / Infinity, bad UTF-8 and absurd nesting are SessionErrors."""
    if len(text) > MAX_FILE_BYTES:
        raise SessionError(f"too large to be a session ({len(text) // (1024 * 1024)} MB)")
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise SessionError(f"not a session: the file is not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        # The decoder reports an unfinished string at the string's start; anything else cut short, at the end.
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise SessionError(f"the session file is truncated (JSON ends early at {where})") from exc
        raise SessionError(f"the session file is corrupt (invalid JSON at {where}: {exc.msg})") from exc
    except RecursionError as exc:
        raise SessionError("the session file is corrupt (JSON nested too deeply)") from exc


def _reject_constant(name: str) -> NoReturn:
    raise SessionError(f"the session file is corrupt ({name} is not a number a session may hold)")


def session_from_json(text: str | bytes) -> Session:
    from workbench.session.migrations import migrate

    return session_from_dict(migrate(parse_json(text)))


def session_from_dict(data: Any) -> Session:
    """Validate current-schema data and build the Session."""
    root = Node(data, "")
    root.obj()
    version = root.get("schema_version").integer()
    if version != SCHEMA_VERSION:
        raise SessionError(f"internal: schema {version} reached the reader without migration")
    model = _model(root.get("model"))
    saes = tuple(_sae(n, model) for n in root.get("saes").items())
    keys = [s.key for s in saes]
    if len(set(keys)) != len(keys):
        raise SessionError("saes: two SAEs share a key")
    prompt = root.get("prompt")
    variants = tuple(_variant(n, model, saes) for n in root.get("variants").items())
    if not variants:
        raise SessionError("variants: a session has at least one variant (the baseline)")
    outputs = tuple(_output(n, model) for n in root.get("outputs").items())
    session = Session(
        model=model,
        saes=saes,
        prompt=prompt.get("text").string(),
        chat=prompt.get("chat").boolean(),
        prompt_ids=tuple(prompt.get("token_ids").ints(0, model.vocab_size - 1)),
        settings=_settings(root.get("sampling")),
        plan=SteeringPlan(variants),
        environment=_environment(root.get("environment")),
        outputs=outputs,
        analysis=_analysis(root.get("analysis")),
        created=root.get("created").string(),
        sweeps=sweeps_from(root),
    )
    _check_outputs(session)
    return session


def _model(n: Node) -> ModelRecord:
    record = ModelRecord(
        spec=n.get("spec").string(nonempty=True),
        source=n.get("source").choice(("embedded", "gguf", "folder", "hub")),
        name=n.get("name").string(),
        architecture=n.get("architecture").string(),
        n_layers=n.get("n_layers").integer(1),
        d_model=n.get("d_model").integer(1),
        vocab_size=n.get("vocab_size").integer(1),
        sha256=n.get("sha256").optional(Node.digest),
        revision=n.get("revision").optional(Node.string),
    )
    return record


def _sae(n: Node, model: ModelRecord) -> SaeRecord:
    return SaeRecord(
        key=n.get("key").string(nonempty=True),
        spec=n.get("spec").string(nonempty=True),
        source=n.get("source").choice(("folder", "registry")),
        layer=n.get("layer").integer(0, model.n_layers - 1),
        d_sae=n.get("d_sae").integer(1),
        hook_name=n.get("hook_name").string(),
        sha256=n.get("sha256").optional(Node.digest),
    )


def _variant(n: Node, model: ModelRecord, saes: tuple[SaeRecord, ...]) -> Variant:
    return Variant(name=n.get("name").string(), edits=tuple(_edit(e, model, saes) for e in n.get("edits").items()))


def _edit(n: Node, model: ModelRecord, saes: tuple[SaeRecord, ...]) -> FeatureEdit:
    layer = n.get("layer").integer(0, model.n_layers - 1)
    vector = n.get("vector").optional(Node.floats)
    if vector is not None and len(vector) != model.d_model:
        n.get("vector").fail(f"a raw vector needs {model.d_model} values (the model's hidden size), got {len(vector)}")
    sae = n.get("sae").optional(Node.string)
    if sae is not None and sae not in {s.key for s in saes}:
        n.get("sae").fail(f"names SAE {sae!r}, which is not among the session's SAEs")
    feature = n.get("feature").optional(Node.integer)
    at_layer = [s for s in saes if s.layer == layer and (sae is None or s.key == sae)]
    if feature is not None and at_layer and feature >= at_layer[0].d_sae:
        last = at_layer[0].d_sae - 1
        n.get("feature").fail(f"{feature} does not exist: the SAE at layer {layer} has features 0–{last}")
    try:
        return FeatureEdit(
            layer=layer,
            feature=feature,
            vector=tuple(vector) if vector is not None else None,
            strength=n.get("strength").number(),
            mode=EditMode(n.get("mode").choice(tuple(m.value for m in EditMode))),
            unit=StrengthUnit(n.get("unit").choice(tuple(u.value for u in StrengthUnit))),
            positions=PositionScope(n.get("positions").choice(tuple(p.value for p in PositionScope))),
            enabled=n.get("enabled").boolean(),
            sae=sae,
        )
    except ValueError as exc:  # FeatureEdit's own checks (one of feature / vector, add-only vectors)
        n.fail(str(exc))


def _settings(n: Node) -> SamplingSettings:
    try:
        return SamplingSettings(
            seed=n.get("seed").integer(),  # its range is SamplingSettings' own (sampling.MAX_SEED)
            temperature=n.get("temperature").number(),
            top_p=n.get("top_p").number(),
            top_k=n.get("top_k").integer(0),
            repetition_penalty=n.get("repetition_penalty").number(),
            max_new_tokens=n.get("max_new_tokens").integer(1),
            stop_at_eos=n.get("stop_at_eos").boolean(),
        )
    except WorkbenchError as exc:  # SamplingSettings' own range checks
        n.fail(str(exc))


def _environment(n: Node) -> Environment:
    versions = n.get("versions")
    versions.obj()
    assert isinstance(versions.value, dict)
    return Environment(
        device=n.get("device").string(),
        dtype=n.get("dtype").string(),
        versions={str(k): versions.get(k).string() for k in versions.value},
        # Optional: files written before the llama.cpp backend ran on torch.
        backend=n.get("backend").string(nonempty=True) if "backend" in n.value else "torch",
    )


def _output(n: Node, model: ModelRecord) -> PaneOutput:
    return PaneOutput(
        name=n.get("name").string(),
        token_ids=tuple(n.get("token_ids").ints(0, model.vocab_size - 1)),
        text=n.get("text").string(),
        finish_reason=n.get("finish_reason").choice(FINISH_REASONS),
        edits=tuple(_outcome(e) for e in n.get("edits").items()),
    )


def _outcome(n: Node) -> EditOutcome:
    units = n.get("units")
    return EditOutcome(
        edit=n.get("edit").string(),
        raw_strength=n.get("raw_strength").number(),
        positions=n.get("positions").integer(0),
        maxact_scale=units.get("maxact").optional(Node.number),
        resid_scale=units.get("resid").optional(Node.number),
    )


# The selections the window restores, with their types; other keys may hold any scalar or short list of them.
ANALYSIS_KEYS: dict[str, Callable[[Node], AnalysisValue]] = {
    "heatmap_pane": Node.string,  # a variant name
    "heatmap_sae": Node.string,  # an SAE key of the session
    "heatmap_layer": lambda n: n.integer(0),
    "selected_feature": lambda n: n.integer(0),  # the feature shown in the inspector
    "selected_sae": Node.string,
}


def _analysis(n: Node) -> dict[str, AnalysisValue]:
    n.obj()
    assert isinstance(n.value, dict)
    if len(n.value) > MAX_ANALYSIS_KEYS:
        n.fail(f"at most {MAX_ANALYSIS_KEYS} entries")
    out: dict[str, AnalysisValue] = {}
    for key in n.value:
        if not 0 < len(key) <= 64:
            n.fail(f"key {key[:20]!r}… must be 1–64 characters")
        item = n.get(key)
        if key in ANALYSIS_KEYS and item.value is not None:
            out[key] = ANALYSIS_KEYS[key](item)
            continue
        if isinstance(item.value, list):
            if len(item.value) > MAX_ANALYSIS_LIST:
                item.fail(f"at most {MAX_ANALYSIS_LIST} items")
            out[key] = [c.scalar() for c in item.items()]
        else:
            out[key] = item.scalar()
    return out


def _check_outputs(session: Session) -> None:
    if not session.outputs:
        return
    variants = session.plan.variants
    if len(session.outputs) != len(variants):
        raise SessionError(f"outputs: {len(session.outputs)} panes for {len(variants)} variants")
    for i, (variant, pane) in enumerate(zip(variants, session.outputs, strict=True)):
        if pane.name != variant.name:
            raise SessionError(f"outputs[{i}].name: {pane.name!r} does not match variant {variant.name!r}")
        if len(pane.edits) != len(variant.active_edits):
            raise SessionError(
                f"outputs[{i}].edits: {len(pane.edits)} outcomes for {len(variant.active_edits)} enabled edits"
            )
    if not session.prompt_ids:
        raise SessionError("prompt.token_ids: a session with outputs records its prompt's token ids")
