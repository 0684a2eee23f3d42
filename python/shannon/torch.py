"""shannon's losses for PyTorch: autograd Functions and nn.Module wrappers (CPU tensors).

Each Function computes the loss and its gradient in one pass of the C++ core in
forward (the gradient only when the logits need it), and backward multiplies
the saved gradient by the upstream one. Gradients flow to the logits (input)
only: a target or weight that requires grad is refused with ValueError. Tensors
must live on the CPU; float32 and float64 tensors are shared with the C++ code
without a copy when contiguous; float16 and bfloat16 are computed in float32 and
the results cast back. Double backward is not supported.

    import shannon.torch as st
    loss_fn = st.CrossEntropyLoss(label_smoothing=0.1)
    loss = loss_fn(model(x), y)   # like torch.nn.CrossEntropyLoss
    loss.backward()
"""

from __future__ import annotations

from typing import Any, Optional

try:
    import torch
    from torch.autograd.function import once_differentiable
except ImportError as _import_error:  # pragma: no cover - exercised only without torch
    raise ImportError(
        f"shannon.torch needs PyTorch, which cannot be imported: {_import_error}"
    ) from _import_error

import numpy as np

import shannon as _sh

__all__ = [
    "CrossEntropyLossFunction",
    "KLDivLossFunction",
    "BCEWithLogitsLossFunction",
    "cross_entropy",
    "kl_div",
    "binary_cross_entropy_with_logits",
    "CrossEntropyLoss",
    "KLDivLoss",
    "BCEWithLogitsLoss",
]

_COMPUTED = (torch.float32, torch.float64)
_WIDENED = (torch.float16, torch.bfloat16)


def _check_tensor(t: Any, name: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(
            f"{name} is on {t.device}: shannon.torch computes on the CPU; move it with .cpu()"
        )
    return t


def _numpy(t: torch.Tensor, name: str, compute: torch.dtype | None = None) -> np.ndarray:
    """A CPU tensor as a numpy array sharing its memory when possible (no grad)."""
    t = _check_tensor(t, name).detach()
    if compute is not None and t.is_floating_point() and t.dtype != compute:
        t = t.to(compute)
    elif t.dtype in _WIDENED:
        t = t.to(torch.float32)
    if t.is_complex():
        raise ValueError(f"{name} has dtype {t.dtype}: expected real numbers")
    return t.resolve_neg().numpy()


def _input(t: Any, name: str) -> tuple[np.ndarray, torch.dtype]:
    t = _check_tensor(t, name)
    if not t.is_floating_point():
        raise ValueError(f"{name} has dtype {t.dtype}: expected a floating-point tensor")
    compute = t.dtype if t.dtype in _COMPUTED else torch.float32
    return _numpy(t, name, compute), compute


def _no_grad_needed(ctx, index: int, name: str) -> None:
    if ctx.needs_input_grad[index]:
        raise ValueError(
            f"{name} requires grad, but shannon.torch differentiates with respect to the "
            "logits (input) only; detach it"
        )


def _out(value: Any, dtype: torch.dtype, out_dtype: torch.dtype) -> torch.Tensor:
    """A loss (Python float or numpy array) or gradient as a tensor of out_dtype."""
    if isinstance(value, float):
        t = torch.tensor(value, dtype=dtype)
    else:
        t = torch.from_numpy(value)
    return t if t.dtype == out_dtype else t.to(out_dtype)


def _backward(ctx, grad_output: torch.Tensor, class_axis: Optional[int]) -> torch.Tensor | None:
    """The saved gradient times the upstream one (per row for class_axis, else per element)."""
    if not ctx.needs_input_grad[0]:
        return None
    (grad,) = ctx.saved_tensors
    if ctx.reduction == "none" and class_axis is not None and grad_output.dim() > 0:
        grad_output = grad_output.unsqueeze(class_axis)
    return grad * grad_output


class CrossEntropyLossFunction(torch.autograd.Function):
    """autograd Function of :func:`shannon.cross_entropy_loss`; apply(logits, target, weight,
    ignore_index, reduction, label_smoothing, z_loss, softcap, base)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        logits: torch.Tensor,
        target: torch.Tensor,
        weight: Optional[torch.Tensor] = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
        z_loss: float = 0.0,
        softcap: Optional[float] = None,
        base: float | str = "e",
    ) -> torch.Tensor:
        _no_grad_needed(ctx, 1, "target")
        _no_grad_needed(ctx, 2, "weight")
        x, compute = _input(logits, "logits")
        target = _check_tensor(target, "target")
        t = _numpy(target, "target", compute if target.is_floating_point() else None)
        w = None if weight is None else _numpy(weight, "weight", compute)
        want_grad = bool(ctx.needs_input_grad[0])
        result = _sh.cross_entropy_loss(
            x,
            t,
            weight=w,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=label_smoothing,
            z_loss=z_loss,
            softcap=softcap,
            base=base,
            return_grad=want_grad,
        )
        loss, grad = result if want_grad else (result, None)
        ctx.reduction = reduction
        if grad is not None:
            ctx.save_for_backward(_out(grad, compute, logits.dtype))
        return _out(loss, compute, logits.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        # Per-sample losses [N] or [N, d1, ...] scale the rows of [N, C, d1, ...] on axis 1;
        # an unbatched [C] has a 0-d loss.
        return (_backward(ctx, grad_output, 1), None, None, None, None, None, None, None, None)


class KLDivLossFunction(torch.autograd.Function):
    """autograd Function of :func:`shannon.kl_div_loss`; apply(input, target, reduction,
    log_target)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        input: torch.Tensor,
        target: torch.Tensor,
        reduction: str = "mean",
        log_target: bool = False,
    ) -> torch.Tensor:
        _no_grad_needed(ctx, 1, "target")
        x, compute = _input(input, "input")
        t = _numpy(target, "target", compute)
        want_grad = bool(ctx.needs_input_grad[0])
        result = _sh.kl_div_loss(
            x, t, reduction=reduction, log_target=log_target, return_grad=want_grad
        )
        loss, grad = result if want_grad else (result, None)
        ctx.reduction = reduction
        if grad is not None:
            ctx.save_for_backward(_out(grad, compute, input.dtype))
        return _out(loss, compute, input.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        return (_backward(ctx, grad_output, None), None, None, None)


class BCEWithLogitsLossFunction(torch.autograd.Function):
    """autograd Function of :func:`shannon.binary_cross_entropy_with_logits`;
    apply(logits, target, weight, pos_weight, reduction)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        logits: torch.Tensor,
        target: torch.Tensor,
        weight: Optional[torch.Tensor] = None,
        pos_weight: Optional[torch.Tensor] = None,
        reduction: str = "mean",
    ) -> torch.Tensor:
        _no_grad_needed(ctx, 1, "target")
        _no_grad_needed(ctx, 2, "weight")
        _no_grad_needed(ctx, 3, "pos_weight")
        x, compute = _input(logits, "logits")
        t = _numpy(target, "target", compute)
        w = None if weight is None else _numpy(weight, "weight", compute)
        pw = None if pos_weight is None else _numpy(pos_weight, "pos_weight", compute)
        want_grad = bool(ctx.needs_input_grad[0])
        result = _sh.binary_cross_entropy_with_logits(
            x, t, weight=w, pos_weight=pw, reduction=reduction, return_grad=want_grad
        )
        loss, grad = result if want_grad else (result, None)
        ctx.reduction = reduction
        if grad is not None:
            ctx.save_for_backward(_out(grad, compute, logits.dtype))
        return _out(loss, compute, logits.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        return (_backward(ctx, grad_output, None), None, None, None, None)


# ---- functional forms ----------------------------------------------------------------


def cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: Optional[torch.Tensor] = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: Optional[float] = None,
    base: float | str = "e",
) -> torch.Tensor:
    """Differentiable :func:`shannon.cross_entropy_loss`: a drop-in for
    ``torch.nn.functional.cross_entropy`` with z_loss, softcap and base added."""
    return CrossEntropyLossFunction.apply(
        logits, target, weight, ignore_index, reduction, label_smoothing, z_loss, softcap, base
    )


def kl_div(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: str = "mean",
    log_target: bool = False,
) -> torch.Tensor:
    """Differentiable :func:`shannon.kl_div_loss`, as ``torch.nn.functional.kl_div``."""
    return KLDivLossFunction.apply(input, target, reduction, log_target)


def binary_cross_entropy_with_logits(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    weight: Optional[torch.Tensor] = None,
    pos_weight: Optional[torch.Tensor] = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Differentiable :func:`shannon.binary_cross_entropy_with_logits`, as PyTorch's."""
    return BCEWithLogitsLossFunction.apply(logits, target, weight, pos_weight, reduction)


# ---- modules ---------------------------------------------------------------------------


class CrossEntropyLoss(torch.nn.Module):
    """``torch.nn.CrossEntropyLoss`` on shannon's kernels, plus z_loss, softcap and base."""

    weight: Optional[torch.Tensor]

    def __init__(
        self,
        weight: Optional[torch.Tensor] = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
        z_loss: float = 0.0,
        softcap: Optional[float] = None,
        base: float | str = "e",
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.label_smoothing = label_smoothing
        self.z_loss = z_loss
        self.softcap = softcap
        self.base = base

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return cross_entropy(
            logits,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
            z_loss=self.z_loss,
            softcap=self.softcap,
            base=self.base,
        )

    def extra_repr(self) -> str:
        return (
            f"ignore_index={self.ignore_index}, reduction={self.reduction!r}, "
            f"label_smoothing={self.label_smoothing}, z_loss={self.z_loss}, "
            f"softcap={self.softcap}, base={self.base!r}"
        )


class KLDivLoss(torch.nn.Module):
    """``torch.nn.KLDivLoss`` on shannon's kernels."""

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__()
        self.reduction = reduction
        self.log_target = log_target

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return kl_div(input, target, reduction=self.reduction, log_target=self.log_target)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, log_target={self.log_target}"


class BCEWithLogitsLoss(torch.nn.Module):
    """``torch.nn.BCEWithLogitsLoss`` on shannon's kernels."""

    weight: Optional[torch.Tensor]
    pos_weight: Optional[torch.Tensor]

    def __init__(
        self,
        weight: Optional[torch.Tensor] = None,
        reduction: str = "mean",
        pos_weight: Optional[torch.Tensor] = None,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return binary_cross_entropy_with_logits(
            logits,
            target,
            weight=self.weight,
            pos_weight=self.pos_weight,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"
