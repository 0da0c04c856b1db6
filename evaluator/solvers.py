"""Integer programs as arrays, solved by HiGHS or CBC under a wall-clock limit that holds.

The model is kept as a sparse matrix by column (:class:`MatrixModel`, :class:`ColumnMatrix`) because numpy builds
it in milliseconds and both solvers take it without a Python call per variable:
HiGHS through ``highspy.passModel``, CBC through an MPS file written straight from
the arrays (building PuLP objects and writing their MPS cost more than CBC's solve). Neither solver's own
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

Status = Literal["optimal", "feasible", "infeasible", "no_solution"]
SolverName = Literal["highs", "cbc"]
GRACE_SECONDS = 0.5
LOG = logging.getLogger(__name__)
"""At DEBUG level (``grants --verbose``), HiGHS writes its own log, to stderr."""
_NATIVE_STDOUT = threading.Lock()


@dataclass(frozen=True)
class ColumnMatrix:
    """A sparse matrix stored by column (compressed sparse column), the layout HiGHS takes and MPS is written in.

    Not scipy's: importing ``scipy.sparse`` costs a quarter of a second, more than
    building and handing over the whole model at 10,000 proposals, and these few
    operations are all the solvers need.
    """

    start: np.ndarray
    index: np.ndarray
    value: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def from_entries(
        cls, rows: np.ndarray, cols: np.ndarray, values: np.ndarray, shape: tuple[int, int]
    ) -> ColumnMatrix:
        """From coordinates in any order; entries at the same place add up."""
        order = np.lexsort((rows, cols))
        rows, cols, values = rows[order], cols[order], np.asarray(values, dtype=np.float64)[order]
        new = np.ones(len(rows), dtype=bool)
        new[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
        first = np.flatnonzero(new)
        values = np.add.reduceat(values, first) if len(first) else values
        start = np.zeros(shape[1] + 1, dtype=np.int32)
        np.cumsum(np.bincount(cols[first], minlength=shape[1]), out=start[1:])
        return cls(start, rows[first].astype(np.int32), values, shape)

    def column(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The rows and values of column ``k``."""
        window = slice(self.start[k], self.start[k + 1])
        return self.index[window], self.value[window]

    def dense(self) -> np.ndarray:
        out = np.zeros(self.shape)
        out[self.index, np.repeat(np.arange(self.shape[1]), np.diff(self.start))] = self.value
        return out


@dataclass(frozen=True)
class MatrixModel:
    """Maximise ``cost @ x`` subject to ``row_low <= matrix @ x <= row_high`` and column bounds."""

    cost: np.ndarray
    matrix: ColumnMatrix
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


def solve_without_rows(
    model: MatrixModel, dropped: list[list[int]], deadline: float, lp_method: str = "ipm"
) -> tuple[SolverResult, list[SolverResult]]:
    """A linear model, then the same model without each set of rows, each warm-started from the first's basis.

    Freeing rows keeps the basis primal feasible, so the simplex needs a few pivots
    where a cold solve would start over; the duals of freed rows come back as zero.
    """
    import highspy

    began = time.monotonic()
    highs = _new_highs(LOG.isEnabledFor(logging.DEBUG))
    highs.setOptionValue("solver", lp_method)
    highs.passModel(_highs_lp(model))
    base = _run_highs(highs, model, deadline, began)
    highs.setOptionValue("solver", "simplex")
    results = []
    for rows in dropped:
        if base.duals is None or time.monotonic() >= deadline:
            results.append(SolverResult("no_solution", None, None, None, 0.0, "highs"))
            continue
        index = np.asarray(rows, dtype=np.int32)
        free = np.full(len(rows), highspy.kHighsInf)
        highs.changeRowsBounds(len(rows), index, -free, free)
        results.append(_run_highs(highs, model, deadline, time.monotonic()))
        highs.changeRowsBounds(len(rows), index, model.row_low[index], model.row_high[index])
    return base, results


def _highs_lp(model: MatrixModel) -> Any:
    import highspy

    rows, cols = model.shape
    csc = model.matrix
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = cols, rows
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = model.cost.astype(np.float64)
    lp.col_lower_, lp.col_upper_ = model.col_low.astype(np.float64), model.col_high.astype(np.float64)
    lp.row_lower_, lp.row_upper_ = model.row_low.astype(np.float64), model.row_high.astype(np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = csc.start, csc.index, csc.value
    if model.integer.any():
        kinds = [highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger]
        lp.integrality_ = [kinds[int(flag)] for flag in model.integer]
    return lp


def _solve_highs(
    model: MatrixModel, deadline: float, gap: float, start: np.ndarray | None, options: dict[str, str]
) -> SolverResult:
    import highspy

    began = time.monotonic()
    highs = _new_highs(LOG.isEnabledFor(logging.DEBUG))
    for name, value in options.items():
        highs.setOptionValue(name, value)
    highs.setOptionValue("mip_rel_gap", gap)
    highs.passModel(_highs_lp(model))
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = start.astype(np.float64)
        highs.setSolution(solution)
    result = _run_highs(highs, model, deadline, began)
    if start is not None and result.status == "optimal" and result.gap > 2 * gap and time.monotonic() < deadline:
        # HiGHS 1.16 can call a warm start "optimal" without searching (a dual bound far above it,
        # as on a five-proposal model in tests/test_allocation_optimal.py): solved again from cold.
        return _solve_highs(model, deadline, gap, None, options)
    return result


def _run_highs(highs: Any, model: MatrixModel, deadline: float, began: float) -> SolverResult:
    """Run under HiGHS's own limit and a watchdog that cancels it half a second past the deadline."""
    highs.setOptionValue("time_limit", max(deadline - time.monotonic(), 0.01))
    highs.HandleUserInterrupt = True
    watchdog = threading.Timer(max(deadline - time.monotonic(), 0.0) + GRACE_SECONDS, highs.cancelSolve)
    watchdog.start()
    try:
        with _native_stdout_to(2) if LOG.isEnabledFor(logging.DEBUG) else contextlib.nullcontext():
            highs.run()
    finally:
        watchdog.cancel()
    return _highs_result(highs, model, time.monotonic() - began)


def _new_highs(log: bool) -> Any:
    """A HiGHS instance that prints nothing on stdout, where ``--json`` promises one document.

    HiGHS (1.16) prints its banner from native code as the object is created, before any
    option can switch output off; so the creation runs with file descriptor 1 on stderr
    when its log is wanted (``--verbose``), and on the null device otherwise.
    """
    import highspy

    with _native_stdout_to(2 if log else None):
        highs = highspy.Highs()
    highs.setOptionValue("output_flag", log)
    return highs


@contextlib.contextmanager
def _native_stdout_to(target: int | None) -> Iterator[None]:
    """Point file descriptor 1 at ``target`` (None: the null device) for native code.

    One thread at a time, or a restore would be lost.
    """
    with _NATIVE_STDOUT:
        sys.stdout.flush()
        saved = os.dup(1)
        sink = os.open(os.devnull, os.O_WRONLY) if target is None else target
        os.dup2(sink, 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            if target is None:
                os.close(sink)


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


def cbc_path() -> str:
    """The CBC binary bundled with PuLP (imported only when CBC is to run: a tenth of a second of start-up)."""
    from pulp.apis import coin_api

    return str(coin_api.pulp_cbc_path)


def write_mps(model: MatrixModel, path: Path) -> None:
    """The model in free MPS, written straight from the arrays: columns ``x<k>``, rows ``r<i>``.

    Every column gets explicit bounds, since MPS readers give an integer column
    without them an upper bound of 1; rows bounded on both sides are ``L`` rows with a range.
    """
    low, high = model.row_low, model.row_high
    kinds = np.where(low == high, "E", np.where(np.isfinite(high), "L", np.where(np.isfinite(low), "G", "N")))
    lines = ["NAME allocation", "ROWS", " N obj"]
    lines += [f" {kind} r{i}" for i, kind in enumerate(kinds.tolist()) if kind != "N"]
    lines.append("COLUMNS")
    csc = model.matrix
    written = kinds != "N"
    integer = np.flatnonzero(model.integer)
    for k in np.flatnonzero(~model.integer).tolist():
        lines += _column(csc, model.cost, written, k)
    lines.append(" M 'MARKER' 'INTORG'")
    for k in integer.tolist():
        lines += _column(csc, model.cost, written, k)
    lines.append(" M 'MARKER' 'INTEND'")
    lines.append("RHS")
    rhs = np.where(kinds == "G", low, high)
    lines += [f" rhs r{i} {float(rhs[i])!r}" for i in np.flatnonzero(written)]
    ranged = np.flatnonzero((kinds == "L") & np.isfinite(low))
    lines.append("RANGES")
    lines += [f" rng r{i} {float(high[i] - low[i])!r}" for i in ranged]
    lines.append("BOUNDS")
    lines += [_column_bounds(k, lo, hi) for k, (lo, hi) in enumerate(zip(model.col_low, model.col_high, strict=True))]
    lines.append("ENDATA\n")
    path.write_text("\n".join(lines))


def _column(csc: ColumnMatrix, cost: np.ndarray, written: np.ndarray, k: int) -> list[str]:
    rows, values = csc.column(k)
    entries = zip(rows.tolist(), values.tolist(), strict=True)
    return [f" x{k} obj {float(cost[k])!r}", *(f" x{k} r{i} {v!r}" for i, v in entries if v != 0 and written[i])]


def _column_bounds(k: int, low: float, high: float) -> str:
    if low == high:
        return f" FX bnd x{k} {float(low)!r}"
    lower = f" LO bnd x{k} {float(low)!r}" if np.isfinite(low) else f" MI bnd x{k}"
    return lower + (f"\n UP bnd x{k} {float(high)!r}" if np.isfinite(high) else "")


def _solve_cbc(model: MatrixModel, deadline: float, gap: float, start: np.ndarray | None) -> SolverResult:
    """CBC with its preprocessing off, and HiGHS if it crashes.

    CBC 2.10 (.3 as bundled, .8 as in Debian alike) preprocesses some small models with
    equality rows into a wrong "Optimal" (a regression test keeps one); without
    preprocessing it can crash on an infeasible one, which HiGHS then solves.
    """
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="grants-cbc-") as folder:
        mps, solution, log = (Path(folder) / name for name in ("model.mps", "model.sol", "cbc.log"))
        write_mps(model, mps)
        seconds = max(deadline - time.monotonic(), 0.01)
        limit = ["-ratio", str(gap), "-sec", f"{seconds:.3f}"]  # CPU seconds: run_until holds the wall-clock deadline
        command = [cbc_path(), str(mps), "-max", "-preprocess", "off", *limit]
        if start is not None:
            command += _cbc_start(Path(folder) / "start.mst", start)
        command += ["-threads", "1", "-solve", "-solution", str(solution)]
        code = run_until(command, log, deadline)
        text = solution.read_text() if solution.exists() else ""
        if not text and code not in (0, -signal.SIGKILL) and time.monotonic() < deadline:
            LOG.warning("CBC ended with code %s and no solution; HiGHS solves the model instead", code)
            return replace(_solve_highs(model, deadline, gap, start, {}), solver="highs (CBC failed)")
        if not text:
            return SolverResult("no_solution", None, None, None, time.monotonic() - began, "cbc")
        return _cbc_result(model, text, log.read_text(), time.monotonic() - began)


def _cbc_start(path: Path, start: np.ndarray) -> list[str]:
    """A MIP start in CBC's own solution format."""
    lines = ["Stopped on time - objective value 0\n"]
    lines += [f"{k} x{k} {value!r} 0\n" for k, value in enumerate(start.tolist())]
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


def _cbc_result(model: MatrixModel, solution: str, log: str, seconds: float) -> SolverResult:
    first, *rows = solution.splitlines()
    if "infeasible" in first.lower():
        return SolverResult("infeasible", None, None, None, seconds, "cbc")
    if not first.startswith("Optimal") and "objective value" not in first:
        return SolverResult("no_solution", None, None, None, seconds, "cbc")
    x = np.zeros(model.shape[1], dtype=np.float64)
    for row in rows:
        fields = row.removeprefix("**").split()  # "**" marks a value outside its bounds
        if len(fields) >= 3 and fields[1].startswith("x"):
            x[int(fields[1][1:])] = float(fields[2])
    if np.any(np.abs(x[model.integer] - np.rint(x[model.integer])) > 1e-6):
        return SolverResult("no_solution", None, None, None, seconds, "cbc")
    objective = float(model.cost @ x)
    status: Status = "optimal" if first.startswith("Optimal") else "feasible"
    return SolverResult(status, x, objective, _cbc_bound(log, objective), seconds, "cbc")


def _cbc_bound(log: str, objective: float) -> float | None:
    """The upper bound CBC prints when it stops early; None when it printed none (it proved its gap)."""
    found = re.findall(r"Upper bound:\s+(-?[\d.e+]+)", log)
    return max(float(found[-1]), objective) if found else None


def solver_available(name: SolverName) -> bool:
    if name == "cbc":
        return os.access(cbc_path(), os.X_OK)
    with contextlib.suppress(ImportError):
        import highspy  # noqa: F401

        return True
    return False
