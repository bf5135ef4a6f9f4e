"""Typical mistakes and correct variants for the exercises added to chapters 0, 1b, 2 and 3 (function
exercises); tests/test_checks_mistakes.py runs them with every other checker's cases, including the
tests that every diagnosis is reachable and differs from the right answer."""

from __future__ import annotations

import math

import numpy as np
import torch


def _dirs(angles):
    return torch.stack([angles.cos(), angles.sin()])


def _spread(n):
    return _dirs(torch.arange(n) * math.pi / n)


MISTAKES = [
    # 0.2 evenly spread directions
    ("spread_directions", lambda n: _dirs(torch.arange(n) * 2 * math.pi / n), "over the whole circle"),
    ("spread_directions", lambda n: _dirs(torch.linspace(0, math.pi, n)), "first and last directions are opposite"),
    ("spread_directions", lambda n: _dirs(torch.arange(1, n + 1) * math.pi / n), "start at 0"),
    ("spread_directions", lambda n: _dirs(torch.arange(n) * 180.0 / n), "as degrees"),
    ("spread_directions", lambda n: _spread(n).flip(0), "swapped the coordinates"),
    ("spread_directions", lambda n: _spread(n).T, "one direction per row"),
    ("spread_directions", lambda n: 2 * _spread(n), "differs from the reference"),
]

VARIANTS = [
    ("spread_directions", lambda n: _dirs(torch.arange(n, dtype=torch.float64) * math.pi / n)),
    ("spread_directions", lambda n: _dirs(torch.linspace(0, math.pi, n + 1)[:-1])),
    ("spread_directions", lambda n: np.stack([np.cos(np.arange(n) * np.pi / n), np.sin(np.arange(n) * np.pi / n)])),
    ("spread_directions", lambda n: [[math.cos(k * math.pi / n) for k in range(n)],
                                     [math.sin(k * math.pi / n) for k in range(n)]]),
]


def _trainer(*, adam=True, zero_grad=True, schedule="cosine", fresh=True, optimizer_in_loop=False,
             schedule_first=False, reduce="sum", returns=True, fixed_steps=None, samples_per_step=1, fixed_lr=None,
             step=True):
    """A train_on_sampler written with one choice changed (the defaults are the right loop)."""
    def train(model, sample, steps=2000, lr=1e-2, progress=True):
        steps = fixed_steps or steps
        lr = fixed_lr or lr
        factor = {"cosine": lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)), "constant": lambda t: 1.0,
                  "linear": lambda t: 1 - t / steps}[schedule]

        def make():
            opt = (torch.optim.Adam if adam else torch.optim.SGD)(model.parameters(), lr=lr)
            return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)

        optimizer, scheduler = make()
        fixed = None if fresh else sample()
        for _ in range(steps):
            if optimizer_in_loop:
                optimizer, scheduler = make()
            batch = sample() if fresh else fixed
            for _ in range(samples_per_step - 1):
                sample()
            loss = model.loss(batch)
            loss = loss.sum() if reduce == "sum" else loss.mean()
            if zero_grad:
                optimizer.zero_grad()
            loss.backward()
            if schedule_first:
                scheduler.step()
            if step:
                optimizer.step()
            if not schedule_first:
                scheduler.step()
        return model if returns else None
    return train


def _trainer_cosine_annealing(model, sample, steps=2000, lr=1e-2, progress=True):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps, eta_min=0.0)
    for _ in range(steps):
        optimizer.zero_grad()
        model.loss(sample()).sum().backward()
        optimizer.step()
        scheduler.step()
    return model


def _trainer_manual_lr(model, sample, steps=2000, lr=1e-2, progress=True):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for t in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * t / steps))
        loss = model.loss(sample()).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


MISTAKES += [
    # 3.4 the training loop
    ("train_on_sampler", _trainer(adam=False), "plain gradient descent"),
    ("train_on_sampler", _trainer(zero_grad=False), "zero_grad"),
    ("train_on_sampler", _trainer(schedule="constant"), "stays at lr"),
    ("train_on_sampler", _trainer(schedule="linear"), "decays linearly"),
    ("train_on_sampler", _trainer(fresh=False), "fits one fixed batch"),
    ("train_on_sampler", _trainer(optimizer_in_loop=True), "inside the loop"),
    ("train_on_sampler", _trainer(schedule_first=True), "one step ahead"),
    ("train_on_sampler", _trainer(returns=False), "return the model"),
    ("train_on_sampler", _trainer(fixed_steps=100), "use the steps argument"),
    ("train_on_sampler", _trainer(samples_per_step=2), "(2 per step)"),
    ("train_on_sampler", _trainer(fixed_lr=1e-2), "ignores the lr argument"),
    ("train_on_sampler", _trainer(step=False), "did not change the model's weights"),
    ("train_on_sampler", lambda model, sample, steps=2000, lr=1e-2, progress=True: model, "never called sample()"),
]

VARIANTS += [
    ("train_on_sampler", _trainer()),
    ("train_on_sampler", _trainer(reduce="mean")),  # Adam's steps do not change when the loss is scaled
    ("train_on_sampler", _trainer_cosine_annealing),
    ("train_on_sampler", _trainer_manual_lr),
]


def _losses(r, p, *, V=None, r_drop=True, pair_r=None, pair_1=None, order=(0, 1, 2, 3), dim=-1, scale=1.0):
    V = p / 3 - p ** 2 / 4 if V is None else V(p)
    cols = [r * V if r_drop else V, V, (1 + r) * p ** 2 / 6 * scale if pair_r is None else pair_r(r, p),
            2 * p ** 2 / 6 * scale if pair_1 is None else pair_1(r, p)]
    return torch.stack([cols[k] for k in order], dim=dim)


def _dims(W, *, d=lambda W: W.shape[-2], denom=lambda W: W.pow(2).sum(dim=(-2, -1))):
    return d(W) / denom(W)


MISTAKES += [
    # 1b.1 the closed-form losses of the 3-in-2 candidates
    ("phase_losses", lambda r, p: _losses(r, p, V=lambda p: p / 3), "you used p/3"),
    ("phase_losses", lambda r, p: _losses(r, p, r_drop=False), "you left out the r"),
    ("phase_losses", lambda r, p: _losses(r, p, pair_r=lambda r, p: 2 * p ** 2 / 6), "not 2 p^2 / 6"),
    ("phase_losses", lambda r, p: _losses(r, p, pair_1=lambda r, p: (1 + r) * p ** 2 / 6), "goes with the pair"),
    ("phase_losses", lambda r, p: _losses(r, p, order=(0, 1, 3, 2)), "in another order"),
    ("phase_losses", lambda r, p: _losses(r, p, scale=2.0), "you used p^2 / 3"),
    ("phase_losses", lambda r, p: _losses(r, p, dim=0), "along the last axis"),
    ("phase_losses", lambda r, p: _losses(r, p).argmin(-1), "index of the best candidate"),
    ("phase_losses", lambda r, p: torch.stack([r * (p / 3 - p ** 2 / 4)] * 4, -1) if r.ndim else _losses(r, p),
     "differs from the reference"),
    ("phase_losses", lambda r, p: _losses(r, p) if r.ndim else _losses(r, p)[:3], "single r = 0.5"),
    # 1b.3 dimensions per feature
    ("dims_per_feature", lambda W: _dims(W, d=lambda W: W.shape[-1]), "it is d, the number of hidden dimensions"),
    ("dims_per_feature", lambda W: _dims(W, denom=lambda W: W.pow(2).sum(dim=(-2, -1)).sqrt()), "use its square"),
    ("dims_per_feature", lambda W: 1 / _dims(W), "the inverse"),
    ("dims_per_feature", lambda W: torch.full(W.shape[:-2], W.shape[-2] * W.shape[0] / W.pow(2).sum()),
     "summed over all instances"),
    ("dims_per_feature", lambda W: _dims(W, denom=lambda W: W.norm(dim=-2).sum(-1)), "sum of the feature norms"),
    ("dims_per_feature", lambda W: _dims(W, d=lambda W: W.shape[0]), "wrong axis"),
    ("dims_per_feature", lambda W: W.shape[1] / W.pow(2).sum(dim=(1, 2)), "single (d, n) matrix too"),
]

VARIANTS += [
    ("phase_losses", lambda r, p: _losses(r.double(), p.double())),
    ("phase_losses", lambda r, p: np.stack([r.numpy() * (p.numpy() / 3 - p.numpy() ** 2 / 4),
                                            p.numpy() / 3 - p.numpy() ** 2 / 4,
                                            (1 + r.numpy()) * p.numpy() ** 2 / 6, p.numpy() ** 2 / 3], -1)),
    ("phase_losses", lambda r, p: _losses(r, p, V=lambda p: p * (4 - 3 * p) / 12)),
    ("dims_per_feature", lambda W: W.shape[-2] / (W.norm(dim=(-2, -1)) ** 2)),
    ("dims_per_feature", lambda W: W.shape[-2] / W.double().pow(2).sum(-1).sum(-1)),
    ("dims_per_feature", lambda W: W.shape[-2] / torch.linalg.matrix_norm(W) ** 2),
]
