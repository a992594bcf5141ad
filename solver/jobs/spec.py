"""A job's items, from its SubmitJobRequest: validation, size, and the i-th item."""

from __future__ import annotations

from collections.abc import Callable

from prunecert.v1 import jobs_pb2, problem_pb2
from solver.backends import AUTO, REGISTRY, get_backend
from solver.core.errors import FieldViolation, InvalidProblemError, ProblemTooLargeError
from solver.core.validate import Limits, validate_parameters
from solver.engine import validate_for_problem
from solver.engine.cubes import cube_backend, validate_distributed
from solver.instances.families import Family, largest_problems
from solver.io import convert


class JobSpec:
    """Validated view of a SubmitJobRequest; family items are generated on demand."""

    def __init__(
        self,
        request: jobs_pb2.SubmitJobRequest,
        limits: Limits | None,
        precheck: Callable[[problem_pb2.Problem], None] | None = None,
    ):
        """``limits`` None: a stored request, validated at submission; only the family is parsed.

        ``precheck``, if given, runs on each problem message before it is converted (the server
        passes its memory estimate: solver.service.sizing); its violations get the item's
        field as prefix, like the validation's.
        """
        self.request = request
        self._precheck = precheck
        which = request.WhichOneof("spec")
        if which is None:
            raise InvalidProblemError(
                FieldViolation("spec", "one of problems, family or certify is required")
            )
        self.which = which
        self.kind = "certify" if which == "certify" else "solve"
        self.family: Family | None = None
        if limits is None:
            if which == "family":
                self.family = convert.parse_family(request.family)
            return
        params = convert.parse_parameters(request.parameters)
        validate_parameters(params)
        if params.distributed is not None:
            self._check_distributed(request, params, limits)
            return
        # Names are checked now, not per item: a job whose every item fails must never be
        # accepted (issue 15). A name the registry does not know is a bad argument; a known
        # backend that is not installed here is NOT_FOUND (get_backend).
        check_backend_names(params)
        get_backend(params.backend)
        if params.cross_check and params.cross_check != "auto":
            get_backend(params.cross_check)
        if which == "family":
            # Sizes first, in integers: generating an item of an oversized family would
            # allocate its grid (issue 15: d = 2^20 ended UNKNOWN).
            check_family_sizes(request.family, limits)
            self.family = convert.parse_family(request.family)
            # The first item and the largest ones: every item is within the limits (and takes
            # the parameters: a family shares its objective and domain kind).
            for problem in [self.family.problem(0), *largest_problems(self.family)]:
                self._check(convert.problem_to_proto(problem), "family", limits)
                validate_for_problem(problem, params)
        elif which == "problems":
            if not request.problems.problems:
                raise InvalidProblemError(FieldViolation("problems.problems", "must not be empty"))
            for i, problem in enumerate(request.problems.problems):
                validate_for_problem(
                    self._check(problem, f"problems.problems[{i}]", limits), params
                )
        else:
            if params.heuristic is not None or params.continuous is not None:
                raise InvalidProblemError(
                    FieldViolation(
                        "parameters", "certify jobs take neither heuristic nor continuous"
                    )
                )
            if not request.certify.items:
                raise InvalidProblemError(FieldViolation("certify.items", "must not be empty"))
            for i, item in enumerate(request.certify.items):
                problem = self._check(item.problem, f"certify.items[{i}].problem", limits)
                convert.parse_mask(item.mask, problem, field=f"certify.items[{i}].mask")

    def _check_distributed(self, request, params, limits: Limits) -> None:
        """A distributed job (solver.jobs.distributed): ONE problem in ``problems``, whose
        items are its cubes. A batch of distributed items is refused: a batch already spreads
        its items over the cluster, one per worker."""
        problems = request.problems.problems if self.which == "problems" else []
        if len(problems) != 1:
            shape = (
                f"{len(problems)} problems" if self.which == "problems" else f"a {self.which} job"
            )
            raise InvalidProblemError(
                FieldViolation(
                    "parameters.distributed",
                    f"a distributed job solves one problem (problems.problems with one item), "
                    f"not {shape}; submit a batch without --distributed",
                    "--distributed",
                )
            )
        if bad := params.distributed_violations():
            raise InvalidProblemError(bad)
        check_backend_names(params)
        cube_backend(params)
        problem = self._check(problems[0], "problems.problems[0]", limits)
        validate_for_problem(problem, params)
        dist = params.distributed
        validate_distributed(problem, params, dist.cubes, dist.cube_rule)

    def _check(self, msg: problem_pb2.Problem, field: str, limits: Limits):
        try:
            if self._precheck is not None:
                self._precheck(msg)
            return convert.parse_problem(msg, limits)
        except InvalidProblemError as exc:
            exc.violations = [
                FieldViolation(f"{field}.{v.field}", v.description) for v in exc.violations
            ]
            exc.args = ("; ".join(str(v) for v in exc.violations),)
            raise

    def size(self) -> int:
        if self.family is not None:
            return self.family.size()
        if self.which == "problems":
            return len(self.request.problems.problems)
        return len(self.request.certify.items)

    def problem(self, index: int) -> problem_pb2.Problem:
        """The index-th item's problem as a message."""
        if self.family is not None:
            return convert.problem_to_proto(self.family.problem(index))
        if self.which == "problems":
            return self.request.problems.problems[index]
        return self.request.certify.items[index].problem

    def origin(self, index: int) -> jobs_pb2.ItemOrigin:
        """What the index-th item is: its problem's shape and, for a family item, its
        coordinates (Family.coordinates: paper d, n, seed, pruning; subset_sum n, seed,
        instance), read without building the problem."""
        if self.family is not None:
            if self.family.generator == "paper":
                d, n, seed, mode = self.family.coordinates(index)
                origin = _shape_origin(d, n, int(mode))  # PruningMode mirrors the proto enum
            else:  # subset_sum: d = 1 in neurons mode (solver.instances.families)
                n, seed, instance = self.family.coordinates(index)
                origin = _shape_origin(1, n, problem_pb2.PRUNING_MODE_NEURONS)
                origin.instance = instance
            origin.seed = seed
            return origin
        problem = self.problem(index)  # validated at submission: the shape is consistent
        network = problem.network
        return _shape_origin(
            network.hidden_weights.cols,
            network.hidden_weights.rows,
            problem.pruning,
            outputs=max(1, network.outputs),
        )


def _shape_origin(d: int, n: int, pruning: int, outputs: int = 1) -> jobs_pb2.ItemOrigin:
    """d, n and pruning, with the full network's kept count (Problem.max_kept_possible: in
    weights mode every hidden weight and each of the k output weights of every unit)."""
    full = n * (d + outputs) if pruning == problem_pb2.PRUNING_MODE_WEIGHTS else n
    return jobs_pb2.ItemOrigin(d=d, n=n, pruning=pruning, full_kept=full)


def check_backend_names(params) -> None:
    """``backend`` and ``cross_check`` must name a registered backend (or "auto")."""
    bad = []
    known = ", ".join(sorted(REGISTRY))
    for name, value in (("backend", params.backend), ("cross_check", params.cross_check)):
        if value not in AUTO and value not in REGISTRY:
            bad.append(
                FieldViolation(
                    f"parameters.{name}", f"unknown backend {value[:64]!r}; known: auto, {known}"
                )
            )
    if bad:
        raise InvalidProblemError(bad)


# The generator's default points per axis (solver.instances.generate.paper_problem).
def _default_points_per_axis(d: int) -> int:
    return 41 if d <= 2 else 11


def check_family_sizes(msg: jobs_pb2.FamilySpec, limits: Limits) -> None:
    """Refuse a family whose largest item is over ``limits``, from its numbers alone."""
    bad = []
    if msg.n and max(msg.n) > limits.max_units:
        bad.append(FieldViolation("family.n", f"at most {limits.max_units} units"))
    if msg.generator == "paper" and msg.d:
        d = max(msg.d)
        if d > limits.max_input_dim:
            bad.append(
                FieldViolation("family.d", f"at most {limits.max_input_dim} input dimensions")
            )
        else:
            k = msg.points_per_axis or _default_points_per_axis(d)
            if k**d > limits.max_points:  # d <= max_input_dim: a small exact integer
                bad.append(
                    FieldViolation(
                        "family.points_per_axis",
                        f"points_per_axis^d over the limit of {limits.max_points} points",
                    )
                )
    if bad:
        raise ProblemTooLargeError(bad)
