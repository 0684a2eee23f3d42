"""shannon.torch: autograd Functions and nn.Modules in PyTorch training code (CPU)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import shannon.torch as st  # noqa: E402

# PyTorch 1.13 warns that kl_div's "mean" will change; shannon follows today's meaning.
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")

DTYPES = [torch.float32, torch.float64]


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-14)


def leaf(t):
    return t.detach().clone().requires_grad_(True)


def forward_backward(fn, x, *args, upstream=None, **kwargs):
    """Loss and d(loss . upstream)/dx of fn(x, ...), for a fresh leaf x."""
    x = leaf(x)
    loss = fn(x, *args, **kwargs)
    (loss if upstream is None else (loss * upstream).sum()).backward()
    return loss.detach(), x.grad


# ---- gradcheck in float64 ------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(reduction="sum"),
        dict(reduction="none"),
        dict(label_smoothing=0.2, weight=True),
        dict(z_loss=1e-2, softcap=3.0),
        dict(ignore_index=1, reduction="mean", weight=True),
        dict(base=2),
    ],
    ids=["mean", "sum", "none", "smooth+weight", "zloss+softcap", "ignore", "bits"],
)
def test_gradcheck_cross_entropy(kwargs):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 4, 1])
    if kwargs.pop("weight", False):
        kwargs["weight"] = torch.rand(5, generator=g, dtype=torch.float64) + 0.5
    assert torch.autograd.gradcheck(lambda x: st.cross_entropy(x, y, **kwargs), (x,))


def test_gradcheck_cross_entropy_probabilities_and_kdim():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    p = torch.softmax(torch.randn(3, 4, generator=g, dtype=torch.float64), -1)
    assert torch.autograd.gradcheck(lambda x: st.cross_entropy(x, p, label_smoothing=0.1), (x,))
    x3 = torch.randn(2, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y3 = torch.randint(0, 3, (2, 4), generator=g)
    assert torch.autograd.gradcheck(lambda x: st.cross_entropy(x, y3, reduction="none"), (x3,))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_gradcheck_kl_div(reduction, log_target):
    g = torch.Generator().manual_seed(3)
    x = torch.log_softmax(torch.randn(3, 4, generator=g, dtype=torch.float64), -1)
    p = torch.softmax(torch.randn(3, 4, generator=g, dtype=torch.float64), -1)
    t = p.log() if log_target else p
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: st.kl_div(x, t, reduction=reduction, log_target=log_target), (x,)
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_bce(reduction):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.rand(3, 4, generator=g, dtype=torch.float64)
    w = torch.rand(4, generator=g, dtype=torch.float64)
    pw = torch.rand(4, generator=g, dtype=torch.float64) + 0.5
    assert torch.autograd.gradcheck(
        lambda x: st.binary_cross_entropy_with_logits(
            x, y, weight=w, pos_weight=pw, reduction=reduction
        ),
        (x,),
    )


# ---- equality with torch.nn.functional ---------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "options",
    [dict(), dict(label_smoothing=0.1), dict(ignore_index=2), dict(weight=True)],
    ids=["plain", "smoothing", "ignore", "weight"],
)
def test_cross_entropy_equals_torch(dtype, reduction, options):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(16, 7, generator=g, dtype=dtype) * 4
    y = torch.randint(0, 7, (16,), generator=g)
    opts = dict(options)
    if opts.pop("weight", False):
        opts["weight"] = torch.rand(7, generator=g, dtype=dtype) + 0.1
    upstream = torch.rand(16, generator=g, dtype=dtype) if reduction == "none" else None
    ours = forward_backward(st.cross_entropy, x, y, reduction=reduction, upstream=upstream, **opts)
    theirs = forward_backward(F.cross_entropy, x, y, reduction=reduction, upstream=upstream, **opts)
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype == dtype and a.shape == b.shape
        torch.testing.assert_close(a, b, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_kdim_and_probabilities_equal_torch(dtype):
    g = torch.Generator().manual_seed(6)
    x = torch.randn(2, 5, 3, 4, generator=g, dtype=dtype)
    y = torch.randint(0, 5, (2, 3, 4), generator=g)
    up = torch.rand(2, 3, 4, generator=g, dtype=dtype)
    for a, b in zip(
        forward_backward(st.cross_entropy, x, y, reduction="none", upstream=up),
        forward_backward(F.cross_entropy, x, y, reduction="none", upstream=up),
    ):
        torch.testing.assert_close(a, b, **tol(dtype))
    p = torch.softmax(torch.randn(6, 5, generator=g, dtype=dtype), -1)
    x2 = torch.randn(6, 5, generator=g, dtype=dtype)
    for a, b in zip(
        forward_backward(st.cross_entropy, x2, p, label_smoothing=0.3),
        forward_backward(F.cross_entropy, x2, p, label_smoothing=0.3),
    ):
        torch.testing.assert_close(a, b, **tol(dtype))
    # One unbatched sample.
    for a, b in zip(
        forward_backward(st.cross_entropy, x2[0], y[0, 0, 0]),
        forward_backward(F.cross_entropy, x2[0], y[0, 0, 0]),
    ):
        torch.testing.assert_close(a, b, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
def test_kl_div_module_equals_torch(dtype, reduction):
    g = torch.Generator().manual_seed(7)
    x = torch.log_softmax(torch.randn(8, 6, generator=g, dtype=dtype), -1)
    p = torch.softmax(torch.randn(8, 6, generator=g, dtype=dtype), -1)
    up = torch.rand(8, 6, generator=g, dtype=dtype) if reduction == "none" else None
    ours = forward_backward(st.KLDivLoss(reduction=reduction), x, p, upstream=up)
    theirs = forward_backward(torch.nn.KLDivLoss(reduction=reduction), x, p, upstream=up)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_module_equals_torch(dtype, reduction):
    g = torch.Generator().manual_seed(8)
    x = torch.randn(8, 6, generator=g, dtype=dtype) * 5
    y = (torch.rand(8, 6, generator=g) > 0.5).to(dtype)
    w = torch.rand(6, generator=g, dtype=dtype)
    pw = torch.rand(6, generator=g, dtype=dtype) * 3
    up = torch.rand(8, 6, generator=g, dtype=dtype) if reduction == "none" else None
    ours = forward_backward(
        st.BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=reduction), x, y, upstream=up
    )
    theirs = forward_backward(
        torch.nn.BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=reduction), x, y, upstream=up
    )
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, **tol(dtype))


def test_cross_entropy_module_has_torch_interface():
    w = torch.ones(3, dtype=torch.float64)
    m = st.CrossEntropyLoss(weight=w, label_smoothing=0.1, z_loss=1e-4, softcap=30.0)
    assert "weight" in dict(m.named_buffers())
    assert "label_smoothing=0.1" in repr(m) and "softcap=30.0" in repr(m)
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    loss = m(x, torch.tensor([0, 1, 2, 0]))
    assert loss.shape == () and loss.dtype == torch.float64 and loss.requires_grad
    loss.backward()
    assert x.grad.shape == x.shape


# ---- training ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_loss",
    [
        lambda: st.CrossEntropyLoss(),
        lambda: st.CrossEntropyLoss(label_smoothing=0.05, z_loss=1e-4, softcap=20.0),
    ],
    ids=["plain", "smoothing+zloss+softcap"],
)
def test_training_loop_decreases_the_loss(make_loss):
    torch.manual_seed(0)
    n, d, c = 256, 10, 4
    centers = torch.randn(c, d) * 2
    y = torch.randint(0, c, (n,))
    x = centers[y] + torch.randn(n, d)
    model = torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.ReLU(), torch.nn.Linear(16, c))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = make_loss()
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    accuracy = (model(x).argmax(-1) == y).float().mean().item()
    assert accuracy > 0.8


def test_training_matches_torch_step_by_step():
    # The same model trained with shannon's loss and with PyTorch's stays the same.
    torch.manual_seed(1)
    x = torch.randn(64, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (64,))
    a = torch.nn.Linear(5, 3).double()
    b = torch.nn.Linear(5, 3).double()
    b.load_state_dict(a.state_dict())
    opt_a = torch.optim.SGD(a.parameters(), lr=0.5)
    opt_b = torch.optim.SGD(b.parameters(), lr=0.5)
    for _ in range(20):
        for model, opt, fn in ((a, opt_a, st.cross_entropy), (b, opt_b, F.cross_entropy)):
            opt.zero_grad()
            fn(model(x), y, label_smoothing=0.1).backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-10, atol=1e-12)


# ---- dtypes, devices, grad requirements ------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(dtype):
    x = torch.randn(4, 3).to(dtype).requires_grad_(True)
    y = torch.tensor([0, 1, 2, 0])
    loss = st.cross_entropy(x, y)
    loss.backward()
    assert loss.dtype == dtype and x.grad.dtype == dtype
    expected = F.cross_entropy(x.detach().float(), y)
    assert math.isclose(loss.item(), expected.item(), rel_tol=1e-2)


def test_no_grad_computes_no_gradient():
    x = torch.randn(4, 3, requires_grad=True)
    with torch.no_grad():
        loss = st.cross_entropy(x, torch.tensor([0, 1, 2, 0]))
    assert not loss.requires_grad
    torch.testing.assert_close(loss, F.cross_entropy(x.detach(), torch.tensor([0, 1, 2, 0])))


def test_targets_that_require_grad_are_refused():
    x = torch.randn(4, 3, requires_grad=True)
    p = torch.softmax(torch.randn(4, 3), -1).requires_grad_(True)
    with pytest.raises(ValueError, match="target requires grad"):
        st.cross_entropy(x, p)
    with pytest.raises(ValueError, match="target requires grad"):
        st.kl_div(x, p)


def test_wrong_devices_and_types_are_refused():
    with pytest.raises(ValueError, match="on meta: shannon.torch computes on the CPU"):
        st.cross_entropy(torch.empty(2, 3, device="meta"), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="logits has dtype torch.int64"):
        st.cross_entropy(torch.zeros(2, 3, dtype=torch.int64), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="must be a torch.Tensor"):
        st.cross_entropy([[0.0, 1.0]], torch.tensor([0]))


def test_errors_of_the_library_reach_the_training_loop_as_value_error():
    x = torch.randn(2, 3, requires_grad=True)
    with pytest.raises(ValueError, match="target|class|range"):
        st.cross_entropy(x, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        st.CrossEntropyLoss(reduction="avg")(x, torch.tensor([0, 1]))


def test_float32_tensors_are_shared_not_copied(monkeypatch):
    import shannon

    seen = []
    real = shannon._ext.cross_entropy_loss

    def spy(logits, *args):
        seen.append(logits)
        return real(logits, *args)

    monkeypatch.setattr(shannon._ext, "cross_entropy_loss", spy)
    x = torch.randn(8, 5, requires_grad=True)
    st.cross_entropy(x, torch.zeros(8, dtype=torch.int64)).backward()
    assert seen[0].__array_interface__["data"][0] == x.data_ptr()
