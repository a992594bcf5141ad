"""`prunecert gap`: the structured-vs-unstructured gap study from the command line
(solver.studies.gap holds the study, solver.studies.gap_report its outputs; this is the argument
parsing and the two runners, each with its progress bar).

Locally the engine solves the instances in-process, one at a time. With ``--remote`` each batch
of instances (the error-vs-n grid, then any --refine rounds) is one durable job on the server,
submitted with a request_id hashed from the study's parameters: re-running the same command after
a crash (of the client or of the server, restarted on the same --data-dir) finds the same job,
waits for what is left and reads every result, instead of solving again.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from solver.cli.common import EXIT_INTERRUPTED, connect, remote_flags
from solver.cli.progress import DEFAULT_EVERY, Counter, progress_flag
from solver.core.errors import FieldViolation, InvalidProblemError, PruneCertError
from solver.core.parameters import SolveParameters
from solver.core.problem import Problem
from solver.core.result import SolveResult, SolveStatus
from solver.engine.interrupt import solve_interruptibly
from solver.io import convert
from solver.studies import gap, gap_report

DEFAULT_N = ["4", "8", "12", "16", "24", "32"]

DESCRIPTION = """\
Certified optimal error versus width n on the paper family (arXiv 2603.02234; MinError without
budget), for neuron pruning and for weight pruning, and the certified minimum width reaching each
--eps. For one seed the networks are nested (width n = the first n units of any wider one), so
the optimum is non-increasing in n: n reaches eps when a certified mask has exact error <= eps,
fails when the rigorous lower bound exceeds eps, and is otherwise reported undecided.

With --remote HOST:PORT the solves run on a PruneCert server as durable batch jobs whose
request_id is derived from the study's parameters: re-running the same command (after a crash,
or with other --eps) resumes or reuses the same job instead of solving again.

Writes to --out: points.csv (one row per d, mode, n, seed), widths.csv (per d, mode, seed, eps),
fits.json, gap.png and summary.md; prints the summary.
"""

N_HELP = (
    "widths: integers (4 8 12), ranges A..B (every integer from A to B) or A..B:STEP "
    "(A, A+STEP, ... up to B), mixed freely; default: 4 8 12 16 24 32. "
    "The minimum width is searched over this grid (exact where the grid is contiguous)"
)


def parse_widths(tokens: list[str]) -> tuple[tuple[int, ...], list[FieldViolation]]:
    """The --n grid from its tokens: sorted, distinct; with violations named --n."""
    values: set[int] = set()
    bad = []
    for token in (t for raw in tokens for t in raw.split(",") if t.strip()):
        text = token.strip()
        rng = re.fullmatch(r"([+-]?\d+)\.\.([+-]?\d+)(?::([+-]?\d+))?", text)
        if rng:
            a, b = int(rng.group(1)), int(rng.group(2))
            step = int(rng.group(3)) if rng.group(3) else 1
            if step < 1:
                bad.append(FieldViolation("--n", f"step must be at least 1 in {text!r}"))
            elif a > b:
                bad.append(FieldViolation("--n", f"empty range {text!r}: A..B needs A <= B"))
            else:
                values.update(range(a, b + 1, step))
        elif re.fullmatch(r"[+-]?\d+", text):
            values.add(int(text))
        else:
            bad.append(
                FieldViolation("--n", f"cannot read {text!r}: expected N, A..B or A..B:STEP")
            )
    return tuple(sorted(values)), bad


def parse_caps(tokens: list[str]) -> tuple[tuple[tuple[str, int], ...], list[FieldViolation]]:
    """--max-n MODE=N ...: per-mode width caps; violations named --max-n."""
    caps: dict[str, int] = {}
    bad = []
    for token in tokens:
        match = re.fullmatch(r"(\w+)=([+-]?\d+)", token.strip())
        if match is None:
            bad.append(
                FieldViolation(
                    "--max-n", f"cannot read {token!r}: expected MODE=N, e.g. weights=64"
                )
            )
        else:
            caps[match.group(1)] = int(match.group(2))
    return tuple(sorted(caps.items())), bad


def study_from_args(args: argparse.Namespace) -> gap.Study:
    """The study the flags describe; InvalidProblemError naming each bad flag."""
    ns, bad = parse_widths(args.n)
    max_n, bad_caps = parse_caps(args.max_n)
    bad += bad_caps
    study = gap.Study(
        dims=tuple(sorted(set(args.d))),
        ns=ns,
        seeds=args.seeds,
        eps=tuple(dict.fromkeys(args.eps)),
        time_limit=args.time_limit,
        points_per_axis=args.points_per_axis,
        refine=args.refine,
        max_n=max_n,
        until_unproven=args.until_unproven,
        box_sample=args.box_sample,
    )
    if bad:  # unreadable --n: the other flags' checks still apply, the plan's do not
        bad += [v for v in study.violations() if v.field != "--n" and v.field != "--d/--n"]
    else:
        bad = study.violations()
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        bad.append(FieldViolation("--out", f"{out} exists and is not a directory"))
    if bad:
        raise InvalidProblemError(bad)
    return study


def remote_solver(client, every: float = DEFAULT_EVERY) -> gap.SolveMany:
    """Each batch as one server job (request_id from the batch key: re-runs resume it)."""

    def solve_many(problems: list[Problem], params: SolveParameters, key: str) -> list[SolveResult]:
        request_id = gap.request_id(key)
        job = client.submit_problems(problems, params, request_id=request_id)
        if job.total_items != len(problems):
            raise PruneCertError(
                f"job {job.id} (request_id {request_id}) has {job.total_items} items, "
                f"expected {len(problems)}: not this study's job"
            )
        resumed = " (resumed)" if job.finished_items or job.state != "JOB_STATE_QUEUED" else ""
        print(f"job {job.id}: {job.total_items} solves{resumed}", file=sys.stderr)
        if not job.done:
            with Counter(job.total_items, "solve", every=every) as counter:
                for event in client.watch_job(job.id):
                    job = event.job
                    counter.set(
                        job.finished_items, failed=job.failed_items, running=job.running_items
                    )
        job = client.get_job(job.id)
        expected = [convert.problem_to_proto(p) for p in problems]
        results: list[SolveResult | None] = [None] * len(problems)
        for msg in client.job_results_messages(job.id):
            index = int(msg.index)
            if not 0 <= index < len(problems) or msg.problem != expected[index]:
                raise PruneCertError(
                    f"job {job.id} (request_id {request_id}) holds other problems than this "
                    "study's: not this study's job"
                )
            outcome = msg.WhichOneof("outcome")
            if outcome == "solve_result":
                results[index] = convert.parse_result(msg.solve_result)
            else:
                results[index] = SolveResult(
                    status=SolveStatus.UNSPECIFIED, detail=f"item failed: {msg.error}"
                )
        missing = sum(r is None for r in results)
        state = job.state.removeprefix("JOB_STATE_")
        if missing:
            print(
                f"job {job.id} ended {state} with {missing} items unsolved; "
                "they are reported undecided",
                file=sys.stderr,
            )
        absent = SolveResult(
            status=SolveStatus.UNSPECIFIED, detail=f"no result: job {state} {job.detail}".strip()
        )
        return [r if r is not None else absent for r in results]

    return solve_many


def local_solver(every: float = DEFAULT_EVERY) -> gap.SolveMany:
    """The engine in-process, one solve at a time, with progress on stderr."""

    def solve_many(problems: list[Problem], params: SolveParameters, key: str) -> list[SolveResult]:
        results = []
        with Counter(len(problems), "solve", every=every) as counter:
            for problem in problems:
                results.append(solve_interruptibly(problem, params, reraise=True))
                counter.advance(n=problem.network.n, mode=gap.MODE_NAMES[problem.pruning])
        return results

    return solve_many


def run(args: argparse.Namespace) -> int:
    """Run the study the flags describe; InvalidProblemError naming each bad flag."""
    study = study_from_args(args)
    if args.report_only:
        out = Path(args.out)
        try:
            result = gap_report.load_result(study, out)
        except FileNotFoundError as exc:
            raise InvalidProblemError(
                [FieldViolation("--out", f"no results to report: {exc.filename} is missing")]
            ) from None
        except (ValueError, KeyError) as exc:
            raise InvalidProblemError([FieldViolation("--out", str(exc))]) from None
        files = gap_report.write_outputs(result, out)
        print(files["summary"].read_text(encoding="utf-8"), end="")
        return 0
    try:
        if args.remote:
            with connect(args) as client:
                result = gap.run_study(study, remote_solver(client, args.progress_every))
        else:
            result = gap.run_study(study, local_solver(args.progress_every))
    except KeyboardInterrupt:
        hint = (
            " (the job goes on on the server: the same command resumes it)" if args.remote else ""
        )
        print(f"prunecert: interrupted{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    files = gap_report.write_outputs(result, Path(args.out))
    print(files["summary"].read_text(encoding="utf-8"), end="")
    print(f"wrote {', '.join(str(p) for p in files.values())}", file=sys.stderr)
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "gap",
        help="certified error vs width, neurons vs weights (the paper's gap)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--d", type=int, nargs="+", default=[2], metavar="D", help="input dimensions (default 2)"
    )
    p.add_argument("--n", nargs="+", default=DEFAULT_N, metavar="N|A..B[:STEP]", help=N_HELP)
    p.add_argument(
        "--seeds", type=int, default=5, metavar="S", help="seeds 1..S per (d, mode) (default 5)"
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="per solve (default 60; 0: none). Solves it stops are reported undecided",
    )
    p.add_argument(
        "--eps",
        type=float,
        nargs="+",
        default=[0.1, 0.05, 0.02],
        metavar="EPS",
        help="errors for the minimum-width search (default 0.1 0.05 0.02)",
    )
    p.add_argument(
        "--points-per-axis",
        type=int,
        default=None,
        metavar="K",
        help="grid points per axis (default 41 for d <= 2, 11 for d = 3, 7 from d = 4)",
    )
    p.add_argument(
        "--max-n",
        nargs="+",
        default=[],
        metavar="MODE=N",
        help="cap one mode's widths, e.g. weights=64 (default: every --n for both modes)",
    )
    p.add_argument(
        "--until-unproven",
        action="store_true",
        help="solve width by width and stop a (d, mode) after a width where no seed was proven "
        "optimal (wider ones would only add brackets; default: solve the whole grid at once)",
    )
    p.add_argument(
        "--box-sample",
        type=int,
        default=0,
        metavar="K",
        help="per (d, mode), evaluate K optimal masks exactly over the continuous box to show "
        "how far the grid error is from the box error (default 0: none)",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="solve nothing: rebuild the report (summary, tables, figures) from the results a "
        "run of the same study left in --out (default: off)",
    )
    p.add_argument(
        "--refine",
        action="store_true",
        help="binary-search the integers between grid points for the exact minimum width "
        "(extra solves, in batches; default: off)",
    )
    p.add_argument(
        "--out", default="gap-study", metavar="DIR", help="output directory (default gap-study)"
    )
    progress_flag(p)
    remote_flags(p)
    p.set_defaults(func=run)
    return p
