"""Integer programs as arrays, solved by HiGHS or CBC under a wall-clock limit that holds.

The model is kept as a sparse matrix (:class:`MatrixModel`) because numpy builds
it in milliseconds and both solvers take it without a Python call per variable:
HiGHS through ``highspy.passModel``, CBC through a PuLP model whose expressions are
made from (variable, coefficient) pairs, written once to MPS. Neither solver's own
time limit is trusted alone (CBC ignored its limit on a 50,000-proposal model): HiGHS
runs in a thread that a watchdog cancels, CBC in a process that is interrupted and,
if it does not stop, killed; both return the best solution found with its bound.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pulp
import scipy.sparse as sp
from pulp.apis import coin_api

Status = Literal["optimal", "feasible", "infeasible", "no_solution"]
SolverName = Literal["highs", "cbc"]
GRACE_SECONDS = 0.5
LOG = logging.getLogger(__name__)
"""At DEBUG level (``grants --verbose``), HiGHS writes its own log, to stderr."""
_NATIVE_STDOUT = threading.Lock()


@dataclass(frozen=True)
class MatrixModel:
    """Maximise ``cost @ x`` subject to ``row_low <= matrix @ x <= row_high`` and column bounds."""

    cost: np.ndarray
    matrix: sp.csr_matrix
    row_low: np.ndarray
    row_high: np.ndarray
    col_low: np.ndarray
    col_high: np.ndarray
    integer: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.matrix.shape
        return int(rows), int(cols)

    def relaxed(self) -> MatrixModel:
        return replace(self, integer=np.zeros_like(self.integer))

    def with_bounds(self, low: np.ndarray, high: np.ndarray) -> MatrixModel:
        return replace(self, col_low=low, col_high=high)


@dataclass(frozen=True)
class SolverResult:
    status: Status
    values: np.ndarray | None
    objective: float | None
    bound: float | None
    seconds: float
    solver: str
    duals: np.ndarray | None = None

    @property
    def found(self) -> bool:
        return self.values is not None

    @property
    def gap(self) -> float:
        if self.objective is None or self.bound is None:
            return float("inf")
        return abs(self.bound - self.objective) / max(abs(self.objective), 1.0)


def solve(
    model: MatrixModel,
    deadline: float,
    solver: SolverName = "highs",
    gap: float = 1e-4,
    start: np.ndarray | None = None,
    lp_method: str = "ipm",
) -> SolverResult:
    """Solve before ``deadline`` (a ``time.monotonic()`` instant), returning the best solution found.

    A linear model always goes to HiGHS, by default its interior point method: with
    a few dozen rows and 50,000 columns it is three times faster than the dual
    simplex (which wins on the denser cut form of the discipline).
    """
    if not model.integer.any():
        return _solve_highs(model, deadline, gap, start, {"solver": lp_method})
    if solver == "cbc":
        return _solve_cbc(model, deadline, gap, start)
    return _solve_highs(model, deadline, gap, start, {})


def _highs_lp(model: MatrixModel) -> Any:
    import highspy

    rows, cols = model.shape
    csc = model.matrix.tocsc()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = cols, rows
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = model.cost.astype(np.float64)
    lp.col_lower_, lp.col_upper_ = model.col_low.astype(np.float64), model.col_high.astype(np.float64)
    lp.row_lower_, lp.row_upper_ = model.row_low.astype(np.float64), model.row_high.astype(np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = csc.indptr, csc.indices, csc.data
    if model.integer.any():
        kinds = [highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger]
        lp.integrality_ = [kinds[int(flag)] for flag in model.integer]
    return lp


def _solve_highs(
    model: MatrixModel, deadline: float, gap: float, start: np.ndarray | None, options: dict[str, str]
) -> SolverResult:
    import highspy

    began = time.monotonic()
    log = LOG.isEnabledFor(logging.DEBUG)
    highs = _new_highs(log)
    for name, value in options.items():
        highs.setOptionValue(name, value)
    highs.setOptionValue("mip_rel_gap", gap)
    highs.setOptionValue("time_limit", max(deadline - began, 0.01))
    highs.passModel(_highs_lp(model))
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = start.astype(np.float64)
        highs.setSolution(solution)
    highs.HandleUserInterrupt = True
    watchdog = threading.Timer(max(deadline - began, 0.0) + GRACE_SECONDS, highs.cancelSolve)
    watchdog.start()
    try:
        with _native_stdout_to_stderr() if log else contextlib.nullcontext():
            highs.run()
    finally:
        watchdog.cancel()
    return _highs_result(highs, model, time.monotonic() - began)


def _new_highs(log: bool) -> Any:
    """A HiGHS instance that prints nothing on stdout, where ``--json`` promises one document.

    HiGHS (1.16) prints its banner from native code as the object is created, before any
    option can switch output off; so the creation runs with file descriptor 1 on stderr.
    """
    import highspy

    with _native_stdout_to_stderr():
        highs = highspy.Highs()
    highs.setOptionValue("output_flag", log)
    return highs


@contextlib.contextmanager
def _native_stdout_to_stderr() -> Iterator[None]:
    """Point file descriptor 1 at stderr for native code; one thread at a time, or a restore would be lost."""
    with _NATIVE_STDOUT:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(2, 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def _highs_result(highs: object, model: MatrixModel, seconds: float) -> SolverResult:
    import highspy

    status = highs.getModelStatus()  # type: ignore[attr-defined]
    info = highs.getInfo()  # type: ignore[attr-defined]
    if status == highspy.HighsModelStatus.kInfeasible:
        return SolverResult("infeasible", None, None, None, seconds, "highs")
    if info.primal_solution_status != 2:
        return SolverResult("no_solution", None, None, None, seconds, "highs")
    solution = highs.getSolution()  # type: ignore[attr-defined]
    values = np.asarray(solution.col_value, dtype=np.float64)
    objective = float(model.cost @ values)
    integer = bool(model.integer.any())
    bound = float(info.mip_dual_bound) if integer else objective
    optimal = status == highspy.HighsModelStatus.kOptimal
    duals = None if integer else np.asarray(solution.row_dual, dtype=np.float64)
    return SolverResult("optimal" if optimal else "feasible", values, objective, bound, seconds, "highs", duals)


def _cbc() -> pulp.COIN_CMD:
    """The CBC binary bundled with PuLP, driven through COIN_CMD (PULP_CBC_CMD is deprecated)."""
    return pulp.COIN_CMD(path=coin_api.pulp_cbc_path, msg=False)


def pulp_problem(model: MatrixModel) -> tuple[pulp.LpProblem, list[pulp.LpVariable]]:
    """The model as a PuLP problem, each row an ``LpAffineExpression`` made from pairs (no ``+=`` in loops)."""
    problem = pulp.LpProblem("allocation", pulp.LpMaximize)
    variables = [
        problem.add_variable(f"x{k}", low, high, pulp.LpInteger if integer else pulp.LpContinuous)
        for k, (low, high, integer) in enumerate(zip(model.col_low, model.col_high, model.integer, strict=True))
    ]
    problem.setObjective(pulp.LpAffineExpression(_pairs(variables, np.arange(len(variables)), model.cost)))
    csr = model.matrix
    for r in range(csr.shape[0]):
        window = slice(csr.indptr[r], csr.indptr[r + 1])
        expression = pulp.LpAffineExpression(_pairs(variables, csr.indices[window], csr.data[window]))
        low, high = model.row_low[r], model.row_high[r]
        if low == high:
            problem.addConstraint(pulp.LpConstraint(expression, pulp.LpConstraintEQ, f"r{r}", float(low)))
            continue
        if np.isfinite(high):
            problem.addConstraint(pulp.LpConstraint(expression, pulp.LpConstraintLE, f"r{r}u", float(high)))
        if np.isfinite(low):
            problem.addConstraint(pulp.LpConstraint(expression, pulp.LpConstraintGE, f"r{r}l", float(low)))
    return problem, variables


def _pairs(
    variables: list[pulp.LpVariable], columns: np.ndarray, values: np.ndarray
) -> list[tuple[pulp.LpVariable, float]]:
    return [(variables[c], v) for c, v in zip(columns.tolist(), values.tolist(), strict=True) if v != 0]


def _solve_cbc(model: MatrixModel, deadline: float, gap: float, start: np.ndarray | None) -> SolverResult:
    began = time.monotonic()
    problem, variables = pulp_problem(model)
    with tempfile.TemporaryDirectory(prefix="grants-cbc-") as folder:
        mps, solution, log = (Path(folder) / name for name in ("model.mps", "model.sol", "cbc.log"))
        written, names, constraint_names, _ = problem.writeMPS(str(mps), rename=1)
        seconds = max(deadline - time.monotonic(), 0.01)
        command = [_cbc().path, str(mps), "-max", "-ratio", str(gap), "-sec", f"{seconds:.3f}"]
        if start is not None:
            command += _cbc_start(Path(folder) / "start.mst", variables, names, start)
        command += ["-threads", "1", "-solve", "-solution", str(solution)]
        run_until(command, log, deadline)
        if not solution.exists():
            return SolverResult("no_solution", None, None, None, time.monotonic() - began, "cbc")
        return _cbc_result(model, problem, written, names, constraint_names, solution, log, began)


def _cbc_start(path: Path, variables: list[pulp.LpVariable], names: dict[str, str], start: np.ndarray) -> list[str]:
    """A MIP start in CBC's solution format, under the names PuLP gave the columns in the MPS file."""
    lines = ["Stopped on time - objective value 0\n"]
    lines += [
        f"{k} {names[v.name]} {value} 0\n" for k, (v, value) in enumerate(zip(variables, start.tolist(), strict=True))
    ]
    path.write_text("".join(lines))
    return ["-mips", str(path)]


def run_until(command: list[str], log: Path, deadline: float) -> int:
    """Run CBC; at the deadline interrupt it (it then writes its best solution) and kill it if it hangs.

    Returns the process's exit code (negative: the signal that ended it).
    """
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            return process.wait(timeout=max(deadline - time.monotonic(), 0.0) + GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
        try:
            return process.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()


def _cbc_result(
    model: MatrixModel,
    problem: pulp.LpProblem,
    written: list[pulp.LpVariable],
    names: dict[str, str],
    constraint_names: dict[str, str],
    solution: Path,
    log: Path,
    began: float,
) -> SolverResult:
    status, values, *_ = _cbc().readsol_MPS(str(solution), problem, written, names, constraint_names)
    first = solution.read_text().split("\n", 1)[0]
    seconds = time.monotonic() - began
    if first.startswith("Infeasible") or "infeasible" in first.lower():
        return SolverResult("infeasible", None, None, None, seconds, "cbc")
    if status not in (pulp.LpStatusOptimal,) and "objective value" not in first:
        return SolverResult("no_solution", None, None, None, seconds, "cbc")
    x = np.array([values.get(f"x{k}", 0.0) for k in range(model.shape[1])], dtype=np.float64)
    if np.any(np.abs(x[model.integer] - np.rint(x[model.integer])) > 1e-6):
        return SolverResult("no_solution", None, None, None, seconds, "cbc")
    objective = float(model.cost @ x)
    optimal = first.startswith("Optimal")
    bound = _cbc_bound(log.read_text(), objective)
    return SolverResult("optimal" if optimal else "feasible", x, objective, bound, seconds, "cbc")


def _cbc_bound(log: str, objective: float) -> float | None:
    """The upper bound CBC prints when it stops early; None when it printed none (it proved its gap)."""
    found = re.findall(r"Upper bound:\s+(-?[\d.e+]+)", log)
    return max(float(found[-1]), objective) if found else None


def solver_available(name: SolverName) -> bool:
    if name == "cbc":
        return bool(_cbc().available())
    with contextlib.suppress(ImportError):
        import highspy  # noqa: F401

        return True
    return False
