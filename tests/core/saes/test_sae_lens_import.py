"""The light sae-lens import (workbench/saes/sae_lens_lite.py): taken, light, the same SAEs as a plain import, and
a later plain import still works. Each case runs in a fresh interpreter: this test process may have imported
sae-lens in full already."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]

# Random SAEs of several architectures, written by a plain sae-lens; the demo SAEs (topk, float16 on disk) too.
MAKE_SAES = """
import sys, torch
from pathlib import Path
from sae_lens import GatedSAE, GatedSAEConfig, JumpReLUSAE, JumpReLUSAEConfig, StandardSAE, StandardSAEConfig
from sae_lens import TopKSAE, TopKSAEConfig
out = Path(sys.argv[1])
for n, (cls, cfg) in enumerate([
    (StandardSAE, StandardSAEConfig(d_in=64, d_sae=96)),
    (TopKSAE, TopKSAEConfig(d_in=64, d_sae=96, k=8)),
    (JumpReLUSAE, JumpReLUSAEConfig(d_in=64, d_sae=96)),
    (GatedSAE, GatedSAEConfig(d_in=64, d_sae=96)),
]):
    torch.manual_seed(n)
    cfg.metadata.hook_name = "blocks.1.hook_resid_post"
    sae = cls(cfg)
    with torch.no_grad():
        for p in sae.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    sae.save_model(str(out / cfg.architecture()))
"""

# Load every SAE folder given and encode / decode one fixed input; `light` gets the classes through the workbench.
RUN_SAES = """
import json, sys
import numpy as np, torch
light = sys.argv[1] == "light"
if light:
    from workbench.saes.sae_lens_lite import HEAVY_MODULES, import_path, sae_classes
    SAE = sae_classes().SAE
else:
    from sae_lens import SAE
outputs = {}
for folder in sys.argv[3:]:
    sae = SAE.load_from_disk(folder, device="cpu", dtype="float32")
    x = torch.randn(5, sae.cfg.d_in, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        feats = sae.encode(x)
        outputs[folder + ":encode"] = feats.numpy()
        outputs[folder + ":decode"] = sae.decode(feats).numpy()
        outputs[folder + ":forward"] = sae(x).numpy()
np.savez(sys.argv[2], **{str(i): outputs[k] for i, k in enumerate(sorted(outputs))})
import importlib
registry = importlib.import_module("sae_lens.registry")  # `import sae_lens.registry` would import sae_lens itself
def names(table):
    return {a: [c.__module__ + "." + c.__qualname__ for c in entry] for a, entry in table.items()}
report = {
    "registry": names(registry.SAE_CLASS_REGISTRY),
    "training_registry": names(registry.SAE_TRAINING_CLASS_REGISTRY),
    "architectures": [type(SAE.load_from_disk(f)).__name__ for f in sys.argv[3:]],
}
if light:
    from types import ModuleType
    report["path"] = import_path()
    report["heavy"] = [m for m in HEAVY_MODULES if m in sys.modules]
    report["packages_run"] = [m for m in ("sae_lens", "transformer_lens") if m in sys.modules]
    # A module left holding a stand-in would hold a module object sys.modules no longer knows.
    report["stale"] = [
        f"{name}.{attr}"
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in ("sae_lens", "transformer_lens")
        for attr, value in vars(module).items()
        if isinstance(value, ModuleType) and value.__name__.split(".")[0] in ("sae_lens", "transformer_lens")
        and sys.modules.get(value.__name__) is not value
    ]
    # A later plain import, as the recipe's training or a user's script in the same process would make.
    saes = sae_classes()
    before = (dict(registry.SAE_CLASS_REGISTRY), dict(registry.SAE_TRAINING_CLASS_REGISTRY))
    import sae_lens
    import transformer_lens
    import transformer_lens.hook_points
    from sae_lens.training.sae_trainer import SAETrainer
    from transformer_lens import HookedRootModule, HookedTransformer
    report["later_import"] = {
        "same_classes": sae_lens.SAE is saes.SAE and sae_lens.TopKSAE is saes.TopKSAE and sae_lens.saes is saes,
        "same_registry": before == (registry.SAE_CLASS_REGISTRY, registry.SAE_TRAINING_CLASS_REGISTRY),
        "hook_point": transformer_lens.hook_points.HookPoint.__name__,
        "root_module_shared": issubclass(saes.SAE, HookedRootModule)
        and issubclass(HookedTransformer, HookedRootModule),
        "trainer": SAETrainer.__name__,
    }
print(json.dumps(report))
"""

# The guard: a stand-in given a name that is not where the module expects it, as an upgrade could make happen.
BROKEN_LAYOUT = """
import json, sys
from workbench.saes import sae_lens_lite
sae_lens_lite._STAND_INS["transformer_lens.HookedTransformer"]["HookedRootModule"] = (
    "transformer_lens.HookedRootModule", "NoSuchClass")
SAE = sae_lens_lite.sae_classes().SAE
sae = SAE.load_from_disk(sys.argv[1], device="cpu", dtype="float32")
print(json.dumps({"path": sae_lens_lite.import_path(), "architecture": sae.cfg.architecture()}))
"""


# The workbench's own SAE load (loader.py through an Engine), as the CLI and the model process make it.
ENGINE_LOAD = """
import json, sys
from tests.factories import tiny_backend
from workbench.engine import Engine
from workbench.saes.sae_lens_lite import HEAVY_MODULES, import_path
engine = Engine()
engine.use_backend(tiny_backend())
summaries = [engine.add_sae(folder) for folder in sys.argv[1:]]
heavy = [m for m in HEAVY_MODULES if m in sys.modules]
print(json.dumps({"path": import_path(), "heavy": heavy, "architectures": [s.architecture for s in summaries]}))
"""


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from workbench.saes.demo import demo_sae_folders

    root = tmp_path_factory.mktemp("sae-lens-import")
    _python(MAKE_SAES, str(root))
    folders = sorted(str(p) for p in root.iterdir()) + [str(p) for p in demo_sae_folders()]
    reports = {}
    for mode in ("plain", "light"):
        done = _python(RUN_SAES, mode, str(root / f"{mode}.npz"), *folders)
        reports[mode] = json.loads(done.stdout.strip().splitlines()[-1])
        reports[mode]["outputs"] = dict(np.load(root / f"{mode}.npz"))
    return reports, folders


def test_the_workbench_takes_the_light_path_and_leaves_the_heavy_parts_unimported(runs):
    light = runs[0]["light"]
    assert light["path"] == "light"
    assert light["heavy"] == []
    assert light["packages_run"] == []  # neither package __init__ ran
    assert light["stale"] == []


def test_saes_loaded_the_light_way_encode_and_decode_exactly_as_through_a_plain_import(runs):
    reports, folders = runs
    plain, light = reports["plain"], reports["light"]
    assert light["architectures"] == plain["architectures"]
    assert {"StandardSAE", "TopKSAE", "JumpReLUSAE", "GatedSAE"} <= set(light["architectures"])
    assert len(light["outputs"]) == len(plain["outputs"]) == 3 * len(folders)
    for key, expected in plain["outputs"].items():
        np.testing.assert_array_equal(light["outputs"][key], expected)


def test_the_light_registry_is_the_one_a_plain_import_builds(runs):
    plain, light = runs[0]["plain"], runs[0]["light"]
    assert light["registry"] == plain["registry"]
    assert light["training_registry"] == plain["training_registry"]
    assert "topk" in light["registry"] and "standard" in light["registry"]


def test_a_later_plain_import_runs_in_full_and_keeps_the_same_classes_and_registry(runs):
    later = runs[0]["light"]["later_import"]
    assert later == {
        "same_classes": True,
        "same_registry": True,
        "hook_point": "HookPoint",
        "root_module_shared": True,
        "trainer": "SAETrainer",
    }


def test_the_workbench_loads_saes_through_the_light_import(runs):
    _, folders = runs
    made = [f for f in folders if Path(f).name in ("standard", "topk")]
    done = _python(ENGINE_LOAD, *made)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "path": "light",
        "heavy": [],
        "architectures": ["standard", "topk"],
    }


def test_a_layout_the_light_import_does_not_know_falls_back_to_the_plain_import(runs):
    _, folders = runs
    done = _python(BROKEN_LAYOUT, folders[0])
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"path": "plain", "architecture": "gated"}
    assert "light sae-lens import failed" in done.stderr
