"""`prunecert batch ...`: durable jobs through a server (the CLI's thin layer over the client).

Every sub-command talks to a server: each runs inside ``common.connect``, which imports the
client. The generated messages (protobuf, no grpc) are needed to build the parser.

Scripting contract (issue 13 item 8): `submit` and `certify` print the job id as the last line
of stdout and return at once; `--follow` instead watches the job to its end and prints its
results, stdout holding the results alone. JSON output has numbers as numbers and times in
RFC 3339; result lines, in every format, carry the item's origin (d, n, pruning, and the family
seed or instance).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Iterable, Iterator
from typing import TextIO

from google.protobuf import json_format

from prunecert.v1 import jobs_pb2, problem_pb2, solve_pb2
from solver.cli.common import EXIT_FAILURE, EXIT_INTERRUPTED, connect, read_text, remote_flags
from solver.cli.cubes import cube_threads_flag
from solver.cli.progress import Counter, progress_flag
from solver.core.errors import FieldViolation, InvalidProblemError
from solver.core.parameters import (
    CUBE_RULES,
    DEFAULT_CUBE_RULE,
    DEFAULT_CUBE_THREADS,
    DEFAULT_CUBES,
    DEFAULT_TOLERANCE,
    DistributedParameters,
    SolveParameters,
)
from solver.core.validate import validate_parameters
from solver.io import convert
from solver.jobs.times import fill_job_times, item_seconds

DEFAULT_SERVER = "127.0.0.1:50051"


def _describe(job) -> str:
    return (
        f"{job.id}  {job.state.removeprefix('JOB_STATE_')}  {job.kind}  "
        f"{job.finished_items}/{job.total_items} done ({job.failed_items} failed, "
        f"{job.running_items} running){'  ' + job.detail if job.detail else ''}"
    )


# The Job's JSON keys in field-number order, without the deprecated epoch doubles.
_JOB_KEYS = tuple(
    f.json_name for f in jobs_pb2.Job.DESCRIPTOR.fields if not f.GetOptions().deprecated
)


def job_json(job) -> dict:
    """The Job message in proto3 JSON for scripts: every field present (zero counts included),
    counts as numbers, times in RFC 3339 (null until they happen), without the deprecated
    epoch doubles, which duplicate the times for old binary clients only."""
    message = fill_job_times(job.to_message())
    data = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    return {key: data.get(key) for key in _JOB_KEYS}


def _watch(client, job_id: str, every: float) -> object:
    """Progress (counts, rate, ETA on a terminal; plain lines elsewhere) until the job is final;
    returns the job."""
    job = client.get_job(job_id)
    with Counter(job.total_items, "item", every=every) as counter:
        for event in client.watch_job(job_id):
            job = event.job
            counter.set(job.finished_items, failed=job.failed_items, running=job.running_items)
    return job


def _apply_parameters(args, request: jobs_pb2.SubmitJobRequest) -> None:
    """--time-limit, --backend and --tolerance over the spec's parameters (the flags win),
    checked here so that a bad value names its flag before anything is sent."""
    params = SolveParameters(
        time_limit_seconds=args.time_limit,
        backend=args.backend,
        tolerance=args.tolerance,
        distributed=_distributed_flags(args),
    )
    validate_parameters(params)
    if bad := params.distributed_violations():
        raise InvalidProblemError(bad)
    # MergeFrom copies only the fields set (non-default in proto3): the unset flags keep the
    # spec's values.
    request.parameters.MergeFrom(convert.parameters_to_proto(params))


def _distributed_flags(args) -> DistributedParameters | None:
    """`batch submit --distributed [--cubes N] [--cube-rule R]`: a distributed job (one
    problem in the spec, solved as cubes on the server's cluster; solver.jobs.distributed)."""
    if not getattr(args, "distributed", False):
        for field, flag in (
            ("cubes", "--cubes"),
            ("cube_rule", "--cube-rule"),
            ("cube_threads", "--cube-threads"),
        ):
            if getattr(args, field, None) is not None:
                raise InvalidProblemError(
                    FieldViolation(
                        f"parameters.distributed.{field}", "only with --distributed", flag
                    )
                )
        return None
    return DistributedParameters(
        cubes=DEFAULT_CUBES if args.cubes is None else args.cubes,
        cube_rule=args.cube_rule or DEFAULT_CUBE_RULE,
        cube_threads=DEFAULT_CUBE_THREADS if args.cube_threads is None else args.cube_threads,
    )


# -- result rows ---------------------------------------------------------------------------------

FORMATS = ("text", "json", "csv")
_ORIGIN = ("index", "d", "n", "seed", "instance", "pruning")
# One CSV schema per job kind; a solve's "error" is its mask's exact error, a failed item's
# reason is in "detail" with status FAILED.
SOLVE_COLUMNS = (
    *_ORIGIN,
    *("status", "error", "bound", "gap", "kept", "total", "seconds", "backend", "detail"),
)
CERTIFY_COLUMNS = (
    *_ORIGIN,
    *("status", "kept", "total", "error", "optimum", "ratio", "gap", "seconds", "detail"),
)


def _short(enum_type, value: int, prefix: str) -> str:
    return enum_type.Name(value).removeprefix(prefix)


def item_row(msg: jobs_pb2.JobItemResult) -> dict[str, object]:
    """One item's figures by column name (None: not applicable); floats unrounded."""
    row: dict[str, object] = {"index": msg.index, "seconds": item_seconds(msg)}
    if msg.HasField("origin"):  # a server of an earlier version sends none
        origin = msg.origin
        row |= {
            "d": origin.d,
            "n": origin.n,
            "seed": origin.seed if origin.HasField("seed") else None,
            "instance": origin.instance if origin.HasField("instance") else None,
            "pruning": _short(problem_pb2.PruningMode, origin.pruning, "PRUNING_MODE_").lower(),
            "total": origin.full_kept,
        }
    outcome = msg.WhichOneof("outcome")
    if outcome == "solve_result":
        r = msg.solve_result
        solved = r.HasField("solution")
        row |= {
            "status": _short(solve_pb2.SolveStatus, r.status, "SOLVE_STATUS_"),
            "error": r.solution.error if solved else None,
            "bound": r.objective_bound,
            "gap": r.tolerance if solved else None,
            "kept": r.solution.kept if solved else None,
            "backend": r.stats.backend,
            "detail": r.detail,
        }
    elif outcome == "certify_result":
        c = msg.certify_result
        compared = c.HasField("optimum")
        optimum = c.optimum
        row |= {
            # The optimum's status for its budget; without a comparison the mask's figures are
            # exact and there is no status to give.
            "status": _short(solve_pb2.SolveStatus, optimum.status, "SOLVE_STATUS_")
            if compared
            else None,
            "kept": c.kept,
            "error": c.error,
            "optimum": optimum.solution.error
            if compared and optimum.HasField("solution")
            else None,
            "ratio": c.ratio if compared else None,
            "gap": c.gap if compared else None,
            "detail": optimum.detail if compared else "",
        }
    else:
        row |= {"status": "FAILED", "detail": msg.error}
    return row


def item_json(msg: jobs_pb2.JobItemResult) -> dict:
    """A results line: index, the origin's fields (d, n, pruning, fullKept, seed or instance, as
    proto3 JSON names them), the problem, the result (or error) and the seconds."""
    line: dict = {"index": msg.index}
    if msg.HasField("origin"):
        origin = json_format.MessageToDict(msg.origin, always_print_fields_with_no_presence=True)
        line.update(origin)
    line["problem"] = json_format.MessageToDict(msg.problem)
    outcome = msg.WhichOneof("outcome")
    if outcome == "error":
        line["error"] = msg.error
    elif outcome is not None:
        line["result"] = json_format.MessageToDict(getattr(msg, outcome))
    line["seconds"] = item_seconds(msg)
    return line


def _cell(value: object) -> str:
    # str() of a float is its shortest round-trip repr: the CSV loses no digit.
    return "" if value is None else str(value)


def _text(value: object, spec: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, spec or ".10g") if math.isfinite(value) else str(value)
    return str(value)


_TEXT_SOLVE = (
    ("index", 6, ""), ("d", 3, ""), ("n", 4, ""), ("seed", 5, ""), ("instance", 8, ""), ("pruning", 8, ""),
    ("status", 11, ""), ("kept", 6, ""), ("total", 6, ""), ("error", 16, ".10g"),
    ("bound", 16, ".10g"), ("seconds", 8, ".3f"),
)  # fmt: skip
_TEXT_CERTIFY = (
    ("index", 6, ""), ("d", 3, ""), ("n", 4, ""), ("seed", 5, ""), ("instance", 8, ""), ("pruning", 8, ""),
    ("kept", 6, ""), ("total", 6, ""), ("error", 16, ".10g"), ("optimum", 16, ".10g"),
    ("ratio", 10, ".4g"), ("status", 11, ""),
)  # fmt: skip


class ResultsWriter:
    """Writes items in one format: ``text`` (an aligned table; a failed item's reason after
    its row), ``json`` (one JSON object per line) or ``csv`` (a header row, then one row per
    item; the csv module quotes)."""

    def __init__(self, out: TextIO, fmt: str, kind: str, header: bool = True):
        self.out, self.fmt, self.kind, self.header = out, fmt, kind, header
        self._csv = None

    def _columns(self):
        return CERTIFY_COLUMNS if self.kind == "certify" else SOLVE_COLUMNS

    def _text_columns(self):
        return _TEXT_CERTIFY if self.kind == "certify" else _TEXT_SOLVE

    def write_all(self, messages: Iterable[jobs_pb2.JobItemResult]) -> int:
        count = 0
        for msg in messages:
            if count == 0 and self.header:
                self._write_header()
            self.write(msg)
            count += 1
        if count == 0 and self.header and self.fmt != "json":
            self._write_header()  # an empty table still says what it would hold
        return count

    def _write_header(self) -> None:
        if self.fmt == "csv":
            csv.writer(self.out, lineterminator="\n").writerow(self._columns())
        elif self.fmt == "text":
            self.out.write(
                " ".join(f"{name:>{width}s}" for name, width, _ in self._text_columns()).rstrip()
                + "\n"
            )

    def write(self, msg: jobs_pb2.JobItemResult) -> None:
        if self.fmt == "json":
            self.out.write(json.dumps(item_json(msg)) + "\n")
            return
        row = item_row(msg)
        if self.fmt == "csv":
            if self._csv is None:
                self._csv = csv.writer(self.out, lineterminator="\n")
            self._csv.writerow([_cell(row.get(name)) for name in self._columns()])
            return
        line = " ".join(
            f"{_text(row.get(name), spec):>{width}s}" for name, width, spec in self._text_columns()
        )
        if row["status"] == "FAILED":
            line += f"  {row['detail']}"
        self.out.write(line.rstrip() + "\n")


def _format_flag(p: argparse.ArgumentParser, default: str, what: str, follow: bool) -> None:
    p.add_argument(
        "--format",
        choices=FORMATS,
        # With --follow the default is applied late: an explicit --format without --follow
        # is refused rather than ignored.
        default=None if follow else default,
        help=f"{what}: text (a table), json (one object per line) or csv (a header row; "
        f"columns index, d, n, seed, instance, pruning, status, ...) (default {default})",
    )


# -- commands ------------------------------------------------------------------------------------


def _check_follow_flags(args) -> None:
    """--format says how --follow prints the results: alone it would be silently ignored."""
    if args.format is not None and not args.follow:
        raise InvalidProblemError(
            FieldViolation(
                "--format",
                "needs --follow (without it only the job id is printed; "
                "use batch results --format)",
                "--format",
            )
        )


def _submitted(args, client, request: jobs_pb2.SubmitJobRequest) -> int:
    """Submit; then print the job id as stdout's last line, or with --follow watch the job to
    its end and print its results (stdout then holds the results alone)."""
    job = client.submit_job(request)
    what = "masks" if job.kind == "certify" else "items"
    print(f"job {job.id}: submitted {job.total_items} {what} ({job.kind})", file=sys.stderr)
    if not args.follow:
        print(job.id)
        return 0
    try:
        job = _watch(client, job.id, args.progress_every)
        writer = ResultsWriter(sys.stdout, args.format or "text", job.kind)
        writer.write_all(client.job_results_messages(job.id))
    except KeyboardInterrupt:
        print(
            f"prunecert: interrupted; job {job.id} keeps running on the server "
            f"(prunecert batch watch {job.id}, or batch cancel {job.id})",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print(_describe(job), file=sys.stderr)
    return 0 if job.state == "JOB_STATE_SUCCEEDED" else EXIT_FAILURE


def cmd_submit(args, client) -> int:
    _check_follow_flags(args)
    request = convert.parse_json(read_text(args.spec), jobs_pb2.SubmitJobRequest, what="spec")
    _apply_parameters(args, request)  # type: ignore[arg-type]
    if args.request_id:
        request.request_id = args.request_id  # type: ignore[attr-defined]
    return _submitted(args, client, request)  # type: ignore[arg-type]


def cmd_status(args, client) -> int:
    job = client.get_job(args.job)
    if args.json:
        print(json.dumps(job_json(job), indent=2))
    else:
        print(_describe(job))
    return 0


def _all_jobs(client, state: str | None) -> Iterator:
    token = ""
    while True:
        jobs, token = client.list_jobs(state=state, page_size=100, page_token=token)
        yield from jobs
        if not token:
            return


def cmd_list(args, client) -> int:
    for job in _all_jobs(client, args.state):
        print(json.dumps(job_json(job)) if args.json else _describe(job))
    return 0


def cmd_watch(args, client) -> int:
    job = _watch(client, args.job, args.progress_every)
    print(_describe(job))
    return 0


def cmd_cancel(args, client) -> int:
    print(_describe(client.cancel_job(args.job)))
    return 0


def cmd_results(args, client) -> int:
    kind = client.get_job(args.job).kind
    appending = bool(args.offset) and args.output != "-"
    out = open(args.output, "a" if appending else "w") if args.output != "-" else sys.stdout
    try:
        # Appending to a file that already holds rows: no second header.
        header = not (appending and out.tell() > 0)
        count = ResultsWriter(out, args.format, kind, header).write_all(
            client.job_results_messages(args.job, offset=args.offset)
        )
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"{count} items written", file=sys.stderr)
    return 0


def cmd_certify(args, client) -> int:
    _check_follow_flags(args)
    items = []
    for number, raw in enumerate(read_text(args.masks).splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            item = jobs_pb2.CertifyItem(
                problem=json_format.ParseDict(record["problem"], jobs_pb2.CertifyItem().problem),
                mask=json_format.ParseDict(record["mask"], solve_pb2.Mask()),
            )
        except (ValueError, KeyError, TypeError, json_format.ParseError) as exc:
            raise InvalidProblemError(
                FieldViolation(
                    f"{args.masks}:{number}", f'expected {{"problem": ..., "mask": ...}}: {exc}'
                )
            ) from exc
        items.append(item)
    request = jobs_pb2.SubmitJobRequest(
        request_id=args.request_id or "",
        certify=jobs_pb2.CertifyList(items=items, compare_with_optimum=not args.no_compare),
    )
    _apply_parameters(args, request)
    return _submitted(args, client, request)


def _connected(command):
    """``command(args, client)`` as a parser ``func``: run with a client from the remote flags."""

    def run(args: argparse.Namespace) -> int:
        with connect(args) as client:
            return command(args, client)

    return run


def _parameter_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="per item (default: the spec's, else none)",
    )
    p.add_argument(
        "--backend", default=None, help="solver backend (default: the spec's, else auto)"
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help=f"absolute optimality gap (default: the spec's, else {DEFAULT_TOLERANCE:g})",
    )
    p.add_argument(
        "--request-id",
        default=None,
        help="makes the submission idempotent: the same id returns the same job "
        "(default: the spec's, else none)",
    )


def _follow_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--follow",
        action="store_true",
        help="watch the job until it ends, then print its results to stdout (exit 1 if the "
        "job failed or was cancelled; the id goes to stderr); default: print the job id "
        "last and return at once",
    )
    _format_flag(p, "text", "with --follow, the results", follow=True)
    progress_flag(p)


def add_parser(subparsers) -> None:
    batch = subparsers.add_parser("batch", help="durable batch jobs on a server")
    commands = batch.add_subparsers(dest="batch_command", required=True)

    def command(name: str, func, help: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help)
        remote_flags(p, default=DEFAULT_SERVER)
        p.set_defaults(func=_connected(func))
        return p

    p = command(
        "submit",
        cmd_submit,
        "submit a spec file (proto3 JSON of SubmitJobRequest); prints the job id last",
    )
    p.add_argument("spec", help="the spec file, or - for stdin")
    _parameter_flags(p)
    p.add_argument(
        "--distributed",
        action="store_true",
        help="a distributed job: the spec's one problem split into cubes on the server's job "
        "cluster, each finished cube kept in the job's store so a restarted server resumes it "
        "(default: one solve per item)",
    )
    p.add_argument(
        "--cubes",
        type=int,
        default=None,
        help=f"with --distributed: root cubes, rounded up to a power of two (default: "
        f"{DEFAULT_CUBES})",
    )
    p.add_argument(
        "--cube-rule",
        choices=CUBE_RULES,
        default=None,
        help=f"with --distributed: which units to split on (default: {DEFAULT_CUBE_RULE})",
    )
    cube_threads_flag(p)
    _follow_flags(p)
    p = command("status", cmd_status, "a job's state and counts")
    p.add_argument("job", help="the job id (printed by submit)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the Job message as proto3 JSON: counts are numbers, created/started/"
        "finished RFC 3339 times (null until they happen); default: one line of text",
    )
    p = command("list", cmd_list, "your jobs, newest first")
    p.add_argument(
        "--state",
        choices=[n for n in jobs_pb2.JobState.keys() if not n.endswith("UNSPECIFIED")],
        help="only jobs in this state (default: all)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="one Job per line, as `status --json` prints it (default: one line of text each)",
    )
    p = command("watch", cmd_watch, "progress until the job ends")
    p.add_argument("job", help="the job id (printed by submit)")
    progress_flag(p)
    p = command("results", cmd_results, "write the finished items' results")
    p.add_argument("job", help="the job id (printed by submit)")
    p.add_argument("-o", "--output", default="-", help="file (default: stdout)")
    p.add_argument(
        "--offset",
        type=int,
        default=0,
        help="skip items below this index, appending to --output (default 0)",
    )
    _format_flag(p, "json", "the results", follow=False)
    p = command("cancel", cmd_cancel, "cancel a job")
    p.add_argument("job", help="the job id (printed by submit)")
    p = command(
        "certify",
        cmd_certify,
        "submit masks to certify (a JSON line per {problem, mask}); prints the job id last",
    )
    p.add_argument("masks", help="JSON lines file, or - for stdin")
    p.add_argument(
        "--no-compare",
        action="store_true",
        help="only the masks' exact errors (default: also the optimum for each budget)",
    )
    _parameter_flags(p)
    _follow_flags(p)
