"""Subset-sum batches against a brute force, exact arithmetic, and the engine."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from solver.backends.subset_sum import SubsetSumSolver, exact_error_upper
from solver.core.parameters import SolveParameters
from solver.engine import solve
from solver.instances.families import Family
from solver.jobs.tasks import _SubsetSumBatch


@pytest.mark.parametrize("n", [1, 2, 5, 10, 13])
def test_matches_brute_force(n):
    rng = np.random.default_rng(n)
    solver = SubsetSumSolver(n)
    for _ in range(20):
        c = rng.uniform(-0.5, 0.5, size=n)
        w = float(rng.uniform(-1, 1))
        best = min(
            abs(sum((Fraction(x) for x, b in zip(c, bits) if b), Fraction(0)) - Fraction(w))
            for bits in itertools.product([0, 1], repeat=n)
        )
        answer = solver.solve(c, w)
        chosen = sum((Fraction(x) for x, b in zip(c, answer.keep) if b), Fraction(0))
        true = abs(chosen - Fraction(w))
        assert Fraction(answer.bound) <= best <= true <= Fraction(answer.error_upper)
        assert true - best <= Fraction(1, 10**12)


@pytest.mark.parametrize("n", [1, 4, 9])
def test_a_batch_gives_each_instance_its_own_certified_answer(n):
    # Rows of one batch must not leak into each other (sorts, searches and index recovery run
    # on the whole batch at once): each row against its own brute-force optimum.
    rng = np.random.default_rng(100 + n)
    c = rng.uniform(-0.464, 0.541, size=(37, n))
    t = rng.uniform(-0.464, 0.541, size=37)
    batch = SubsetSumSolver(n).solve_batch(c, t)
    for row, answer in enumerate(batch):
        target = Fraction(float(t[row]))
        sums = [
            sum((Fraction(x) for x, b in zip(c[row], bits) if b), Fraction(0))
            for bits in itertools.product([0, 1], repeat=n)
        ]
        best = min(abs(total - target) for total in sums)
        chosen = sum((Fraction(x) for x, b in zip(c[row], answer.keep) if b), Fraction(0))
        true = abs(chosen - target)
        assert Fraction(answer.bound) <= best <= true <= Fraction(answer.error_upper)
        assert true - best <= Fraction(1, 10**12)


def test_exact_error_upper_is_the_directed_rounding():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        values = rng.uniform(-1, 1, size=int(rng.integers(0, 8))).tolist()
        target = float(rng.uniform(-1, 1))
        exact = abs(sum(map(Fraction, values), Fraction(0)) - Fraction(target))
        up = exact_error_upper(values, target)
        assert Fraction(up) >= exact
        assert up == 0.0 or Fraction(math.nextafter(up, -math.inf)) < exact


def test_batch_items_equal_the_engine():
    family = Family(generator="subset_sum", n=(21,), seeds=(4,), count=40, low=-0.464, high=0.541)
    batch = _SubsetSumBatch.for_family(family, SolveParameters())
    assert batch is not None
    for index in range(family.size()):
        fast = batch.solve(index)
        engine = solve(family.problem(index))
        assert fast.status == 1 and engine.status == 1
        # Both certified: the same exact optimum (ties may pick different masks).
        assert abs(fast.solution.error - engine.solution.error) <= 1e-12
        assert fast.objective_bound <= engine.solution.error
        assert fast.solution.kept == int(sum(fast.solution.mask.neurons))


def test_batch_only_for_plain_min_error():
    family = Family(generator="subset_sum", n=(5,), seeds=(1,), count=2, low=-1.0, high=1.0)
    assert _SubsetSumBatch.for_family(family, SolveParameters(backend="cpsat")) is None
    assert _SubsetSumBatch.for_family(family, SolveParameters(cross_check="auto")) is None


def test_run_items_batches_mixed_sizes_in_index_order():
    # A chunk spanning two sizes n and more than one numpy group, run as a Dask task would run
    # it (outside Dask here): every index once, in order, each equal to its own solve.
    from prunecert.v1 import jobs_pb2, solve_pb2
    from solver.core.validate import DEFAULT_LIMITS
    from solver.io import convert
    from solver.jobs import tasks

    family = Family(
        generator="subset_sum", n=(3, 12), seeds=(2,), count=300, low=-0.464, high=0.541
    )
    spec = jobs_pb2.FamilySpec(
        generator="subset_sum", n=[3, 12], seeds=[2], count=300, low=-0.464, high=0.541
    )
    spec.objective.min_error.SetInParent()
    assert convert.parse_family(spec).size() == family.size() == 600
    indices = list(range(250, 350))  # crosses from n = 3 to n = 12
    out = tasks.run_items(
        "job",
        "solve",
        spec.SerializeToString(),
        [(i, None) for i in indices],
        solve_pb2.SolveParameters().SerializeToString(),
        60.0,
        False,
        DEFAULT_LIMITS,
    )
    assert [index for index, _, _ in out] == indices
    batch = _SubsetSumBatch.for_family(family, SolveParameters())
    for index, ok, payload in out:
        assert ok
        item = jobs_pb2.JobItemResult.FromString(payload)
        alone = batch.solve(index)
        assert item.index == index and item.solve_result.status == 1
        assert item.solve_result.solution.error == alone.solution.error
        assert list(item.solve_result.solution.mask.neurons) == list(alone.solution.mask.neurons)
        assert len(item.solve_result.solution.mask.neurons) == family.coordinates(index)[0]
