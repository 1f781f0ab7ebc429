"""float16 mixed precision: the optimizer's side of a ``torch.amp.GradScaler``.

With float16 autocast, small gradients underflow; a ``GradScaler`` multiplies the loss by a
scale S before the backward pass and divides the gradients by S after it, skips the step when
a scaled gradient overflowed, and adapts S (``update()``: halve after an overflow, double after
``growth_interval`` clean steps). A multi-objective step cannot use the usual
``scaler.scale(loss).backward(); scaler.step(opt)`` protocol: the method must see the *unscaled*
per-objective gradients and values (PLC's prices, Nash-MTL's and FAMO's weights are not
invariant to S, so scaled inputs shrink or distort the step). So the optimizer owns the scaler:
it scales each objective's backward, unscales the Jacobian rows before any method sees them,
skips the step on overflow and calls ``scaler.update()``, as ``scaler.step``/``update`` would.

``update`` reports the overflow to the scaler through its public API: ``unscale_`` of a
one-parameter carrier optimizer whose gradient is inf on overflow and 0 otherwise, then
``update()``; the model's ``.grad`` is never touched by the scaler.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["LossScaler"]


class LossScaler:
    """Scales losses, unscales gradients and records overflow for one ``GradScaler``.

    Args:
        scaler: a ``torch.amp.GradScaler`` (a disabled one makes every call a no-op).
        device: the device of the parameters (where the overflow flag lives).
    """

    def __init__(self, scaler: torch.amp.GradScaler, device: torch.device) -> None:
        if not isinstance(scaler, torch.amp.GradScaler):
            raise TypeError(f"grad_scaler must be a torch.amp.GradScaler, got {type(scaler)}")
        self.scaler = scaler
        self._flag = torch.zeros((), device=device, requires_grad=True)
        self._carrier = torch.optim.SGD([self._flag], lr=0.0)

    @property
    def enabled(self) -> bool:
        return self.scaler.is_enabled()

    def scale(self, loss: Tensor | None) -> Tensor | None:
        """S · loss (the scaler's own ``scale``; initializes S on first use)."""
        return None if loss is None else self.scaler.scale(loss)

    def inverse(self) -> float:
        """1 / S in float64 (S is a power of two by default, so unscaling is exact)."""
        return 1.0 / self.scaler.get_scale()

    def update(self, found_inf: bool) -> None:
        """End the iteration as ``scaler.update()`` after ``scaler.step`` would: halve S after
        an overflow, count a clean step otherwise."""
        if not self.enabled:
            return
        self._flag.grad = torch.full(
            (), float("inf") if found_inf else 0.0, device=self._flag.device
        )
        self.scaler.unscale_(self._carrier)
        self.scaler.update()
        self._flag.grad = None
