"""``grants`` starts without loading the store, the API, the solvers or scipy: a command imports what it runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = (
    "sqlalchemy",
    "fastapi",
    "uvicorn",
    "alembic",
    "scipy",
    "numpy",
    "pulp",
    "highspy",
    "openpyxl",
    "jinja2",
    "pydantic",
    "evaluator",
)


def _loaded_after(statement: str) -> list[str]:
    names = "json.dumps(sorted({m.split('.')[0] for m in sys.modules}))"
    probe = f"import sys, json\n{statement}\nprint({names}, file=sys.stderr)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stderr))
    return [name for name in HEAVY if name in loaded]


def test_importing_the_command_line_loads_no_heavy_module() -> None:
    assert _loaded_after("import api.cli") == []


def test_help_loads_no_heavy_module() -> None:
    statement = (
        "import api.cli\nsys.argv = ['grants', '--help']\ntry:\n    api.cli.main()\nexcept SystemExit:\n    pass"
    )
    assert _loaded_after(statement) == []


def _loaded_by(command: list[str]) -> list[str]:
    call = Path(__file__).resolve().parents[1] / "calls" / "cosme_cluster_2020"
    argv = ["grants", command[0], f"{call}/call.yaml", f"{call}/proposals.yaml", *command[1:], "--json"]
    statement = (
        "import contextlib, io\nimport api.cli\n"
        f"sys.argv = {argv!r}\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        api.cli.main()\n    except SystemExit:\n        pass"
    )
    return _loaded_after(statement)


def test_ranking_and_simulating_load_no_solver_or_scipy() -> None:
    """The solvers are for the integer program: a tenth of a second the others skip."""
    for command in (["rank"], ["simulate", "--noise", "0.5", "--runs", "50"]):
        assert [m for m in _loaded_by(command) if m in ("scipy", "pulp", "highspy")] == [], command


def test_the_integer_program_loads_no_scipy() -> None:
    """The model's sparse matrix is built with numpy alone: scipy's sparse module takes a quarter second to load."""
    loaded = _loaded_by(["allocate", "--mode", "optimal"])
    assert "highspy" in loaded  # the command did solve
    assert "scipy" not in loaded


def _freed_by(entry: str) -> bool:
    """Whether the ranked inputs of ``grants rank`` are freed before the process ends, run through ``entry``."""
    call = Path(__file__).resolve().parents[1] / "calls" / "cosme_cluster_2020"
    argv = ["grants", "rank", f"{call}/call.yaml", f"{call}/proposals.yaml", "--json"]
    probe = (
        "import contextlib, io, sys, weakref\nimport api.cli\nfrom api.commands import calls, ending\n"
        "def watched(result):\n"
        "    weakref.finalize(result.ranking, print, 'freed', file=sys.stderr, flush=True)\n"
        "    ending.hold_to_the_end(result)\n"
        f"calls.hold_to_the_end = watched\nsys.argv = {argv!r}\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    try:\n        api.cli.{entry}()\n    except SystemExit:\n        pass\n"
        "print('returned', file=sys.stderr, flush=True)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stderr.startswith("freed")  # before the command returned (a finalizer also runs at a normal exit)


def test_the_installed_command_leaves_its_inputs_to_the_kernel() -> None:
    """Freeing 10,000 ranked proposals object by object took a tenth of a second, just before os._exit."""
    assert not _freed_by("run")


def test_in_process_callers_free_what_the_command_built() -> None:
    assert _freed_by("main")


REUSE_PROBE = """
import resource
import numpy as np
from api.commands import ending
{setup}
np.ones(5_000_000)  # 40 MB, freed at once: past the largest size glibc's own threshold grows to
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
np.ones(5_000_000)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults_of_a_second_array(setup: str) -> int:
    done = subprocess.run([sys.executable, "-c", REUSE_PROBE.format(setup=setup)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def test_a_command_reuses_the_memory_its_arrays_freed() -> None:
    """A Monte Carlo chunk's 20 MB arrays were mapped and faulted in anew each chunk (45,000 faults a simulate)."""
    as_glibc_leaves_it = _page_faults_of_a_second_array("")
    assert as_glibc_leaves_it > 0
    assert _page_faults_of_a_second_array("ending.keep_freed_memory()") * 10 < as_glibc_leaves_it


def test_a_server_gives_freed_memory_back() -> None:
    """``grants serve`` lives long: what it frees goes back to the kernel (and a new array is faulted in again)."""
    as_glibc_leaves_it = _page_faults_of_a_second_array("")
    given_back = _page_faults_of_a_second_array("ending.keep_freed_memory()\nending.give_back_freed_memory()")
    assert given_back * 2 > as_glibc_leaves_it


def test_the_installed_command_keeps_freed_memory() -> None:
    """``api.cli.run``, the installed ``grants``, sets it before the command runs."""
    probe = (
        "import os, sys\nimport api.cli\nfrom api.commands import ending\nkept = []\n"
        "ending.keep_freed_memory = lambda: kept.append(True)\n"
        "sys.argv = ['grants', '--version']\nleave = os._exit\n"
        "os._exit = lambda code: (print(kept, file=sys.stderr), leave(code))\napi.cli.run()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stderr.strip() == "[True]", done.stderr
