"""Optimizer pieces of the deep agents: sparse-aware Adam and gradient-norm clipping.

Both accept the sparse gradients of ``nn.Embedding(..., sparse=True)`` tables (the learned action
embedding and the per-action head of :mod:`rlcore.stochdqn.policies`) and touch only the rows
present in a sparse gradient, so an optimizer step costs ``O(rows used)`` and never ``O(n)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch as th
from torch import nn

__all__ = ["SparseAwareAdam", "clip_grad_norm"]


class SparseAwareAdam(th.optim.Optimizer):
    """Adam for dense parameters, lazy Adam for parameters that receive sparse gradients.

    For a sparse gradient (e.g. from ``nn.Embedding(..., sparse=True)``) only the rows present
    in the gradient have their moments and values updated (``O(rows used * row size)``), like
    ``torch.optim.SparseAdam``; the bias correction uses the parameter's step count. The moment
    buffers are allocated once, at the first step. ``state_dict`` / ``load_state_dict`` are
    torch's, so SB3 saves and restores it with the policy.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        if not lr >= 0.0:
            raise ValueError(f"learning rate must be >= 0, got {lr}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @th.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        loss = None
        if closure is not None:
            with th.enable_grad():
                loss = closure()
        for group in self.param_groups:
            dense: dict[int, list[th.Tensor]] = {}  # step count -> [params]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = th.zeros_like(p)
                    state["exp_avg_sq"] = th.zeros_like(p)
                state["step"] += 1
                if p.grad.is_sparse:
                    self._sparse_update(p, state, group)
                else:
                    dense.setdefault(state["step"], []).append(p)
            for step, params in dense.items():
                self._dense_update(params, step, group)
        return loss

    def _dense_update(self, params: list[th.Tensor], step: int, group: dict[str, Any]) -> None:
        """Adam on dense parameters that share a step count (vectorized with torch._foreach)."""
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        grads = [p.grad for p in params]
        m = [self.state[p]["exp_avg"] for p in params]
        v = [self.state[p]["exp_avg_sq"] for p in params]
        th._foreach_mul_(m, beta1)
        th._foreach_add_(m, grads, alpha=1.0 - beta1)
        th._foreach_mul_(v, beta2)
        th._foreach_addcmul_(v, grads, grads, value=1.0 - beta2)
        denom = th._foreach_div(v, 1.0 - beta2**step)
        th._foreach_sqrt_(denom)
        th._foreach_add_(denom, eps)
        th._foreach_addcdiv_(params, m, denom, value=-lr / (1.0 - beta1**step))

    @staticmethod
    def _sparse_update(p: th.Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Lazy Adam: update moments and values of the rows in the sparse gradient only."""
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        step, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        grad = p.grad.coalesce()
        rows, values = grad.indices()[0], grad.values()
        m_rows = m[rows].mul_(beta1).add_(values, alpha=1.0 - beta1)
        v_rows = v[rows].mul_(beta2).addcmul_(values, values, value=1.0 - beta2)
        m.index_copy_(0, rows, m_rows)
        v.index_copy_(0, rows, v_rows)
        denom = (v_rows / (1.0 - beta2**step)).sqrt_().add_(eps)
        p.index_add_(0, rows, (m_rows / denom).mul_(-lr / (1.0 - beta1**step)))


def clip_grad_norm(parameters: Sequence[nn.Parameter], max_norm: float) -> float:
    """Scale gradients (dense or sparse) so that their global 2-norm is at most ``max_norm``.

    Sparse gradients are coalesced (their norm and scaling touch only the stored rows).
    Returns the norm before clipping.
    """
    grads = []
    for p in parameters:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
            grads.append(p.grad._values())
        else:
            grads.append(p.grad)
    if not grads:
        return 0.0
    total = float(th.linalg.vector_norm(th.stack(th._foreach_norm(grads))))
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        th._foreach_mul_(grads, coef)
    return total
