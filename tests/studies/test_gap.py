"""`prunecert gap` (solver/studies/gap.py, gap_report.py, solver/cli/gap.py): the study end to end on tiny instances,
its figures against independent engine solves, the width search against the points and against
brute force, monotonicity on the data, the rate fits on synthetic data, undecided solves, bad
flags, and the remote runner (one in-process job server) against the local one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import statistics
from pathlib import Path

import numpy as np
import pytest

from solver.cli import common
from solver.cli import gap as gap_cli
from solver.cli.app import main
from solver.core.parameters import SolveParameters
from solver.core.problem import MinError, PruningMode
from solver.core.result import SolveResult, SolveStatus
from solver.engine import solve
from solver.instances.generate import paper_problem
from solver.studies import gap, gap_report

N, W = PruningMode.NEURONS, PruningMode.WEIGHTS
MODES = {"neurons": N, "weights": W}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# d = 2, seeds 1 and 2: the optima at n = 2..4 are about 1.31 / 0.99 (neurons) and 1.21 / 0.95
# (weights at n = 4), so these give widths inside the grid, at its start and beyond it.
TINY = ["--d", "1", "2", "--n", "2..4", "6", "--seeds", "2", "--time-limit", "10"]
TINY_EPS = ["--eps", "1.25", "0.95", "0.5"]


def no_remote(args):
    pytest.fail("no remote expected")


def main_gap(*argv: str, connect=no_remote) -> int:
    """`prunecert gap ARGV...` in-process, its client made by ``connect(args)``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gap_cli, "connect", connect)
        return main(["gap", *argv])


def run_gap(capsys, *argv: str, connect=no_remote) -> tuple[int, str, str]:
    code = main_gap(*argv, connect=connect)
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def num(text: str) -> float | None:
    return float(text) if text else None


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny local study, run once: (out dir, stdout, stderr)."""
    out = tmp_path_factory.mktemp("gap") / "study"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main_gap(*TINY, *TINY_EPS, "--out", str(out))
    assert code == 0, stderr.getvalue()
    return out, stdout.getvalue(), stderr.getvalue()


# -- end to end -------------------------------------------------------------------------------


def test_tiny_study_writes_every_file(tiny):
    out, stdout, stderr = tiny
    for name in ("points.csv", "widths.csv", "fits.json", "gap.png", "summary.md"):
        assert (out / name).stat().st_size > 0, name
    png = (out / "gap.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 1000
    summary = (out / "summary.md").read_text()
    assert stdout == summary  # the summary is printed at the end
    for heading in ("## Error versus n", "## Fitted rates", "## Minimum width reaching eps"):
        assert heading in summary
    assert "Monotonicity check passed" in summary
    assert "Traceback" not in stderr
    assert "\r" not in stderr  # stderr is not a terminal: no progress bar (issue 13)

    points = read_csv(out / "points.csv")
    assert len(points) == 2 * 2 * 4 * 2  # d x mode x n x seed
    assert {(r["d"], r["mode"], r["n"], r["seed"]) for r in points} == {
        (str(d), m, str(n), str(s))
        for d in (1, 2)
        for m in ("neurons", "weights")
        for n in (2, 3, 4, 6)
        for s in (1, 2)
    }
    assert all(r["source"] == "grid" for r in points)

    widths = read_csv(out / "widths.csv")
    assert len(widths) == 2 * 2 * 2 * 3  # d x mode x seed x eps
    fits = json.loads((out / "fits.json").read_text())
    assert {(f["d"], f["mode"]) for f in fits["fits"]} == {
        (d, m) for d in (1, 2) for m in ("neurons", "weights")
    }
    assert fits["monotonicity_violations"] == []
    assert fits["study"]["ns"] == [2, 3, 4, 6]


def test_points_match_independent_engine_solves(tiny):
    out, _, _ = tiny
    for row in read_csv(out / "points.csv"):
        d, n, seed = int(row["d"]), int(row["n"]), int(row["seed"])
        problem = paper_problem(d, n, seed, MODES[row["mode"]], MinError())
        mine = solve(problem, SolveParameters(time_limit_seconds=10))
        assert row["status"] == mine.status.name == "OPTIMAL", row
        error, tol = float(row["error"]), float(row["tolerance"])
        # Both certified: each error is within its own tolerance above the same optimum.
        assert abs(error - mine.solution.error) <= max(tol, mine.tolerance), row
        assert float(row["bound"]) <= mine.solution.error and mine.objective_bound <= error
        assert row["backend"] == mine.stats.backend
        assert float(row["seconds"]) > 0


def test_min_width_is_the_smallest_grid_n_reaching_eps(tiny):
    out, _, _ = tiny
    points = read_csv(out / "points.csv")
    series: dict[tuple, dict[int, dict]] = {}
    for r in points:
        series.setdefault((r["d"], r["mode"], r["seed"]), {})[int(r["n"])] = r
    outcomes = set()
    for w in read_csv(out / "widths.csv"):
        eps = float(w["eps"])
        by_n = series[(w["d"], w["mode"], w["seed"])]
        reaching = [
            n for n, r in by_n.items() if r["status"] == "OPTIMAL" and float(r["error"]) <= eps
        ]
        expected = min(reaching) if reaching else None
        assert w["decided"] == "yes", w
        assert num(w["min_n"]) == expected, w
        # Every smaller grid n is certified above eps.
        for n, r in by_n.items():
            if expected is None or n < expected:
                assert float(r["bound"]) > eps, (w, r)
        if expected is not None and num(w["lower"]) is not None:
            assert num(w["lower"]) < expected == num(w["upper"])
        outcomes.add("not reached" if expected is None else ("first" if expected == 2 else "mid"))
    assert outcomes == {"not reached", "first", "mid"}  # the eps cover all three cases


def test_optimal_error_is_non_increasing_in_n(tiny):
    out, _, _ = tiny
    series: dict[tuple, list[dict]] = {}
    for r in read_csv(out / "points.csv"):
        series.setdefault((r["d"], r["mode"], r["seed"]), []).append(r)
    for rows in series.values():
        rows.sort(key=lambda r: int(r["n"]))
        for small, large in zip(rows, rows[1:]):
            assert small["status"] == large["status"] == "OPTIMAL"
            # error(m) <= opt(m) + tol(m) <= opt(n) + tol(m) <= error(n) + tol(m)
            assert float(large["error"]) <= float(small["error"]) + float(large["tolerance"])
            assert float(large["bound"]) <= float(small["error"])


def test_summary_table_figures(tiny):
    out, _, _ = tiny
    points = read_csv(out / "points.csv")
    summary = (out / "summary.md").read_text()
    cell = ("2", "weights", "4")
    errors = [float(r["error"]) for r in points if (r["d"], r["mode"], r["n"]) == cell]
    line = next(x for x in summary.splitlines() if x.startswith("| 2 | weights | 4 |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[3] == format(statistics.median(errors), ".4g")
    assert cells[4] == format(min(errors), ".4g") and cells[5] == format(max(errors), ".4g")
    assert cells[7] == "2/2"


# -- refinement: the exact width by binary search, against brute force --------------------------


def test_refine_finds_the_exact_width(capsys, tmp_path):
    out = tmp_path / "refine"
    eps = [0.95, 0.6]
    code, _, err = run_gap(
        capsys, "--d", "2", "--n", "2", "8", "--seeds", "2", "--eps", *map(str, eps),
        "--points-per-axis", "9", "--refine", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    points = read_csv(out / "points.csv")
    refined = [r for r in points if r["source"] == "refine"]
    assert refined and all(int(r["n"]) not in (2, 8) for r in refined)
    summary = (out / "summary.md").read_text()
    assert "binary-search round" in summary
    truths: dict[tuple, list[int]] = {}
    for w in read_csv(out / "widths.csv"):
        mode, seed, e = MODES[w["mode"]], int(w["seed"]), float(w["eps"])
        truth = None
        for n in range(1, 9):
            result = solve(paper_problem(2, n, seed, mode, MinError(), 9))
            assert result.status == SolveStatus.OPTIMAL
            if result.solution.error <= e:
                truth = n
                break
        assert truth is not None, "eps chosen to be reached by n = 8"
        assert num(w["exact_width"]) == truth, w
        assert num(w["min_n"]) == (2 if truth <= 2 else 8), w  # the grid's answer
        truths.setdefault((w["mode"], e), []).append(truth)
    for (mode, e), values in truths.items():
        line = next(x for x in summary.splitlines() if x.startswith(f"| 2 | {mode} | {e:g} |"))
        assert line.split("|")[-2].strip() == f"{statistics.median(values):g}", line


# -- fits ------------------------------------------------------------------------------------------


def test_fits_recover_known_rates():
    n = np.arange(4, 40, 4, dtype=float)
    power = gap.fit_power(n, 3.0 / n)
    assert power["slope"] == pytest.approx(-1.0)
    assert power["C"] == pytest.approx(3.0) and power["fixed_slope_C"] == pytest.approx(3.0)
    assert power["r2"] == pytest.approx(1.0) and power["fixed_slope_r2"] == pytest.approx(1.0)
    steeper = gap.fit_power(n, 2.0 * n**-1.5)
    assert steeper["slope"] == pytest.approx(-1.5) and steeper["C"] == pytest.approx(2.0)
    assert steeper["fixed_slope_r2"] < 1.0
    expo = gap.fit_exponential(n, 0.7 * np.exp(-0.3 * n))
    assert expo["rate"] == pytest.approx(0.3) and expo["C"] == pytest.approx(0.7)
    assert expo["r2"] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noisy = gap.fit_exponential(n, 0.7 * np.exp(-0.3 * n + rng.normal(0, 0.05, n.size)))
    assert noisy["rate"] == pytest.approx(0.3, abs=0.02) and 0.95 < noisy["r2"] < 1.0


def _point(d, mode, n, seed, status="OPTIMAL", error=None, bound=None, source="grid"):
    return gap.Point(
        gap.Instance(d, mode, n, seed), status, error, bound,
        None if error is None or bound is None else error - bound, None, 0.1, "cpsat", source,
    )  # fmt: skip


def test_fit_rates_use_only_optimal_positive_points():
    study = gap.Study(dims=(2,), ns=(4, 8, 16, 32), seeds=1, eps=(0.1,))
    points = [_point(2, N, n, 1, error=2.0 / n, bound=2.0 / n) for n in (4, 8, 16)]
    points += [_point(2, N, 32, 1, status="FEASIBLE", error=0.5, bound=0.01)]
    points += [
        _point(2, W, n, 1, error=math.exp(-0.5 * n), bound=math.exp(-0.5 * n)) for n in (4, 8, 16)
    ]
    points += [_point(2, W, 32, 1, error=0.0, bound=0.0)]
    fits = {f["mode"]: f for f in gap.fit_rates(study, points)}
    assert fits["neurons"]["points"] == 3 and fits["neurons"]["excluded_not_optimal"] == 1
    assert fits["neurons"]["power"]["slope"] == pytest.approx(-1.0)
    assert fits["weights"]["points"] == 3 and fits["weights"]["excluded_zero_error"] == 1
    assert fits["weights"]["exponential"]["rate"] == pytest.approx(0.5)


# -- decisions: undecided, inconsistent ----------------------------------------------------------


def test_undecided_solve_is_marked_not_used(tmp_path):
    problem = paper_problem(2, 48, 1, W)
    result = solve(problem, SolveParameters(time_limit_seconds=0.05))
    assert result.status in (SolveStatus.FEASIBLE, SolveStatus.NO_SOLUTION), result.status
    point = gap.Point.from_result(gap.Instance(2, W, 48, 1), result, "grid")
    assert not point.optimal
    error = point.error if point.error is not None else math.inf
    assert point.bound < error
    between = (point.bound + error) / 2 if math.isfinite(error) else point.bound + 1.0
    assert point.verdict(between) == gap.UNDECIDED
    if math.isfinite(error):
        assert point.verdict(error) == gap.REACHES  # a certified mask proves opt <= error
    if point.bound > 0:
        assert point.verdict(point.bound / 2) == gap.FAILS

    # Through the whole study (a stub runner replays the result): marked in every output.
    study = gap.Study(dims=(2,), ns=(48,), seeds=1, eps=(between,), time_limit=0.05)

    def replay(problems, params, key):
        assert params.time_limit_seconds == 0.05 and len(problems) == 2
        optimal = solve(problems[0])  # neurons: fast, OPTIMAL
        return [optimal, result]

    outcome = gap.run_study(study, replay)
    files = gap_report.write_outputs(outcome, tmp_path)
    row = next(r for r in read_csv(files["points"]) if r["mode"] == "weights")
    assert row["status"] == result.status.name and row["detail"]
    width = next(r for r in read_csv(files["widths"]) if r["mode"] == "weights")
    assert width["decided"] == "no" and width["min_n"] == "" and "48" in width["reason"]
    fit = next(f for f in outcome.fits if f["mode"] == "weights")
    assert fit["points"] == 0 and fit["excluded_not_optimal"] == 1
    summary = files["summary"].read_text()
    assert "not proven optimal" in summary and "| 2 | weights | 48 |" in summary
    assert files["plot"].read_bytes().startswith(PNG_MAGIC)


def test_width_decisions_from_certificates():
    study = gap.Study(dims=(2,), ns=(4, 8, 12, 16), seeds=1, eps=(0.1,))
    # n = 8 undecided between a certified failure (4) and a certified success (12).
    points = [
        _point(2, N, 4, 1, error=0.5, bound=0.5),
        _point(2, N, 8, 1, status="FEASIBLE", error=0.2, bound=0.05),
        _point(2, N, 12, 1, error=0.08, bound=0.08),
        _point(2, N, 16, 1, status="NO_SOLUTION", bound=0.01),
    ]
    w = next(w for w in gap.compute_widths(study, points) if w.mode == N)
    assert (w.decided, w.min_n, w.lower, w.upper, w.open_grid) == (False, None, 4, 12, (8,))
    assert "8 (FEASIBLE)" in w.reason
    assert gap_report._median_width([w], study.ns) == "8 .. 12"
    # An undecided n below a certified failure is settled by monotonicity.
    points[0] = _point(2, N, 4, 1, status="FEASIBLE", error=0.5, bound=0.01)
    points[1] = _point(2, N, 8, 1, status="FEASIBLE", error=0.2, bound=0.15)
    w = next(w for w in gap.compute_widths(study, points) if w.mode == N)
    assert (w.decided, w.min_n, w.lower, w.upper, w.exact) == (True, 12, 8, 12, None)
    # Certificates contradicting monotonicity are flagged, never resolved.
    bad = [_point(2, N, 4, 1, error=0.05, bound=0.05), _point(2, N, 8, 1, error=0.3, bound=0.3)]
    w = next(w for w in gap.compute_widths(study, bad) if w.mode == N)
    assert not w.decided and w.reason.startswith("inconsistent")
    assert len(gap.monotonicity_violations(bad)) == 1


# -- bad flags -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--n", "0"], "--n"),
        (["--n", "5..2"], "--n"),
        (["--n", "4..8:0"], "--n"),
        (["--n", "four"], "--n"),
        (["--seeds", "0"], "--seeds"),
        (["--d", "0"], "--d"),
        (["--eps", "0"], "--eps"),
        (["--eps", "0.1", "-0.5"], "--eps"),
        (["--time-limit", "-1"], "--time-limit"),
        (["--points-per-axis", "1"], "--points-per-axis"),
        (["--d", "17", "--n", "2"], "--d/--n"),
    ],
)
def test_bad_arguments(capsys, tmp_path, argv, flag):
    out = tmp_path / "never"
    code, stdout, err = run_gap(capsys, *argv, "--out", str(out))
    assert code == 2
    assert f"prunecert: error: {flag}: " in err, err
    assert "Traceback" not in err and stdout == ""
    assert not out.exists()


def test_every_bad_flag_is_reported(capsys, tmp_path):
    code, _, err = run_gap(capsys, "--n", "5..2", "--seeds", "0", "--eps", "-1", "--out", "x")
    assert code == 2
    assert [line.split(":")[2].strip() for line in err.splitlines()] == ["--n", "--seeds", "--eps"]


def test_width_grid_syntax():
    assert gap_cli.parse_widths(["4..16:4", "6", "3..5", "8,40"]) == (
        (3, 4, 5, 6, 8, 12, 16, 40),
        [],
    )
    assert gap_cli.parse_widths(["4..14:4"]) == ((4, 8, 12), [])
    _, bad = gap_cli.parse_widths(["4..", "x"])
    assert [v.field for v in bad] == ["--n", "--n"]


def test_wired_into_the_prunecert_command(capsys, tmp_path):
    from solver.cli import app as cli

    try:
        cli.build_parser().parse_args(["gap", "--help"])
    except SystemExit:
        pass
    help_text = capsys.readouterr().out
    if "A..B" not in help_text:
        pytest.skip("solver.cli.app does not wire `prunecert gap` yet")
    assert cli.main(["gap", "--n", "5..2", "--out", str(tmp_path / "x")]) == 2
    assert "prunecert: error: --n: " in capsys.readouterr().err
    code = cli.main(["gap", "--d", "1", "--n", "2", "3", "--seeds", "1", "--out", str(tmp_path)])
    assert code == 0 and (tmp_path / "gap.png").exists()


# -- remote ----------------------------------------------------------------------------------------


@pytest.mark.timeout(240)
@pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning")
def test_remote_study_matches_local_and_resumes(capsys, tmp_path, tiny):
    from prunecert_client import Client
    from solver.service.server import ServerConfig, create_server

    local_out, _, _ = tiny
    server = create_server(ServerConfig(port=0, data_dir=str(tmp_path / "jobs"), max_concurrent=1))
    try:
        address = f"127.0.0.1:{server.port}"

        def factory(args):
            assert args.remote == address
            return common.connect(args)

        out = tmp_path / "remote"
        argv = [*TINY, *TINY_EPS, "--out", str(out), "--remote", address]
        code, stdout, err = run_gap(capsys, *argv, connect=factory)
        assert code == 0, err
        assert "job " in err and "(resumed)" not in err
        local = read_csv(local_out / "points.csv")
        remote = read_csv(out / "points.csv")
        assert len(remote) == len(local)
        for a, b in zip(local, remote):
            assert (a["d"], a["mode"], a["n"], a["seed"]) == (b["d"], b["mode"], b["n"], b["seed"])
            assert a["status"] == b["status"] == "OPTIMAL"
            tol = max(float(a["tolerance"]), float(b["tolerance"]))
            assert abs(float(a["error"]) - float(b["error"])) <= tol, (a, b)
        assert read_csv(out / "widths.csv") == read_csv(local_out / "widths.csv")

        # The same command again finds the same job (request_id from the study): no new solves.
        with Client(address) as client:
            jobs_before, _ = client.list_jobs()
        code, stdout2, err2 = run_gap(capsys, *argv, connect=factory)
        assert code == 0 and "(resumed)" in err2
        with Client(address) as client:
            jobs_after, _ = client.list_jobs()
        assert [j.id for j in jobs_after] == [j.id for j in jobs_before]
        assert len(jobs_after) == 1 and jobs_after[0].request_id.startswith("gap-")
        assert read_csv(out / "points.csv") == remote
    finally:
        server.stop(0)


def test_request_id_depends_on_the_study_only():
    a = gap.Study(dims=(2,), ns=(4, 8), seeds=2, eps=(0.1,))
    b = gap.Study(dims=(2,), ns=(4, 8), seeds=2, eps=(0.05, 0.01))  # eps: same solves
    c = gap.Study(dims=(2,), ns=(4, 8), seeds=3, eps=(0.1,))
    d = gap.Study(dims=(2,), ns=(4, 8), seeds=2, eps=(0.1,), time_limit=5)
    key = [gap.request_id(gap.batch_key(s, s.plan())) for s in (a, b, c, d)]
    assert key[0] == key[1] and len(set(key)) == 3


def test_error_items_are_undecided():
    """An item that produced no result (a failed remote item) decides nothing."""
    failed = SolveResult(status=SolveStatus.UNSPECIFIED, detail="item failed: boom")
    point = gap.Point.from_result(gap.Instance(2, N, 4, 1), failed, "grid")
    assert point.status == gap.ERROR_STATUS and point.verdict(10.0) == gap.UNDECIDED
    assert point.verdict(1e-9) == gap.UNDECIDED
