"""The module itself: import, types of results, dtypes, copies, threads, metadata."""

from __future__ import annotations

import concurrent.futures
import inspect
import math
import os
import re
import sys
import threading
import time

import numpy as np
import pytest

import shannon


def test_metadata():
    assert re.fullmatch(r"\d+\.\d+\.\d+", shannon.__version__)
    assert shannon.version() == shannon.__version__
    assert shannon.active_isa() in shannon.available_isas()
    assert shannon.available_isas()[-1] == "scalar"
    assert shannon.unit_name(2) == "bits"
    assert shannon.unit_name("e") == "nats" == shannon.unit_name(math.e)
    assert shannon.unit_name("hartleys") == "hartleys" == shannon.unit_name(10.0)
    assert shannon.unit_name(3) == "base-3 units"


def test_package_ships_type_information():
    pkg = os.path.dirname(shannon.__file__)
    for f in ("py.typed", "__init__.pyi", "_shannon.pyi"):
        assert os.path.isfile(os.path.join(pkg, f)), f


def test_signatures_are_the_documented_ones():
    sig = inspect.signature
    assert str(sig(shannon.information)) == "(p: 'Any', base: 'float | str' = 2) -> 'Any'"
    for f in (shannon.entropy,):
        assert list(sig(f).parameters) == ["p", "base", "axis", "normalize", "check"]
    for f in (shannon.cross_entropy, shannon.kl_divergence):
        assert list(sig(f).parameters) == ["p", "q", "base", "axis", "normalize", "check"]
    ce = sig(shannon.cross_entropy_loss).parameters
    assert list(ce) == [
        "logits", "target", "weight", "ignore_index", "reduction", "label_smoothing",
        "z_loss", "softcap", "base", "return_grad", "grad_out",
    ]
    assert all(ce[k].kind is inspect.Parameter.KEYWORD_ONLY for k in list(ce)[2:])
    assert (ce["ignore_index"].default, ce["reduction"].default, ce["base"].default) == (
        -100, "mean", "e",
    )
    assert ce["return_grad"].default is None and ce["grad_out"].default is None
    kl = sig(shannon.kl_div_loss).parameters
    assert list(kl) == ["input", "target", "reduction", "log_target", "return_grad"]
    bce = sig(shannon.binary_cross_entropy_with_logits).parameters
    assert list(bce) == ["logits", "target", "weight", "pos_weight", "reduction", "return_grad"]


def test_docstrings_state_units_and_edge_cases():
    assert "bits" in shannon.entropy.__doc__ and "0 log 0 = 0" in shannon.entropy.__doc__
    assert "inf" in shannon.kl_divergence.__doc__ and "exactly 0" in shannon.kl_divergence.__doc__
    assert "inf" in shannon.information.__doc__
    assert "nats" in shannon.cross_entropy_loss.__doc__
    assert "nats" in shannon.kl_div_loss.__doc__
    assert "nats" in shannon.binary_cross_entropy_with_logits.__doc__


# ---- result types ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_1d_gives_python_float_nd_gives_array(dtype):
    p = np.full(4, 0.25, dtype=dtype)
    for value in (shannon.entropy(p), shannon.cross_entropy(p, p), shannon.kl_divergence(p, p)):
        assert type(value) is float
    assert shannon.entropy(p) == 2.0
    m = np.full((2, 3, 4), 0.25, dtype=dtype)
    for value in (shannon.entropy(m), shannon.cross_entropy(m, m), shannon.kl_divergence(m, m)):
        assert isinstance(value, np.ndarray) and value.dtype == dtype and value.shape == (2, 3)
    assert shannon.entropy(m, axis=0, normalize=True).shape == (3, 4)


def test_information_shapes():
    assert type(shannon.information(0.5)) is float and shannon.information(0.5) == 1.0
    assert type(shannon.information(np.float32(0.5))) is float
    a = shannon.information(np.full((2, 3), 0.5, dtype=np.float32))
    assert a.shape == (2, 3) and a.dtype == np.float32 and np.all(a == 1)
    assert shannon.information(np.zeros((0, 4))).shape == (0, 4)
    f = np.full((3, 4), 0.5)[:, ::2]  # strided input is fine
    assert np.all(shannon.information(f) == 1)


def test_conversions():
    # Integers and booleans become float64 (as in SciPy); float16 becomes float32, exactly.
    assert shannon.entropy([1, 1, 2], normalize=True) == 1.5
    assert shannon.entropy(np.array([1, 0, 1], dtype=np.uint8), normalize=True) == 1.0
    assert shannon.entropy(np.array([True, True]), normalize=True) == 1.0
    h16 = shannon.entropy(np.array([[0.5, 0.25, 0.25]], dtype=np.float16))
    assert h16.dtype == np.float32 and h16[0] == 1.5
    # Mixed dtypes compute in the wider one.
    assert shannon.kl_divergence(np.float32([0.5, 0.5]), np.float64([0.5, 0.5])) == 0.0
    r = shannon.kl_divergence(np.full((1, 2), 0.5, np.float32), np.full((1, 2), 0.5))
    assert r.dtype == np.float64
    # Non-native byte order and object arrays of numbers are converted.
    assert shannon.entropy(np.array([0.5, 0.5], dtype=">f8")) == 1.0
    assert shannon.entropy(np.array([0.5, 0.5], dtype=object)) == 1.0


def test_broadcasting_of_p_and_q():
    p = np.array([[0.5, 0.5], [0.25, 0.75]])
    q = np.array([0.5, 0.5])
    np.testing.assert_array_equal(
        shannon.kl_divergence(p, q), [shannon.kl_divergence(p[0], q), shannon.kl_divergence(p[1], q)]
    )


# ---- no copies --------------------------------------------------------------------------


@pytest.fixture
def spy(monkeypatch):
    """Records the arrays that reach the C++ entry points."""
    seen: list[np.ndarray] = []

    def wrap(name):
        real = getattr(shannon._ext, name)

        def spy_fn(*args, **kwargs):
            seen.extend(a for a in args if isinstance(a, np.ndarray))
            return real(*args, **kwargs)

        monkeypatch.setattr(shannon._ext, name, spy_fn)

    for name in (
        "entropy_1d", "entropy_rows", "kl_divergence_1d", "kl_divergence_rows",
        "cross_entropy_1d", "cross_entropy_rows", "information", "cross_entropy_loss",
        "cross_entropy_loss_probs", "kl_div_loss", "binary_cross_entropy_with_logits",
    ):
        wrap(name)
    return seen


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_contiguous_float_arrays_are_not_copied(spy, dtype):
    p = np.full(1000, 1e-3, dtype=dtype)
    m = np.full((10, 100), 1e-2, dtype=dtype)
    shannon.entropy(p)
    shannon.kl_divergence(p, p)
    shannon.entropy(m)
    shannon.cross_entropy(m, m)
    shannon.information(m)
    logits = np.zeros((10, 100), dtype=dtype)
    shannon.cross_entropy_loss(logits, np.zeros(10, dtype=np.int64), return_grad=True)
    shannon.cross_entropy_loss(logits, m, return_grad=True)
    shannon.kl_div_loss(logits, m)
    shannon.binary_cross_entropy_with_logits(logits, m)
    originals = [p, m, logits]
    for arr in spy:
        if arr.size > 1 and arr.dtype == dtype:
            assert any(np.shares_memory(arr, o) for o in originals), arr.shape


def test_other_axes_are_made_contiguous_once(spy):
    m = np.full((100, 10), 1e-2)
    shannon.entropy(m, axis=0)
    assert spy[0].flags.c_contiguous and spy[0].shape == (10, 100)
    assert not np.shares_memory(spy[0], m)


# ---- threads and the GIL --------------------------------------------------------------


def test_concurrent_calls_agree(make_dist):
    p = make_dist((8, 20000))
    expected = shannon.entropy(p)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: shannon.entropy(p), range(8)))
    for r in results:
        np.testing.assert_array_equal(r, expected)


def test_gil_is_released_while_computing():
    # With a switch interval of 100 s no thread is ever forced to give up the GIL, so
    # the counter can run while the worker is busy only if the C++ code releases it;
    # the counter itself yields at every step (time.sleep releases the GIL).
    p = np.full(2_000_000, 1 / 2_000_000)
    started, done = threading.Event(), threading.Event()
    ticks = []

    def count():
        started.wait()
        while not done.is_set():
            ticks.append(1)
            time.sleep(0)

    def compute():
        started.set()
        for _ in range(20):
            shannon.kl_divergence(p, p)
        done.set()

    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        counter = threading.Thread(target=count)
        worker = threading.Thread(target=compute)
        counter.start()
        worker.start()
        worker.join(60)
        done.set()
        counter.join(60)
    finally:
        sys.setswitchinterval(old)
    assert len(ticks) > 0


# ---- loss results: types, dtypes and the shapes PyTorch accepts ---------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_loss_result_types(dtype):
    x = np.zeros((4, 3), dtype=dtype)
    y = np.array([0, 1, 2, 0])
    assert type(shannon.cross_entropy_loss(x, y)) is float
    assert math.isclose(shannon.cross_entropy_loss(x, y), math.log(3), rel_tol=1e-6)
    assert math.isclose(shannon.cross_entropy_loss(x, y, base=2), math.log2(3), rel_tol=1e-6)
    loss, grad = shannon.cross_entropy_loss(x, y, reduction="none", return_grad=True)
    assert loss.dtype == grad.dtype == dtype and loss.shape == (4,) and grad.shape == (4, 3)
    loss, grad = shannon.kl_div_loss(x, np.full((4, 3), 1 / 3, dtype), return_grad=True)
    assert type(loss) is float and grad.dtype == dtype
    loss = shannon.binary_cross_entropy_with_logits(x, x, reduction="none")
    assert loss.dtype == dtype and loss.shape == (4, 3)


def test_loss_conversions():
    # float16 logits compute in float32; integer logits in float64; targets follow the logits.
    _, g16 = shannon.cross_entropy_loss(np.zeros((2, 3), np.float16), [0, 1], return_grad=True)
    assert g16.dtype == np.float32
    _, gi = shannon.cross_entropy_loss([[0, 0, 0]], [2], return_grad=True)
    assert gi.dtype == np.float64
    assert shannon.cross_entropy_loss(np.zeros((1, 2), np.float32), np.int32([1])) == pytest.approx(
        math.log(2)
    )
    # Unsigned and narrow integer class indices are fine.
    assert shannon.cross_entropy_loss(np.zeros((1, 2)), np.uint8([1])) == pytest.approx(math.log(2))


try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch cannot be imported")


def _torch_loss(fn, x, *args, **kwargs):
    xt = torch.tensor(x, requires_grad=True)
    loss = fn(xt, *[torch.tensor(a) if isinstance(a, np.ndarray) else a for a in args], **kwargs)
    loss.sum().backward()
    return loss.detach().numpy(), xt.grad.numpy()


@needs_torch
@pytest.mark.parametrize(
    "shape,target_shape",
    [((5, 4), (5,)), ((4,), ()), ((3, 4, 2, 5), (3, 2, 5)), ((0, 4), (0,))],
    ids=["NxC", "C", "NxCxd1xd2", "empty"],
)
@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_cross_entropy_loss_shapes_follow_torch(rng, shape, target_shape, reduction):
    x = rng.normal(size=shape)
    y = rng.integers(0, 4, size=target_shape)
    w = np.array([1.0, 2.0, 0.5, 1.0])
    loss, grad = shannon.cross_entropy_loss(x, y, weight=w, reduction=reduction, return_grad=True)
    tl, tg = _torch_loss(torch.nn.functional.cross_entropy, x, y, weight=torch.tensor(w),
                         reduction=reduction)
    assert np.shape(loss) == tl.shape and grad.shape == tg.shape == shape
    np.testing.assert_allclose(loss, tl, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad, tg, rtol=1e-12, atol=1e-15)
    if shape[0] and len(shape) != 1:  # probabilities of the shape of the logits
        p = rng.random(shape)
        p /= p.sum(axis=1, keepdims=True)
        loss, grad = shannon.cross_entropy_loss(x, p, reduction=reduction, return_grad=True)
        tl, tg = _torch_loss(torch.nn.functional.cross_entropy, x, p, reduction=reduction)
        np.testing.assert_allclose(loss, tl, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(grad, tg, rtol=1e-12, atol=1e-15)


@needs_torch
@pytest.mark.parametrize("shape", [(5, 3), (7,), (2, 3, 4), ()], ids=str)
@pytest.mark.parametrize("reduction", ["none", "batchmean"])
def test_kl_div_loss_shapes_follow_torch(rng, shape, reduction):
    if shape == () and reduction == "batchmean":
        pytest.skip("PyTorch's batchmean needs a dimension")
    x = np.log(rng.random(shape))
    p = rng.random(shape)
    loss, grad = shannon.kl_div_loss(x, p, reduction=reduction, return_grad=True)
    tl, tg = _torch_loss(torch.nn.functional.kl_div, x, p, reduction=reduction)
    assert np.shape(loss) == tl.shape and grad.shape == tg.shape
    np.testing.assert_allclose(loss, tl, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad, tg, rtol=1e-12, atol=1e-15)


@needs_torch
@pytest.mark.parametrize("shape", [(5, 3), (7,), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("weight", ["element", "class", "row", "scalar"])
def test_bce_weight_shapes_follow_torch(rng, shape, weight):
    x = rng.normal(size=shape) * 3
    y = rng.random(shape)
    w = {
        "element": rng.random(shape),
        "class": rng.random(shape[-1:]),
        "row": rng.random(shape[:-1] + (1,)),
        "scalar": np.array(0.5),
    }[weight]
    pw = rng.random(shape[-1:]) + 0.5
    loss, grad = shannon.binary_cross_entropy_with_logits(
        x, y, weight=w, pos_weight=pw, reduction="none", return_grad=True
    )
    tl, tg = _torch_loss(torch.nn.functional.binary_cross_entropy_with_logits, x, y,
                         weight=torch.tensor(w), pos_weight=torch.tensor(pw), reduction="none")
    assert loss.shape == tl.shape == shape and grad.shape == shape
    np.testing.assert_allclose(loss, tl, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad, tg, rtol=1e-12, atol=1e-15)


# ---- cross_entropy_loss(..., grad_out=): a preallocated gradient ---------------------------

GRAD_OUT_SHAPES = [(5, 7), (7,), (3, 4, 2, 5), (3, 4, 1), (3, 1, 4), (0, 4)]


def _ce_inputs(rng, shape, kind, dtype):
    """Logits of `shape` and a target of `kind` ("index" or "probs") for them."""
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    c = shape[0] if len(shape) == 1 else shape[1]
    if kind == "probs":
        p = rng.random(shape) + 1e-3
        return x, (p / p.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)).astype(dtype)
    index_shape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    return x, rng.integers(0, c, size=index_shape)


CE_OPTIONS = [
    {},
    {"reduction": "none"},
    {"reduction": "sum", "label_smoothing": 0.1, "z_loss": 1e-3, "softcap": 5.0, "base": 2},
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("options", CE_OPTIONS, ids=["mean", "none", "sum_smooth_z_cap_bits"])
@pytest.mark.parametrize("kind", ["index", "probs"])
@pytest.mark.parametrize("shape", GRAD_OUT_SHAPES, ids=str)
def test_grad_out_is_bit_identical_to_return_grad(rng, shape, kind, options, dtype):
    x, t = _ce_inputs(rng, shape, kind, dtype)
    kwargs = dict(options, weight=rng.uniform(0.5, 2.0, x.shape[0 if x.ndim == 1 else 1]))
    loss, grad = shannon.cross_entropy_loss(x, t, return_grad=True, **kwargs)
    x_before = x.copy()
    g = np.full_like(x, np.nan)  # every element must be written
    result = shannon.cross_entropy_loss(x, t, grad_out=g, **kwargs)
    assert type(result) is tuple and len(result) == 2
    assert result[1] is g
    assert g.tobytes() == grad.tobytes()  # bit for bit
    assert np.asarray(result[0]).tobytes() == np.asarray(loss).tobytes()
    assert type(result[0]) is type(loss)
    assert x.tobytes() == x_before.tobytes()  # the logits are left alone
    # return_grad=True with grad_out is the same call; the buffer is reused as it is.
    x2 = np.flip(x, axis=0).copy()
    _, grad2 = shannon.cross_entropy_loss(x2, t, return_grad=True, **kwargs)
    again = shannon.cross_entropy_loss(x2, t, return_grad=True, grad_out=g, **kwargs)
    assert again[1] is g and g.tobytes() == grad2.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("options", CE_OPTIONS, ids=["mean", "none", "sum_smooth_z_cap_bits"])
@pytest.mark.parametrize("kind", ["index", "probs"])
@pytest.mark.parametrize("shape", GRAD_OUT_SHAPES, ids=str)
def test_grad_out_logits_is_in_place(rng, shape, kind, options, dtype):
    x, t = _ce_inputs(rng, shape, kind, dtype)
    loss, grad = shannon.cross_entropy_loss(x, t, return_grad=True, **options)
    logits = x.copy()
    result = shannon.cross_entropy_loss(logits, t, grad_out=logits, **options)
    assert result[1] is logits
    np.testing.assert_array_equal(logits, grad)  # the gradient overwrote the logits
    np.testing.assert_array_equal(result[0], loss)


@pytest.mark.parametrize("kind", ["index", "probs"])
def test_grad_out_reaches_the_core_without_a_copy(rng, monkeypatch, kind):
    calls = []
    name = "cross_entropy_loss_probs" if kind == "probs" else "cross_entropy_loss"
    real = getattr(shannon._ext, name)

    def spy_fn(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(shannon._ext, name, spy_fn)
    for shape in [(6, 5), (5,), (2, 5, 1)]:
        x, t = _ce_inputs(rng, shape, kind, np.float32)
        g = np.empty_like(x)
        shannon.cross_entropy_loss(x, t, grad_out=g)
        logits, grad = calls[-1][0], calls[-1][-1]
        assert np.shares_memory(grad, g) and grad.size == g.size
        assert np.shares_memory(logits, x) and not np.shares_memory(logits, g)
        # In place: the core gets the logits' own buffer as both input and gradient.
        shannon.cross_entropy_loss(x, t, grad_out=x)
        logits, grad = calls[-1][0], calls[-1][-1]
        assert np.shares_memory(logits, x) and np.shares_memory(grad, x)
        assert logits.ctypes.data == grad.ctypes.data == x.ctypes.data


def _grad_out_error_cases():
    """(name, logits, target, kwargs, message) for every grad_out the function refuses."""
    x = np.arange(15.0).reshape(3, 5) / 10
    t = np.array([0, 4, 2])
    p = np.full((3, 5), 0.2)
    w = np.ones(5)
    big = np.zeros((4, 5))
    flat = np.zeros(30)
    read_only = np.zeros((3, 5))
    read_only.flags.writeable = False
    return [
        ("shape", x, t, dict(grad_out=np.zeros((3, 4))),
         r"^grad_out has shape \(3, 4\) but logits have shape \(3, 5\)$"),
        ("shape_1d", x[0], 1, dict(grad_out=np.zeros((1, 5))),
         r"^grad_out has shape \(1, 5\) but logits have shape \(5,\)$"),
        ("dtype", x, t, dict(grad_out=np.zeros((3, 5), np.float32)),
         r"^grad_out has dtype float32 but logits have dtype float64$"),
        ("dtype_float16", x.astype(np.float16), t, dict(grad_out=x.astype(np.float16)),
         r"^grad_out has dtype float16 but the gradient of float16 logits has dtype float32"),
        ("byte_order", x, t, dict(grad_out=np.zeros((3, 5), ">f8")),
         r"^grad_out has dtype >f8 but logits have dtype float64$"),
        ("fortran_order", x, t, dict(grad_out=np.zeros((3, 5), order="F")),
         r"^grad_out is not C-contiguous \(strides \(8, 24\)\)"),
        ("strided", x, t, dict(grad_out=np.zeros((3, 10))[:, ::2]),
         r"^grad_out is not C-contiguous"),
        ("read_only", x, t, dict(grad_out=read_only),
         r"^grad_out is read-only"),
        ("list", x, t, dict(grad_out=[[0.0] * 5] * 3),
         r"^grad_out must be a numpy.ndarray .*got builtins.list$"),
        ("return_grad_false", x, t, dict(grad_out=np.zeros((3, 5)), return_grad=False),
         r"^return_grad=False contradicts grad_out"),
        ("return_grad_not_bool", x, t, dict(grad_out=np.zeros((3, 5)), return_grad=1),
         r"^return_grad must be True or False"),
        ("overlap_shifted", big[:3], t, dict(grad_out=big[1:]),
         r"^grad_out overlaps logits without being the logits array itself"),
        ("overlap_reshaped", flat[:15].reshape(3, 5), t, dict(grad_out=flat[5:20].reshape(3, 5)),
         r"^grad_out overlaps logits without being the logits array itself"),
        ("overlap_transposed", np.zeros((4, 4)), np.zeros(4, int),
         dict(grad_out=None),  # filled in below: the transposed view of the same square
         r"^grad_out (overlaps logits without being|is not C-contiguous)"),
        ("overlap_target", x, p, dict(grad_out=p),
         r"^grad_out overlaps target: they must be separate arrays$"),
        ("zero_strides", x, t, dict(weight=w, grad_out=np.lib.stride_tricks.as_strided(
            w, shape=(3, 5), strides=(0, 8), writeable=True)),
         r"^grad_out is not C-contiguous"),
        ("overlap_weight_block", np.zeros((1, 5)), np.array([1]),
         dict(weight=w, grad_out=w.reshape(1, 5)),
         r"^grad_out overlaps weight: they must be separate arrays$"),
    ]


@pytest.mark.parametrize("case", _grad_out_error_cases(), ids=lambda c: c[0])
def test_grad_out_errors(case):
    name, logits, target, kwargs, message = case
    if name == "overlap_transposed":
        kwargs["grad_out"] = logits
        logits = logits.T
    g = kwargs["grad_out"]
    before = np.array(g, copy=True) if isinstance(g, np.ndarray) else None
    logits_before = np.array(logits, copy=True)
    with pytest.raises(ValueError, match=message):
        shannon.cross_entropy_loss(logits, target, **kwargs)
    # Refused before anything was written, and the library works as before.
    if before is not None:
        assert np.array_equal(g, before)
    assert np.array_equal(logits, logits_before)
    x = np.asarray(logits)
    fresh = np.empty(x.shape, np.float32 if x.dtype == np.float16 else x.dtype)
    w = kwargs.get("weight")
    loss, grad = shannon.cross_entropy_loss(logits, target, weight=w, return_grad=True)
    result = shannon.cross_entropy_loss(logits, target, weight=w, grad_out=fresh)
    assert result[0] == loss and result[1] is fresh
    np.testing.assert_array_equal(fresh, grad)


def test_grad_out_after_a_library_error(rng):
    # Refused values raise once the computation has started; grad_out is then unspecified,
    # and the next call with the same buffer is right.
    x = rng.normal(size=(4, 6))
    g = np.empty_like(x)
    bad = x.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"logits"):
        shannon.cross_entropy_loss(bad, [0, 1, 2, 3], grad_out=g)
    with pytest.raises(ValueError, match=r"target"):
        shannon.cross_entropy_loss(x, [0, 1, 6, 3], grad_out=g)
    with pytest.raises(ValueError):
        shannon.cross_entropy_loss(bad, [0, 1, 2, 3], grad_out=bad)  # in place
    loss, grad = shannon.cross_entropy_loss(x, [0, 1, 2, 3], return_grad=True)
    result = shannon.cross_entropy_loss(x, [0, 1, 2, 3], grad_out=g)
    assert result[0] == loss and result[1] is g
    np.testing.assert_array_equal(g, grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binding_checks_grad_out_itself(dtype):
    # The C++ entry points check what the Python layer already guarantees.
    ext = shannon._ext
    buf = np.zeros((4, 5), dtype)
    x = buf[:3]
    t = np.array([0, 1, 2])
    opts = (np.empty(0, dtype), -100, "mean", 0.0, 0.0, 0.0, "e")
    with pytest.raises(ValueError, match=r"grad overlaps logits"):
        ext.cross_entropy_loss(x, t, *opts, True, buf[1:])
    with pytest.raises(ValueError, match=r"^grad_out has shape \(3, 4\) but logits have shape"):
        ext.cross_entropy_loss(x, t, *opts, True, np.zeros((3, 4), dtype))
    read_only = np.zeros((3, 5), dtype)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match=r"grad_out is read-only"):
        ext.cross_entropy_loss(x, t, *opts, True, read_only)
    with pytest.raises(ValueError, match=r"grad_out implies return_grad"):
        ext.cross_entropy_loss(x, t, *opts, False, np.zeros((3, 5), dtype))
    with pytest.raises(TypeError):  # never converted: another dtype matches no overload
        ext.cross_entropy_loss(x, t, *opts, True, np.zeros((3, 5), np.float16))
    g = np.zeros((3, 5), dtype)
    loss, grad = ext.cross_entropy_loss(x, t, *opts, True, g)
    assert grad is g and loss.shape == (1,)
    ref_loss, ref_grad = ext.cross_entropy_loss(x, t, *opts, True)
    assert loss.tobytes() == ref_loss.tobytes() and g.tobytes() == ref_grad.tobytes()


def test_large_gradients_reuse_the_memory_of_the_last_one_freed(rng):
    # 2048 x 256 floats (2 MiB) lie above the 1 MiB from which the block is kept.
    x = rng.standard_normal((2048, 256)).astype(np.float32)
    t = rng.integers(0, 256, 2048)
    _, g1 = shannon.cross_entropy_loss(x, t, return_grad=True)
    expected = g1.copy()
    address = g1.ctypes.data
    del g1
    _, g2 = shannon.cross_entropy_loss(x, t, return_grad=True)
    assert g2.ctypes.data == address  # the freed block came back
    assert g2.flags.writeable and g2.flags.c_contiguous
    assert g2.tobytes() == expected.tobytes()
    view = g2[:4]
    del g2
    _, g3 = shannon.cross_entropy_loss(x, t, return_grad=True)
    assert g3.ctypes.data != address  # a view keeps its block alive
    assert view.tobytes() == expected[:4].tobytes()
    del view, g3
    shannon.release_memory()
    # Small gradients are NumPy's own.
    assert shannon.cross_entropy_loss(x[:8], t[:8], return_grad=True)[1].flags.owndata
