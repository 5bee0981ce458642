"""Bad data files beside an SAE and bad label files: one line naming the file and the fault, from the reader
and from the CLI (exit 2, nothing on stdout), and nothing imported or overwritten on a refusal.

Feature statistics and the feature atlas are read by `feature --sae FOLDER` (no model); labels by
`labels import FILE --sae FOLDER` (cfg.json only)."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.bad_files import write_bytes as _bytes
from tests.bad_files import write_sparse as _sparse
from tests.bad_files import write_text as _text
from tests.factories import make_sae
from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.npzfile import write_npz
from workbench.saes.features import ATLAS_FILE, FeatureAtlas
from workbench.saes.labels import folder_identity, import_labels, labels_path, stored_labels
from workbench.saes.stats import STATS_FILE, FeatureStatistics

D_SAE, LAYER = 32, 1
HEADER = {"format_version": 2, "resid_norm": 3.0, "n_tokens": 100, "source": "t", "max_statistic": "max"}
STATS = {
    "max_activation": np.linspace(0, 4, D_SAE, dtype=np.float32),
    "density": np.full(D_SAE, 0.01, np.float32),
    "mean_activation": np.ones(D_SAE, np.float32),
}


def _atlas(d: int = D_SAE, examples: int = 2, width: int = 4, top: int = 3) -> FeatureAtlas:
    return FeatureAtlas(
        labels=[f"f{i}" for i in range(d)],
        ex_tokens=np.ones((d, examples, width), np.int32),
        ex_pos=np.ones((d, examples), np.int16),
        ex_act=np.ones((d, examples), np.float16),
        promoted=np.ones((d, top), np.int32),
        promoted_logit=np.ones((d, top), np.float16),
        suppressed=np.ones((d, top), np.int32),
        suppressed_logit=np.ones((d, top), np.float16),
        token_strings={1: "a"},
        source="t",
        n_tokens=10,
    )


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    folder = make_sae(tmp_path_factory.mktemp("good") / "sae", d_in=64, layer=LAYER, d_sae=D_SAE)
    write_npz(folder / STATS_FILE, HEADER, STATS)
    _atlas().save(folder / ATLAS_FILE)
    return folder


def _npz(header: Any = HEADER, **arrays: Any) -> Callable[[Path], None]:
    return lambda path: write_npz(path, header, {k: v for k, v in {**STATS, **arrays}.items() if v is not None})


def _header(**fields: Any) -> Callable[[Path], None]:
    return _npz({k: v for k, v in {**HEADER, **fields}.items() if v is not None})


def _raw_npz(**arrays: Any) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        path.write_bytes(buffer.getvalue())

    return write


def _cut(fraction: float) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, header=np.frombuffer(json.dumps(HEADER).encode(), np.uint8), **STATS)
        whole = buffer.getvalue()
        path.write_bytes(whole[: int(len(whole) * fraction)])

    return write


NAN = np.full(D_SAE, np.nan, np.float32)
STATS_CASES = [
    ("zero bytes", _bytes(b""), "is truncated or not a feature statistics file"),
    ("text", _bytes(b"max_activation = 1, 2, 3"), "is damaged or not a feature statistics file"),
    ("cut in half", _cut(0.5), "is truncated or not a feature statistics file"),
    ("last bytes cut", _cut(0.99), "is truncated or not a feature statistics file"),
    ("no header", _raw_npz(**STATS), r"is not a feature statistics file \(no header\)"),
    ("header not JSON", _raw_npz(header=np.frombuffer(b"\xff{", np.uint8), **STATS), "its header is not JSON"),
    ("header a list", _npz([1, 2]), "its header is not a JSON object"),
    ("no density", _npz(density=None), "has no density array"),
    ("text array", _npz(max_activation=np.array(["a"] * D_SAE)), "max_activation holds <U1 values, not numbers"),
    ("2-D arrays", _npz(**{k: v[None] for k, v in STATS.items()}), "one value per feature expected"),
    ("lengths differ", _npz(density=np.ones(D_SAE - 1, np.float32)), r"density \(31,\)"),
    ("no features", _npz(**{k: v[:0] for k, v in STATS.items()}), "are for 0 features"),
    ("NaN max", _npz(max_activation=NAN), "max_activation holds 32 NaN or infinite values"),
    ("Inf mean", _npz(mean_activation=np.full(D_SAE, np.inf, np.float32)), "mean_activation holds 32 NaN"),
    ("negative max", _npz(max_activation=-np.ones(D_SAE, np.float32)), "max_activation has values that are not ≥ 0"),
    ("density above 1", _npz(density=np.full(D_SAE, 2, np.float32)), "density has values that are not in 0–1"),
    ("no resid_norm", _header(resid_norm=None), "resid_norm must be a positive number, not None"),
    ("resid_norm text", _header(resid_norm="3"), "resid_norm must be a positive number, not '3'"),
    ("resid_norm NaN", _header(resid_norm=float("nan")), "resid_norm must be a positive number, not nan"),
    ("resid_norm zero", _header(resid_norm=0), "resid_norm must be a positive number, not 0"),
    ("n_tokens negative", _header(n_tokens=-1), "n_tokens and n_massive must be whole numbers ≥ 0"),
    ("n_tokens missing", _header(n_tokens=None), "n_tokens and n_massive must be whole numbers ≥ 0"),
    ("massive_factor text", _header(massive_factor="10"), "massive_factor must be a positive number or null"),
]


def _atlas_with(**changes: Any) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        atlas = _atlas()
        header = {"format_version": 1, "labels": atlas.labels, "token_strings": {"1": "a"}, "source": "t"}
        arrays = {k: getattr(atlas, k) for k in ("ex_tokens", "ex_pos", "ex_act", "promoted", "promoted_logit")}
        arrays.update(suppressed=atlas.suppressed, suppressed_logit=atlas.suppressed_logit)
        header.update({k: v for k, v in changes.items() if k in header})
        arrays.update({k: v for k, v in changes.items() if k not in header})
        write_npz(path, header, {k: v for k, v in arrays.items() if v is not None})

    return write


ATLAS_CASES = [
    ("zero bytes", _bytes(b""), "is truncated or not a feature atlas file"),
    ("text", _bytes(b"labels: a, b"), "is damaged or not a feature atlas file"),
    ("labels not a list", _atlas_with(labels="f0"), "labels must be a list"),
    ("token_strings a list", _atlas_with(token_strings=["a"]), "token_strings an object"),
    ("token id not a number", _atlas_with(token_strings={"x": "a"}), "unreadable feature atlas"),
    ("no promoted tokens", _atlas_with(promoted=None), "has no promoted array"),
    ("fewer rows than labels", _atlas_with(ex_act=np.ones((D_SAE - 1, 2), np.float16)), "do not match its 32 labels"),
    ("position past its snippet", _atlas_with(ex_pos=np.full((D_SAE, 2), 9, np.int16)), "position lies past"),
]


def _folder_with(good: Path, root: Path, name: str, write: Callable[[Path], None]) -> Path:
    folder = root / "sae"
    shutil.copytree(good, folder)
    write(folder / name)
    return folder


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_exit_2(capsys, message: str, *argv: str) -> None:
    code, out, err = _cli(capsys, *argv)
    assert (code, out) == (2, "") and err.startswith("error: ") and err.count("\n") == 1, err
    assert re.search(message, err), err


@pytest.mark.parametrize(("case", "write", "message"), STATS_CASES, ids=[c[0] for c in STATS_CASES])
def test_bad_statistics_get_one_line_from_the_reader_and_the_cli(capsys, good, tmp_path, case, write, message):
    folder = _folder_with(good, tmp_path, STATS_FILE, write)
    with pytest.raises(WorkbenchError, match=message) as info:
        FeatureStatistics.load(folder / STATS_FILE)
    assert "\n" not in str(info.value) and STATS_FILE in str(info.value)
    _one_line_exit_2(capsys, message, "feature", "--sae", str(folder), "--layer", "1", "--id", "0")


@pytest.mark.parametrize(("case", "write", "message"), ATLAS_CASES, ids=[c[0] for c in ATLAS_CASES])
def test_a_bad_atlas_gets_one_line_from_the_reader_and_the_cli(capsys, good, tmp_path, case, write, message):
    folder = _folder_with(good, tmp_path, ATLAS_FILE, write)
    with pytest.raises(WorkbenchError, match=message) as info:
        FeatureAtlas.load(folder / ATLAS_FILE)
    assert "\n" not in str(info.value) and ATLAS_FILE in str(info.value)
    _one_line_exit_2(capsys, message, "feature", "--sae", str(folder), "--layer", "1", "--id", "0")


def test_the_good_files_read_so_the_faults_above_are_the_spoiling(capsys, good):
    assert FeatureStatistics.load(good / STATS_FILE).d_sae == FeatureAtlas.load(good / ATLAS_FILE).d_sae == D_SAE
    code, out, _err = _cli(capsys, "feature", "--sae", str(good), "--layer", "1", "--id", "3", "--json")
    assert code == 0 and json.loads(out)["label"] == "f3"


# -- label files ------------------------------------------------------------------------------------------------


LABEL_CASES = [
    ("missing", lambda path: None, "labels file not found"),
    ("a folder", lambda path: path.mkdir(), "is a folder, not a labels file"),
    ("empty", _bytes(b""), "is empty: no labels to import"),
    ("blank lines", _bytes(b"\n \n"), "is empty: no labels to import"),
    ("binary", _bytes(bytes(range(128, 256))), r"is not UTF-8 text \(byte 0"),
    ("NUL bytes", _bytes(b"1,ocean\n\0\0\0"), r"looks binary \(a NUL character on line 2\)"),
    ("latin-1", _text("1,café\n", "latin-1"), r"is not UTF-8 text .*save it as UTF-8"),
    ("cp1252 quotes", _text("1,\u201cocean\u201d\n", "cp1252"), "is not UTF-8 text"),
    ("UTF-16 cut mid-character", _bytes("1,ocean\n".encode("utf-16")[:-1]), "is not UTF-16 text"),
    ("huge", _sparse(600_000_000), "is 600 MB: larger than the 512 MB a labels file may be"),
    ("JSON a string", _text('"ocean"'), 'expected a JSON list of records with "index" and "description"'),
    ("JSON an object", _text('{"a": 1}'), 'expected a JSON list of records with "index"'),
    ("JSON nested too deep", _text("[" * 100_000), "JSON nested too deep to read"),
    ("neither JSON nor CSV", _text("{oops\n{still not\n"), "is neither JSON, JSONL nor CSV"),
    ("CSV field too big", _text('1,"' + "x" * 200_000 + '"\n'), r":1: not a CSV row \(field larger"),
    ("no label rows", _text("feature,label\n"), "holds no labels"),
    ("another model", _text('[{"modelId": "gemma-2-2b", "layer": 1, "index": 1, "description": "x"}]'), "gemma"),
    ("another layer", _text('[{"layer": 7, "index": 1, "description": "x"}]'), "holds labels for layer 7"),
]


@pytest.mark.parametrize(("case", "write", "message"), LABEL_CASES, ids=[c[0] for c in LABEL_CASES])
def test_a_bad_labels_file_gets_one_line_and_keeps_the_stored_labels(capsys, good, tmp_path, case, write, message):
    identity = folder_identity(good, LAYER)
    import_labels(_write(tmp_path / "ok.csv", _text("3,ocean\n")), identity)
    before = labels_path(identity.fingerprint).read_bytes()
    path = _write(tmp_path / ("labels.json" if "JSON" in case else "labels.csv"), write)
    with pytest.raises(WorkbenchError, match=message) as info:
        import_labels(path, identity)
    assert "\n" not in str(info.value)
    _one_line_exit_2(capsys, message, "labels", "import", str(path), "--layer", "1", "--sae", str(good))
    assert labels_path(identity.fingerprint).read_bytes() == before  # nothing stored is lost


def _write(path: Path, write: Callable[[Path], None]) -> Path:
    write(path)
    return path


@pytest.mark.parametrize(
    ("encoding", "prefix"), [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16", b""), ("utf-16-be", b"\xfe\xff")]
)
def test_utf8_with_or_without_a_bom_and_utf16_with_one_are_read(good, tmp_path, encoding, prefix):
    path = tmp_path / "labels.csv"
    path.write_bytes(prefix + "feature,label\n2,océan\n5,wave\n".encode(encoding))
    outcome = import_labels(path, folder_identity(good, LAYER))
    assert outcome.imported == 2 and stored_labels(folder_identity(good, LAYER).fingerprint)[2] == "océan"


def test_ids_out_of_range_nan_or_huge_are_counted_not_imported(good, tmp_path):
    path = tmp_path / "labels.json"
    rows = '[{"index": 1, "description": "a"}, {"index": 32, "description": "b"}, {"index": -1, "description": "c"},'
    path.write_text(rows + ' {"index": NaN, "description": "d"}, {"index": 1e400, "description": "e"}]')
    outcome = import_labels(path, folder_identity(good, LAYER))
    assert (outcome.imported, outcome.out_of_range, outcome.unreadable) == (1, (32, -1), 2)


def test_a_damaged_stored_labels_file_is_set_aside_not_overwritten(good, tmp_path):
    identity = folder_identity(good, LAYER)
    store = labels_path(identity.fingerprint)
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text('{"labels": {"1": "hand-made", ')  # cut short
    assert stored_labels(identity.fingerprint) == {}
    import_labels(_write(tmp_path / "new.csv", _text("2,wave\n")), identity)
    assert stored_labels(identity.fingerprint) == {2: "wave"}
    assert store.with_name(f"{store.stem}.unreadable-1.json").read_text() == '{"labels": {"1": "hand-made", '


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (b"[", "cfg.json is not valid JSON"),
        (b'{"d_in": 64, "d_sae": "32"}', 'd_sae must be a positive whole number, not "32"'),
        (b'{"d_in": 64, "d_sae": 32, "metadata": [1]}', "metadata must be an object"),
        (b'{"d_in": 64, "d_sae": 32, "metadata": {"hook_name": 8}}', "hook_name must be a string"),
    ],
)
def test_labels_for_an_sae_whose_cfg_json_is_bad_get_one_line(capsys, good, tmp_path, cfg, message):
    folder = _folder_with(good, tmp_path, "cfg.json", _bytes(cfg))
    labels = _write(tmp_path / "labels.csv", _text("1,x\n"))
    _one_line_exit_2(capsys, message, "labels", "import", str(labels), "--layer", "1", "--sae", str(folder))
