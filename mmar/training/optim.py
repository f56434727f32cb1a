"""SGD with momentum and Adam over stacked parameters: one optimiser for M ensemble members.

Every parameter tensor has a leading member dimension (M, ...). Each member has its own step count
and moments, and a step can leave members out (``active`` (M,) bool): a member whose epoch has fewer
iterations than its neighbours' is not moved, and its moments and step count stay as they were.
The update of an active member is exactly PyTorch's ``torch.optim.SGD(momentum=m)`` /
``torch.optim.Adam`` (defaults: no weight decay, no Nesterov, no AMSGrad), element-wise, so a
member trains as it would alone; ``tests/test_ensemble.py`` checks both against PyTorch. When all
members step together, Adam runs as PyTorch's fused kernel (``torch._fused_adam_``, one pass per
tensor; the same update up to float rounding).
A parameter without a gradient (no term of this step reached it) is skipped, as PyTorch does.
"""

from __future__ import annotations

from typing import Sequence

import torch

OPTIMIZERS = ("sgd", "adam")


class MemberOptimizer:
    """``kind`` "sgd" or "adam" over ``params`` (each (M, ...)); ``lr`` is set per step."""

    def __init__(self, params: Sequence[torch.Tensor], kind: str, *, momentum: float = 0.9,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        if kind not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {kind!r}")
        self.params = list(params)
        if not self.params:
            raise ValueError("MemberOptimizer: no parameters")
        self.kind, self.momentum, self.betas, self.eps = kind, momentum, betas, eps
        self.members = self.params[0].shape[0]
        device = self.params[0].device
        # per parameter: its own step counts (M,), as PyTorch keeps one per parameter tensor
        self.steps = [torch.zeros(self.members, dtype=torch.float64, device=device) for _ in self.params]
        self.first = [torch.zeros_like(p) for p in self.params]     # momentum buffer / Adam exp_avg
        self.second = [torch.zeros_like(p) for p in self.params] if kind == "adam" else []
        # per parameter: the step count all members share, or None once a step left members out
        self.uniform_steps: list[int | None] = [0 for _ in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, lr: float, active: torch.Tensor | None = None) -> None:
        """One update of the members where ``active`` (M,) is True (all when None)."""
        if active is not None and bool(active.all()):
            active = None
        if active is not None and not bool(active.any()):
            return
        uniform: dict[int, list[int]] = {}  # step count -> parameters whose members all share it
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            if active is None and self.uniform_steps[i] is not None:
                self.uniform_steps[i] += 1
                self.steps[i] += 1
                uniform.setdefault(self.uniform_steps[i], []).append(i)
                continue
            keep = None if active is None else active.to(p.device).view((-1,) + (1,) * (p.dim() - 1))
            self.steps[i] += 1 if keep is None else active.to(device=p.device, dtype=torch.float64)
            if keep is not None:
                self.uniform_steps[i] = None
            (self._sgd if self.kind == "sgd" else self._adam)(i, p, lr, keep)
        for count, indices in uniform.items():
            (self._sgd_all if self.kind == "sgd" else self._adam_all)(indices, lr, count)

    def _sgd_all(self, indices: list[int], lr: float, count: int) -> None:
        """Every member active and at the same step: PyTorch's SGD, in place over a list of tensors."""
        params, grads, bufs = ([self.params[i] for i in indices], [self.params[i].grad for i in indices],
                               [self.first[i] for i in indices])
        if self.momentum:
            if count == 1:
                torch._foreach_copy_(bufs, grads)
            else:
                torch._foreach_mul_(bufs, self.momentum)
                torch._foreach_add_(bufs, grads)
            grads = bufs
        torch._foreach_add_(params, grads, alpha=-lr)

    def _adam_all(self, indices: list[int], lr: float, count: int) -> None:
        """Every member active and at the same step: PyTorch's Adam in its fused form (one pass over each
        tensor; the same update as ``torch.optim.Adam(fused=True)``)."""
        beta1, beta2 = self.betas
        params = [self.params[i] for i in indices]
        steps = [torch.tensor(float(count), device=params[0].device) for _ in indices]  # read, not advanced
        torch._fused_adam_(params, [p.grad for p in params], [self.first[i] for i in indices],
                           [self.second[i] for i in indices], [], steps, lr=lr, beta1=beta1, beta2=beta2,
                           weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)

    def _sgd(self, i: int, p: torch.Tensor, lr: float, keep: torch.Tensor | None) -> None:
        g, buf = p.grad, self.first[i]
        first_step = (self.steps[i] == 1).view((-1,) + (1,) * (p.dim() - 1))
        new_buf = torch.where(first_step, g, buf * self.momentum + g) if self.momentum else g
        if keep is None:
            buf.copy_(new_buf)
            p.sub_(lr * buf)
        else:
            buf.copy_(torch.where(keep, new_buf, buf))
            p.sub_(torch.where(keep, lr * buf, torch.zeros_like(buf)))

    def _adam(self, i: int, p: torch.Tensor, lr: float, keep: torch.Tensor | None) -> None:
        beta1, beta2 = self.betas
        shape = (-1,) + (1,) * (p.dim() - 1)
        g, m, v = p.grad, self.first[i], self.second[i]
        new_m = torch.lerp(m, g, 1 - beta1)
        new_v = v * beta2 + g * g * (1 - beta2)
        if keep is not None:
            new_m, new_v = torch.where(keep, new_m, m), torch.where(keep, new_v, v)
        m.copy_(new_m)
        v.copy_(new_v)
        steps = self.steps[i].clamp(min=1)
        step_size = (lr / (1 - beta1**steps)).to(p.dtype).view(shape)
        bias2_sqrt = torch.sqrt(1 - beta2**steps).to(p.dtype).view(shape)
        update = step_size * m / (v.sqrt() / bias2_sqrt + self.eps)
        p.sub_(update if keep is None else torch.where(keep, update, torch.zeros_like(update)))

    def state_dict(self) -> dict:
        return {"kind": self.kind, "steps": self.steps, "first": self.first, "second": self.second}

    def load_state_dict(self, state: dict) -> None:
        if state["kind"] != self.kind or len(state["first"]) != len(self.first):
            raise ValueError("optimizer state of another optimiser or another parameter set")
        for mine, saved in zip(self.steps + self.first + self.second,
                               state["steps"] + state["first"] + state["second"]):
            mine.copy_(saved)
        self.uniform_steps = [int(s[0]) if bool((s == s[0]).all()) else None for s in self.steps]
