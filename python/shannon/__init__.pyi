# Type stubs of the shannon package. Units: the measures answer in bits unless
# `base` says otherwise; the losses answer in nats (base "e"), as PyTorch does.
# A 1-D input (or a reduced loss) gives a Python float; N-D inputs, `axis` and
# reduction="none" give arrays of the input's float dtype (float32 or float64).
from typing import Any, Literal, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__version__: str

_FloatArray = NDArray[np.float32] | NDArray[np.float64]
#: 2, math.e, 10 or any finite number > 1, or "bits", "nats", "e", "hartleys".
_Base = float | str
_Reduced = Literal["mean", "sum"]
#: bytes, bytearray, memoryview, mmap, or an array of 1-byte items (uint8, int8, bool).
_BytesLike = bytes | bytearray | memoryview | NDArray[np.uint8] | Any

def version() -> str: ...
def active_isa() -> str: ...
def available_isas() -> list[str]: ...
def force_isa(isa: str) -> None: ...
def release_memory() -> None: ...
def unit_name(base: _Base = 2) -> str: ...

# ---- measures ------------------------------------------------------------------

@overload
def information(p: float, base: _Base = 2) -> float: ...
@overload
def information(p: ArrayLike, base: _Base = 2) -> float | _FloatArray: ...
def entropy(
    p: ArrayLike,
    base: _Base = 2,
    axis: int = -1,
    normalize: bool = False,
    check: bool = True,
) -> float | _FloatArray: ...
def cross_entropy(
    p: ArrayLike,
    q: ArrayLike,
    base: _Base = 2,
    axis: int = -1,
    normalize: bool = False,
    check: bool = True,
) -> float | _FloatArray: ...
def kl_divergence(
    p: ArrayLike,
    q: ArrayLike,
    base: _Base = 2,
    axis: int = -1,
    normalize: bool = False,
    check: bool = True,
) -> float | _FloatArray: ...
def byte_counts(data: _BytesLike) -> NDArray[np.uint64]: ...
def byte_entropy(data: _BytesLike, base: _Base = 2) -> float: ...

# ---- losses --------------------------------------------------------------------

# grad_out: a writeable C-contiguous array of the logits' shape and dtype that receives the
# gradient (the logits array itself: in place); the result is then (loss, grad_out).
@overload
def cross_entropy_loss(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: _Reduced = "mean",
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    base: _Base = "e",
    return_grad: Literal[False] | None = None,
    grad_out: None = None,
) -> float: ...
@overload
def cross_entropy_loss(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: Literal["none"],
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    base: _Base = "e",
    return_grad: Literal[False] | None = None,
    grad_out: None = None,
) -> _FloatArray: ...
@overload
def cross_entropy_loss(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: _Reduced = "mean",
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    base: _Base = "e",
    return_grad: Literal[True],
    grad_out: _FloatArray | None = None,
) -> tuple[float, _FloatArray]: ...
@overload
def cross_entropy_loss(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: Literal["none"],
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    base: _Base = "e",
    return_grad: Literal[True],
    grad_out: _FloatArray | None = None,
) -> tuple[_FloatArray, _FloatArray]: ...
@overload
def cross_entropy_loss(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: _Reduced = "mean",
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    base: _Base = "e",
    return_grad: Literal[True] | None = None,
    grad_out: _FloatArray,
) -> tuple[float, _FloatArray]: ...
@overload
def cross_entropy_loss(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: Literal["none"],
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    base: _Base = "e",
    return_grad: Literal[True] | None = None,
    grad_out: _FloatArray,
) -> tuple[_FloatArray, _FloatArray]: ...
@overload
def cross_entropy_loss(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    base: _Base = "e",
    return_grad: bool | None = None,
    grad_out: _FloatArray | None = None,
) -> Any: ...
@overload
def kl_div_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Literal["mean", "sum", "batchmean"] = "mean",
    log_target: bool = False,
    return_grad: Literal[False] = False,
) -> float: ...
@overload
def kl_div_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Literal["none"],
    log_target: bool = False,
    return_grad: Literal[False] = False,
) -> _FloatArray: ...
@overload
def kl_div_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Literal["mean", "sum", "batchmean"] = "mean",
    log_target: bool = False,
    return_grad: Literal[True],
) -> tuple[float, _FloatArray]: ...
@overload
def kl_div_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Literal["none"],
    log_target: bool = False,
    return_grad: Literal[True],
) -> tuple[_FloatArray, _FloatArray]: ...
@overload
def kl_div_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: str = "mean",
    log_target: bool = False,
    return_grad: bool = False,
) -> Any: ...
@overload
def binary_cross_entropy_with_logits(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None,
    reduction: _Reduced = "mean",
    return_grad: Literal[False] = False,
) -> float: ...
@overload
def binary_cross_entropy_with_logits(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None,
    reduction: Literal["none"],
    return_grad: Literal[False] = False,
) -> _FloatArray: ...
@overload
def binary_cross_entropy_with_logits(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None,
    reduction: _Reduced = "mean",
    return_grad: Literal[True],
) -> tuple[float, _FloatArray]: ...
@overload
def binary_cross_entropy_with_logits(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None,
    reduction: Literal["none"],
    return_grad: Literal[True],
) -> tuple[_FloatArray, _FloatArray]: ...
@overload
def binary_cross_entropy_with_logits(
    logits: ArrayLike,
    target: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    pos_weight: ArrayLike | None = None,
    reduction: str = "mean",
    return_grad: bool = False,
) -> Any: ...
