"""Properties of the measures, checked with hypothesis.

Gibbs' inequality, non-negativity, permutation invariance, additivity of
information and of entropy for independent variables, bounds and the change of
base. The inputs are exactly what a user passes (float64 vectors normalized by
division), so the properties hold up to the rounding of the inputs and the 1e-12
contract, which the tolerances below state.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import shannon

CONTRACT = 1e-12


@st.composite
def distributions(draw, min_size=1, max_size=40, size=None, dtype=np.float64):
    """A probability vector: non-negative weights, some exact zeros, divided by their sum."""
    n = size if size is not None else draw(st.integers(min_size, max_size))
    w = draw(
        hnp.arrays(
            np.float64,
            n,
            elements=st.one_of(
                st.just(0.0),
                st.floats(1e-30, 1.0),
                st.floats(1e-6, 1e6),
            ),
        )
    )
    assume(w.sum() > 0)
    return (w / w.sum()).astype(dtype)


@st.composite
def pairs(draw, positive_q=True):
    p = draw(distributions())
    q = draw(distributions(size=len(p)))
    if positive_q:
        q = (q + 1e-3) / (q + 1e-3).sum()
    return p, q


def slack(p, q=None) -> float:
    """How far the exact measures may stray below their ideal bound because the inputs
    sum to 1 only within rounding: |sum(q) - sum(p)| plus the contract on the terms."""
    s = abs(math.fsum(p) - 1.0)
    if q is not None:
        s += abs(math.fsum(q) - 1.0)
    return 4 * s + 1e-15


@given(pairs())
def test_gibbs_inequality(pq):
    p, q = pq
    h_pq = shannon.cross_entropy(p, q, base="e")
    h_p = shannon.entropy(p, base="e")
    d = shannon.kl_divergence(p, q, base="e")
    # H(p, q) >= H(p), with equality iff p == q; D = H(p, q) - H(p).
    assert h_pq >= h_p - slack(p, q) - CONTRACT * h_pq
    assert d >= -slack(p, q)
    assert math.isclose(h_pq - h_p, d, rel_tol=1e-9, abs_tol=1e-12 * max(1.0, h_pq))


@given(distributions(), st.sampled_from([2, "e", 10, 1.5, 7.25]))
def test_entropy_non_negative_and_bounded(p, base):
    h = shannon.entropy(p, base=base)
    assert h >= 0.0
    n_support = np.count_nonzero(p)
    ln_base = math.log({"e": math.e}.get(base, base))
    assert h <= math.log(n_support) / ln_base * (1 + CONTRACT) + 1e-15
    if n_support == 1:
        assert h == 0.0


@given(distributions())
def test_kl_of_itself_is_exactly_zero(p):
    assert shannon.kl_divergence(p, p) == 0.0
    assert shannon.cross_entropy(p, p) == shannon.entropy(p) or math.isclose(
        shannon.cross_entropy(p, p), shannon.entropy(p), rel_tol=2 * CONTRACT
    )


@given(pairs(positive_q=False))
def test_kl_non_negative(pq):
    p, q = pq
    d = shannon.kl_divergence(p, q)
    assert d >= -slack(p, q)
    if np.any((p > 0) & (q == 0)):
        assert d == math.inf


@given(pairs(), st.randoms(use_true_random=False))
def test_permutation_invariance(pq, random):
    p, q = pq
    perm = np.arange(len(p))
    random.shuffle(perm)
    for f, args in [
        (shannon.entropy, (p,)),
        (shannon.cross_entropy, (p, q)),
        (shannon.kl_divergence, (p, q)),
    ]:
        a, b = f(*args), f(*(x[perm] for x in args))
        assert math.isclose(a, b, rel_tol=2 * CONTRACT, abs_tol=1e-300), f.__name__


@given(st.floats(1e-300, 1.0), st.floats(1e-300, 1.0), st.sampled_from([2, "e", 10, 3]))
def test_information_is_additive(a, b, base):
    # The information of independent events adds: I(ab) = I(a) + I(b).
    assume(a * b >= 2.2250738585072014e-308)  # a normal product: rounded by <= 1 ulp
    ab = a * b  # rounded: I(ab) differs from I(a) + I(b) by at most |ln(1 + eps)| / ln b
    ln_base = {"e": 1.0}.get(base) or math.log(base)
    lhs = shannon.information(ab, base=base)
    rhs = shannon.information(a, base=base) + shannon.information(b, base=base)
    assert abs(lhs - rhs) <= 2.3e-16 / ln_base + 4e-16 * max(lhs, rhs)


@given(distributions(max_size=12), distributions(max_size=12))
def test_entropy_is_additive_for_independent_variables(p, q):
    # H(p x q) = H(p) + H(q) for the product distribution of independent variables.
    joint = np.outer(p, q).ravel()
    h_joint = shannon.entropy(joint, normalize=True)
    h_sum = shannon.entropy(p) + shannon.entropy(q)
    assert math.isclose(h_joint, h_sum, rel_tol=1e-12, abs_tol=1e-13)


@given(distributions(), st.floats(1.01, 1e6))
def test_change_of_base(p, base):
    bits = shannon.entropy(p, base=2)
    assert math.isclose(
        shannon.entropy(p, base=base), bits * math.log(2) / math.log(base), rel_tol=1e-13,
        abs_tol=1e-300,
    )


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=30))
def test_normalize_is_scale_invariant(counts):
    assume(sum(counts) > 0)
    c = np.array(counts, dtype=np.float64)
    h = shannon.entropy(c, normalize=True)
    # Scaling by a power of two is exact, and so is every step after it.
    assert shannon.entropy(c * 1024.0, normalize=True) == h
    assert shannon.entropy(counts, normalize=True) == h
    assert math.isclose(shannon.entropy(c / c.sum()), h, rel_tol=2 * CONTRACT, abs_tol=1e-15)


@given(st.integers(1, 4), st.integers(1, 6), st.integers(1, 7), st.integers(0, 2))
def test_axis_is_a_transpose(a, b, c, axis):
    rng = np.random.default_rng(a * 100 + b * 10 + c)
    x = rng.random((a, b, c)) + 0.01
    moved = np.moveaxis(x, axis, -1)
    np.testing.assert_array_equal(
        shannon.entropy(x, axis=axis, normalize=True),
        shannon.entropy(moved, normalize=True),
    )
