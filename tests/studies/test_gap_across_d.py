"""The gap study across dimensions (solver/studies/gap.py, gap_report.py): per-mode width caps,
growing width by width until no seed is proven, the rates against d with the theory's K / d
shape, the minimum-width table against d, brackets drawn as whiskers, and the grid-versus-box
check against an independent dense evaluation of the box.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from solver.cli.app import main
from solver.core.parameters import SolveParameters
from solver.core.result import Solution, SolveResult, SolveStatus
from solver.engine import solve
from solver.studies import gap, gap_report
from tests.studies.test_gap import PNG_MAGIC, N, W, _point

# -- the plan ------------------------------------------------------------------------------------


def test_max_n_caps_one_mode_and_is_checked():
    study = gap.Study(dims=(2,), ns=(4, 8, 16, 32), seeds=2, eps=(0.1,), max_n=(("weights", 8),))
    assert study.widths(N) == (4, 8, 16, 32) and study.widths(W) == (4, 8)
    plan = study.plan()
    assert {i.n for i in plan if i.mode == W} == {4, 8}
    assert {i.n for i in plan if i.mode == N} == {4, 8, 16, 32}
    assert len(plan) == (4 + 2) * 2
    bad = gap.Study(dims=(2,), ns=(4,), seeds=1, eps=(0.1,), max_n=(("edges", 8), ("weights", 0)))
    fields = [(v.field, v.description) for v in bad.violations()]
    assert ("--max-n", "unknown mode 'edges': neurons or weights") in fields
    assert any(f == "--max-n" and "weights: must be at least 1" in m for f, m in fields)


def test_study_points_per_axis_by_dimension():
    assert [gap.study_points_per_axis(d) for d in (1, 2, 3, 4, 5)] == [41, 41, 11, 7, 7]
    study = gap.Study(dims=(4,), ns=(2,), seeds=1, eps=(0.1,))
    problem = gap.Instance(4, N, 2, 1).problem(study)
    assert problem.domain.points_per_axis == 7


def _fake_result(status: SolveStatus, error: float, bound: float) -> SolveResult:
    """A certified-looking result for the planner (the study reads status, error and bound)."""
    solution = Solution(mask=None, error=error, kept=1)  # type: ignore[arg-type]
    return SolveResult(status=status, solution=solution, objective_bound=bound, tolerance=0.0)


def test_until_unproven_stops_a_series_after_a_width_without_proof():
    study = gap.Study(dims=(2, 3), ns=(4, 8, 16, 32), seeds=2, eps=(0.1,), until_unproven=True)
    batches = []

    def solve_many(problems, params, key):
        batch = [(p.network.d, p.pruning, p.network.n) for p in problems]
        batches.append(batch)
        out = []
        for d, mode, n in batch:
            # d = 3 weights: nothing proven from n = 8 on; everything else proven.
            proven = not (d == 3 and mode == W and n >= 8)
            status = SolveStatus.OPTIMAL if proven else SolveStatus.FEASIBLE
            out.append(_fake_result(status, 1.0 / n, 1.0 / n if proven else 0.0))
        return out

    result = gap.run_study(study, solve_many)
    assert [sorted({n for _, _, n in b}) for b in batches] == [[4], [8], [16], [32]]
    solved = {(p.instance.d, p.instance.mode, p.instance.n) for p in result.points}
    assert (3, W, 8) in solved and (3, W, 16) not in solved and (3, W, 32) not in solved
    assert (3, N, 32) in solved and (2, W, 32) in solved
    assert result.stopped == [
        "d=3 weights: no seed proven optimal at n=8; wider n (16, 32) not solved"
    ]
    # Unsolved widths are undecided, never guessed.
    width = next(w for w in result.widths if (w.d, w.mode, w.seed) == (3, W, 1))
    assert not width.decided and "not solved" in width.reason
    assert result.wall_seconds >= 0


# -- rates and tables against d -------------------------------------------------------------------


def _synthetic(rates: dict[int, float], slope: float = -1.0) -> gap.StudyResult:
    """Proven optima error = 2 n^slope (neurons) and exp(-c n) (weights, c = rates[d])."""
    ns = (4, 8, 12, 16)
    study = gap.Study(dims=tuple(rates), ns=ns, seeds=1, eps=(0.1, 0.02))
    points = []
    for d, c in rates.items():
        for n in ns:
            e_n, e_w = 2.0 * n**slope, math.exp(-c * n)
            points += [_point(d, N, n, 1, error=e_n, bound=e_n)]
            points += [_point(d, W, n, 1, error=e_w, bound=e_w)]
    return gap.StudyResult(
        study=study,
        points=points,
        widths=gap.compute_widths(study, points),
        fits=gap.fit_rates(study, points),
        violations=gap.monotonicity_violations(points),
    )


def test_rates_against_d_recover_known_rates_and_the_k_over_d_shape():
    result = _synthetic({1: 0.6, 2: 0.3, 3: 0.2, 4: 0.15})  # exactly 0.6 / d
    rows = gap_report.rates_against_d(result)
    assert [r["d"] for r in rows] == [1, 2, 3, 4]
    for r in rows:
        assert r["neurons_slope"] == pytest.approx(-1.0)
        assert r["weights_rate"] == pytest.approx(0.6 / r["d"])
        assert r["weights_rate_k_over_d"] == pytest.approx(0.6 / r["d"])
    # Not of the K / d shape: K is the least-squares fit, so the reference differs.
    off = gap_report.rates_against_d(_synthetic({1: 0.3, 2: 0.3}))
    k = (0.3 / 1 + 0.3 / 2) / (1 + 1 / 4)
    assert [r["weights_rate_k_over_d"] for r in off] == pytest.approx([k, k / 2])


def test_min_width_table_against_d():
    # Weights at d = 1: exp(-0.6 n) <= 0.1 from n = 4 (0.091), <= 0.02 from n = 8; d = 2:
    # exp(-0.3 n) reaches 0.1 at n = 8 (0.091), 0.02 at n = 16 (0.008); neurons 2/n: 0.1 needs
    # n >= 20, beyond the grid.
    summary = gap_report.summary_markdown(_synthetic({1: 0.6, 2: 0.3}))
    section = summary.split("## Minimum width reaching eps, against d")[1]
    assert "| mode | eps | d = 1 | d = 2 |" in section
    assert "| weights | 0.1 | 4 | 8 |" in section
    assert "| weights | 0.02 | 8 | 16 |" in section
    assert "| neurons | 0.1 | > 16 | > 16 |" in section
    assert "| 1 | -1.000 | 0.600 | 0.600 |" in summary.split("## Rates versus d")[1]


def test_outputs_for_several_dimensions(tmp_path):
    files = gap_report.write_outputs(_synthetic({1: 0.6, 2: 0.3, 3: 0.2}), tmp_path)
    for key in ("plot", "plot_d1", "plot_d2", "plot_d3", "rates"):
        assert files[key].read_bytes().startswith(PNG_MAGIC), key
    assert "box" not in files  # no --box-sample


# -- brackets --------------------------------------------------------------------------------------


def test_unproven_points_are_whiskers_from_bound_to_error():
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    study = gap.Study(dims=(2,), ns=(4, 8, 16), seeds=2, eps=(0.1,))
    points = [_point(2, N, n, s, error=1.0 / n, bound=1.0 / n) for n in (4, 8) for s in (1, 2)]
    points += [_point(2, N, 16, 1, status="FEASIBLE", error=0.09, bound=0.03)]
    points += [_point(2, N, 16, 2, status="FEASIBLE", error=0.08, bound=0.0)]
    result = gap.StudyResult(study, points, gap.compute_widths(study, points), [], [])
    assert [p.instance.seed for p in gap_report.brackets(result, 2, N)] == [1, 2]
    fig = Figure()
    ax = fig.subplots()
    gap_report._panel(ax, result, 2)
    lines = [c for c in ax.collections if isinstance(c, LineCollection)]
    segments = [seg for coll in lines for seg in coll.get_segments()]
    whiskers = sorted((float(a[0]), float(a[1]), float(b[1])) for a, b in segments)
    # The bound of 0 is drawn down to a visible floor (error * 1e-3), never as an optimum.
    expected = [(16, 0.03, 0.09), (16, 0.08e-3, 0.08)]
    assert np.allclose(sorted(whiskers), sorted(expected), rtol=1e-12)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "neurons: bracket [bound, certified error]" in labels
    # The median line uses proven optima only: n = 16 is not on it.
    line = next(ln for ln in ax.get_lines() if ln.get_label() == "neurons: median optimum")
    assert list(line.get_xdata()) == [4, 8]


# -- the grid versus the box ---------------------------------------------------------------------


def test_box_sample_against_a_dense_evaluation_of_the_box(tmp_path):
    study = gap.Study(dims=(2,), ns=(3, 5), seeds=2, eps=(0.5,), box_sample=2, time_limit=30)

    def local(problems, params, key):
        return [solve(p, params) for p in problems]

    result = gap.run_study(study, local)
    assert len(result.box_checks) == 4  # 2 seeds x 2 modes, at the widest optimal n
    for check in result.box_checks:
        assert check.instance.n == 5 and check.box_error is not None
        problem = check.instance.problem(study)
        mask = solve(problem, SolveParameters(time_limit_seconds=30)).solution.mask
        # Independent: the pruned network against the target on a dense grid of the box (a
        # lower bound on the box maximum, above the 41 x 41 grid's).
        axis = np.linspace(-1.0, 1.0, 401)
        dense = np.array(list(itertools.product(axis, axis)))
        target = np.maximum(dense @ problem.target.weights, 0.0)
        dense_error = float(np.max(np.abs(problem.network.evaluate(dense, mask) - target)))
        assert check.grid_error <= dense_error + 1e-12
        assert dense_error <= check.box_error + 1e-12
        assert check.box_error - dense_error < 0.02  # a 0.005 mesh: the maximum is near
    files = gap_report.write_outputs(result, tmp_path)
    assert files["box"].read_text().splitlines()[0].startswith("d,mode,n,seed,grid_error")
    assert "## The grid versus the box" in files["summary"].read_text()


# -- the command -------------------------------------------------------------------------------


def test_the_command_takes_the_new_flags(capsys, tmp_path):
    code = main(
        [
            "gap", "--d", "1", "2", "--n", "2", "3", "--seeds", "1", "--max-n", "weights=2",
            "--until-unproven", "--box-sample", "1", "--eps", "0.9", "--progress-every", "0",
            "--out", str(tmp_path),
        ]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "## Rates versus d" in out and "Wall time" in out
    assert (tmp_path / "gap_d1.png").exists() and (tmp_path / "box.csv").exists()
    rows = (tmp_path / "points.csv").read_text().splitlines()[1:]
    assert not any(r.startswith(("1,weights,3,", "2,weights,3,")) for r in rows)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--max-n", "weights"], "--max-n: cannot read 'weights': expected MODE=N"),
        (["--max-n", "edges=4"], "--max-n: unknown mode 'edges'"),
        (["--box-sample", "-1"], "--box-sample: must be >= 0"),
    ],
)
def test_bad_new_flags_name_the_flag(capsys, tmp_path, argv, message):
    code = main(["gap", "--n", "2", "--seeds", "1", "--out", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err


def test_report_only_rebuilds_the_same_report_from_the_results(capsys, tmp_path):
    argv = ["gap", "--d", "1", "2", "--n", "2", "3", "--seeds", "1", "--until-unproven",
            "--box-sample", "1", "--eps", "0.9", "--progress-every", "0", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    first = capsys.readouterr().out
    summary = (tmp_path / "summary.md").read_text()
    (tmp_path / "summary.md").unlink()
    (tmp_path / "gap_d1.png").unlink()
    assert main([*argv, "--report-only"]) == 0
    assert capsys.readouterr().out == first == (tmp_path / "summary.md").read_text() == summary
    assert (tmp_path / "gap_d1.png").exists()
    # Another study's flags: refused, naming --out; nothing there: refused too.
    assert main([*argv[:-2], "--seeds", "2", "--out", str(tmp_path), "--report-only"]) == 2
    assert "--out" in capsys.readouterr().err
    assert main([*argv[:-2], "--out", str(tmp_path / "empty"), "--report-only"]) == 2
    assert "no results to report" in capsys.readouterr().err


def test_summary_skips_widths_a_stopped_series_never_solved():
    study = gap.Study(dims=(2,), ns=(4, 8, 16), seeds=1, eps=(0.1,), until_unproven=True)
    points = [_point(2, N, n, 1, error=1.0 / n, bound=1.0 / n) for n in (4, 8, 16)]
    points += [_point(2, W, 4, 1, status="FEASIBLE", error=0.5, bound=0.1)]
    result = gap.StudyResult(study, points, gap.compute_widths(study, points), [], [])
    result.stopped = gap.stopped_series(study, points)
    summary = gap_report.summary_markdown(result)
    assert "| 2 | weights | 4 |" in summary and "| 2 | weights | 8 |" not in summary
    assert "d=2 weights: no seed proven optimal at n=4; wider n (8, 16) not solved" in summary


def test_optima_proven_only_to_the_absolute_tolerance_are_not_fitted_or_drawn_as_optima():
    study = gap.Study(dims=(1,), ns=(4, 8, 16, 32), seeds=1, eps=(0.1,))
    points = [_point(1, N, n, 1, error=2.0 / n, bound=2.0 / n * 0.999) for n in (4, 8, 16)]
    # OPTIMAL within the 1e-6 absolute tolerance, but its logarithm is unknown.
    points += [_point(1, N, 32, 1, error=1e-8, bound=0.0)]
    assert [p.resolved for p in points] == [True, True, True, False]
    [fit] = [f for f in gap.fit_rates(study, points) if f["mode"] == "neurons"]
    assert fit["points"] == 3 and fit["excluded_unresolved"] == 1
    assert fit["power"]["slope"] == pytest.approx(-1.0)
    result = gap.StudyResult(study, points, gap.compute_widths(study, points), [fit], [])
    assert [p.instance.n for p in gap_report.brackets(result, 1, N)] == [32]
