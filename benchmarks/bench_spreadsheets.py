"""Reading proposals from XLSX and CSV against reading the same proposals from JSON, in one run.

Run by hand from the root: ``python -m benchmarks.bench_spreadsheets [N]`` (default 10,000).
The proposals are :func:`benchmarks.bench_eligibility.generated` (about five partners each),
written by our own export (``grants convert``): JSON, a CSV with one row per partner, and an
XLSX workbook with a proposals sheet and a partners sheet. Each file is read with
``load_proposals``, as every command reads it; the JSON read is the yardstick, so the
figures to compare are the ratios, not the seconds (the machine is shared).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from benchmarks.bench_eligibility import generated, timed
from evaluator.reports.proposal_files import write_proposals
from rules.load import load_proposals
from rules.proposal import Proposal


def main(n: int) -> None:
    proposals = [Proposal.model_validate(p) for p in generated(n)]
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        (base / "proposals.json").write_text(json.dumps([p.model_dump(mode="json") for p in proposals]))
        write_proposals(proposals, base / "proposals.csv")
        write_proposals(proposals, base / "proposals.xlsx")
        partners = sum(len(p.partners) for p in proposals)
        print(f"{n:,} proposals, {partners:,} partner rows")
        _, baseline = timed(lambda: load_proposals(base / "proposals.json"))
        print(f"JSON  {baseline:6.2f} s  1.0x  {(base / 'proposals.json').stat().st_size / 1e6:5.1f} MB")
        for name in ("proposals.csv", "proposals.xlsx"):
            read, seconds = timed(lambda name=name: load_proposals(base / name))  # type: ignore[misc]
            assert read == proposals, f"{name} did not read back to the same proposals"
            size = (base / name).stat().st_size / 1e6
            print(f"{name.split('.')[1].upper():5} {seconds:6.2f} s  {seconds / baseline:.1f}x  {size:5.1f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
