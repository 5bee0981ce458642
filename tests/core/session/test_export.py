"""Integration: every export of a real recorded session opens — the HTML parses, the Markdown's PNGs decode, the
CSV has a row per pane, the GGUF control vector changes llama.cpp's output, and the script reproduces the tokens."""

import base64
import csv
import ctypes
import json
import re
import struct
import subprocess
import sys
import zlib
from html.parser import HTMLParser

import numpy as np
import pytest

from tests.core.session.test_session_replay import OCEAN, PROMPT, demo_sae_loaded, recorded_session
from workbench.models.sampling import SamplingSettings
from workbench.models.spec import embedded_gguf_path
from workbench.saes.directions import sae_directions
from workbench.session import SessionError
from workbench.session.export_csv import write_csv
from workbench.session.export_gguf import control_vector, read_control_vector, write_control_vector
from workbench.session.export_report import edit_rows, write_html_report, write_markdown_report
from workbench.session.export_script import write_script
from workbench.session.heatmap_png import session_heatmaps
from workbench.steering.plan import SteeringPlan

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine(smollm_engine):
    with demo_sae_loaded(smollm_engine) as engine:
        yield engine


@pytest.fixture(scope="module")
def session(engine):
    return recorded_session(engine)


@pytest.fixture(scope="module")
def heatmaps(engine, session):
    return session_heatmaps(engine, session)


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking its signature and that its pixels decompress to the right size."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat_len = struct.unpack(">I", data[33:37])[0]
    assert len(zlib.decompress(data[41 : 41 + idat_len])) == height * (1 + 3 * width)
    return width, height


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.images, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_data(self, data):
        self.text.append(data)


def test_html_report_parses_and_holds_panes_units_heatmaps_and_record(session, heatmaps, tmp_path):
    assert [h.pane for h in heatmaps] == ["baseline", "ocean", "mixed"] and all(h.layer == 8 for h in heatmaps)
    (path,) = write_html_report(session, tmp_path / "report.html", heatmaps)
    parser = _Collect()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    text = "".join(parser.text)
    assert PROMPT in text and session.model.sha256 in text and "torch" in text
    for pane in session.outputs:
        assert pane.name in text
    assert len(parser.images) == 3
    for src, pane, data in zip(parser.images, session.outputs, heatmaps, strict=True):
        prefix, _, payload = src.partition(",")
        assert prefix == "data:image/png;base64"
        # 10 px per token (prompt + generated) and per feature row.
        assert _png_size(base64.b64decode(payload)) == (
            10 * (len(session.prompt_ids) + len(pane.token_ids)),
            10 * len(data.features),
        )
    ocean = next(r for r in edit_rows(session) if r.variant == "ocean")
    assert ocean.maxact == pytest.approx(4.0) and ocean.raw == pytest.approx(
        session.output("ocean").edits[0].raw_strength
    )
    assert ocean.resid is not None and f"{ocean.resid:.4g}" in text


def test_markdown_report_writes_its_heatmaps_beside_it(session, heatmaps, tmp_path):
    written = write_markdown_report(session, tmp_path / "report.md", heatmaps)
    md, *pngs = written
    text = md.read_text(encoding="utf-8")
    assert len(pngs) == 3 and all(p.parent == tmp_path for p in pngs)
    for png in pngs:
        assert f"]({png.name})" in text
        _png_size(png.read_bytes())
    assert "| variant | edit | mode | positions | raw | × max act | × resid norm |" in text


def test_csv_has_one_row_per_pane(session, tmp_path):
    (path,) = write_csv(session, tmp_path / "panes.csv")
    rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))
    assert [r["pane"] for r in rows] == ["baseline", "ocean", "mixed"]
    for row, pane in zip(rows, session.outputs, strict=True):
        assert row["text"] == pane.text and row["token_ids"] == " ".join(map(str, pane.token_ids))
    assert rows[1]["edits"] == "L8:f100 add 4 maxact" and rows[0]["seed"] == "11"


def test_gguf_control_vector_has_llama_cpp_layout(engine, session, tmp_path):
    vector = control_vector(session, "ocean", engine.saes)
    (path,) = write_control_vector(vector, tmp_path / "ocean.gguf")
    import gguf

    reader = gguf.GGUFReader(str(path))
    arch = reader.fields["general.architecture"]
    assert bytes(arch.parts[arch.data[0]]).decode() == "controlvector"
    assert reader.fields["controlvector.layer_count"].parts[-1][0] == 29
    assert [t.name for t in reader.tensors] == [f"direction.{n}" for n in range(1, 30)]  # no layer 0
    hint, n_embd, data = read_control_vector(path)
    rows = data.reshape(29, n_embd)
    assert hint == "llama" and n_embd == 576
    assert np.flatnonzero(np.abs(rows).sum(axis=1)).tolist() == [8 - 1]  # direction.8 = block 8's output
    # strength (raw) × the feature's decoder direction, as the steering hook adds it
    expected = session.output("ocean").edits[0].raw_strength * sae_directions(engine.saes[0].sae, [100])[0].float()
    np.testing.assert_allclose(rows[7], expected.numpy(), rtol=1e-5, atol=1e-5)
    mixed = control_vector(session, "mixed", engine.saes)
    assert any("clamp" in n for n in mixed.notes) and any("every position" in n for n in mixed.notes)
    with pytest.raises(SessionError, match="choose a variant"):
        control_vector(session, None, engine.saes)


def test_gguf_control_vector_changes_llama_cpp_output_like_the_hf_steer(engine, session, tmp_path):
    import llama_cpp

    (path,) = write_control_vector(control_vector(session, "ocean", engine.saes), tmp_path / "ocean.gguf")
    _hint, n_embd, data = read_control_vector(path)
    greedy = SamplingSettings(temperature=0.0, max_new_tokens=8)
    hf = engine.generate(PROMPT, SteeringPlan.with_baseline(OCEAN), greedy).run().panes[1].text

    # One thread: on a busy CI machine, llama.cpp's spinning worker threads otherwise wait on each other.
    llm = llama_cpp.Llama(str(embedded_gguf_path()), n_ctx=256, n_threads=1, verbose=False)
    try:

        def reply() -> str:
            llm.reset()  # the cached prompt state was computed with the previous vector
            out = llm.create_chat_completion([{"role": "user", "content": PROMPT}], max_tokens=8, temperature=0.0)
            return out["choices"][0]["message"]["content"]

        before = reply()
        buffer = (ctypes.c_float * len(data))(*data.tolist())
        assert llama_cpp.llama_set_adapter_cvec(llm.ctx, buffer, len(data), n_embd, 1, 29) == 0
        steered = reply()
        llama_cpp.llama_set_adapter_cvec(llm.ctx, None, 0, n_embd, -1, -1)
        cleared = reply()
    finally:
        llm.close()
    assert steered != before and cleared == before
    # Same layer convention as our hooks: llama.cpp's steered reply starts as the transformers one does
    # (the two backends' arithmetic differs, so only the first words are compared).
    assert steered.split()[:2] == hf.split()[:2], (steered, hf)


def test_script_reproduces_the_recorded_tokens_with_transformers_and_sae_lens_only(engine, session, tmp_path):
    (script,) = write_script(session, tmp_path / "reproduce_mixed.py", "mixed")
    source = script.read_text()
    assert not re.search(r"^\s*(from|import)\s+workbench", source, re.MULTILINE)
    # The converted copy of the embedded GGUF (what the engine loaded) skips transformers' slow GGUF reader.
    proc = subprocess.run(
        [sys.executable, str(script), "--json", "--model", engine.backend.info.path],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["identical"] is True
    assert tuple(out["token_ids"]) == session.output("mixed").token_ids and out["text"] == session.output("mixed").text
