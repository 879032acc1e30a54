"""Adam and AdamW for the training loops, without ``torch.optim``.

``torch.optim.Optimizer`` imports ``torch._dynamo`` (about 1.6 s here, with
sympy) the first time a parameter group is added, which alone is a third of
`cance fit`'s time budget on a small table, and its per-step wrapper costs
about 0.5 ms, a tenth of a small density's step. The update below is the one
of ``torch.optim.Adam`` / ``AdamW`` with their defaults (no amsgrad, not
maximising, the single-tensor path torch takes on CPU), so a loop trains the
same way with either (``tests/test_optim.py`` compares them step by step).
"""

from __future__ import annotations

import math
from collections.abc import Iterable


class Adam:
    """Adam (Kingma & Ba); ``decoupled=True`` gives AdamW (Loshchilov & Hutter).

    ``weight_decay`` is an L2 term added to the gradient (Adam) or a
    multiplicative shrink of the weights before the update (AdamW). Parameters
    without a gradient are skipped, as ``torch.optim`` does.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, decoupled: bool = False):
        import torch

        self.params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.eps = lr, betas, eps
        self.weight_decay, self.decoupled = weight_decay, decoupled
        self._steps = [0] * len(self.params)  # per parameter, as torch counts them
        self._m = [torch.zeros_like(p) for p in self.params]
        self._v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def step(self) -> None:
        """One update of every parameter that has a gradient.

        Parameters are updated together with ``torch._foreach_*`` kernels (the
        ones ``torch.optim`` uses for its multi-tensor path): the same
        arithmetic per element, a handful of dispatches per step instead of
        seven per tensor, which is most of a small network's step on a CPU.
        """
        import torch

        beta1, beta2 = self.betas
        groups: dict[int, list[int]] = {}  # step count -> parameters (one group unless a gradient was missing)
        for i, p in enumerate(self.params):
            if p.grad is not None:
                self._steps[i] += 1
                groups.setdefault(self._steps[i], []).append(i)
        with torch.no_grad():
            for step, members in groups.items():
                params = [self.params[i] for i in members]
                grads = [self.params[i].grad for i in members]
                ms, vs = [self._m[i] for i in members], [self._v[i] for i in members]
                if self.weight_decay:
                    if self.decoupled:
                        torch._foreach_mul_(params, 1 - self.lr * self.weight_decay)
                    else:
                        grads = torch._foreach_add(grads, params, alpha=self.weight_decay)
                torch._foreach_lerp_(ms, grads, 1 - beta1)
                torch._foreach_mul_(vs, beta2)
                torch._foreach_addcmul_(vs, grads, grads, 1 - beta2)
                denom = torch._foreach_sqrt(vs)
                torch._foreach_div_(denom, math.sqrt(1 - beta2**step))
                torch._foreach_add_(denom, self.eps)
                torch._foreach_addcdiv_(params, ms, denom, -self.lr / (1 - beta1**step))


def adamw(params: Iterable, lr: float = 1e-3, weight_decay: float = 1e-2) -> Adam:
    """AdamW with ``torch.optim.AdamW``'s defaults."""
    return Adam(params, lr=lr, weight_decay=weight_decay, decoupled=True)
