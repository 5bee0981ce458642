"""The wheel carries the demo SAEs and corpus, and an installed (not editable) copy finds them."""

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_an_installed_wheel_finds_its_demo_saes(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("workbench", "ui", "resources"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", str(source), "--no-deps", "--no-build-isolation", "-w", str(wheels)], check=True)
    (wheel,) = wheels.glob("steering_workbench-*.whl")
    target = tmp_path / "env"
    venv.create(target, with_pip=False)  # a bare environment: only the wheel, no source tree beside it
    python = target / "bin" / "python"
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", str(wheel)], check=True)

    probe = "from workbench.saes.demo import demo_sae_folders as f; print('\\n'.join(str(p) for p in f()))"
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path)
    folders = [Path(line) for line in out.stdout.split()]
    assert [p.name for p in folders] == [f"smollm2-135m-L{layer}" for layer in (8, 15, 22)]
    for folder in folders:
        assert folder.is_relative_to(target)  # the installed copy, not this checkout
        shipped = ROOT / "resources" / "saes" / folder.name
        assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in shipped.iterdir())
        weights = "sae_weights.safetensors"
        assert (folder / weights).read_bytes() == (shipped / weights).read_bytes()
    assert (folders[0].parents[1] / "corpus" / "heldout.jsonl.gz").is_file()


def _llama_flags(tmp_path, cpu_flags):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {cpu_flags}\nbugs\t\t: avx512f\n", encoding="utf-8")
    script = ROOT / "packaging" / "llama-cpp-flags.sh"
    out = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, check=True, env={**os.environ, "CPUINFO": str(cpuinfo)}
    )
    return dict(arg.removeprefix("-D").split("=") for arg in out.stdout.split())


def test_llama_cpp_is_built_for_the_instruction_sets_the_cpu_reports(tmp_path):
    avx512 = "fpu sse2 avx avx2 fma f16c avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni avx512vbmi"
    flags = _llama_flags(tmp_path, avx512)
    assert flags["GGML_NATIVE"] == "OFF" and flags["GGML_AVX2"] == "ON" and flags["GGML_AVX512"] == "ON"
    assert flags["GGML_AVX512_VNNI"] == "ON" and flags["GGML_AVX512_VBMI"] == "ON"
    assert flags["GGML_AVX512_BF16"] == "OFF"  # not reported: an instruction this CPU lacks is never compiled in

    # A CPU without AVX2 (older Atoms, some VMs) gets no AVX2, FMA or AVX-512: such a build would die on them.
    older = _llama_flags(tmp_path, "fpu sse2 sse4_2 avx")
    assert older["GGML_AVX"] == "ON" and older["GGML_AVX2"] == "OFF" and older["GGML_FMA"] == "OFF"
    assert older["GGML_AVX512"] == "OFF" and "GGML_AVX512_VNNI" not in older

    # AVX-512 needs all five of ggml's subsets; AVX-512F alone (Knights Landing) is not enough.
    partial = _llama_flags(tmp_path, "avx avx2 fma f16c avx512f avx512cd")
    assert partial["GGML_AVX512"] == "OFF" and partial["GGML_AVX2"] == "ON"
