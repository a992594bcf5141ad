"""solver.instances.families: generated problem families, expanded lazily (pure, no server).

Covers the size of a family, the order of its coordinates, reproducible problems by index, the
nestedness of the paper family across n, a 397,000-item family built one item at a time, and
the validation of a family spec (field names as the service reports them).
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from prunecert.v1 import jobs_pb2
from solver.core.errors import InvalidProblemError, ProblemTooLargeError
from solver.core.problem import (
    Activation,
    BoxGrid,
    MinError,
    MinKept,
    Network,
    Neuron,
    PointSet,
    PruningMode,
)
from solver.instances.families import MAX_FAMILY_ITEMS, Family, validate_family
from solver.instances.generate import paper_problem
from solver.io import convert

N, W = PruningMode.NEURONS, PruningMode.WEIGHTS


def paper(**kw) -> Family:
    base = dict(generator="paper", d=(1, 2), n=(4, 8, 16), seeds=(1, 2, 3), pruning=(N, W))
    return Family(**{**base, **kw})


def subset_sum(**kw) -> Family:
    base = dict(generator="subset_sum", n=(5, 7), seeds=(0, 1), count=3, low=1.0, high=10.0)
    return Family(**{**base, **kw})


def same_problem(a, b) -> None:
    """Two problems are equal field by field (arrays exactly)."""
    assert a.pruning == b.pruning
    assert a.objective == b.objective
    np.testing.assert_array_equal(a.network.hidden_weights, b.network.hidden_weights)
    np.testing.assert_array_equal(a.network.output_weights, b.network.output_weights)
    assert a.network.output_activation == b.network.output_activation
    assert (a.network.hidden_biases is None) == (b.network.hidden_biases is None)
    assert a.network.output_bias == b.network.output_bias
    assert type(a.target) is type(b.target)
    np.testing.assert_array_equal(a.target.weights, b.target.weights)
    assert a.target.activation == b.target.activation
    assert type(a.domain) is type(b.domain)
    np.testing.assert_array_equal(a.points(), b.points())


# -- size and coordinates --------------------------------------------------------------------


def test_size_is_the_product_of_the_lists():
    assert paper().size() == 2 * 3 * 3 * 2
    assert paper(d=(2,), n=(8,), seeds=(1,), pruning=(W,)).size() == 1
    assert subset_sum().size() == 2 * 2 * 3
    assert subset_sum(n=(10,), seeds=(1,), count=397_000).size() == 397_000


def test_coordinates_enumerate_the_product_last_axis_fastest():
    fam = paper()
    expected = list(itertools.product(fam.d, fam.n, fam.seeds, fam.pruning))
    assert [fam.coordinates(i) for i in range(fam.size())] == expected
    ss = subset_sum()
    expected = list(itertools.product(ss.n, ss.seeds, range(ss.count)))
    assert [ss.coordinates(i) for i in range(ss.size())] == expected


def test_coordinates_of_a_large_family_without_materialising():
    fam = subset_sum(n=(10, 20), seeds=(3, 4, 5), count=397_000)
    assert fam.size() == 2 * 3 * 397_000
    assert fam.coordinates(0) == (10, 3, 0)
    assert fam.coordinates(396_999) == (10, 3, 396_999)
    assert fam.coordinates(397_000) == (10, 4, 0)
    assert fam.coordinates(fam.size() - 1) == (20, 5, 396_999)


# -- problems by index -----------------------------------------------------------------------


def test_paper_problem_by_index_is_the_generator_output():
    objective = MinError(max_kept=3)
    fam = paper(objective=objective, points_per_axis=7)
    for i in range(fam.size()):
        d, n, seed, mode = fam.coordinates(i)
        same_problem(fam.problem(i), paper_problem(d, n, seed, mode, objective, 7))


def test_paper_default_objective_and_points_per_axis():
    fam = paper(d=(2, 3), n=(4,), seeds=(1,), pruning=(N,))
    two, three = fam.problem(0), fam.problem(1)
    assert isinstance(two.objective, MinError) and two.objective.max_kept is None
    assert isinstance(two.domain, BoxGrid) and two.domain.points_per_axis == 41
    assert isinstance(three.domain, BoxGrid) and three.domain.points_per_axis == 11
    assert two.network.d == 2 and three.network.d == 3


def test_problems_are_reproducible_by_index_in_any_order():
    for fam in (paper(points_per_axis=5), subset_sum()):
        first = [fam.problem(i) for i in range(fam.size())]
        again = Family(**fam.__dict__)  # a fresh, equal family
        for i in reversed(range(fam.size())):
            same_problem(again.problem(i), first[i])


def test_distinct_indices_give_distinct_problems():
    fam = subset_sum()
    outputs = {tuple(fam.problem(i).network.output_weights) for i in range(fam.size())}
    assert len(outputs) == fam.size()


def test_subset_sum_problem_shape_and_draws():
    fam = subset_sum(objective=MinKept(max_error=0.5))
    for i in range(fam.size()):
        n, seed, j = fam.coordinates(i)
        p = fam.problem(i)
        rng = np.random.default_rng([seed, j])
        target = rng.uniform(1.0, 10.0)
        candidates = rng.uniform(1.0, 10.0, size=n)
        assert isinstance(p.network, Network)
        np.testing.assert_array_equal(p.network.hidden_weights, np.ones((n, 1)))
        np.testing.assert_array_equal(p.network.output_weights, candidates)
        assert p.network.output_activation == Activation.IDENTITY
        assert isinstance(p.target, Neuron)
        np.testing.assert_array_equal(p.target.weights, [target])
        assert p.target.activation == Activation.IDENTITY
        assert isinstance(p.domain, PointSet)
        np.testing.assert_array_equal(p.points(), [[1.0]])
        assert p.pruning == N
        assert p.objective == MinKept(max_error=0.5)
        assert np.all((candidates >= 1.0) & (candidates <= 10.0)) and 1.0 <= target <= 10.0


def test_last_item_of_a_397000_family_is_built_alone_and_fast():
    fam = subset_sum(n=(10,), seeds=(1,), count=397_000)
    start = time.perf_counter()
    p = fam.problem(396_999)
    again = fam.problem(396_999)
    assert time.perf_counter() - start < 0.5
    same_problem(p, again)
    rng = np.random.default_rng([1, 396_999])
    rng.uniform(1.0, 10.0)
    np.testing.assert_array_equal(p.network.output_weights, rng.uniform(1.0, 10.0, size=10))


def test_cost_of_one_item_does_not_grow_with_the_family():
    fam = subset_sum(n=(10,), seeds=(1,), count=MAX_FAMILY_ITEMS)
    start = time.perf_counter()
    assert fam.size() == MAX_FAMILY_ITEMS
    for i in (0, 1, MAX_FAMILY_ITEMS // 2, MAX_FAMILY_ITEMS - 1):
        fam.problem(i)
    # A 3-instance family takes well under 5 ms for this; 0.25 s is a wide margin.
    assert time.perf_counter() - start < 0.25


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("mode", [N, W])
def test_paper_family_is_nested_across_n(d, mode):
    fam = Family("paper", d=(d,), n=(4, 8, 16), seeds=(5,), pruning=(mode,), points_per_axis=5)
    problems = [fam.problem(i) for i in range(3)]
    big = problems[-1]
    for small in problems[:-1]:
        n = small.network.n
        np.testing.assert_array_equal(small.network.hidden_weights, big.network.hidden_weights[:n])
        np.testing.assert_array_equal(small.network.output_weights, big.network.output_weights[:n])
        np.testing.assert_array_equal(small.target.weights, big.target.weights)
        np.testing.assert_array_equal(small.points(), big.points())


# -- validation ------------------------------------------------------------------------------


def violations(call) -> list[str]:
    with pytest.raises(InvalidProblemError) as info:
        call()
    return [v.field for v in info.value.violations]


@pytest.mark.parametrize(
    "family, field",
    [
        (paper(generator="nope"), "family.generator"),
        (paper(generator=""), "family.generator"),
        (paper(n=()), "family.n"),
        (paper(n=(0, 4)), "family.n"),
        (paper(d=()), "family.d"),
        (paper(d=(0,)), "family.d"),
        (paper(seeds=()), "family.seeds"),
        (paper(pruning=()), "family.pruning"),
        (paper(pruning=(PruningMode(0),)), "family.pruning"),
        (paper(points_per_axis=1), "family.points_per_axis"),
        (subset_sum(count=0), "family.count"),
        (subset_sum(n=()), "family.n"),
        (subset_sum(low=2.0, high=2.0), "family.high"),
        (subset_sum(low=3.0, high=2.0), "family.high"),
        (subset_sum(low=float("-inf")), "family.high"),
        (subset_sum(high=float("nan")), "family.high"),
    ],
)
def test_invalid_family_names_the_field(family, field):
    fields = violations(lambda: validate_family(family))
    assert field in fields, fields


def test_valid_families_pass():
    validate_family(paper())
    validate_family(subset_sum(count=397_000))
    validate_family(paper(points_per_axis=0))


def test_family_over_the_item_limit_is_too_large():
    fam = subset_sum(n=(5,), seeds=(1,), count=MAX_FAMILY_ITEMS + 1)
    with pytest.raises(ProblemTooLargeError) as info:
        validate_family(fam)
    assert [v.field for v in info.value.violations] == ["family"]
    validate_family(subset_sum(n=(5,), seeds=(1,), count=MAX_FAMILY_ITEMS))


def test_field_prefix_is_configurable():
    fields = violations(lambda: validate_family(paper(n=()), field="spec.family"))
    assert fields == ["spec.family.n"]


def test_issue_spec_file_family_form():
    text = """{"family": {"generator": "paper", "d": [2], "n": [8, 16], "seeds": [1, 2, 3],
        "pruning": ["PRUNING_MODE_NEURONS", "PRUNING_MODE_WEIGHTS"],
        "objective": {"min_error": {}}, "points_per_axis": 41}}"""
    request = convert.parse_json(text, jobs_pb2.SubmitJobRequest, what="spec")
    assert request.WhichOneof("spec") == "family"
    fam = convert.parse_family(request.family)
    assert fam.size() == 12
    assert fam.coordinates(0) == (2, 8, 1, N)
    assert fam.coordinates(11) == (2, 16, 3, W)
    same_problem(fam.problem(11), paper_problem(2, 16, 3, W, MinError(), 41))


def test_parse_family_reports_bad_messages():
    msg = jobs_pb2.FamilySpec(generator="subset_sum", n=[5], seeds=[1], count=0, low=1, high=2)
    assert "family.count" in violations(lambda: convert.parse_family(msg))
    msg = jobs_pb2.FamilySpec(generator="paper", d=[2], seeds=[1], pruning=[1])
    assert "family.n" in violations(lambda: convert.parse_family(msg))
