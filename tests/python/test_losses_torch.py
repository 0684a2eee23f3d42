"""Conformance of the shannon losses with PyTorch (Debian's python3-torch 1.13).

Every combination of target kind, weight, ignore_index, reduction and label
smoothing, in float32 and float64, plus wide rows, huge and -inf logits, z_loss,
softcap, kl_div and binary_cross_entropy_with_logits: forward against torch in
float64 on the same inputs, gradient against torch autograd.

Tolerances (issue 3): the loss within 2e-6 (float32) or 1e-12 (float64) relative
of the float64 reference; the gradient within a few float32 ulps, or 1e-12
relative in float64. The floors (atol) cover torch's own float64 rounding where
it cancels (lse - x_t for a confident row, softmax - 1 at the target).
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

shannon = pytest.importorskip("shannon")
torch = pytest.importorskip("torch")
F = torch.nn.functional

DTYPES = [np.float32, np.float64]
LOSS_RTOL = {np.float32: 2e-6, np.float64: 1e-12}


# ---- helpers --------------------------------------------------------------------------


def _rng(*key: object) -> np.random.Generator:
    """A generator seeded by the test's parameters, the same in every run."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _t64(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    t = torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64)
    return t.requires_grad_(grad)


def _probs(rng: np.random.Generator, n: int, c: int, dtype) -> np.ndarray:
    w = rng.exponential(size=(n, c))
    w[rng.random((n, c)) < 0.2] = 0.0
    w[:, 0] += 1e-3
    return (w / w.sum(axis=1, keepdims=True)).astype(dtype)


def assert_loss_close(ours, ref, dtype, scale: float = 1.0) -> None:
    """Relative to the float64 reference, with a floor for torch's own rounding at `scale`."""
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=LOSS_RTOL[dtype], atol=1e-15 * scale)


def assert_grad_close(ours: np.ndarray, ref: np.ndarray, dtype) -> None:
    """float32: within 4 ulp of the reference; float64: 1e-12 relative. Floors for cancellation."""
    assert ours.dtype == np.dtype(dtype)
    ref = np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape
    err = np.abs(ours.astype(np.float64) - ref)
    big = float(np.max(np.abs(ref))) if ref.size else 0.0
    if dtype == np.float32:
        tol = 4 * np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64) + 1e-12 * big
    else:
        tol = 1e-12 * np.abs(ref) + 1e-14 * big
    worst = np.argmax(err - tol) if err.size else 0
    assert np.all(err <= tol), (
        f"gradient off at {np.unravel_index(worst, err.shape)}: "
        f"{ours.flat[worst]!r} vs {ref.flat[worst]!r} (tolerance {tol.flat[worst]:.3g})"
    )


def torch_cross_entropy(x, target, *, weight=None, ignore_index=-100, reduction="mean",
                        label_smoothing=0.0, z_loss=0.0, softcap=None, probs=False):
    """PyTorch's loss in float64 (plus z-loss and softcap composed from torch ops) and its
    autograd gradient (of the sum for reduction none)."""
    xt = _t64(x, grad=True)
    z = softcap * torch.tanh(xt / softcap) if softcap else xt
    tt = _t64(target) if probs else torch.tensor(np.asarray(target, dtype=np.int64))
    wt = None if weight is None else _t64(weight)
    loss = F.cross_entropy(z, tt, weight=wt, ignore_index=ignore_index, reduction=reduction,
                           label_smoothing=label_smoothing)
    if z_loss:
        lse = torch.logsumexp(z, dim=1)
        kept = torch.ones_like(lse, dtype=torch.bool) if probs else tt != ignore_index
        zrow = z_loss * lse**2 * kept
        if reduction == "none":
            loss = loss + zrow
        elif reduction == "sum":
            loss = loss + zrow.sum()
        else:
            loss = loss + zrow.sum() / kept.sum()
    (loss.sum() if reduction == "none" else loss).backward()
    return loss.detach().numpy(), xt.grad.numpy()


# ---- cross_entropy_loss: every combination ------------------------------------------------

N, C = 16, 10


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("ignore", [False, True], ids=["all_kept", "ignore_index"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("kind", ["index", "probs"])
def test_cross_entropy_matches_torch(kind, weighted, ignore, reduction, smoothing, dtype):
    rng = _rng("ce", kind, weighted, ignore, reduction, smoothing, dtype)
    x = (3 * rng.standard_normal((N, C))).astype(dtype)
    weight = rng.uniform(0.2, 2.0, C).astype(dtype) if weighted else None
    ignore_index = 2 if ignore else -100
    probs = kind == "probs"
    if probs:
        target = _probs(rng, N, C, dtype)
    else:
        target = rng.integers(0, C, N)
        if ignore:
            target[[1, 5, 6]] = ignore_index
    kwargs = dict(weight=weight, ignore_index=ignore_index, reduction=reduction,
                  label_smoothing=smoothing)
    if probs and ignore:
        # Both refuse ignore_index with probability targets.
        with pytest.raises(RuntimeError, match="ignore_index is not supported"):
            torch_cross_entropy(x, target, probs=True, **kwargs)
        with pytest.raises(ValueError, match="ignore_index = 2 applies to class-index targets"):
            shannon.cross_entropy_loss(x, target, **kwargs)
        return
    loss, grad = shannon.cross_entropy_loss(x, target, return_grad=True, **kwargs)
    ref_loss, ref_grad = torch_cross_entropy(x, target, probs=probs, **kwargs)
    assert_loss_close(loss, ref_loss, dtype, scale=float(np.max(np.abs(x))))
    assert_grad_close(grad, ref_grad, dtype)
    # The loss alone is the same value.
    assert np.array_equal(np.asarray(shannon.cross_entropy_loss(x, target, **kwargs)),
                          np.asarray(loss))



@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("in_place", [False, True], ids=["buffer", "in_place"])
@pytest.mark.parametrize("kind", ["index", "probs"])
def test_grad_out_matches_torch(kind, in_place, reduction, dtype):
    """The gradient written into a reused grad_out (or over the logits) is torch's."""
    rng = _rng("grad_out", kind, in_place, reduction, dtype)
    probs = kind == "probs"
    weight = rng.uniform(0.2, 2.0, C).astype(dtype)
    kwargs = dict(weight=weight, reduction=reduction, label_smoothing=0.1)
    buffer = np.full((N, C), np.nan, dtype=dtype)
    for _ in range(2):  # the same buffer, twice
        x = (3 * rng.standard_normal((N, C))).astype(dtype)
        target = _probs(rng, N, C, dtype) if probs else rng.integers(0, C, N)
        ref_loss, ref_grad = torch_cross_entropy(x, target, probs=probs, **kwargs)
        g = x if in_place else buffer
        loss, grad = shannon.cross_entropy_loss(x, target, grad_out=g, **kwargs)
        assert grad is g
        assert_loss_close(loss, ref_loss, dtype, scale=30.0)
        assert_grad_close(g, ref_grad, dtype)


def test_grad_out_must_be_a_numpy_array():
    x = torch.zeros(3, 4)
    t = torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match=r"^grad_out must be a numpy.ndarray .*torch.Tensor$"):
        shannon.cross_entropy_loss(x, t, grad_out=torch.empty(3, 4))
    # A NumPy view of the tensor's memory is fine, and grad_out=logits.numpy() is in place.
    loss, grad = shannon.cross_entropy_loss(x, t, grad_out=x.numpy())
    assert np.shares_memory(grad, x.numpy())
    ref_loss, ref_grad = torch_cross_entropy(np.zeros((3, 4)), np.array([0, 1, 2]))
    assert_loss_close(loss, ref_loss, np.float32)
    assert_grad_close(x.numpy(), ref_grad, np.float32)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("kind", ["index", "probs"])
def test_wide_rows_match_torch(kind, dtype):
    rng = _rng("wide", kind, dtype)
    n, c = 4, 50000
    x = (4 * rng.standard_normal((n, c))).astype(dtype)
    weight = rng.uniform(0.2, 2.0, c).astype(dtype)
    probs = kind == "probs"
    target = _probs(rng, n, c, dtype) if probs else rng.integers(0, c, n)
    for kwargs in (dict(), dict(weight=weight, label_smoothing=0.1, reduction="none")):
        loss, grad = shannon.cross_entropy_loss(x, target, return_grad=True, **kwargs)
        ref_loss, ref_grad = torch_cross_entropy(x, target, probs=probs, **kwargs)
        assert_loss_close(loss, ref_loss, dtype, scale=float(np.max(np.abs(x))))
        assert_grad_close(grad, ref_grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("magnitude", [1e4, 1e30])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_large_logits_match_torch(magnitude, smoothing, dtype):
    rng = _rng("large", magnitude, smoothing, dtype)
    x = (magnitude * rng.standard_normal((8, 12))).astype(dtype)
    x[0] = dtype(magnitude)  # all equal: the loss is log C
    target = rng.integers(0, 12, 8)
    for reduction in ("none", "mean"):
        kwargs = dict(reduction=reduction, label_smoothing=smoothing)
        loss, grad = shannon.cross_entropy_loss(x, target, return_grad=True, **kwargs)
        ref_loss, ref_grad = torch_cross_entropy(x, target, **kwargs)
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
        assert_loss_close(loss, ref_loss, dtype, scale=magnitude)
        assert_grad_close(grad, ref_grad, dtype)
    row0 = shannon.cross_entropy_loss(x[:1], target[:1])
    assert abs(row0 - math.log(12)) <= LOSS_RTOL[dtype] * math.log(12)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_minus_infinity_masks_classes_as_in_torch(dtype):
    rng = _rng("masked", dtype)
    x = rng.standard_normal((6, 7)).astype(dtype)
    x[:, [1, 4]] = -np.inf
    target = np.array([0, 2, 3, 5, 6, 0])
    for reduction in ("none", "mean", "sum"):
        loss, grad = shannon.cross_entropy_loss(x, target, reduction=reduction, return_grad=True)
        ref_loss, ref_grad = torch_cross_entropy(x, target, reduction=reduction)
        assert_loss_close(loss, ref_loss, dtype)
        assert_grad_close(grad, ref_grad, dtype)
        assert np.all(grad[:, [1, 4]] == 0)
    # A masked target: +inf, as in torch.
    target[2] = 4
    loss = shannon.cross_entropy_loss(x, target, reduction="none")
    ref = F.cross_entropy(_t64(x), torch.tensor(target), reduction="none").numpy()
    assert loss[2] == np.inf == ref[2]
    # Smoothing puts eps / C on the masked classes: +inf in both.
    assert shannon.cross_entropy_loss(x, np.zeros(6, dtype=np.int64), label_smoothing=0.1) == np.inf
    assert F.cross_entropy(_t64(x), torch.zeros(6, dtype=torch.long), label_smoothing=0.1) == np.inf


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_every_target_ignored_is_zero_where_torch_gives_nan(smoothing, dtype):
    x = np.arange(12, dtype=dtype).reshape(3, 4)
    target = np.full(3, -100)
    loss, grad = shannon.cross_entropy_loss(x, target, label_smoothing=smoothing,
                                            return_grad=True)
    assert loss == 0.0 and np.all(grad == 0)
    ref = F.cross_entropy(_t64(x), torch.tensor(target), label_smoothing=smoothing)
    assert torch.isnan(ref)  # the documented difference
    assert shannon.cross_entropy_loss(x, target, reduction="sum") == 0.0


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("kind", ["index", "probs"])
@pytest.mark.parametrize("z_loss, softcap", [(1e-3, None), (0.0, 2.5), (1e-2, 30.0)])
def test_z_loss_and_softcap_match_torch_compositions(z_loss, softcap, kind, reduction, dtype):
    rng = _rng("zcap", z_loss, softcap, kind, reduction, dtype)
    x = (5 * rng.standard_normal((N, C))).astype(dtype)
    probs = kind == "probs"
    weight = rng.uniform(0.2, 2.0, C).astype(dtype)
    if probs:
        target = _probs(rng, N, C, dtype)
    else:
        target = rng.integers(0, C, N)
        target[[0, 3]] = -100
    kwargs = dict(weight=weight, reduction=reduction, label_smoothing=0.05, z_loss=z_loss,
                  softcap=softcap)
    loss, grad = shannon.cross_entropy_loss(x, target, return_grad=True, **kwargs)
    ref_loss, ref_grad = torch_cross_entropy(x, target, probs=probs, **kwargs)
    assert_loss_close(loss, ref_loss, dtype, scale=float(np.max(np.abs(x))))
    assert_grad_close(grad, ref_grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_bits_divide_by_ln_2(dtype):
    rng = _rng("bits", dtype)
    x = rng.standard_normal((5, 6)).astype(dtype)
    target = rng.integers(0, 6, 5)
    loss, grad = shannon.cross_entropy_loss(x, target, base=2, return_grad=True)
    ref_loss, ref_grad = torch_cross_entropy(x, target)
    assert_loss_close(loss, ref_loss / math.log(2), dtype)
    assert_grad_close(grad, ref_grad / math.log(2), dtype)


# ---- kl_div_loss ----------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "batchmean"])
def test_kl_div_matches_torch(reduction, log_target, dtype):
    rng = _rng("kl", reduction, log_target, dtype)
    q = _probs(rng, 8, 9, np.float64)
    q = np.where(q == 0, 1e-3, q)
    inp = np.log(q / q.sum(axis=1, keepdims=True)).astype(dtype)
    p = _probs(rng, 8, 9, dtype)
    target = np.log(np.where(p == 0, 1e-30, p)).astype(dtype) if log_target else p
    loss, grad = shannon.kl_div_loss(inp, target, reduction=reduction, log_target=log_target,
                                     return_grad=True)
    xt = _t64(inp, grad=True)
    ref = F.kl_div(xt, _t64(target), reduction=reduction, log_target=log_target)
    (ref.sum() if reduction == "none" else ref).backward()
    assert_loss_close(loss, ref.detach().numpy(), dtype, scale=10.0)
    assert_grad_close(grad, xt.grad.numpy(), dtype)


# ---- binary_cross_entropy_with_logits --------------------------------------------------------

WEIGHT_SHAPES = {"none": None, "scalar": (1,), "per_class": (C,), "per_element": (N, C)}
POS_WEIGHT_SHAPES = {"none": None, "scalar": (1,), "per_class": (C,)}


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("pos_weight_shape", list(POS_WEIGHT_SHAPES))
@pytest.mark.parametrize("weight_shape", list(WEIGHT_SHAPES))
@pytest.mark.parametrize("scale", [3.0, 1e4])
def test_bce_with_logits_matches_torch(scale, weight_shape, pos_weight_shape, reduction, dtype):
    rng = _rng("bce", scale, weight_shape, pos_weight_shape, reduction, dtype)
    x = (scale * rng.standard_normal((N, C))).astype(dtype)
    y = rng.random((N, C))
    y[rng.random((N, C)) < 0.3] = 1.0
    y = y.astype(dtype)
    ws, pws = WEIGHT_SHAPES[weight_shape], POS_WEIGHT_SHAPES[pos_weight_shape]
    weight = None if ws is None else rng.uniform(0.2, 2.0, ws).astype(dtype)
    pos_weight = None if pws is None else rng.uniform(0.2, 3.0, pws).astype(dtype)
    loss, grad = shannon.binary_cross_entropy_with_logits(
        x, y, weight=weight, pos_weight=pos_weight, reduction=reduction, return_grad=True)
    xt = _t64(x, grad=True)
    ref = F.binary_cross_entropy_with_logits(
        xt, _t64(y), weight=None if weight is None else _t64(weight),
        pos_weight=None if pos_weight is None else _t64(pos_weight), reduction=reduction)
    (ref.sum() if reduction == "none" else ref).backward()
    assert_loss_close(loss, ref.detach().numpy(), dtype, scale=scale)
    assert_grad_close(grad, xt.grad.numpy(), dtype)

