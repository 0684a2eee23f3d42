"""Bad input of every kind raises ValueError with a message that says what was expected."""

from __future__ import annotations

import math

import numpy as np
import pytest

import shannon

P = np.array([0.25, 0.75])
Q = np.array([0.5, 0.5])
M = np.array([[0.25, 0.75], [0.5, 0.5]])

MEASURES = {
    "entropy": lambda p, **kw: shannon.entropy(p, **kw),
    "cross_entropy": lambda p, **kw: shannon.cross_entropy(p, Q, **kw),
    "kl_divergence": lambda p, **kw: shannon.kl_divergence(p, Q, **kw),
}


def raises(match: str):
    return pytest.raises(ValueError, match=match)


# ---- library errors keep their message -------------------------------------------------


@pytest.mark.parametrize(
    "p,message",
    [
        ([0.5, -0.25, 0.75], r"^p\[1\] = -0\.25 is negative$"),
        ([0.5, math.nan, 0.5], r"^p\[1\] = nan is not a number$"),
        ([math.inf, 0.5], r"^p\[0\] = inf is not finite$"),
        ([0.5, 0.625], r"^p sums to 1\.125, not 1 .*normalize divides by the sum$"),
        ([], r"^p is empty: a probability vector needs at least one element$"),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_library_errors_keep_their_message(p, message, dtype):
    with pytest.raises(ValueError, match=message) as info:
        shannon.entropy(np.array(p, dtype=dtype))
    assert type(info.value) is ValueError


@pytest.mark.parametrize(
    "p,message",
    [
        ([-0.25, 1.25], r"^p\[0\] = -0\.25 is negative$"),
        ([math.nan, 1.0], r"^p\[0\] = nan is not a number$"),
        ([0.5, 0.6], r"^p sums to 1\.1, not 1 "),
        ([], r"^p is empty"),
    ],
)
@pytest.mark.parametrize("name", ["cross_entropy", "kl_divergence"])
def test_library_errors_of_pairs_keep_their_message(name, p, message):
    q = np.full(len(p), 1 / len(p)) if p else np.array([])
    with raises(message):
        getattr(shannon, name)(np.array(p), q)


def test_the_message_names_the_row():
    bad = np.array([[0.5, 0.5], [0.5, -0.5]])
    with raises(r"p\[1\]\[1\] = -0\.5 is negative"):
        shannon.entropy(bad)
    with raises(r"q\[1\] sums to"):
        shannon.kl_divergence(M, [[0.5, 0.5], [0.5, 0.6]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_q_errors_name_q(dtype):
    with raises(r"^q\[0\] = -1 is negative$"):
        shannon.kl_divergence(np.array([0.5, 0.5], dtype), np.array([-1.0, 2.0], dtype))
    with raises(r"^q sums to"):
        shannon.cross_entropy(np.array([0.5, 0.5], dtype), np.array([0.5, 0.25], dtype))


def test_normalize_refuses_zero_and_infinite_sums():
    with raises(r"p sums to 0: it cannot be normalized"):
        shannon.entropy([0.0, 0.0], normalize=True)
    with raises(r"is not finite"):
        shannon.entropy([1e308, 1e308, math.inf], normalize=True)
    with raises(r"is negative"):
        shannon.entropy([3, -1, 2], normalize=True)


@pytest.mark.parametrize("p", [-0.1, 1.5, math.nan, math.inf, [0.5, 2.0], [[0.1, -0.1]]])
def test_information_domain(p):
    with raises(r"(negative|greater than 1|not a number|not finite|must lie in \[0, 1\])"):
        shannon.information(p)


# ---- base ----------------------------------------------------------------------------


@pytest.mark.parametrize("base", [1, 1.0, 0.5, 0, -2, math.inf, math.nan, 10**400])
def test_bad_base_numbers(base):
    with raises(r"base = .* is not a valid logarithm base: it must be a finite number > 1"):
        shannon.entropy(P, base=base)
    with raises(r"not a valid logarithm base"):
        shannon.information(0.5, base=base)


@pytest.mark.parametrize("base", ["", "two", "0.5", "1", "bitz", "2 ", "nan"])
def test_bad_base_strings(base):
    with raises(r"base|logarithm base"):
        shannon.entropy(P, base=base)


@pytest.mark.parametrize("base", [None, True, [2], 2 + 0j, b"bits", object()])
def test_bad_base_types(base):
    with raises(r"^base must be a number > 1 \(2, math\.e, 10, \.\.\.\) or one of"):
        shannon.kl_divergence(P, Q, base=base)


# ---- dtypes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "p,match",
    [
        (np.array([0.5 + 0j, 0.5]), r"^p has dtype complex128: expected real numbers"),
        (np.array(["0.5", "0.5"]), r"^p has dtype <U3: expected real numbers"),
        (np.array([0.5, 0.5], dtype=np.longdouble), r"long double.*astype\(numpy\.float64\)"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), r"dtype datetime64\[D\]"),
        # None in an object array converts to NaN, as numpy does.
        (np.array([0.5, None], dtype=object), r"^p\[1\] = nan is not a number"),
        ([[0.5], [0.25, 0.25]], r"^p is not an array of numbers"),
        ({"a": 1}, r"^p is not an array of numbers|^p has dtype object"),
    ],
)
@pytest.mark.parametrize("name", list(MEASURES))
def test_bad_dtypes(name, p, match):
    with raises(match):
        MEASURES[name](p)


def test_bad_dtype_of_q():
    with raises(r"^q has dtype complex128"):
        shannon.kl_divergence(P, P.astype(complex))


# ---- shapes and axes -----------------------------------------------------------------


@pytest.mark.parametrize("name", list(MEASURES))
def test_scalars_are_not_distributions(name):
    with raises(r"is a scalar: expected an array with at least one dimension"):
        MEASURES[name](1.0)


def test_shape_mismatch():
    with raises(r"^p has shape \(2,\) but q has shape \(3,\): they must have the same shape"):
        shannon.kl_divergence(P, [0.2, 0.3, 0.5])
    with raises(r"^p has shape \(2, 2\) but q has shape \(3, 2\)"):
        shannon.cross_entropy(M, np.ones((3, 2)) / 2)


@pytest.mark.parametrize("axis", [1, -2, 5])
def test_axis_out_of_range_1d(axis):
    with raises(r"axis .* is out of bounds for p with 1 dimension\(s\): expected -1 <= axis < 1"):
        shannon.entropy(P, axis=axis)


@pytest.mark.parametrize("axis", [None, 0.0, "0", True, [0]])
def test_axis_must_be_an_int(axis):
    with raises(r"^axis must be an int"):
        shannon.entropy(M, axis=axis)


def test_empty_axis():
    with raises(r"p\[0\] is empty"):
        shannon.entropy(np.zeros((3, 0)))
    # No rows at all is fine: no values.
    assert shannon.entropy(np.zeros((0, 3))).shape == (0,)


@pytest.mark.parametrize("flag", ["normalize", "check"])
@pytest.mark.parametrize("value", [None, 1, "yes", np.array([True, False])])
def test_flags_must_be_bools(flag, value):
    with raises(rf"^{flag} must be True or False"):
        shannon.entropy(P, **{flag: value})


def test_check_false_skips_validation():
    # Unchecked: the caller's promise; the result is whatever the formula gives.
    assert math.isfinite(shannon.entropy([0.5, 0.6], check=False))
    with raises("sums to"):
        shannon.entropy([0.5, 0.6])


def test_force_isa_refuses_unknown():
    with raises(r"avx9000"):
        shannon.force_isa("avx9000")
    with raises(r"isa must be a str"):
        shannon.force_isa(3)


# ---- losses ----------------------------------------------------------------------------

X = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
Y = np.array([1, 2])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(reduction="batchmean"), r"reduction must be one of 'none', 'mean', 'sum'"),
        (dict(reduction="avg"), r"reduction must be one of"),
        (dict(reduction=None), r"reduction must be one of"),
        (dict(label_smoothing=1.5), r"label_smoothing"),
        (dict(label_smoothing=-0.1), r"label_smoothing"),
        (dict(label_smoothing="0.1"), r"label_smoothing must be a real number"),
        (dict(z_loss=-1.0), r"z_loss"),
        (dict(z_loss=None), r"z_loss must be a real number"),
        (dict(softcap=-1.0), r"softcap"),
        (dict(softcap=math.nan), r"softcap"),
        (dict(softcap="big"), r"softcap must be a real number"),
        (dict(base=1), r"not a valid logarithm base"),
        (dict(base="decibels"), r"base"),
        (dict(ignore_index=1.5), r"ignore_index must be an int"),
        (dict(ignore_index=2**70), r"ignore_index = .* is out of the int64 range"),
        (dict(z_loss=10**400), r"z_loss = .* is out of range"),
        (dict(weight=[1.0, 2.0]), r"weight has shape \(2,\): expected one weight per class, shape \(3,\)"),
        (dict(weight=[1.0, -2.0, 1.0]), r"weight"),
        (dict(weight=[1.0, math.nan, 1.0]), r"weight"),
        (dict(return_grad="yes"), r"return_grad must be True or False"),
    ],
)
def test_cross_entropy_loss_bad_options(kwargs, match):
    with raises(match):
        shannon.cross_entropy_loss(X, Y, **kwargs)


@pytest.mark.parametrize(
    "logits,target,match",
    [
        (X, [1, 3], r"target|class|range"),
        (X, [1, -2], r"target|class|range"),
        (X, [1], r"target has shape \(1,\) and an integer dtype, so it holds class indices: "
                 r"expected shape \(2,\)"),
        (X, [[1], [2]], r"expected shape \(2,\)"),
        (X, [1.0, 2.0], r"float dtype, so it holds class probabilities: expected the shape of "
                        r"logits \(2, 3\)"),
        (X, [True, False], r"target has dtype bool"),
        (X, np.full((2, 3), 0.5), r"target"),  # rows that are not distributions
        (X, np.array([1 + 0j, 2]), r"target has dtype complex128"),
        (1.0, 0, r"logits is a scalar"),
        (np.array([[1.0, math.nan, 0.0], [0.0, 0.0, 0.0]]), Y, r"logits"),
        (np.array([[1.0, math.inf, 0.0], [0.0, 0.0, 0.0]]), Y, r"logits"),
        (X.astype(complex), Y, r"logits has dtype complex128"),
        (X.astype(np.longdouble), Y, r"long double"),
        (np.array(["a", "b"]), 0, r"logits has dtype <U1"),
        (np.zeros((2, 0, 3)), np.zeros((2, 3), dtype=np.int64),
         r"logits have shape \(2, 0, 3\): cross entropy needs at least one class"),
        (np.zeros((2, 0)), np.zeros(2, dtype=np.int64), r"needs at least one class"),
    ],
)
def test_cross_entropy_loss_bad_inputs(logits, target, match):
    with raises(match):
        shannon.cross_entropy_loss(logits, target)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(reduction="avg"), r"reduction must be one of 'none', 'mean', 'sum', 'batchmean'"),
        (dict(log_target="no"), r"log_target must be True or False"),
        (dict(return_grad=1), r"return_grad must be True or False"),
    ],
)
def test_kl_div_loss_bad_options(kwargs, match):
    with raises(match):
        shannon.kl_div_loss(np.log(M), M, **kwargs)


@pytest.mark.parametrize(
    "input,target,match",
    [
        (np.log(M), np.ones((3, 2)), r"target has shape \(3, 2\): expected the shape of input \(2, 2\)"),
        (np.log(M), -M, r"target"),  # negative probabilities
        (np.array([[math.nan, 0.0]]), np.array([[0.5, 0.5]]), r"input"),
        (np.log(M).astype(complex), M, r"input has dtype complex128"),
    ],
)
def test_kl_div_loss_bad_inputs(input, target, match):
    with raises(match):
        shannon.kl_div_loss(input, target)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(reduction="batchmean"), r"reduction must be one of 'none', 'mean', 'sum'"),
        (dict(weight=np.ones(4)), r"weight has shape \(4,\): expected a shape that broadcasts"),
        (dict(weight=-np.ones(3)), r"weight"),
        (dict(pos_weight=np.ones(4)), r"pos_weight has shape \(4,\): expected one weight per class"),
        (dict(pos_weight=np.ones((2, 3))), r"pos_weight has shape \(2, 3\)"),
        (dict(pos_weight=-np.ones(3)), r"pos_weight"),
    ],
)
def test_bce_bad_options(kwargs, match):
    with raises(match):
        shannon.binary_cross_entropy_with_logits(X, np.full((2, 3), 0.5), **kwargs)


@pytest.mark.parametrize(
    "logits,target,match",
    [
        (X, np.full((3,), 0.5), r"target has shape \(3,\): expected the shape of logits \(2, 3\)"),
        (X, np.full((2, 3), 1.5), r"target"),
        (X, np.full((2, 3), -0.5), r"target"),
        (np.full((2, 3), math.nan), np.full((2, 3), 0.5), r"logits"),
    ],
)
def test_bce_bad_inputs(logits, target, match):
    with raises(match):
        shannon.binary_cross_entropy_with_logits(logits, target)


# ---- the C++ entry points never convert --------------------------------------------------


def test_private_entry_points_refuse_hidden_copies():
    ext = shannon._ext
    with pytest.raises(TypeError):
        ext.entropy_1d(np.array([0.5, 0.5])[::1].astype(np.int64), 2.0, False, False)
    with pytest.raises(TypeError):
        ext.entropy_rows(np.asfortranarray(np.full((3, 2), 0.5)), 2.0, False, False)
    with pytest.raises(TypeError):
        ext.entropy_1d(np.full(4, 0.25)[::2], 2.0, False, False)
