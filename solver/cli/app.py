"""The `prunecert` command line: a thin layer over the engine (and, later, the client)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import grpc

from prunecert_client import ClientError
from solver.backends import REGISTRY, available_backends
from solver.cli import batch as batch_cli
from solver.cli import gap as gap_cli
from solver.core.errors import FieldViolation, InvalidProblemError, PruneCertError
from solver.core.parameters import CONTINUOUS_MODES, HEURISTIC_CHOICES, HEURISTICS, SolveParameters
from solver.core.problem import MinError, MinKept, Pareto, Problem, PruningMode
from solver.core.validate import validate_parameters, validate_problem
from solver.engine.dispatch import certify_and_compare
from solver.engine.interrupt import solve_interruptibly
from solver.instances.generate import paper_problem
from solver.io import convert
from solver.io.report import format_result

EXIT_USAGE = 2
# Remote errors that mean "your input", as locally: exit 2 like the local checks.
INPUT_ERRORS = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
)


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InvalidProblemError(FieldViolation("file", f"cannot read {path}: {reason}")) from exc
    except UnicodeDecodeError as exc:
        raise InvalidProblemError(FieldViolation("file", f"{path} is not UTF-8 text")) from exc


def _check_generate_flags(args: argparse.Namespace) -> None:
    bad = []
    for flag, value in (("--d", args.d), ("--n", args.n)):
        if value < 1:
            bad.append(FieldViolation(flag, f"must be at least 1, got {value}"))
    if args.points_per_axis is not None and args.points_per_axis < 2:
        bad.append(
            FieldViolation("--points-per-axis", f"must be at least 2, got {args.points_per_axis}")
        )
    if args.max_kept is not None and args.max_kept < 0:
        bad.append(FieldViolation("--max-kept", f"must be >= 0, got {args.max_kept}"))
    if args.objective == "min_kept":
        if args.max_error is None:
            bad.append(FieldViolation("--max-error", "is required with --objective min_kept"))
        elif not (math.isfinite(args.max_error) and args.max_error >= 0):
            bad.append(
                FieldViolation("--max-error", f"must be a finite number >= 0, got {args.max_error}")
            )
    if bad:
        raise InvalidProblemError(bad)


def _cmd_generate(args: argparse.Namespace) -> int:
    _check_generate_flags(args)
    objective = {
        "min_error": MinError(max_kept=args.max_kept),
        "min_kept": MinKept(max_error=args.max_error if args.max_error is not None else 0.0),
        "pareto": Pareto(max_kept=args.max_kept),
    }[args.objective]
    pruning = PruningMode.NEURONS if args.pruning == "neurons" else PruningMode.WEIGHTS
    problem = paper_problem(args.d, args.n, args.seed, pruning, objective, args.points_per_axis)
    validate_problem(problem)
    print(convert.to_json(convert.problem_to_proto(problem)))
    return 0


def _client(args: argparse.Namespace):
    from prunecert_client import Client, Tls

    token = None
    if args.token_file:
        token = _read_text(args.token_file).strip().splitlines()[0].strip()
    tls = Tls.from_file(args.tls_ca) if args.tls_ca else None
    return Client(args.remote, token=token, tls=tls)


def _solve_remote(args: argparse.Namespace, problem: Problem, params: SolveParameters):
    """Solve through the server, with a live progress line fed by SolveStream."""
    from tqdm import tqdm

    from prunecert_client import BoundUpdate, Finished, Incumbent

    error = bound = None
    result = None
    with (
        _client(args) as client,
        tqdm(
            bar_format="{desc}", file=sys.stderr, disable=not sys.stderr.isatty(), leave=False
        ) as line,
    ):
        for event in client.solve_stream(problem, params):
            if isinstance(event, Incumbent):
                error = event.error
            elif isinstance(event, BoundUpdate):
                bound = event.bound
            elif isinstance(event, Finished):
                result = event.result
            shown_error = f"{error:.6g}" if error is not None else "-"
            shown_bound = f"{bound:.6g}" if bound is not None else "-"
            gap = f"{error - bound:.3g}" if error is not None and bound is not None else "-"
            line.set_description_str(
                f"incumbent {shown_error}  bound {shown_bound}  gap {gap}  "
                f"{event.elapsed_seconds:.1f}s"
            )
    return result


def _cmd_solve(args: argparse.Namespace) -> int:
    problem = convert.problem_from_json(_read_text(args.problem))
    params = SolveParameters(
        time_limit_seconds=args.time_limit,
        backend=args.backend,
        threads=args.threads,
        seed=args.seed,
        tolerance=args.tolerance,
        row_generation=args.row_generation,
        cross_check=args.cross_check,
        continuous=args.continuous,
        heuristic=args.heuristic,
        heuristic_start=args.heuristic_start,
    )
    validate_parameters(params)  # the same field-named errors locally and remotely
    if args.remote:
        result = _solve_remote(args, problem, params)
    else:
        result = solve_interruptibly(problem, params)
    if args.json:
        print(convert.to_json(convert.result_to_proto(result)))
    else:
        print(format_result(problem, result))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from prunecert.v1 import jobs_pb2
    from solver.studies import compare

    request = convert.parse_json(_read_text(args.spec), jobs_pb2.SubmitJobRequest, what="spec")
    for flag, value in (("--time-limit", args.time_limit), ("--heuristic-time-limit",
                                                             args.heuristic_time_limit)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"{flag}: must be a positive number of seconds")
    from solver.jobs.spec import JobSpec

    total = JobSpec(request, limits=None).size()
    with tqdm(total=total, desc="instances", unit="inst", file=sys.stderr) as bar:
        rows = compare.run_comparison(
            request,
            heuristics=args.heuristics,
            time_limit=args.time_limit,
            heuristic_time_limit=args.heuristic_time_limit,
            on_instance=lambda _i: bar.update(1),
        )
    compare.write_csv(rows, args.out)
    print(compare.summary_table(rows))
    print(f"rows written to {args.out}")
    return 0


def _cmd_certify(args: argparse.Namespace) -> int:
    from prunecert.v1 import solve_pb2

    problem = convert.problem_from_json(_read_text(args.problem))
    mask_msg = convert.parse_json(_read_text(args.mask), solve_pb2.Mask, what="mask")
    mask = convert.parse_mask(mask_msg, problem)  # type: ignore[arg-type]
    if args.remote:
        with _client(args) as client:
            reply = client.certify(problem, mask, compare_with_optimum=args.compare)
        kept, error, optimum = reply.kept, reply.error, reply.optimum
    else:
        cert, optimum = certify_and_compare(
            problem,
            mask,
            SolveParameters(time_limit_seconds=args.time_limit),
            compare_with_optimum=args.compare,
        )
        kept, error = cert.kept, cert.error_upper
    print(f"kept        {kept}")
    print(f"error       {error:.12g}   (exact, rounded up)")
    if optimum is not None and optimum.solution is not None:
        best = optimum.solution.error
        status, bound = optimum.status.name, optimum.objective_bound
        print(f"optimum     {best:.12g}   ({status}, same budget, bound {bound:.12g})")
        ratio = f"{error / best:.6g}" if best > 0 else "-"
        print(f"gap         {max(0.0, error - best):.6g}   ratio {ratio}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import logging

    from solver.service.auth import read_tokens
    from solver.service.server import ServerConfig, is_loopback, serve

    tokens = frozenset()
    if args.tokens_file:
        try:
            tokens = read_tokens(args.tokens_file)
        except (OSError, ValueError) as exc:
            raise InvalidProblemError(FieldViolation("--tokens-file", str(exc))) from exc
    if not tokens and not is_loopback(args.host) and not args.insecure:
        raise InvalidProblemError(
            FieldViolation(
                "--host",
                f"refusing to serve on non-loopback address {args.host} without --tokens-file; "
                "pass --insecure to do it anyway",
            )
        )
    if (args.tls_cert is None) != (args.tls_key is None):
        raise InvalidProblemError(
            FieldViolation("--tls-cert", "--tls-cert and --tls-key go together")
        )
    cert = key = None
    if args.tls_cert:
        try:
            cert, key = Path(args.tls_cert).read_bytes(), Path(args.tls_key).read_bytes()
        except OSError as exc:
            raise InvalidProblemError(FieldViolation("--tls-cert", str(exc))) from exc
    if args.max_concurrent < 1:
        raise InvalidProblemError(FieldViolation("--max-concurrent", "must be at least 1"))
    if not args.max_time_limit > 0:
        raise InvalidProblemError(FieldViolation("--max-time-limit", "must be > 0"))
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    logging.getLogger("distributed").setLevel(logging.WARNING)
    config = ServerConfig(
        host=args.host,
        port=args.port,
        tokens=tokens,
        tls_cert=cert,
        tls_key=key,
        max_concurrent=args.max_concurrent,
        max_time_limit=args.max_time_limit,
        grace_seconds=args.grace,
        data_dir=args.data_dir,
        dask_scheduler=args.dask_scheduler,
    )
    return serve(config)


def _remote_flags(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    parser.add_argument(
        "--remote", metavar="HOST:PORT", default=default, help="use a PruneCert server"
    )
    parser.add_argument("--token-file", help="file holding the bearer token (with --remote)")
    parser.add_argument("--tls-ca", help="PEM certificate to trust for TLS (with --remote)")


def _cmd_backends(args: argparse.Namespace) -> int:
    for name, version in available_backends().items():
        stop = (
            ""
            if REGISTRY[name].supports_early_stop
            else "  (cancellation waits for the running solve; time limits apply)"
        )
        print(f"{name:10s} {version}{stop}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prunecert", description="Certified optimal pruning of small ReLU networks."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write a problem file (proto3 JSON) to stdout")
    gen_sub = gen.add_subparsers(dest="family", required=True)
    paper = gen_sub.add_parser("paper", help="the setting of arXiv 2603.02234")
    paper.add_argument("--d", type=int, required=True, help="input dimension")
    paper.add_argument("--n", type=int, required=True, help="hidden units")
    paper.add_argument("--seed", type=int, required=True)
    paper.add_argument("--pruning", choices=["neurons", "weights"], required=True)
    paper.add_argument(
        "--objective", choices=["min_error", "min_kept", "pareto"], default="min_error"
    )
    paper.add_argument("--max-kept", type=int, default=None, help="budget (min_error, pareto)")
    paper.add_argument("--max-error", type=float, default=None, help="error bound (min_kept)")
    paper.add_argument("--points-per-axis", type=int, default=None, help="default 41 (d<=2), 11")
    paper.set_defaults(func=_cmd_generate)

    sol = sub.add_parser("solve", help="solve a problem file and print its certified result")
    sol.add_argument("problem", help="problem file (proto3 JSON), or - for stdin")
    sol.add_argument("--json", action="store_true", help="print the SolveResult as proto3 JSON")
    sol.add_argument("--time-limit", type=float, default=None, metavar="SECONDS")
    sol.add_argument("--backend", default=None, help="solver backend (default: auto)")
    sol.add_argument("--threads", type=int, default=None)
    sol.add_argument("--seed", type=int, default=None)
    sol.add_argument("--tolerance", type=float, default=None, help="absolute (default 1e-6)")
    sol.add_argument(
        "--cross-check",
        default=None,
        metavar="BACKEND",
        help="solve again with a second backend and compare (auto: another installed one)",
    )
    sol.add_argument(
        "--continuous",
        choices=CONTINUOUS_MODES,
        default=None,
        help="evaluate: also the mask's exact max error over the whole box; optimize: certify "
        "the optimum over the whole box (bias-free problems on a box grid)",
    )
    sol.add_argument(
        "--heuristic",
        choices=HEURISTIC_CHOICES,
        default=None,
        help="run a heuristic instead of the exact solve (its mask's exact error, no bound)",
    )
    sol.add_argument(
        "--heuristic-start",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="start the exact search from the best heuristic mask (default: for n >= 48)",
    )
    sol.add_argument(
        "--row-generation",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="solve on an active set of points (default: by problem size)",
    )
    _remote_flags(sol)
    sol.set_defaults(func=_cmd_solve)

    cmp_ = sub.add_parser(
        "compare", help="every heuristic beside the certified optimum, for a batch spec"
    )
    cmp_.add_argument("spec", help="a SubmitJobRequest in proto3 JSON (family or problems)")
    cmp_.add_argument("--out", default="compare.csv", help="CSV file (default compare.csv)")
    cmp_.add_argument(
        "--time-limit", type=float, default=None, metavar="SECONDS", help="per exact solve"
    )
    cmp_.add_argument(
        "--heuristic-time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="per heuristic run (default: the heuristic's own, a few seconds for local search)",
    )
    cmp_.add_argument(
        "--heuristics", nargs="+", choices=HEURISTICS, default=list(HEURISTICS), metavar="NAME"
    )
    cmp_.set_defaults(func=_cmd_compare)

    cer = sub.add_parser("certify", help="a mask's exact error, optionally against the optimum")
    cer.add_argument("problem", help="problem file (proto3 JSON)")
    cer.add_argument("mask", help="mask file (proto3 JSON of prunecert.v1.Mask)")
    cer.add_argument(
        "--compare", action="store_true", help="also solve for the optimum, same budget"
    )
    cer.add_argument("--time-limit", type=float, default=None, metavar="SECONDS")
    _remote_flags(cer)
    cer.set_defaults(func=_cmd_certify)

    srv = sub.add_parser("serve", help="run the gRPC solver service")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=50051)
    srv.add_argument("--tokens-file", help="bearer tokens, one per line; required off loopback")
    srv.add_argument("--tls-cert", help="PEM certificate chain (with --tls-key)")
    srv.add_argument("--tls-key", help="PEM private key")
    srv.add_argument("--max-concurrent", type=int, default=2, help="solver processes")
    srv.add_argument("--max-time-limit", type=float, default=300.0, metavar="SECONDS")
    srv.add_argument(
        "--grace", type=float, default=10.0, help="seconds in-flight solves get on shutdown"
    )
    srv.add_argument("--insecure", action="store_true", help="allow non-loopback without tokens")
    srv.add_argument(
        "--data-dir",
        default=str(Path.home() / ".local" / "share" / "prunecert"),
        help="the job store's directory (SQLite)",
    )
    srv.add_argument(
        "--dask-scheduler",
        default=None,
        metavar="ADDRESS",
        help="use this Dask scheduler (default: a local cluster sized to the machine)",
    )
    srv.set_defaults(func=_cmd_serve)

    batch_cli.add_parser(sub, _remote_flags)
    gap_cli.add_parser(sub, _remote_flags)

    back = sub.add_parser("backends", help="list the installed solver backends")
    back.set_defaults(func=_cmd_backends)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "batch", False):
            return batch_cli.run(args, _client, _read_text)
        if getattr(args, "gap", False):
            return gap_cli.run(args, _client)
        return args.func(args)
    except InvalidProblemError as exc:
        for violation in exc.violations:
            print(f"prunecert: error: {violation}", file=sys.stderr)
        return EXIT_USAGE
    except (PruneCertError, ValueError) as exc:
        print(f"prunecert: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ClientError as exc:
        for field, description in exc.violations or [("", str(exc))]:
            print(
                f"prunecert: error: {field + ': ' if field else ''}{description}", file=sys.stderr
            )
        return EXIT_USAGE if exc.code in INPUT_ERRORS else 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
