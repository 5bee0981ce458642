"""A minimal-pair contrast on the embedded model once it is loaded (the issue's figure: < 1 s).

.venv/bin/python bench/contrast.py
"""

from __future__ import annotations

from _common import engine_with_saes, median_seconds
from neighbours import cpu_model, load_average


def main() -> None:
    import torch

    from workbench.analysis.contrast import builtin_pair, minimal_pair

    print(f"CPU: {cpu_model()}; torch threads {torch.get_num_threads()}; load average {load_average()}")
    engine = engine_with_saes((8, 15, 22))
    for pair in ("coffee-coffin", "ocean-ghost", "marvel-marble"):
        a, b = builtin_pair(pair)
        seconds, _ = median_seconds(lambda a=a, b=b: minimal_pair(engine, "L8", a, b, top=10), repeats=5)
        result = minimal_pair(engine, "L8", a, b, top=3)
        top = ", ".join(f"#{f.feature} {f.difference:+.1f}" for f in result.features[:3])
        print(f"{pair:>15}: {seconds * 1000:.0f} ms (median of 5)  top: {top}")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
