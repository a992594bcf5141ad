"""`prunecert batch ...`: durable jobs through a server (the CLI's thin layer over the client).

Every sub-command talks to a server: each runs inside ``common.connect``, which imports the
client. The generated messages (protobuf, no grpc) are needed to build the parser.
"""

from __future__ import annotations

import argparse
import json
import sys

from google.protobuf import json_format

from prunecert.v1 import jobs_pb2, solve_pb2
from solver.cli.common import connect, read_text, remote_flags
from solver.cli.progress import Counter, progress_flag
from solver.core.errors import FieldViolation, InvalidProblemError
from solver.core.parameters import DEFAULT_TOLERANCE, SolveParameters
from solver.core.validate import validate_parameters
from solver.io import convert

DEFAULT_SERVER = "127.0.0.1:50051"


def _describe(job) -> str:
    return (
        f"{job.id}  {job.state.removeprefix('JOB_STATE_')}  {job.kind}  "
        f"{job.finished_items}/{job.total_items} done ({job.failed_items} failed, "
        f"{job.running_items} running){'  ' + job.detail if job.detail else ''}"
    )


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
        time_limit_seconds=args.time_limit, backend=args.backend, tolerance=args.tolerance
    )
    validate_parameters(params)
    # MergeFrom copies only the fields set (non-default in proto3): the unset flags keep the
    # spec's values.
    request.parameters.MergeFrom(convert.parameters_to_proto(params))


def cmd_submit(args, client) -> int:
    request = convert.parse_json(read_text(args.spec), jobs_pb2.SubmitJobRequest, what="spec")
    _apply_parameters(args, request)  # type: ignore[arg-type]
    if args.request_id:
        request.request_id = args.request_id  # type: ignore[attr-defined]
    job = client.submit_job(request)
    print(f"submitted {job.total_items} items ({job.kind}); state {job.state}", file=sys.stderr)
    print(job.id)
    return 0


def cmd_status(args, client) -> int:
    job = client.get_job(args.job)
    if args.json:
        print(json_format.MessageToJson(job.to_message(), indent=2))
    else:
        print(_describe(job))
    return 0


def cmd_list(args, client) -> int:
    token = ""
    while True:
        jobs, token = client.list_jobs(state=args.state, page_size=100, page_token=token)
        for job in jobs:
            print(_describe(job))
        if not token:
            return 0


def cmd_watch(args, client) -> int:
    job = _watch(client, args.job, args.progress_every)
    print(_describe(job))
    return 0


def cmd_cancel(args, client) -> int:
    print(_describe(client.cancel_job(args.job)))
    return 0


def _item_line(msg) -> str:
    line: dict = {"index": int(msg.index)}
    line["problem"] = json_format.MessageToDict(msg.problem)
    outcome = msg.WhichOneof("outcome")
    if outcome == "error":
        line["error"] = msg.error
    elif outcome is not None:
        line["result"] = json_format.MessageToDict(getattr(msg, outcome))
    line["seconds"] = msg.seconds
    return json.dumps(line)


def cmd_results(args, client) -> int:
    out = open(args.output, "a" if args.offset else "w") if args.output != "-" else sys.stdout
    count = 0
    try:
        for msg in client.job_results_messages(args.job, offset=args.offset):
            out.write(_item_line(msg) + "\n")
            count += 1
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"{count} items written", file=sys.stderr)
    return 0


def cmd_certify(args, client) -> int:
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
    job = client.submit_job(request)
    print(f"job {job.id}: certifying {job.total_items} masks", file=sys.stderr)
    job = _watch(client, job.id, args.progress_every)
    print(f"{'index':>6s} {'kept':>6s} {'mask error':>16s} {'optimum':>16s} {'ratio':>10s}  status")
    for item in client.job_results(job.id):
        if item.result is None:
            print(f"{item.index:6d} {'':6s} {'':16s} {'':16s} {'':10s}  error: {item.error}")
            continue
        r = item.result
        optimum = r.optimum.solution.error if r.optimum and r.optimum.solution else float("nan")
        status = r.optimum.status.name if r.optimum else "-"
        ratio = f"{r.ratio:.4g}" if r.optimum else "-"
        print(
            f"{item.index:6d} {r.kept:6d} {r.error:16.10g} {optimum:16.10g} {ratio:>10s}  {status}"
        )
    print(_describe(job), file=sys.stderr)
    return 0


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
    p = command("status", cmd_status, "a job's state and counts")
    p.add_argument("job", help="the job id (printed by submit)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the Job message as proto3 JSON (its 64-bit counts are strings there, as "
        "proto3 JSON prints every 64-bit integer; default: one line of text)",
    )
    p = command("list", cmd_list, "your jobs, newest first")
    p.add_argument(
        "--state",
        choices=[n for n in jobs_pb2.JobState.keys() if not n.endswith("UNSPECIFIED")],
        help="only jobs in this state (default: all)",
    )
    p = command("watch", cmd_watch, "progress until the job ends")
    p.add_argument("job", help="the job id (printed by submit)")
    progress_flag(p)
    p = command("results", cmd_results, "write finished items as JSON lines")
    p.add_argument("job", help="the job id (printed by submit)")
    p.add_argument("-o", "--output", default="-", help="file (default: stdout)")
    p.add_argument(
        "--offset",
        type=int,
        default=0,
        help="skip items below this index, appending to --output (default 0)",
    )
    p = command("cancel", cmd_cancel, "cancel a job")
    p.add_argument("job", help="the job id (printed by submit)")
    p = command(
        "certify",
        cmd_certify,
        "certify masks (a JSON line per {problem, mask}) and print a table of the results",
    )
    p.add_argument("masks", help="JSON lines file, or - for stdin")
    p.add_argument(
        "--no-compare",
        action="store_true",
        help="only the masks' exact errors (default: also the optimum for each budget)",
    )
    _parameter_flags(p)
    progress_flag(p)
