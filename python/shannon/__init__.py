"""shannon: information theory measures and classification losses, exact and fast.

The measures (``information``, ``entropy``, ``cross_entropy``, ``kl_divergence``)
answer in bits by default (``base=2``); the losses answer in nats (``base="e"``),
as PyTorch does. ``base`` takes any number > 1 (2, ``math.e``, 10, ...) or one of
``"bits"``, ``"nats"``, ``"e"``, ``"hartleys"``.

Inputs are array-likes. float32 and float64 arrays reach the C++ core without a
copy when they are C-contiguous (along the reduced axis); integers and booleans are
converted to float64 (as SciPy does), float16 to float32 (exactly); other dtypes
(complex, longdouble, strings, objects that are not numbers) raise ValueError.
Results have the precision of the input: double results are within 1e-12 relative
of the exact value of the inputs, float32 ones within 1e-6, including the KL
divergence of nearly identical distributions. Every error of the library, and
every wrong dtype, shape or option, raises ValueError with a message that names
the argument. The GIL is released while the C++ code runs.

Conventions: 0 log 0 = 0; ``information(0) = inf``; a q_i = 0 where p_i > 0 makes
cross entropy and KL divergence ``inf``. Without ``normalize=True`` the inputs
must be probability vectors (non-negative, summing to 1 within 32 eps sqrt(n));
``check=False`` skips that validation (garbage in, garbage out).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

try:
    from . import _shannon as _ext
except ImportError as _import_error:  # pragma: no cover - a broken or missing build
    raise ImportError(
        "shannon's C++ extension shannon._shannon cannot be loaded "
        f"({_import_error}); build it with CMake (the target _shannon puts it in "
        "<build>/python/shannon) and import with PYTHONPATH=<build>/python"
    ) from _import_error

__all__ = [
    "information",
    "entropy",
    "cross_entropy",
    "kl_divergence",
    "byte_entropy",
    "byte_counts",
    "cross_entropy_loss",
    "kl_div_loss",
    "binary_cross_entropy_with_logits",
    "unit_name",
    "version",
    "active_isa",
    "available_isas",
    "force_isa",
    "release_memory",
    "__version__",
]

__version__: str = _ext.version()

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def version() -> str:
    """The version of the C++ library, "MAJOR.MINOR.PATCH"."""
    return _ext.version()


def active_isa() -> str:
    """The instruction set the kernels use now: "scalar", "ssse3", "sse4", "avx2" or "avx512"."""
    return _ext.active_isa()


def available_isas() -> list[str]:
    """Every instruction set compiled in and supported by this CPU, best first."""
    return _ext.available_isas()


def force_isa(isa: str) -> None:
    """Makes the kernels run on ``isa`` (one of ``available_isas()``); ValueError otherwise."""
    if not isinstance(isa, str):
        raise ValueError(f"isa must be a str, one of {available_isas()}, got {isa!r}")
    _ext.force_isa(isa)


def release_memory() -> None:
    """Frees the memory shannon keeps for the next returned gradient.

    When a returned gradient of 1 MiB or more is freed, its memory is kept for the next
    gradient of the same size (one block at most), so that a training loop that asks for
    a fresh gradient at every step does not fault in new pages each time.
    """
    _ext.release_memory()


def unit_name(base: float | str = 2) -> str:
    """The unit of results in ``base``: "bits", "nats", "hartleys" or "base-b units"."""
    return _ext.unit_name(_base(base))


# ---- argument handling -------------------------------------------------------


def _base(base: Any) -> float | str:
    """The base as the C++ core takes it: a str to parse or a float (checked there)."""
    if isinstance(base, str):
        return base
    if isinstance(base, numbers.Real) and not isinstance(base, (bool, np.bool_)):
        try:
            return float(base)
        except OverflowError:
            return math.inf  # refused by the C++ core as not finite
    raise ValueError(
        "base must be a number > 1 (2, math.e, 10, ...) or one of 'bits', 'nats', 'e', "
        f"'hartleys', got {base!r}"
    )


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def _compute_dtype(a: np.ndarray, name: str) -> np.dtype:
    """The dtype shannon computes `a` in: float32 or float64; ValueError for the others."""
    dt = a.dtype
    if dt.kind == "f":
        if dt.itemsize in (4, 8):
            return np.dtype(np.float32 if dt.itemsize == 4 else np.float64)
        if dt.itemsize == 2:
            return np.dtype(np.float32)  # float16 widens to float32 exactly.
        raise ValueError(
            f"{name} has dtype {dt} (long double): shannon computes in float32 or float64; "
            f"convert it explicitly, e.g. {name}.astype(numpy.float64)"
        )
    if dt.kind in "biu":
        return np.dtype(np.float64)
    raise ValueError(
        f"{name} has dtype {dt}: expected real numbers (float32 or float64; integers, "
        "booleans and float16 are converted)"
    )


def _array(x: Any, name: str) -> np.ndarray:
    """`x` as a numpy array of real numbers in its own dtype (not yet converted)."""
    try:
        a = np.asarray(x)
    except Exception as e:  # ragged lists, tensors that require grad, ...
        raise ValueError(f"{name} is not an array of numbers: {e}") from None
    if a.dtype.kind == "O":
        try:
            a = a.astype(np.float64)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name} is not an array of numbers: {e}") from None
    _compute_dtype(a, name)
    return a


def _to(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """`a` in native `dtype`: the same object when it already is (no copy)."""
    return a if a.dtype == dtype else a.astype(dtype)


def _float_array(x: Any, name: str) -> np.ndarray:
    a = _array(x, name)
    return _to(a, _compute_dtype(a, name))


def _common_dtype(*arrays_and_names: tuple[np.ndarray, str]) -> np.dtype:
    dts = [_compute_dtype(a, n) for a, n in arrays_and_names]
    return np.dtype(np.float64) if np.dtype(np.float64) in dts else np.dtype(np.float32)


def _axis(axis: Any, ndim: int, name: str) -> int:
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise ValueError(f"axis must be an int, got {axis!r}")
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"axis {axis} is out of bounds for {name} with {ndim} dimension(s): "
            f"expected {-ndim} <= axis < {ndim}"
        )
    return axis % ndim


def _rows(a: np.ndarray, axis: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """`a` with `axis` moved last, C-contiguous (a copy only when needed), as a 2-D matrix."""
    if axis != a.ndim - 1:
        a = np.moveaxis(a, axis, -1)
    lead = a.shape[:-1]
    a = np.ascontiguousarray(a)
    return a.reshape(math.prod(lead), a.shape[-1]), lead


def _need_dims(a: np.ndarray, name: str) -> None:
    if a.ndim == 0:
        raise ValueError(
            f"{name} is a scalar: expected an array with at least one dimension "
            "(a probability vector, or an array of them along axis)"
        )


def _pair(p: Any, q: Any) -> tuple[np.ndarray, np.ndarray]:
    """p and q in their common dtype and broadcast shape."""
    pa, qa = _array(p, "p"), _array(q, "q")
    dtype = _common_dtype((pa, "p"), (qa, "q"))
    pa, qa = _to(pa, dtype), _to(qa, dtype)
    _need_dims(pa, "p")
    _need_dims(qa, "q")
    if pa.shape != qa.shape:
        try:
            shape = np.broadcast_shapes(pa.shape, qa.shape)
        except ValueError:
            raise ValueError(
                f"p has shape {pa.shape} but q has shape {qa.shape}: they must have the same "
                "shape (or shapes that broadcast together)"
            ) from None
        pa, qa = np.broadcast_to(pa, shape), np.broadcast_to(qa, shape)
    return pa, qa


# ---- measures ----------------------------------------------------------------


def information(p: Any, base: float | str = 2) -> Any:
    """Self-information -log_b(p) of probabilities, element-wise, in units of ``base``.

    ``p`` is a probability or an array of them in [0, 1] (they need not sum to 1).
    A scalar gives a Python float, an array an array of the same shape and dtype
    (float32 stays float32). ``information(0) = inf``; values outside [0, 1], NaN
    or infinite raise ValueError. Error <= 2 ulp.

    >>> information(0.25)
    2.0
    """
    a = _float_array(p, "p")
    b = _base(base)
    if a.ndim == 0:
        return float(_ext.information(a.reshape(1), b)[0])
    return _ext.information(np.ascontiguousarray(a), b)


def entropy(
    p: Any,
    base: float | str = 2,
    axis: int = -1,
    normalize: bool = False,
    check: bool = True,
) -> Any:
    """Shannon entropy H(p) = -sum_i p_i log_b p_i, in units of ``base`` (bits by default).

    ``p`` is a probability vector, or an array of them along ``axis`` (the last by
    default; SciPy's default is axis 0). A 1-D ``p`` gives a Python float, an N-D
    one an array of the other dimensions (dtype of ``p``). 0 log 0 = 0, so H >= 0
    and H(one-hot) = 0; H <= log_b(n).

    ``normalize=True`` divides ``p`` by its sum first (counts, weights), as
    ``scipy.stats.entropy`` always does. Otherwise ``p`` must be non-negative,
    finite and sum to 1 within 32 eps sqrt(n), or ValueError says which element
    or sum is wrong; an empty ``p`` is a ValueError. ``check=False`` skips the
    validation for speed.

    >>> entropy([0.5, 0.5])
    1.0
    """
    a = _float_array(p, "p")
    _need_dims(a, "p")
    ax = _axis(axis, a.ndim, "p")
    b, norm, unchecked = _base(base), _flag(normalize, "normalize"), not _flag(check, "check")
    if a.ndim == 1:
        return _ext.entropy_1d(np.ascontiguousarray(a), b, norm, unchecked)
    rows, lead = _rows(a, ax)
    return _ext.entropy_rows(rows, b, norm, unchecked).reshape(lead)


def _bytes_of(data: Any) -> memoryview:
    """``data`` as a flat memoryview of unsigned bytes, without a copy where it is contiguous."""
    if isinstance(data, str):
        raise ValueError("data is a str: byte entropy counts bytes; encode it first (data.encode())")
    try:
        view = memoryview(data)
    except TypeError:
        raise ValueError(
            "data must be bytes-like (bytes, bytearray, memoryview, mmap or an array of 1-byte "
            f"items such as uint8), got {type(data).__name__}"
        ) from None
    if view.itemsize != 1:
        raise ValueError(
            f"data has items of {view.itemsize} bytes (format {view.format!r}): byte entropy "
            "counts single bytes; to count the raw bytes of an array pass arr.view(np.uint8)"
        )
    if not view.c_contiguous:
        view = memoryview(np.ascontiguousarray(view))
    return view.cast("B") if view.ndim != 1 or view.format != "B" else view


def byte_entropy(data: Any, base: float | str = 2) -> float:
    """Entropy of the byte values of ``data``, in bits per byte by default (0 to 8).

    The distribution is that of the 256 byte values in ``data`` (``bytes``,
    ``bytearray``, ``memoryview``, ``mmap.mmap`` or an array of 1-byte items such as
    uint8; any shape). It is computed from the exact counts (``byte_counts``), within
    4e-15 relative of the exact value: 8 bits for bytes that are all equally
    frequent (random or well-compressed data), 0 for a single repeated value. Empty
    ``data``, ``str`` (encode it first) and arrays of wider items raise ValueError.
    Counting runs on all cores without the GIL, on ``data`` in place where it is
    contiguous (a strided view is copied first).

    >>> byte_entropy(b"abab")
    1.0
    """
    return _ext.byte_entropy(_bytes_of(data), _base(base))


def byte_counts(data: Any) -> np.ndarray:
    """The occurrences of each byte value 0..255 in ``data``, a uint64 array of 256.

    ``data`` as for ``byte_entropy``; empty data gives all zeros.

    >>> int(byte_counts(b"abab")[ord("a")])
    2
    """
    return _ext.byte_counts(_bytes_of(data))


def _pair_measure(fn_1d, fn_rows, p, q, base, axis, normalize, check):
    pa, qa = _pair(p, q)
    ax = _axis(axis, pa.ndim, "p")
    b, norm, unchecked = _base(base), _flag(normalize, "normalize"), not _flag(check, "check")
    if pa.ndim == 1:
        return fn_1d(np.ascontiguousarray(pa), np.ascontiguousarray(qa), b, norm, unchecked)
    prows, lead = _rows(pa, ax)
    qrows, _ = _rows(qa, ax)
    return fn_rows(prows, qrows, b, norm, unchecked).reshape(lead)


def cross_entropy(
    p: Any,
    q: Any,
    base: float | str = 2,
    axis: int = -1,
    normalize: bool = False,
    check: bool = True,
) -> Any:
    """Cross entropy H(p, q) = -sum_i p_i log_b q_i of truth ``p`` and prediction ``q``.

    In units of ``base`` (bits by default). ``p`` and ``q`` have the same shape (or
    broadcast together); the sum runs along ``axis``. A 1-D pair gives a Python
    float, N-D an array. ``inf`` when some p_i > 0 has q_i = 0; terms with p_i = 0
    are 0. H(p, q) = H(p) + D(p || q) >= H(p). ``normalize`` and ``check`` as in
    :func:`entropy` (applied to both). SciPy has no direct equivalent:
    ``entropy(p) + entropy(p, q)`` there.
    """
    return _pair_measure(
        _ext.cross_entropy_1d, _ext.cross_entropy_rows, p, q, base, axis, normalize, check
    )


def kl_divergence(
    p: Any,
    q: Any,
    base: float | str = 2,
    axis: int = -1,
    normalize: bool = False,
    check: bool = True,
) -> Any:
    """Kullback-Leibler divergence D(p || q) = sum_i p_i log_b(p_i / q_i), in units of ``base``.

    Relative entropy of truth ``p`` from prediction ``q``, same shapes (or
    broadcast) and conventions as :func:`cross_entropy`: D >= 0, exactly 0 when
    p == q, ``inf`` when some p_i > 0 has q_i = 0. Summed without cancellation:
    the relative error stays below 1e-12 (float64) even when D is 1e-10 or
    smaller, where ``scipy.special.rel_entr(p, q).sum()`` and
    ``torch.nn.functional.kl_div`` lose most digits. Equals
    ``scipy.stats.entropy(p, q, base=base, axis=axis)`` with ``normalize=True``.
    """
    return _pair_measure(
        _ext.kl_divergence_1d, _ext.kl_divergence_rows, p, q, base, axis, normalize, check
    )


# ---- losses ------------------------------------------------------------------

_REDUCTIONS = ("none", "mean", "sum")


def _reduction(reduction: Any, allowed: tuple[str, ...] = _REDUCTIONS) -> str:
    if not isinstance(reduction, str) or reduction not in allowed:
        expected = ", ".join(repr(r) for r in allowed)
        raise ValueError(f"reduction must be one of {expected}, got {reduction!r}")
    return reduction


def _real(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{name} = {value!r} is out of range") from None


def _integer(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if not -(2**63) <= int(value) < 2**63:
        raise ValueError(f"{name} = {value!r} is out of the int64 range")
    return int(value)


def _like(x: Any, name: str, dtype: np.dtype) -> np.ndarray:
    """A companion of the input (target, weights) as a float array in the input's dtype."""
    a = _array(x, name)
    if a.dtype.kind == "b":
        raise ValueError(f"{name} has dtype bool: expected real numbers")
    return _to(a, dtype)


def _empty(dtype: np.dtype) -> np.ndarray:
    return np.empty(0, dtype=dtype)


def _finish(loss: np.ndarray, grad: np.ndarray | None, reduced: bool, return_grad: bool):
    value = float(loss[0]) if reduced else loss
    return (value, grad) if return_grad else value


def cross_entropy_loss(
    logits: Any,
    target: Any,
    *,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    base: float | str = "e",
    return_grad: bool | None = None,
    grad_out: np.ndarray | None = None,
) -> Any:
    """Cross-entropy loss of unnormalized ``logits``, as ``torch.nn.functional.cross_entropy``.

    ``logits`` is [N, C], [C] (one sample) or [N, C, d1, ...] (classes on axis 1).
    ``target`` is either class indices (an integer array of the shape of logits
    without the class axis: [N], a scalar, or [N, d1, ...]) or class probabilities
    (a float array of the shape of logits, each row summing to 1).

    Per sample: ``-w[t] log_softmax(x)[t]`` (``-sum_j w_j p_j log_softmax(x)_j`` for
    probabilities), in units of ``base`` (nats by default, like PyTorch; ``base=2``
    gives bits). Options, with PyTorch's defaults and meaning:

    - ``weight``: one weight >= 0 per class, or None.
    - ``ignore_index``: targets equal to it add 0 to the loss and the gradient and
      are left out of the mean (class indices only).
    - ``reduction``: ``"mean"`` (divides by the total weight of the targets not
      ignored; 0 if there are none, where PyTorch gives NaN), ``"sum"`` (Python
      float) or ``"none"`` (an array of one loss per sample).
    - ``label_smoothing`` eps in [0, 1]: the target becomes (1 - eps) target + eps / C.
    - ``z_loss`` >= 0: adds ``z_loss * logsumexp(x)^2`` per sample (PaLM), unweighted.
    - ``softcap`` > 0 (None or 0: off): the logits become ``cap * tanh(x / cap)``
      first (Gemma 2); the gradient goes through it.

    Stable for logits of any magnitude and for -inf (masked) logits; the loss is
    within 1e-12 (float64) or 2e-6 (float32) relative of the exact value.

    ``return_grad=True`` returns ``(loss, grad)``: ``grad`` is d loss / d logits with
    the shape and dtype of ``logits`` (for ``reduction="none"``, the gradient of the
    sum of the per-sample losses). NaN or +inf logits, bad targets, weights or
    options raise ValueError. ``return_grad=None`` (the default) is False, or True
    when ``grad_out`` is given.

    ``grad_out``: a preallocated array for the gradient, to reuse one buffer across
    calls (a training loop) instead of allocating a new one each time. It must be a
    writeable, C-contiguous ``numpy.ndarray`` of exactly the shape of ``logits`` and
    the dtype of the gradient (that of ``logits``; float32 for float16 logits,
    float64 for integer ones), e.g. ``numpy.empty_like(logits)``. The gradient is
    written into it (no copy for [N, C] and [C] logits; [N, C, d1, ...] logits go
    through a temporary array with the classes last) and the result is
    ``(loss, grad_out)``, the same object. ``grad_out`` may be the ``logits`` array
    itself: the gradient then overwrites the logits in one pass (in place, as Liger
    does, no second buffer). Any other overlap with ``logits``, ``target`` or
    ``weight``, a wrong shape or dtype, a non-contiguous or read-only array, and
    ``return_grad=False`` with ``grad_out``, raise ValueError before anything is
    written. If an error is raised once the computation has started (NaN logits, a
    class index out of range, ...), the contents of ``grad_out`` (and, in place, of
    ``logits``) are unspecified.
    """
    a = _array(logits, "logits")
    x = _to(a, _compute_dtype(a, "logits"))
    dtype = x.dtype
    reduction = _reduction(reduction)
    ignore = _integer(ignore_index, "ignore_index")
    smoothing = _real(label_smoothing, "label_smoothing")
    z = _real(z_loss, "z_loss")
    cap = 0.0 if softcap is None else _real(softcap, "softcap")
    if cap < 0 or cap != cap:
        raise ValueError(f"softcap must be None or a number > 0, got {softcap!r}")
    b = _base(base)
    if return_grad is None:
        want_grad = grad_out is not None
    else:
        want_grad = _flag(return_grad, "return_grad")
        if grad_out is not None and not want_grad:
            raise ValueError(
                "return_grad=False contradicts grad_out, which receives the gradient: "
                "leave return_grad out (or pass True) with grad_out"
            )
    if x.ndim == 0:
        raise ValueError(
            "logits is a scalar: expected [N, C], [C] or [N, C, d1, ...] unnormalized scores"
        )
    if x.ndim > 2 and x.shape[1] == 0:
        raise ValueError(
            f"logits have shape {x.shape}: cross entropy needs at least one class (axis 1)"
        )
    if weight is None:
        w = _empty(dtype)
    else:
        w = np.ascontiguousarray(_like(weight, "weight", dtype))
        c = x.shape[0] if x.ndim == 1 else x.shape[1]
        if w.shape != (c,):
            raise ValueError(
                f"weight has shape {w.shape}: expected one weight per class, shape ({c},)"
            )

    t = _array(target, "target")
    probs = t.dtype.kind == "f"
    if t.dtype.kind == "b":
        raise ValueError(
            "target has dtype bool: expected class indices (integers) or class probabilities "
            "(floats)"
        )
    if probs:
        if t.shape != x.shape:
            raise ValueError(
                f"target has shape {t.shape} and a float dtype, so it holds class "
                f"probabilities: expected the shape of logits {x.shape} (class indices "
                f"need an integer dtype and shape {_index_shape(x.shape)})"
            )
        t = _to(t, dtype)
    else:
        if t.shape != _index_shape(x.shape):
            raise ValueError(
                f"target has shape {t.shape} and an integer dtype, so it holds class "
                f"indices: expected shape {_index_shape(x.shape)} for logits of shape "
                f"{x.shape} (class probabilities need a float dtype and the shape of logits)"
            )
        if t.dtype == np.uint64 and t.size and t.max() > np.iinfo(np.int64).max:
            raise ValueError("target holds class indices beyond the int64 range")
        t = _to(t, np.dtype(np.int64))

    # To [rows, C]: one sample per row, classes last.
    shape = x.shape
    if x.ndim == 1:
        x2 = x.reshape(1, -1)
        t2 = t.reshape(1, -1) if probs else t.reshape(1)
    elif x.ndim == 2:
        x2, t2 = x, t
    else:
        x2 = np.moveaxis(x, 1, -1).reshape(-1, shape[1])
        t2 = np.moveaxis(t, 1, -1).reshape(-1, shape[1]) if probs else t.reshape(-1)
    x2 = np.ascontiguousarray(x2)
    t2 = np.ascontiguousarray(t2)
    moved = (shape[0],) + shape[2:] + (shape[1],) if x.ndim > 2 else shape

    fn = _ext.cross_entropy_loss_probs if probs else _ext.cross_entropy_loss
    opts = (w, ignore, reduction, smoothing, z, cap, b)
    if grad_out is None:
        loss, grad = fn(x2, t2, *opts, want_grad)
        if grad is not None and x.ndim != 2:
            if x.ndim == 1:
                grad = grad.reshape(shape)
            else:
                grad = np.ascontiguousarray(np.moveaxis(grad.reshape(moved), -1, 1))
    else:
        grad = _check_grad_out(grad_out, x, a, ((target, "target"), (t, "target"), (w, "weight")))
        g2 = _rows_view(grad, shape)
        if _same_buffer(grad, x):  # in place: the gradient overwrites the logits
            if g2 is not None:
                loss, _ = fn(g2, t2, *opts, True, g2)
            else:  # x2 is the logits with the classes moved last: a copy of our own
                if np.may_share_memory(x2, x):  # pragma: no cover - moveaxis made a view
                    x2 = x2.copy()
                loss, _ = fn(x2, t2, *opts, True, x2)
                np.copyto(grad, np.moveaxis(x2.reshape(moved), -1, 1))
        elif g2 is not None:  # straight into grad_out
            loss, _ = fn(x2, t2, *opts, True, g2)
        else:  # [N, C, d1, ...]: the core writes classes last, grad_out has them on axis 1
            tmp = np.empty_like(x2)
            loss, _ = fn(x2, t2, *opts, True, tmp)
            np.copyto(grad, np.moveaxis(tmp.reshape(moved), -1, 1))
    if reduction == "none":
        loss = loss.reshape(_index_shape(shape))
    return _finish(loss, grad, reduction != "none", want_grad)


def _same_buffer(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays are views of exactly the same elements in the same layout."""
    return (
        a.ctypes.data == b.ctypes.data
        and a.shape == b.shape
        and a.strides == b.strides
        and a.dtype == b.dtype
    )


def _check_grad_out(
    g: Any, x: np.ndarray, given: np.ndarray, others: tuple[tuple[Any, str], ...]
) -> np.ndarray:
    """grad_out, checked to receive the gradient of logits `x` (converted from `given`):
    a writeable C-contiguous ndarray of x's shape and dtype, the logits themselves or
    sharing no memory with them nor with the other inputs."""
    if not isinstance(g, np.ndarray):
        raise ValueError(
            f"grad_out must be a numpy.ndarray (e.g. numpy.empty_like(logits)), got "
            f"{type(g).__module__}.{type(g).__qualname__}"
        )
    if g.shape != x.shape:
        raise ValueError(f"grad_out has shape {g.shape} but logits have shape {x.shape}")
    if g.dtype != x.dtype:
        if given.dtype != x.dtype:
            raise ValueError(
                f"grad_out has dtype {g.dtype} but the gradient of {given.dtype} logits has "
                f"dtype {x.dtype} (they are computed in {x.dtype})"
            )
        raise ValueError(f"grad_out has dtype {g.dtype} but logits have dtype {x.dtype}")
    if not g.flags.c_contiguous:
        raise ValueError(
            f"grad_out is not C-contiguous (strides {g.strides}): the gradient is written "
            "straight into its buffer; pass a C-contiguous array such as "
            "numpy.empty_like(logits)"
        )
    if not g.flags.writeable:
        raise ValueError("grad_out is read-only (grad_out.flags.writeable is False)")
    if not _same_buffer(g, x):
        for arr in (x, given):
            if np.may_share_memory(g, arr) and np.shares_memory(g, arr):
                raise ValueError(
                    "grad_out overlaps logits without being the logits array itself: pass "
                    "logits itself (the gradient then overwrites the logits, in place) or a "
                    "separate array"
                )
    for other, name in others:
        if (
            isinstance(other, np.ndarray)
            and np.may_share_memory(g, other)
            and np.shares_memory(g, other)
        ):
            raise ValueError(f"grad_out overlaps {name}: they must be separate arrays")
    return g


def _rows_view(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """The C-contiguous [rows, C] view of a C-contiguous gradient of logits of `shape` that
    the core writes (one sample per row, classes last), or None when the class axis of
    [N, C, d1, ...] cannot move last without a copy."""
    if len(shape) == 1:
        return g.reshape(1, shape[0])
    if len(shape) == 2:
        return g
    rest = math.prod(shape[2:])
    if rest == 1 or shape[1] == 1:  # moving the class axis last keeps the memory order
        return g.reshape(shape[0] * rest, shape[1])
    return None


def _index_shape(logits_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of class-index targets for logits of this shape: drop the class axis."""
    if len(logits_shape) == 1:
        return ()
    return (logits_shape[0],) + tuple(logits_shape[2:])


def _as_rows(a: np.ndarray) -> np.ndarray:
    """An element-wise loss input as [rows, last dim], C-contiguous (no copy if it is)."""
    a = np.ascontiguousarray(a)
    if a.ndim == 0:
        return a.reshape(1, 1)
    return a.reshape(-1, a.shape[-1]) if a.shape[-1] else a.reshape(math.prod(a.shape[:-1]), 0)


def kl_div_loss(
    input: Any,
    target: Any,
    *,
    reduction: str = "mean",
    log_target: bool = False,
    return_grad: bool = False,
) -> Any:
    """KL-divergence loss, as ``torch.nn.functional.kl_div``, in nats.

    ``input`` holds log-probabilities log q; ``target`` holds probabilities p (or
    log p with ``log_target=True``), of the shape of ``input`` (or broadcasting to
    it). Element-wise loss ``p (log p - input)``, 0 where p = 0 (with log_target:
    ``exp(t) (t - input)``). ``reduction``: ``"mean"`` (over all elements, PyTorch's
    default, which is not the KL divergence), ``"batchmean"`` (sum / input.shape[0]:
    the mathematically correct mean KL per sample), ``"sum"``, or ``"none"`` (an
    array of the shape of input). A 1-D input is n samples of one element, as in
    PyTorch. Relative error <= 1e-12 (float64) or 1e-6 (float32) per element.

    ``return_grad=True`` returns ``(loss, grad)``, grad = d loss / d input in the
    shape and dtype of ``input``. NaN or +inf input, negative or infinite p raise
    ValueError. For the divergence of two distributions use :func:`kl_divergence`.
    """
    x = _float_array(input, "input")
    dtype = x.dtype
    reduction = _reduction(reduction, ("none", "mean", "sum", "batchmean"))
    log_t = _flag(log_target, "log_target")
    want_grad = _flag(return_grad, "return_grad")
    t = _like(target, "target", dtype)
    if t.shape != x.shape:
        try:
            t = np.broadcast_to(t, x.shape)
        except ValueError:
            raise ValueError(
                f"target has shape {t.shape}: expected the shape of input {x.shape} "
                "(or one that broadcasts to it)"
            ) from None
    if x.ndim == 1:
        x2, t2 = x.reshape(-1, 1), t.reshape(-1, 1)
    elif x.ndim == 0:
        x2, t2 = x.reshape(1, 1), t.reshape(1, 1)
    else:
        n = x.shape[0]
        x2 = np.ascontiguousarray(x).reshape(n, x.size // n if n else 0)
        t2 = np.ascontiguousarray(t).reshape(x2.shape)
    loss, grad = _ext.kl_div_loss(
        np.ascontiguousarray(x2), np.ascontiguousarray(t2), reduction, log_t, want_grad
    )
    if reduction == "none":
        loss = loss.reshape(x.shape)
    if grad is not None:
        grad = grad.reshape(x.shape)
    return _finish(loss, grad, reduction != "none", want_grad)


def binary_cross_entropy_with_logits(
    logits: Any,
    target: Any,
    *,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: str = "mean",
    return_grad: bool = False,
) -> Any:
    """Binary cross entropy of logits, as ``torch.nn.functional.binary_cross_entropy_with_logits``.

    Element-wise, in nats: ``w [pw y softplus(-x) + (1 - y) softplus(x)]`` for logits
    x and targets y in [0, 1] of the same shape (soft targets allowed); stable for
    any |x|, including +-inf where the coefficient is 0. ``weight`` broadcasts to
    the shape of logits (per element or per class); ``pos_weight`` weighs the
    positive term per class (the last axis: shape (C,) or (1,)). ``reduction``:
    ``"mean"`` over all elements, ``"sum"``, or ``"none"`` (an array of the shape
    of logits). Relative error <= 1e-12 (float64) or 1e-6 (float32) per element.

    ``return_grad=True`` returns ``(loss, grad)``, grad = d loss / d logits in the
    shape and dtype of ``logits``. NaN logits, targets outside [0, 1] and negative
    weights raise ValueError.
    """
    x = _float_array(logits, "logits")
    dtype = x.dtype
    reduction = _reduction(reduction)
    want_grad = _flag(return_grad, "return_grad")
    t = _like(target, "target", dtype)
    if t.shape != x.shape:
        raise ValueError(
            f"target has shape {t.shape}: expected the shape of logits {x.shape}"
        )
    cols = x.shape[-1] if x.ndim else 1
    x2, t2 = _as_rows(x), _as_rows(t)
    if weight is None:
        w = _empty(dtype)
    else:
        w = _like(weight, "weight", dtype)
        try:
            if np.broadcast_shapes(w.shape, x.shape) != x.shape:
                raise ValueError
        except ValueError:
            raise ValueError(
                f"weight has shape {w.shape}: expected a shape that broadcasts to the shape "
                f"of logits {x.shape}, e.g. ({cols},) for one weight per class"
            ) from None
        if all(d == 1 for d in w.shape[:-1]):  # one weight per class (or one in all)
            w = np.ascontiguousarray(np.broadcast_to(w.reshape(-1), (cols,)))
        else:
            w = np.ascontiguousarray(np.broadcast_to(w, x.shape)).reshape(-1)
    if pos_weight is None:
        pw = _empty(dtype)
    else:
        pw = _like(pos_weight, "pos_weight", dtype)
        if (pw.ndim > 1 and any(d != 1 for d in pw.shape[:-1])) or (
            pw.ndim >= 1 and pw.shape[-1] not in (1, cols)
        ):
            raise ValueError(
                f"pos_weight has shape {pw.shape}: expected one weight per class, shape "
                f"({cols},) (or (1,)), broadcast along the last axis of logits"
            )
        pw = np.ascontiguousarray(np.broadcast_to(pw.reshape(-1), (cols,)))
    loss, grad = _ext.binary_cross_entropy_with_logits(x2, t2, w, pw, reduction, want_grad)
    if reduction == "none":
        loss = loss.reshape(x.shape)
    if grad is not None:
        grad = grad.reshape(x.shape)
    return _finish(loss, grad, reduction != "none", want_grad)
