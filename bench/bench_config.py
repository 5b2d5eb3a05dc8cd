"""Benchmark: loading a large layer-ci.yml, against ruamel's round-trip loader + full jsonschema validation.

Run: ``.venv/bin/python bench/bench_config.py [--runs 9] [--layers 200] [--functions 1000] [--update-docs]``.
Generates a monorepo config with tests/support/repos.py::make_monorepo under /tmp/layer-ci-bench/config,
then alternates, in the same process and round by round:

- layer-ci: ``parse_text`` (libyaml through ruamel.yaml.clib, lines kept per key) + the schema check as
  ``load_config`` runs it (a fast walker, jsonschema only when that walker is unsure);
- baseline: ``YAML()`` round-trip load (``.lc`` line info) + ``Draft202012Validator.iter_errors``.

Both sides do the same job (parse with line numbers, validate against schema.json); the whole
``load_config`` (with its file-system checks) is timed too. Reports medians and the median ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from jsonschema import Draft202012Validator  # noqa: E402
from ruamel.yaml import YAML  # noqa: E402

from bench.docs_section import update_docs_section  # noqa: E402
from layer_ci.config.loader import load_config  # noqa: E402
from layer_ci.config.schema_errors import schema, validate  # noqa: E402
from layer_ci.config.yamldoc import parse_text  # noqa: E402
from tests.support.repos import make_monorepo  # noqa: E402

WORK = Path("/tmp/layer-ci-bench/config")
SECTION = "## Config loading"


def ours(text: str) -> None:
    validate(parse_text(text, "layer-ci.yml"))


def baseline(text: str) -> None:
    data = YAML().load(text)
    errors = list(Draft202012Validator(schema()).iter_errors(data))
    assert not errors


def clock(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--layers", type=int, default=200)
    parser.add_argument("--functions", type=int, default=1000)
    parser.add_argument("--update-docs", action="store_true")
    args = parser.parse_args()
    root = WORK / f"repo-{args.layers}-{args.functions}"
    if not (root / "layer-ci.yml").exists():
        make_monorepo(root, layers=args.layers, functions=args.functions, files=args.layers * 2)
    config_path = root / "layer-ci.yml"
    text = config_path.read_text()
    ours(text)  # imports and caches warm on both sides before timing
    baseline(text)
    ours_times, base_times, load_times, ratios = [], [], [], []
    for _ in range(args.runs):
        mine = clock(lambda: ours(text))
        theirs = clock(lambda: baseline(text))
        load_times.append(clock(lambda: load_config(config_path)))
        ours_times.append(mine)
        base_times.append(theirs)
        ratios.append(mine / theirs)
    command = (
        f".venv/bin/python bench/bench_config.py --runs {args.runs} --layers {args.layers} "
        f"--functions {args.functions}"
    )
    lines = [
        SECTION,
        "",
        f"`{command}` — {len(text):,}-byte layer-ci.yml ({args.layers} layers, {args.functions} functions), "
        f"{args.runs} alternating rounds in one process, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at the end (absolute times scale with load; the ratio is side by side).",
        "",
        "| step | median |",
        "|---|---|",
        f"| layer-ci parse + schema check | {statistics.median(ours_times) * 1000:.0f} ms |",
        f"| baseline: ruamel round-trip + jsonschema | {statistics.median(base_times) * 1000:.0f} ms |",
        f"| whole `load_config` (with file-system checks) | {statistics.median(load_times) * 1000:.0f} ms |",
        "",
        f"Median ratio layer-ci / baseline: **{statistics.median(ratios):.2f}**.",
        "",
    ]
    report = "\n".join(lines)
    print(report)
    if args.update_docs:
        update_docs_section(SECTION, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
