"""sae-lens's SAE classes without the parts of sae-lens the workbench does not use on its way to "ready".

Every workbench caller gets the SAE classes from `sae_classes()` (the `sae_lens.saes` module: `SAE`,
`StandardSAE`, `TopKSAE`, … as `from sae_lens import …` gives them), never from a plain `import sae_lens` (nor
`import sae_lens.x`, which imports `sae_lens` too; `importlib.import_module("sae_lens.x")` does not).

Why: `import sae_lens` runs its package `__init__`, which imports its training runners, evals, activation store
and analysis tools, and through them transformer_lens's whole `__init__` (HookedTransformer, every component, the
pretrained-model tables), `datasets`, `wandb` (which wraps stdout) and plotting: about 1.5 s of CPU on top of
torch and transformers (measured by bench/startup.py), paid by every CLI call and every model-process start for
nothing that loading and running an SAE uses. The SAE classes live in `sae_lens.saes` and need only two small
transformer_lens modules (`hook_points`, `HookedRootModule`), but Python runs every parent package's `__init__`
before a submodule, so `import sae_lens.saes` costs as much as `import sae_lens`.

How: for the duration of one import, stand-ins for the packages whose `__init__` is heavy (and for
`transformer_lens.HookedTransformer`, from which `sae_lens.saes.sae` imports `HookedRootModule`) sit in
`sys.modules`: module objects built from the real import specs (`__path__`, `__file__`, `__spec__`), their code
not run, holding only the few names listed in `_STAND_INS`, each taken from the real submodule where the package
itself imports it from (so they are the very objects its own code would bind), plus `__version__` and `logger`
for `sae_lens`. Then `sae_lens.saes` and `sae_lens.registry` are imported the normal way, and every architecture is
registered with the calls `sae_lens/__init__.py` itself makes (read from its source, so a newer sae-lens's new
architectures register too). Then the stand-ins are removed: `sys.modules` holds real, fully run submodules and
not their parent packages, the state a package is in before it is imported.

Why it is sound: no sae-lens or transformer_lens code is changed, copied or patched; every module that ran is the
real one, run once, in full; no module keeps a reference to a stand-in (their names were bound as objects, and a
test checks that). Should anything later import `sae_lens` or `transformer_lens` (the recipe's training, a user's
script in the same process), that import runs their `__init__`s at the natural time and in the natural order; the
submodules already loaded are reused as a normal import reuses them, so the classes stay the same objects
(`_Completer` only binds those submodules on their package and lets `sae_lens/__init__.py` register the same
classes again in place of the light import's registrations).

When a sae-lens or transformer_lens upgrade moves things (a name the stand-ins give lives elsewhere, a light module
starts to need more of a package `__init__`, the registration calls change shape), the light import fails and
`sae_classes()` falls back to the plain import with a warning: slower, still correct.
tests/core/saes/test_sae_lens_import.py catches it: in a fresh process it checks that the light path was taken,
that none of `HEAVY_MODULES` was imported, that the registry equals a plain `import sae_lens`'s, that a later plain
import works and keeps the classes, and that SAEs loaded both ways encode and decode identically.
"""

from __future__ import annotations

import ast
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

# Stand-ins, parents first, with the names each holds: name → (the real module it comes from, its name there).
_STAND_INS: dict[str, dict[str, tuple[str, str]]] = {
    "transformer_lens": {},
    "transformer_lens.conversion_utils": {},  # its __init__ reaches loading_from_pretrained (every model's table)
    "transformer_lens.conversion_utils.conversion_steps": {},
    # HookedRootModule imports these three from the package, whose __init__ reaches transformers' activations
    "transformer_lens.utilities": {
        "Slice": ("transformer_lens.utilities.slice", "Slice"),
        "SliceInput": ("transformer_lens.utilities.slice", "SliceInput"),
        "warn_if_mps": ("transformer_lens.utilities.devices", "warn_if_mps"),
    },
    # sae_lens.saes.sae imports HookedRootModule from here; it is defined in transformer_lens.HookedRootModule
    "transformer_lens.HookedTransformer": {
        "HookedRootModule": ("transformer_lens.HookedRootModule", "HookedRootModule"),
    },
    "sae_lens": {},  # __version__, logger: from its __init__'s source, in _lite_import
}
# What the light import must leave unimported; the test checks it, bench/startup.py prints it.
HEAVY_MODULES = (
    "sae_lens.training",
    "sae_lens.evals",
    "sae_lens.analysis",
    "transformer_lens.components",
    "transformer_lens.loading_from_pretrained",
    "transformer_lens.HookedTransformer",
    "datasets",
    "wandb",
    "plotly",
)

_lock = threading.Lock()
_state = {"path": ""}  # "light", or "plain" (the fallback, or sae_lens was imported before): for tests and bench
_registered: list[tuple[str, str, Any]] = []  # (registry table, architecture, entry) the light import added


def sae_classes() -> Any:
    """The `sae_lens.saes` module, every SAE class in it and registered for `SAE.load_from_disk`, with no more of
    sae-lens imported than that needs (see the module docstring)."""
    with _lock:
        if not _state["path"]:
            if "sae_lens" in sys.modules:
                _state["path"] = "plain"  # imported in full already (a test, a script): nothing to save
            else:
                before = set(sys.modules)
                try:
                    _lite_import()
                    _state["path"] = "light"
                except Exception as exc:  # a sae-lens / transformer_lens layout this module does not know
                    # what the attempt imported of the two (torch and other complete modules may stay)
                    _forget(n for n in set(sys.modules) - before if n.split(".")[0] in ("sae_lens", "transformer_lens"))
                    _registered.clear()
                    log.warning("the light sae-lens import failed (%s: %s); importing all of it", type(exc), exc)
                    importlib.import_module("sae_lens")
                    _state["path"] = "plain"
    return importlib.import_module("sae_lens.saes")


def import_path() -> str:
    """How sae-lens was imported: "light", "plain" (in full), or "" (not yet)."""
    return _state["path"]


def _lite_import() -> None:
    """Called under _lock. Another thread importing transformer_lens in these ~50 ms would see a stand-in: the
    workbench imports it nowhere else, and its model process loads SAEs on one thread."""
    stand_ins = [_stand_in(name) for name in _STAND_INS if name not in sys.modules]
    try:
        for module in stand_ins:
            for attr, (source, source_attr) in _STAND_INS[module.__name__].items():
                setattr(module, attr, getattr(importlib.import_module(source), source_attr))
        _register(sys.modules["sae_lens"])
    finally:
        _forget(m.__name__ for m in stand_ins)
    if not any(isinstance(f, _Completer) for f in sys.meta_path):
        sys.meta_path.insert(0, _Completer())


def _stand_in(name: str) -> ModuleType:
    """The module `name` as its import would build it, its code not run, in sys.modules and on its parent."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module {name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


def _register(package: ModuleType) -> None:
    """Give the `sae_lens` stand-in its __init__'s literals (__version__) and logger, import the SAE classes and
    the registry, and make the __init__'s registration calls."""
    assert package.__spec__ is not None and package.__spec__.origin is not None
    with open(package.__spec__.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    calls = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    setattr(package, target.id, node.value.value)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            calls.append(_registration(node.value))
    # what its `logger = logging.getLogger(__name__)` binds (the same object: loggers are per name)
    setattr(package, "logger", logging.getLogger("sae_lens"))  # noqa: B010
    saes = importlib.import_module("sae_lens.saes")
    registry = importlib.import_module("sae_lens.registry")
    for function, architecture, cls, config in calls:
        entry = (getattr(saes, cls), getattr(saes, config))
        getattr(registry, function)(architecture, *entry)
        table = "SAE_CLASS_REGISTRY" if function == "register_sae_class" else "SAE_TRAINING_CLASS_REGISTRY"
        _registered.append((table, architecture, entry))


def _registration(call: ast.Call) -> tuple[str, str, str, str]:
    """One `register_sae_class("name", Class, Config)` statement of sae_lens/__init__.py, as names."""
    function = call.func.id if isinstance(call.func, ast.Name) else ""
    args = call.args
    if (
        function not in ("register_sae_class", "register_sae_training_class")
        or call.keywords
        or len(args) != 3
        or not (isinstance(args[0], ast.Constant) and isinstance(args[0].value, str))
        or not isinstance(args[1], ast.Name)
        or not isinstance(args[2], ast.Name)
    ):
        raise ImportError(f"sae_lens/__init__.py makes a call this module does not know: {ast.unparse(call)}")
    return function, args[0].value, args[1].id, args[2].id


def _forget(names: Any) -> None:
    for name in sorted(names, reverse=True):  # children before parents
        sys.modules.pop(name, None)
        parent, _, child = name.rpartition(".")
        if parent in sys.modules:
            vars(sys.modules[parent]).pop(child, None)


class _Completer(importlib.abc.MetaPathFinder):
    """Lets a later plain import of a package the light import left out run as it normally would: its already
    loaded submodules are bound on it first (a normal import would have bound them as it loaded them), and for
    `sae_lens` the light import's registrations make room for its __init__'s own (the registry refuses doubles)."""

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        if name not in _STAND_INS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _CompletingLoader(spec.loader)
        return spec


class _CompletingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> Any:  # get_source, get_resource_reader, is_package: the real loader's
        return getattr(self.loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        prefix = module.__name__ + "."
        for name, child in list(sys.modules.items()):
            if name.startswith(prefix) and "." not in name[len(prefix) :]:
                setattr(module, name[len(prefix) :], child)
        if module.__name__ == "sae_lens":
            registry = sys.modules["sae_lens.registry"]
            for table, architecture, entry in _registered:
                if getattr(registry, table).get(architecture) == entry:
                    del getattr(registry, table)[architecture]
            _registered.clear()
        self.loader.exec_module(module)
