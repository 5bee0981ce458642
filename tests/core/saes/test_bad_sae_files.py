"""Bad SAE folders: every fault gets one line that names the file and what is wrong, through the loader and
through the CLI (`info --sae`: exit 2), and nothing but SaeLoadError ever comes out of the loader (fuzzed)."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_sae, tiny_llama, tiny_tokenizer
from workbench.cli import main
from workbench.errors import SaeLoadError
from workbench.saes.loader import load_sae
from workbench.saes.spec import SaeSpec

D_IN, D_SAE, LAYER = 64, 32, 1  # the tiny model's width, and a layer it has


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    return make_sae(tmp_path_factory.mktemp("good") / "sae", d_in=D_IN, layer=LAYER, d_sae=D_SAE)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny random Llama saved as a model folder, so `info --model FOLDER` loads in a fraction of a second."""
    folder = tmp_path_factory.mktemp("model")
    tiny_llama().save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return folder


def _cfg(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        cfg = json.loads((folder / "cfg.json").read_text())
        change(cfg)
        (folder / "cfg.json").write_text(json.dumps(cfg))

    return apply


def _cfg_bytes(data: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / "cfg.json").write_bytes(data)


def _weights(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        from safetensors.torch import load_file, save_file

        tensors = load_file(folder / "sae_weights.safetensors")
        change(tensors)
        save_file(tensors, folder / "sae_weights.safetensors")

    return apply


def _weight_bytes(change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        path = folder / "sae_weights.safetensors"
        path.write_bytes(change(path.read_bytes()))

    return apply


def _set(name: str, index: tuple[int, ...], value: float) -> Callable[[dict[str, Any]], None]:
    return lambda t: t[name].__setitem__(index, value)


def _zeros(name: str, *shape: int) -> Callable[[dict[str, Any]], None]:
    import torch

    return lambda t: t.__setitem__(name, torch.zeros(*shape))


def _retype(name: str) -> Callable[[dict[str, Any]], None]:
    import torch

    return lambda t: t.__setitem__(name, t[name].to(torch.int32))


CFG = "cfg.json"
WEIGHTS = "sae_weights.safetensors"
# (case, how the good folder is spoiled, what the one line must say)
CFG_CASES = [
    ("no cfg.json", lambda f: (f / CFG).unlink(), r"not a sae-lens SAE folder \(no cfg.json\)"),
    ("empty", _cfg_bytes(b""), "cfg.json is empty"),
    ("blank", _cfg_bytes(b"  \n"), "cfg.json is empty"),
    ("binary", _cfg_bytes(bytes(range(128, 256))), "cfg.json is not UTF-8 text"),
    ("latin-1", _cfg_bytes('{"d_in": 64, "name": "café"}'.encode("latin-1")), "cfg.json is not UTF-8 text"),
    ("UTF-16", _cfg_bytes(json.dumps({"d_in": 64}).encode("utf-16")), "cfg.json is not UTF-8 text"),
    ("not JSON", _cfg_bytes(b"d_in = 64"), r"cfg.json is not valid JSON \(Expecting value at line 1"),
    ("cut short", _cfg_bytes(b'{"d_in": 64, "d_sae"'), "cfg.json is not valid JSON"),
    ("nested too deep", _cfg_bytes(b"[" * 100_000), "cfg.json is not a sae-lens config"),
    ("too big", _cfg_bytes(b" " * 2_000_000 + b"{}"), r"cfg.json is 2.0 MB: not a sae-lens config"),
    ("a list", _cfg_bytes(b"[1, 2]"), "cfg.json holds a list, not an object"),
    ("a number", _cfg_bytes(b"64"), "cfg.json holds a number, not an object"),
    ("null", _cfg_bytes(b"null"), "cfg.json holds null, not an object"),
    ("a string", _cfg_bytes(b'"sae"'), "cfg.json holds a string, not an object"),
    ("no d_in", _cfg(lambda c: c.pop("d_in")), r"cfg.json does not give d_in \(the width"),
    ("no d_sae", _cfg(lambda c: c.pop("d_sae")), r"cfg.json does not give d_sae \(its number of features\)"),
    ("d_in text", _cfg(lambda c: c.update(d_in="64")), 'd_in must be a positive whole number, not "64"'),
    ("d_in fraction", _cfg(lambda c: c.update(d_in=64.5)), "d_in must be a positive whole number, not 64.5"),
    ("d_in true", _cfg(lambda c: c.update(d_in=True)), "d_in must be a positive whole number, not true"),
    ("d_in negative", _cfg(lambda c: c.update(d_in=-64)), "d_in must be a positive whole number, not -64"),
    ("d_sae zero", _cfg(lambda c: c.update(d_sae=0)), "d_sae must be a positive whole number, not 0"),
    ("d_sae negative", _cfg(lambda c: c.update(d_sae=-3)), "d_sae must be a positive whole number, not -3"),
    ("d_sae list", _cfg(lambda c: c.update(d_sae=[32])), r"d_sae must be a positive whole number, not \[32\]"),
    ("unknown architecture", _cfg(lambda c: c.update(architecture="nonsense")), "unknown SAE architecture 'nonsense'"),
    ("architecture number", _cfg(lambda c: c.update(architecture=3)), "architecture must be a name"),
    ("no architecture", _cfg(lambda c: c.pop("architecture")), "cfg.json does not name its architecture"),
    ("metadata a list", _cfg(lambda c: c.update(metadata=[1])), "metadata must be an object, not a list"),
    ("hook_name a number", _cfg(lambda c: c["metadata"].update(hook_name=5)), "hook_name must be a string"),
    ("no hook_name", _cfg(lambda c: c["metadata"].pop("hook_name")), "does not say which hook it reads"),
    ("not a residual hook", _cfg(lambda c: c["metadata"].update(hook_name="blocks.1.hook_mlp_out")), "not a residual"),
    ("layer out of range", _cfg(lambda c: c["metadata"].update(hook_name="blocks.9.hook_resid_post")), "reads layer 9"),
    ("d_sae not the weights'", _cfg(lambda c: c.update(d_sae=48)), r"W_enc has shape \(64, 32\), but cfg.json"),
    ("d_in not the weights'", _cfg(lambda c: c.update(d_in=576)), r"W_enc has shape \(64, 32\), but cfg.json"),
    ("bad normalisation", _cfg(lambda c: c.update(normalize_activations="weird")), "normalize_activations must be"),
]
WEIGHT_CASES = [
    ("no weights file", lambda f: (f / WEIGHTS).unlink(), "has cfg.json but no sae_weights.safetensors"),
    ("zero bytes", _weight_bytes(lambda b: b""), r"sae_weights.safetensors is empty \(0 bytes\)"),
    ("5 bytes", _weight_bytes(lambda b: b[:5]), r"is truncated \(5 bytes\): not even its header length"),
    ("cut in its header", _weight_bytes(lambda b: b[:40]), "is truncated: its header needs"),
    ("cut in its data", _weight_bytes(lambda b: b[: len(b) // 2]), "is truncated: its tensors need"),
    ("one byte short", _weight_bytes(lambda b: b[:-1]), "is truncated: its tensors need"),
    ("bytes after its data", _weight_bytes(lambda b: b + b"xx"), "is damaged: 2 bytes after its last tensor"),
    ("text", _weight_bytes(lambda b: b"not safetensors at all"), "is not a safetensors file"),
    ("garbled header", _weight_bytes(lambda b: b[:8] + b"\xff" * 20 + b[28:]), "its header is not JSON"),
    ("header not an object", _weight_bytes(lambda b: (2).to_bytes(8, "little") + b"[]"), "not a JSON object"),
    ("W_enc other width", _weights(_zeros("W_enc", 64, 40)), r"W_enc has shape \(64, 40\).* needs \(64, 32\)"),
    ("W_dec other width", _weights(_zeros("W_dec", 40, 64)), r"W_dec has shape \(40, 64\).* needs \(32, 64\)"),
    ("W_dec transposed", _weights(_zeros("W_dec", 64, 32)), r"W_dec has shape \(64, 32\).* needs \(32, 64\)"),
    ("W_dec 3-D", _weights(_zeros("W_dec", 1, 32, 64)), r"W_dec has shape \(1, 32, 64\)"),
    ("b_dec width", _weights(_zeros("b_dec", 63)), r"b_dec has shape \(63,\), but cfg.json .* needs \(64,\)"),
    ("b_enc width", _weights(_zeros("b_enc", 33)), r"b_enc has shape \(33,\)"),
    ("integer W_dec", _weights(_retype("W_dec")), "W_dec holds I32 values, not floating point"),
    ("no W_dec", _weights(lambda t: t.pop("W_dec")), "has no W_dec tensor"),
    ("no b_dec", _weights(lambda t: t.pop("b_dec")), "could not read the standard SAE .*: missing tensors b_dec"),
    ("a stray tensor", _weights(_zeros("extra", 3)), "unexpected tensors extra"),
    ("NaN in W_dec", _weights(_set("W_dec", (3, 7), float("nan"))), "W_dec holds 1 NaN and 0 infinite values"),
    ("Inf in W_enc", _weights(_set("W_enc", (0, 0), float("inf"))), "W_enc holds 0 NaN and 1 infinite values"),
    ("-Inf in b_enc", _weights(_set("b_enc", (5,), float("-inf"))), "b_enc holds 0 NaN and 1 infinite values"),
    ("NaN in b_dec", _weights(_set("b_dec", (0,), float("nan"))), "b_dec holds 1 NaN and 0 infinite values"),
]
CASES = CFG_CASES + WEIGHT_CASES


def _spoiled(good: Path, root: Path, spoil: Callable[[Path], None]) -> Path:
    folder = root / "sae"
    shutil.copytree(good, folder)
    spoil(folder)
    return folder


@pytest.mark.parametrize(("case", "spoil", "message"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_sae_folder_gets_one_line_naming_the_fault(backend, good, tmp_path, case, spoil, message):
    folder = _spoiled(good, tmp_path, spoil)
    with pytest.raises(SaeLoadError, match=message) as info:
        load_sae(SaeSpec.parse(str(folder)), backend.info, "cpu", key="x")
    assert "\n" not in str(info.value) and str(folder) in str(info.value)


@pytest.mark.parametrize(("case", "spoil", "message"), CASES, ids=[c[0] for c in CASES])
def test_the_cli_exits_2_with_that_line(capsys, tiny_model, good, tmp_path, case, spoil, message):
    folder = _spoiled(good, tmp_path, spoil)
    code = main(["info", "--model", str(tiny_model), "--device", "cpu", "--sae", str(folder)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.startswith("error: ") and err.count("\n") == 1
    assert re.search(message, err)


def test_the_good_folder_loads_so_the_faults_above_are_the_spoiling(backend, good, tiny_model, capsys):
    loaded = load_sae(SaeSpec.parse(str(good)), backend.info, "cpu", key="x")
    assert (loaded.d_in, loaded.d_sae, loaded.layer) == (D_IN, D_SAE, LAYER)
    assert main(["info", "--model", str(tiny_model), "--device", "cpu", "--sae", str(good), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["saes"][0]["d_sae"] == D_SAE


def test_a_cfg_json_with_a_byte_order_mark_loads(backend, good, tmp_path):
    folder = _spoiled(good, tmp_path, lambda f: (f / CFG).write_bytes(b"\xef\xbb\xbf" + (good / CFG).read_bytes()))
    assert load_sae(SaeSpec.parse(str(folder)), backend.info, "cpu", key="x").d_sae == D_SAE


def test_a_damaged_statistics_file_beside_an_sae_is_named_and_the_sae_loads_without_it(backend, good, tmp_path, caplog):
    folder = _spoiled(good, tmp_path, lambda f: (f / "feature_stats.npz").write_bytes(b"PK\x03\x04 cut short"))
    loaded = load_sae(SaeSpec.parse(str(folder)), backend.info, "cpu", key="x")
    assert loaded.stats is None
    assert "feature_stats.npz is truncated or not a feature statistics file" in caplog.text


# -- fuzzing: the loader lets nothing out but a one-line SaeLoadError ---------------------------------------------
FUZZ = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def _outcome(backend: Any, folder: Path) -> str | None:
    """None when the folder loaded; else the refusal's line, checked to be one line."""
    try:
        load_sae(SaeSpec.parse(str(folder)), backend.info, "cpu", key="x")
    except SaeLoadError as exc:
        assert str(exc) and "\n" not in str(exc)
        return str(exc)
    return None


def _fuzz_folder(good: Path, cfg: bytes | None = None, weights: bytes | None = None) -> tempfile.TemporaryDirectory:
    root = tempfile.TemporaryDirectory(prefix="badsae")
    folder = Path(root.name)
    (folder / CFG).write_bytes(cfg if cfg is not None else (good / CFG).read_bytes())
    (folder / WEIGHTS).write_bytes(weights if weights is not None else (good / WEIGHTS).read_bytes())
    return root


@FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_random_bytes_as_cfg_json_are_refused_naming_it(backend, good, data):
    with _fuzz_folder(good, cfg=data) as root:
        assert "cfg.json" in (_outcome(backend, Path(root)) or "loaded")


@FUZZ
@given(value=JSON)
def test_fuzz_random_json_as_cfg_json_is_refused_naming_it(backend, good, value):
    with _fuzz_folder(good, cfg=json.dumps(value).encode()) as root:
        assert "cfg.json" in (_outcome(backend, Path(root)) or "loaded")


GOOD_KEYS = ("d_in", "d_sae", "architecture", "metadata", "dtype", "apply_b_dec_to_input", "normalize_activations")


@FUZZ
@given(key=st.sampled_from(GOOD_KEYS), value=JSON, delete=st.booleans())
def test_fuzz_one_setting_replaced_loads_or_gets_one_line(backend, good, key, value, delete):
    cfg = json.loads((good / CFG).read_text())
    if delete:
        cfg.pop(key)
    else:
        cfg[key] = value
    with _fuzz_folder(good, cfg=json.dumps(cfg).encode()) as root:
        refusal = _outcome(backend, Path(root))
    if refusal is None:  # only settings that keep the SAE what it is may load
        assert cfg.get("d_in") == D_IN and cfg.get("d_sae") == D_SAE


@FUZZ
@given(cut=st.integers(min_value=0, max_value=10**9))
def test_fuzz_weights_cut_at_any_offset_are_refused_as_truncated(backend, good, cut):
    whole = (good / WEIGHTS).read_bytes()
    with _fuzz_folder(good, weights=whole[: cut % len(whole)]) as root:
        refusal = _outcome(backend, Path(root)) or "loaded"
    assert "sae_weights.safetensors is" in refusal and ("truncated" in refusal or "empty" in refusal)


@FUZZ
@given(offset=st.integers(min_value=0, max_value=10**9), byte=st.integers(min_value=0, max_value=255))
def test_fuzz_one_byte_of_the_weights_header_changed_loads_or_gets_one_line(backend, good, offset, byte):
    whole = bytearray((good / WEIGHTS).read_bytes())
    header_end = 8 + int.from_bytes(whole[:8], "little")
    whole[offset % header_end] = byte
    with _fuzz_folder(good, weights=bytes(whole)) as root:
        _outcome(backend, Path(root))
