"""How long ``grants`` takes to start: ``--help`` and ``validate`` of a seed call, against ``python -c pass``.

Run by hand: ``python benchmarks/bench_startup.py [runs]`` (9 by default). Each command
runs as a whole process, the installed ``grants`` beside this interpreter; its CPU time
(user + system, from the operating system's accounting of the finished child) is the
figure, the median of the runs after one warm-up, with the bare interpreter measured in
the same run as the floor. Targets: ``--help`` within 0.3 s of CPU, ``validate`` within 0.6 s.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRANTS = str(Path(sys.executable).parent / "grants")
SEED_CALL = str(ROOT / "calls" / "see_2007_2013_call4" / "call.yaml")
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "grants --help": [GRANTS, "--help"],
    "grants validate (seed call)": [GRANTS, "validate", SEED_CALL],
}
TARGETS = {"grants --help": 0.3, "grants validate (seed call)": 0.6}


def cpu_seconds(command: list[str]) -> float:
    """The CPU time of one finished run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(runs: int) -> None:
    for command in COMMANDS.values():
        cpu_seconds(command)  # warm-up: the file cache and compiled bytecode
    figures: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(runs):  # interleaved, so a drift in the machine's speed touches every command alike
        for name, command in COMMANDS.items():
            figures[name].append(cpu_seconds(command))
    floor = statistics.median(figures["python -c pass"])
    print(f"CPU seconds, median of {runs} runs (min-max)")
    for name, seconds in figures.items():
        median = statistics.median(seconds)
        target = f"; target <= {TARGETS[name]} s" if name in TARGETS else ""
        print(f"{name:30} {median:6.3f} ({min(seconds):.3f}-{max(seconds):.3f}) {median / floor:5.1f}x bare{target}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 9)
