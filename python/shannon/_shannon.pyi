# Type stubs of the C++ extension shannon._shannon (private: use the shannon package).
# Every array argument must be C-contiguous float32 or float64 (int64 for class
# indices) and is never converted: a mismatch is a TypeError. shannon::error
# becomes ValueError. `base` is a float > 1 or a str that log_base::parse reads.
# cross_entropy_loss(_probs) with grad_out (the logits' shape and dtype, writeable; needs
# return_grad=True) write the gradient there and return (loss, grad_out); grad_out being
# the logits' own buffer calls cross_entropy_loss_in_place, any other overlap is refused.
import numpy as np
from numpy.typing import NDArray

_F = NDArray[np.float32] | NDArray[np.float64]
_I64 = NDArray[np.int64]

def version() -> str: ...
def active_isa() -> str: ...
def available_isas() -> list[str]: ...
def force_isa(isa: str) -> None: ...
def release_memory() -> None: ...
def unit_name(base: float | str) -> str: ...
def information(p: _F, base: float | str) -> _F: ...
def entropy_1d(p: _F, base: float | str, normalize: bool, unchecked: bool) -> float: ...
def entropy_rows(p: _F, base: float | str, normalize: bool, unchecked: bool) -> _F: ...
def cross_entropy_1d(p: _F, q: _F, base: float | str, normalize: bool, unchecked: bool) -> float: ...
def cross_entropy_rows(p: _F, q: _F, base: float | str, normalize: bool, unchecked: bool) -> _F: ...
def kl_divergence_1d(p: _F, q: _F, base: float | str, normalize: bool, unchecked: bool) -> float: ...
def kl_divergence_rows(p: _F, q: _F, base: float | str, normalize: bool, unchecked: bool) -> _F: ...
def cross_entropy_loss(
    logits: _F,
    target: _I64,
    weight: _F,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
    z_loss: float,
    softcap: float,
    base: float | str,
    return_grad: bool,
    grad_out: _F | None = None,
) -> tuple[_F, _F | None]: ...
def cross_entropy_loss_probs(
    logits: _F,
    target: _F,
    weight: _F,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
    z_loss: float,
    softcap: float,
    base: float | str,
    return_grad: bool,
    grad_out: _F | None = None,
) -> tuple[_F, _F | None]: ...
def kl_div_loss(
    input: _F, target: _F, reduction: str, log_target: bool, return_grad: bool
) -> tuple[_F, _F | None]: ...
def binary_cross_entropy_with_logits(
    logits: _F, target: _F, weight: _F, pos_weight: _F, reduction: str, return_grad: bool
) -> tuple[_F, _F | None]: ...
