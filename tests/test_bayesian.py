"""The Bayesian ranking: the model recovers a known truth, its diagnostics catch what they should,
and ``grants rank --bayes`` shows every seed call's grey zone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.simulated_scores import validate
from evaluator.sampler import effective_size, split_rhat

GRANTS = Path(sys.executable).parent / "grants"
CALLS = sorted(p for p in (Path(__file__).resolve().parent.parent / "calls").iterdir() if (p / "call.yaml").is_file())


def grants(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GRANTS, *map(str, args)], capture_output=True, text=True, check=False)


def bayes_json(folder: Path, *options: str) -> dict[str, Any]:
    done = grants("rank", folder / "call.yaml", folder / "proposals.yaml", "--bayes", "--json", *options)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def test_ninety_percent_intervals_cover_the_true_merit_about_ninety_percent_of_the_time() -> None:
    found = validate(calls=30, seed=11, draws=400, warmup=200)
    coverage = np.mean([r.covered for r in found])
    assert 0.85 <= coverage <= 0.95
    assert np.mean([r.offset_error for r in found]) < 0.8  # true offsets have an sd of 1.2 points on the total


def test_expected_ranks_follow_the_truth_better_than_the_plain_mean() -> None:
    found = validate(calls=20, seed=5, draws=400, warmup=200)
    assert np.mean([r.bayes_rho for r in found]) > np.mean([r.mean_rho for r in found])


def test_rhat_flags_chains_that_disagree_and_passes_chains_that_agree() -> None:
    rng = np.random.default_rng(0)
    agreeing = rng.normal(size=(4, 1000, 1))
    apart = agreeing + np.array([0.0, 0.0, 0.0, 1.0])[:, None, None]
    assert split_rhat(agreeing)[0] < 1.01
    assert split_rhat(apart)[0] > 1.1


def test_effective_size_of_an_autocorrelated_chain_is_what_theory_says() -> None:
    rng = np.random.default_rng(1)
    rho, n = 0.8, 20_000
    chain = np.zeros((2, n, 1))
    for t in range(1, n):
        chain[:, t] = rho * chain[:, t - 1] + rng.normal(size=(2, 1))
    expected = 2 * n * (1 - rho) / (1 + rho)
    assert effective_size(chain)[0] == pytest.approx(expected, rel=0.2)


@pytest.mark.parametrize("folder", CALLS, ids=lambda p: p.name)
def test_every_seed_call_ranks_with_intervals_and_shows_its_grey_zone(folder: Path) -> None:
    data = bayes_json(folder)
    fundable = {e["id"] for e in data["entries"] if e["fundable"]}
    bayes = data["bayesian"]
    assert {e["id"] for e in bayes["entries"]} == fundable
    assert bayes["diagnostics"]["converged"] and not bayes["warnings"]
    line = {line["list_name"]: line["funded"] for line in bayes["lines"]}
    for e in bayes["entries"]:
        assert e["rank_90"]["low"] <= e["rank_50"]["low"] <= e["rank_50"]["high"] <= e["rank_90"]["high"]
        assert 0 <= e["p_above_line"] <= 1 and 0 <= e["sucra"] <= 1
        n = line[e["list_name"]]
        low, high = e["rank_zone"]["low"], e["rank_zone"]["high"]
        assert e["zone"] == ("in" if high <= n else "out" if low > n else "grey")
    assert sum(line.values()) > 0


def test_the_funding_line_is_where_the_calls_own_allocation_puts_it() -> None:
    folder = next(p for p in CALLS if p.name == "interreg_europe_2016_call2")
    allocated = grants("allocate", folder / "call.yaml", folder / "proposals.yaml", "--json")
    assert allocated.returncode == 0, allocated.stderr
    funded = len(json.loads(allocated.stdout)["grants"])
    assert bayes_json(folder)["bayesian"]["lines"][0]["funded"] == funded


def test_the_same_seed_gives_the_same_ranks_and_a_rankogram_sums_to_one() -> None:
    folder = next(p for p in CALLS if p.name == "cosme_cluster_2020")
    first = bayes_json(folder, "--rankogram", "ESCP4X-033")["bayesian"]
    again = bayes_json(folder, "--rankogram", "ESCP4X-033")["bayesian"]
    assert first == again
    assert sum(first["rankograms"]["ESCP4X-033"]) == pytest.approx(1, abs=1e-3)
    assert "ESCP4X-033" in [e["id"] for e in first["entries"] if e["zone"] == "grey"]


def test_a_rankogram_for_a_proposal_that_is_not_fundable_is_refused() -> None:
    folder = next(p for p in CALLS if p.name == "cosme_cluster_2020")
    done = grants("rank", folder / "call.yaml", folder / "proposals.yaml", "--rankogram", "ESCP4X-042")
    assert done.returncode == 2
    assert "ESCP4X-042: not a fundable proposal" in done.stderr


def test_the_report_draws_the_caterpillar_and_the_rankogram_of_the_chosen_proposal(tmp_path: Path) -> None:
    folder = next(p for p in CALLS if p.name == "cosme_cluster_2020")
    done = grants(
        "report",
        folder / "call.yaml",
        folder / "proposals.yaml",
        "--out",
        tmp_path,
        "--bayes",
        "--rankogram",
        "ESCP4X-033",
    )
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    bayes = json.loads((tmp_path / "bayesian.json").read_text(encoding="utf-8"))
    assert 'aria-label="expected rank with 50% and 90% credible intervals, list main"' in page
    assert 'aria-label="rankogram of ESCP4X-033"' in page
    assert page.count(": expected rank ") == len(bayes["entries"])  # one caterpillar row per fundable proposal
    assert f"funding line: {bayes['lines'][0]['funded']} of 25" in page


def call_with_bayesian(tmp_path: Path, settings: str) -> Path:
    """The COSME call with a ``ranking.bayesian`` block (it has no ``ranking`` block of its own)."""
    text = (CALLS[1] / "call.yaml").read_text(encoding="utf-8")
    assert CALLS[1].name == "cosme_cluster_2020" and "\nranking:" not in text
    path = tmp_path / "call.yaml"
    path.write_text(f"{text.rstrip()}\nranking:\n  bayesian: {settings}\n", encoding="utf-8")
    return path


def test_a_call_that_asks_for_it_ranks_each_criterion_without_being_told(tmp_path: Path) -> None:
    call = call_with_bayesian(tmp_path, "{scores: criteria}")
    done = grants("rank", call, CALLS[1] / "proposals.yaml", "--json")
    assert done.returncode == 0, done.stderr
    bayes = json.loads(done.stdout)["bayesian"]
    assert bayes["scores"] == "criteria"
    assert {"sigma:relevance", "sigma:impact"} <= set(bayes["diagnostics"]["hyper"])
    assert bayes["notes"] == ["3 scores on impact marked not applicable are left out of its model"]
    assert bayes["diagnostics"]["converged"]


def test_chains_too_short_to_trust_are_flagged(tmp_path: Path) -> None:
    call = call_with_bayesian(tmp_path, "{chains: 2, draws: 100, warmup: 50}")
    done = grants("rank", call, CALLS[1] / "proposals.yaml")
    assert done.returncode == 0, done.stderr
    assert "warning the chains have not converged" in done.stdout
    assert "run more draws before relying on these ranks" in done.stdout
