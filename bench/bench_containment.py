"""Benchmark: the real-path containment checks of ``load_config``, on against off, on a large monorepo.

Run: ``.venv/bin/python bench/bench_containment.py [--runs 15] [--layers 200] [--functions 1000]``.
Generates a monorepo config with tests/support/repos.py::make_monorepo under /tmp/layer-ci-bench/containment,
then alternates, in the same process and round by round, ``load_config`` as shipped (every folder and
file the config names checked on its real path by ``layer_ci.fsutil.containment_problem``) and
``load_config`` with that check replaced by one returning None (the lexical check alone, as before).
Reports both medians and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import layer_ci.config.loader as loader  # noqa: E402
from layer_ci.config.loader import load_config  # noqa: E402
from tests.support.repos import make_monorepo  # noqa: E402

WORK = Path("/tmp/layer-ci-bench/containment")


def _lexical_only(*_args: object) -> str | None:
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--layers", type=int, default=200)
    parser.add_argument("--functions", type=int, default=1000)
    args = parser.parse_args()
    root = WORK / f"{args.layers}-{args.functions}"
    if not (root / "layer-ci.yml").exists():
        root.mkdir(parents=True, exist_ok=True)
        make_monorepo(root, layers=args.layers, functions=args.functions, files=args.layers * 2)
    config_path = root / "layer-ci.yml"
    real_check = loader.containment_problem
    load_config(config_path)  # imports and caches warm before timing
    checked: list[float] = []
    lexical: list[float] = []
    try:
        for _ in range(args.runs):
            for bucket, check in ((checked, real_check), (lexical, _lexical_only)):
                loader.containment_problem = check  # type: ignore[assignment]
                start = time.perf_counter()
                load_config(config_path)
                bucket.append(time.perf_counter() - start)
    finally:
        loader.containment_problem = real_check
    with_checks, without = statistics.median(checked), statistics.median(lexical)
    print(f"load_config, {args.layers} layers, {args.functions} functions, {args.runs} rounds (medians)")
    print(f"  with real-path checks:  {with_checks * 1000:.0f} ms")
    print(f"  lexical checks only:    {without * 1000:.0f} ms")
    print(f"  ratio:                  {with_checks / without:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
