"""Proposals read from YAML against the same proposals read from JSON (target: YAML within 2x of JSON).

Run by hand: ``python benchmarks/bench_yaml.py [sizes...]`` (1,000, 10,000 and 100,000 proposals by
default). The same generated proposals are written as JSON and as block-style YAML (as
``yaml.safe_dump`` and most editors write it) and loaded and validated by ``rules.load``,
each the best of three runs. The PyYAML path, which reads files the fast reader leaves to
it (aliases, tags, merge keys) and read every file before, is timed on the same YAML as
the baseline.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_eligibility import generated  # noqa: E402
from rules import yamlio  # noqa: E402
from rules.load import load_proposals  # noqa: E402

RUNS = 3


def best(run: Callable[[], object], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def pyyaml_only(path: Path) -> None:
    """``load_proposals`` with the fast reader switched off: every file read as before."""
    fast = yamlio._plain_data
    yamlio._plain_data = lambda text: False  # type: ignore[assignment]
    try:
        load_proposals(path)
    finally:
        yamlio._plain_data = fast  # type: ignore[assignment]


def main(sizes: list[int]) -> None:
    columns = ("proposals", "MB (YAML)", "JSON s", "YAML s", "PyYAML s", "YAML/JSON", "PyYAML/JSON")
    print(" ".join(f"{c:>11}" for c in columns))
    for n in sizes:
        data = generated(n)
        with tempfile.TemporaryDirectory() as folder:
            as_json, as_yaml = Path(folder) / "proposals.json", Path(folder) / "proposals.yaml"
            as_json.write_text(json.dumps(data), encoding="utf-8")
            as_yaml.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
            runs = RUNS if n <= 10_000 else 1
            from_json = best(partial(load_proposals, as_json), runs)
            from_yaml = best(partial(load_proposals, as_yaml), runs)
            from_pyyaml = best(partial(pyyaml_only, as_yaml), 1)
            mb = as_yaml.stat().st_size / 1e6
        figures = (f"{n:,}", f"{mb:.1f}", f"{from_json:.2f}", f"{from_yaml:.2f}", f"{from_pyyaml:.2f}")
        ratios = (f"{from_yaml / from_json:.2f}", f"{from_pyyaml / from_json:.2f}")
        print(" ".join(f"{f:>11}" for f in (*figures, *ratios)))


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1_000, 10_000, 100_000])
