"""The wheel carries the demo SAEs and corpus, and an installed (not editable) copy finds them."""

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
