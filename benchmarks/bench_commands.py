"""What the user runs, timed as the user runs it: ``grants`` commands as processes, against the best baselines.

Run by hand: ``python -m benchmarks.bench_commands [--sizes 10000,50000] [--repeat 3] [--only allocate]``.
It writes each instance as a call file and a proposals file (``benchmarks.instances``:
30 countries with a 20% budget cap, 8 topics with a 5% minimum, a grant-count limit),
then times, in the same run, each ``grants`` command and the baseline
pipelines of ``benchmarks.baselines`` as subprocesses (whole processes: start-up,
reading, and for ``grants`` the rules, ranking and explanations). Each line gives the
median of the runs and their spread, the ratio of the medians, and for allocations
whether the objectives agree within the gap. The targets (issue 12) are printed beside.
"""

from __future__ import annotations

import argparse
import compileall
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.instances import call_data, proposal_data

PARTIAL: dict[str, object] = {"partial_funding": {"min_share": "0.8", "max_share": "1"}}
GAP = 1e-4
GRANTS = [str(Path(sys.executable).with_name("grants"))]
PYTHON = [sys.executable, "-m", "benchmarks.baselines"]


@dataclass
class Timing:
    wall: list[float]
    cpu: list[float]
    output: str

    def median(self) -> float:
        return statistics.median(self.wall)

    def spread(self) -> str:
        return f"{min(self.wall):.1f}–{max(self.wall):.1f}"


BEFORE: list[str] = []
"""With ``--before DIR``: an older checkout's ``grants``, timed once beside each command."""


def timed(command: list[str], repeat: int, env: dict[str, str] | None = None) -> Timing:
    """Wall and CPU seconds (the child's user + system) of a whole process, ``repeat`` times."""
    walls, cpus, output = [], [], ""
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
        output = done.stdout
    return Timing(walls, cpus, output)


def byte_compiled(*roots: Path) -> None:
    """Compile the timed checkouts' modules first, as ``pip install`` does for an installed package.

    Otherwise every timed ``grants`` compiles its modules from source, a tenth of a second
    a command, wherever bytecode is not written (``PYTHONDONTWRITEBYTECODE``, set on the
    machines this runs on), while the baselines' PuLP and numpy come compiled.
    """
    for root in roots:
        for package in ("rules", "evaluator", "api", "benchmarks"):
            compileall.compile_dir(root / package, quiet=1)


def document(output: str) -> dict[str, Any]:
    """The JSON document on stdout (skipping a solver banner printed before it, if any)."""
    found: dict[str, Any] = json.loads(output[output.index("{") :])
    return found


def write_instance(folder: Path, n: int, allocation: dict[str, object] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "call.yaml").write_text(yaml.safe_dump(call_data(n, allocation), sort_keys=False))
    (folder / "proposals.json").write_text(json.dumps(proposal_data(n)))
    return folder


def before(command: list[str]) -> str:
    """The same command run by the older checkout, once: its time and ratio to the baseline, for the note."""
    if not BEFORE:
        return ""
    old = [sys.executable, "-P", "-c", "from api.cli import main; main()", *command[len(GRANTS) :]]
    timing = timed(old, 1, {**os.environ, "PYTHONPATH": BEFORE[0]})
    return f"before: {timing.median():.1f} s, CPU {statistics.median(timing.cpu):.1f} s; "


def row(what: str, ours: Timing, base: Timing, base_name: str, target: float, note: str = "") -> None:
    """One table line: wall seconds (what the user waits) decide; CPU seconds are shown, the machine being shared."""
    ratio = ours.median() / base.median()
    cpu = statistics.median(ours.cpu) / statistics.median(base.cpu)
    verdict = "met" if ratio <= target else "NOT met"
    print(
        f"| {what} | {ours.median():.1f} s ({ours.spread()}), CPU {statistics.median(ours.cpu):.1f} s "
        f"| {base_name}: {base.median():.1f} s ({base.spread()}), CPU {statistics.median(base.cpu):.1f} s "
        f"| {ratio:.2f}× (CPU {cpu:.2f}×) | ≤ {target}×: {verdict} | {note} |"
    )


def bench_allocate(root: Path, n: int, variant: str, repeat: int) -> None:
    folder = write_instance(root / f"allocate-{n}-{variant}", n, PARTIAL if variant == "partial" else None)
    files = [str(folder / "call.yaml"), str(folder / "proposals.json")]
    command = [*GRANTS, "allocate", *files, "--mode", "optimal", "--json"]
    ours, old = timed(command, repeat), before(command)
    bases = {name: timed([*PYTHON, f"pulp-{name}", str(folder)], repeat) for name in ("cbc", "highs")}
    best_name = min(bases, key=lambda name: bases[name].median())
    ours_objective = float(document(ours.output)["objective"])
    agree = []
    for name, base in bases.items():
        theirs = float(document(base.output)["objective"])
        agree.append(f"{name} {abs(ours_objective - theirs) / max(abs(theirs), 1):.1e}")
    other = next(name for name in bases if name != best_name)
    note = f"{old}objective gaps: {', '.join(agree)}; PuLP + {other} {bases[other].median():.1f} s"
    row(f"`grants allocate --json`, {n:,}, {variant}", ours, bases[best_name], f"PuLP + {best_name}", 1.5, note)


def bench_simulate(root: Path, n: int, repeat: int, runs: int = 1000, noise: str = "0.5") -> None:
    folder = write_instance(root / f"simulate-{n}", n, {"mode": "rank"})
    files = [str(folder / "call.yaml"), str(folder / "proposals.json")]
    command = [*GRANTS, "simulate", *files, "--noise", noise, "--runs", str(runs), "--json"]
    ours, old = timed(command, repeat), before(command)
    base = timed([*PYTHON, "montecarlo", str(folder), str(runs), noise], repeat)
    listed = len(document(ours.output)["odds"])
    note = f"{old}baseline keeps no caps or minimums: a lower bound; {listed:,} proposals listed (0 < p < 1)"
    row(f"`grants simulate --noise {noise} --runs {runs}`, {n:,}", ours, base, "argsort+cumsum+bincount", 1.5, note)


def rules_instance(folder: Path, n: int) -> Path:
    """The SEE call (seven rules on areas, partners, countries, grant, duration, co-financing) and
    ``n`` generated proposals of ~5 partners, over half of them ineligible: the rules and their
    reasons at work, which the benchmark call (no eligibility rules) does not exercise."""
    from benchmarks.bench_eligibility import SEE_CALL, generated

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "call.yaml").write_text(SEE_CALL.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "proposals.json").write_text(json.dumps(generated(n)))
    return folder


def bench_check(root: Path, n: int, repeat: int) -> None:
    instances = {
        "benchmark call, no rules": write_instance(root / f"check-{n}", n),
        "SEE call, 7 rules": rules_instance(root / f"check-see-{n}", n),
    }
    for what, folder in instances.items():
        files = [str(folder / "call.yaml"), str(folder / "proposals.json")]
        command = [*GRANTS, "check", *files, "--json"]
        ours, old = timed(command, repeat), before(command)
        base = timed([*PYTHON, "json", str(folder)], repeat)
        row(f"`grants check --json`, {n:,}, {what}", ours, base, "json.load", 2.0, old)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000", help="allocation sizes, comma-separated")
    parser.add_argument("--check-size", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["allocate", "simulate", "check"], action="append")
    parser.add_argument(
        "--variants",
        default="binary,partial",
        help="allocation variants, comma-separated (PuLP + CBC on 50,000 partial takes over ten minutes a run)",
    )
    parser.add_argument("--before", help="an older checkout whose grants to time once beside each command")
    args = parser.parse_args(argv)
    BEFORE[:] = [args.before] if args.before else []
    byte_compiled(Path(__file__).resolve().parents[1], *(Path(tree) for tree in BEFORE))
    only = set(args.only or ["allocate", "simulate", "check"])
    sizes = [int(s) for s in args.sizes.split(",")]
    print("| what the user runs | grants (median, spread) | best baseline, same run | ratio | target | notes |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="grants-bench-") as folder:
        root = Path(folder)
        jobs: list[Callable[[], None]] = []
        if "allocate" in only:
            for n in sizes:
                for variant in args.variants.split(","):
                    jobs.append(functools.partial(bench_allocate, root, n, variant, args.repeat))
        if "simulate" in only:
            jobs.append(functools.partial(bench_simulate, root, 10_000, args.repeat))
        if "check" in only:
            jobs.append(functools.partial(bench_check, root, args.check_size, args.repeat))
        for job in jobs:
            job()
            sys.stdout.flush()


if __name__ == "__main__":
    main()
