"""``grants`` starts without loading the store, the API, the solvers or scipy: a command imports what it runs."""

from __future__ import annotations

import json
import subprocess
import sys

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
