"""Massive-activation tokens of the demo SAEs' layers on the whole shipped held-out sample, in one model pass:
how many, what they are, how far they move FVE, and how many features' all-token max they would set.

Reconstruction only (no CE): one forward per text for all layers, so it covers all 400 texts where `sae-metrics`
(three forwards per text and layer) runs on a bounded prefix.

    .venv/bin/python bench/massive_tokens.py [--max-texts N] [--max-tokens 128] [--layers 8 15 22]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _common import engine_with_saes

from workbench.analysis.texts import texts_from
from workbench.saes.baselines import fve_from_errors
from workbench.saes.massive import describe_massive
from workbench.saes.stats import StatisticsTally, encode_texts


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--max-texts", type=int, default=400)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--layers", type=int, nargs="+", default=[8, 15, 22])
    args = parser.parse_args()
    texts, source = texts_from(None)
    texts = texts[: args.max_texts]
    engine = engine_with_saes(tuple(args.layers))
    saes = {layer: engine.sae(layer).sae for layer in args.layers}
    per_layer: dict[int, dict[str, list[np.ndarray]]] = {
        layer: {"x": [], "err": [], "text": [], "pos": [], "ids": [], "max": []} for layer in args.layers
    }
    tallies = {layer: StatisticsTally(int(sae.cfg.d_sae)) for layer, sae in saes.items()}
    started = time.monotonic()
    for encoded in encode_texts(engine.backend, saes, texts, args.max_tokens, "massive tokens"):
        for layer, acts in encoded.acts.items():
            x = encoded.residuals[layer]
            with torch.no_grad():
                x_hat = saes[layer].decode(torch.from_numpy(acts)).float().numpy()
            got = per_layer[layer]
            got["x"].append(x)
            got["err"].append(((x.astype(np.float64) - x_hat) ** 2).sum(1))
            got["text"].append(np.full(len(x), encoded.index))
            got["pos"].append(np.arange(1, len(x) + 1))
            got["ids"].append(np.asarray(encoded.ids[1:]))
            got["max"].append(acts.max(axis=0))
            tallies[layer].add(x, acts)
    report = {"source": source, "texts": len(texts), "max_tokens": args.max_tokens}
    for layer, got in per_layer.items():
        x, err, text, pos, ids = (np.concatenate(got[k]) for k in ("x", "err", "text", "pos", "ids"))
        norms = np.linalg.norm(x.astype(np.float64), axis=1)
        mask, massive = describe_massive(norms, text, pos, ids, engine.backend.token_strings)
        stats = tallies[layer].finish(source)
        legacy_max = np.max(np.stack(got["max"]), axis=0)
        moved = int((legacy_max > stats.max_activation * 1.0001).sum())
        report[f"L{layer}"] = {
            "n_tokens": len(x),
            "fve": fve_from_errors(x[~mask], err[~mask]),
            "fve_all": fve_from_errors(x, err),
            "mse": float(err[~mask].sum() / (int((~mask).sum()) * x.shape[1])),
            "mse_all": float(err.sum() / x.size),
            "massive_tokens": massive.as_dict(),
            "features_whose_all_token_max_is_a_massive_token": moved,
        }
    report["seconds"] = round(time.monotonic() - started)
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
