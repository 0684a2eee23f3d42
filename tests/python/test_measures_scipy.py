"""The measures against SciPy: scipy.stats.entropy, scipy.special.entr and rel_entr.

SciPy's conventions differ from shannon's defaults: scipy.stats.entropy always
normalizes, reduces along axis 0 and answers in nats; shannon validates
(normalize=False), reduces along the last axis and answers in bits. The tests
pass every argument explicitly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st

import shannon

# Every spelling of a base: the value that scipy takes and what shannon accepts.
BASES = [
    (2.0, 2),
    (2.0, 2.0),
    (2.0, "bits"),
    (math.e, math.e),
    (math.e, "nats"),
    (math.e, "e"),
    (10.0, 10),
    (10.0, "hartleys"),
    (3.7, 3.7),
    (1.0001, 1.0001),
    (1e300, 1e300),
]
BASE_IDS = [repr(b) for _, b in BASES]


def close(actual, expected, rtol, atol=0.0):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("scipy_base,base", BASES, ids=BASE_IDS)
@pytest.mark.parametrize("n", [1, 2, 5, 64, 1000])
def test_entropy_matches_entr_sum(make_dist, scipy_base, base, n):
    p = make_dist(n, zeros=0.2)
    expected = sp.entr(p).sum() / math.log(scipy_base)
    got = shannon.entropy(p, base=base)
    assert isinstance(got, float)
    close(got, expected, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("scipy_base,base", BASES, ids=BASE_IDS)
def test_entropy_normalize_matches_scipy_stats(rng, scipy_base, base):
    counts = rng.integers(0, 50, size=37)
    counts[3] = 1
    close(
        shannon.entropy(counts, base=base, normalize=True),
        st.entropy(counts, base=scipy_base),
        rtol=1e-12,
    )


@pytest.mark.parametrize("scipy_base,base", BASES, ids=BASE_IDS)
def test_kl_divergence_matches_rel_entr_sum(make_dist, scipy_base, base):
    p, q = make_dist(50, zeros=0.2), make_dist(50)
    got = shannon.kl_divergence(p, q, base=base)
    close(got, sp.rel_entr(p, q).sum() / math.log(scipy_base), rtol=1e-12)
    close(got, st.entropy(p, q, base=scipy_base), rtol=1e-12)


@pytest.mark.parametrize("scipy_base,base", BASES, ids=BASE_IDS)
def test_cross_entropy_matches_entr_plus_rel_entr(make_dist, scipy_base, base):
    p, q = make_dist(50, zeros=0.2), make_dist(50)
    expected = (sp.entr(p).sum() + sp.rel_entr(p, q).sum()) / math.log(scipy_base)
    close(shannon.cross_entropy(p, q, base=base), expected, rtol=1e-12)
    close(
        shannon.cross_entropy(p, q, base=base),
        -np.sum(p * np.log(q)) / math.log(scipy_base),
        rtol=1e-12,
    )


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3])
@pytest.mark.parametrize("scipy_base,base", [BASES[0], BASES[4], BASES[8]], ids=["2", "nats", "3.7"])
def test_entropy_axis_matches_scipy_stats(rng, axis, scipy_base, base):
    x = rng.random((3, 4, 5)) + 0.01
    got = shannon.entropy(x, base=base, axis=axis, normalize=True)
    expected = st.entropy(x, base=scipy_base, axis=axis)
    assert isinstance(got, np.ndarray) and got.shape == expected.shape
    assert got.dtype == np.float64
    close(got, expected, rtol=1e-12)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3])
def test_kl_divergence_axis_matches_scipy_stats(rng, axis):
    p = rng.random((3, 4, 5)) + 0.01
    q = rng.random((3, 4, 5)) + 0.01
    got = shannon.kl_divergence(p, q, base="e", axis=axis, normalize=True)
    expected = st.entropy(p, q, axis=axis)
    assert got.shape == expected.shape
    close(got, expected, rtol=1e-12)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cross_entropy_axis_matches_entr_plus_rel_entr(rng, axis):
    p = rng.random((6, 7))
    q = rng.random((6, 7))
    p /= p.sum(axis=axis, keepdims=True)
    q /= q.sum(axis=axis, keepdims=True)
    expected = (sp.entr(p) + sp.rel_entr(p, q)).sum(axis=axis) / math.log(2)
    close(shannon.cross_entropy(p, q, axis=axis), expected, rtol=1e-12)


def test_strict_default_matches_normalized_scipy_on_distributions(make_dist):
    # On probability vectors along the last axis, the strict default equals SciPy's
    # always-normalizing entropy (scipy needs axis=-1 and base=2 to agree).
    p = make_dist((8, 30), zeros=0.1)
    close(shannon.entropy(p), st.entropy(p, base=2, axis=-1), rtol=1e-12)


def test_broadcasting_matches_scipy(rng):
    p = rng.random((4, 6)) + 0.1
    q = rng.random(6) + 0.1
    close(
        shannon.kl_divergence(p, q, base="e", normalize=True),
        st.entropy(p, q, axis=-1),
        rtol=1e-12,
    )
    close(
        shannon.kl_divergence(q, p, base="e", normalize=True),
        st.entropy(q, p, axis=-1),
        rtol=1e-12,
    )


@pytest.mark.parametrize("n", [3, 100, 5000])
def test_float32_matches_entr_of_the_float32_values(make_dist, n):
    # The exact value of the float32 inputs: computed in float64 from the same values.
    p32, q32 = make_dist(n, np.float32, zeros=0.1), make_dist(n, np.float32)
    p64, q64 = p32.astype(np.float64), q32.astype(np.float64)
    close(shannon.entropy(p32), sp.entr(p64).sum() / math.log(2), rtol=1e-6)
    close(shannon.kl_divergence(p32, q32, base="e"), sp.rel_entr(p64, q64).sum(), rtol=1e-6)
    close(
        shannon.cross_entropy(p32, q32, base=10),
        (sp.entr(p64).sum() + sp.rel_entr(p64, q64).sum()) / math.log(10),
        rtol=1e-6,
    )


def test_float32_rows_match(make_dist):
    p32 = make_dist((10, 40), np.float32, zeros=0.1)
    got = shannon.entropy(p32, axis=1)
    assert got.dtype == np.float32 and got.shape == (10,)
    close(got, sp.entr(p32.astype(np.float64)).sum(axis=1) / math.log(2), rtol=1e-6)


def test_zero_conventions_match_scipy():
    p = np.array([0.5, 0.5, 0.0])
    q = np.array([0.5, 0.0, 0.5])
    assert shannon.entropy(p) == 1.0
    # 0 log 0 = 0 in p; q_i = 0 where p_i > 0 gives inf, like rel_entr.
    assert shannon.kl_divergence(p, q) == math.inf == sp.rel_entr(p, q).sum()
    assert shannon.cross_entropy(p, q) == math.inf
    # p_i = 0 where q_i > 0 contributes 0.
    assert shannon.kl_divergence(q[[0, 2, 1]], q[[0, 2, 1]]) == 0.0
    assert shannon.kl_divergence([0.0, 1.0], [0.5, 0.5]) == 1.0


def test_information_matches_minus_log(rng):
    p = rng.random(200)
    p[0], p[1] = 0.0, 1.0
    with np.errstate(divide="ignore"):
        expected = -np.log2(p)
    got = shannon.information(p)
    close(got, expected, rtol=1e-15)
    assert got[0] == math.inf and got[1] == 0.0
    close(shannon.information(p[2:], base="e"), -np.log(p[2:]), rtol=1e-15)
    close(shannon.information(p[2:], base=10), -np.log10(p[2:]), rtol=1e-15)
