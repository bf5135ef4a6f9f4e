"""Computation in superposition: a toy model that computes ``|x|`` (Toy Models of Superposition, sec. 9).

The previous toy models only *store* features and read them back. This one has to *compute*
something: each input ``x_j`` is uniform on [-1, 1] when present (probability ``p``, else 0) and
the target is ``|x_j|``, a non-linear function. The model has a ReLU hidden layer, so its hidden
basis is privileged and we can ask what each neuron does:

    h = ReLU(W1 x + b1)          W1: (m, n), b1: (m,)
    y = ReLU(W2 h + b2)          W2: (n, m), b2: (n,)
    loss = E_x sum_j I_j (y_j - |x_j|)^2

``|x| = ReLU(x) + ReLU(-x)``, so two neurons per feature compute it exactly. With fewer than
``2n`` neurons the model must choose: dense inputs get a few monosemantic neurons for the most
important features; sparse inputs let neurons be shared between features (polysemantic neurons).

Everything is batched over independent *instances* (one model per feature probability, say):
parameters carry a leading ``n_instances`` axis and inputs are ``(batch, n_instances, n)``, the
layout of :func:`superpos_lib.data.sparse_features`.
"""

from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from . import _validate as v
from .data import _check_batch_args

__all__ = ["AbsValueModel", "signed_sparse_features", "abs_loss", "train_abs_model"]


def signed_sparse_features(batch_size: int, n_instances: int, n_features: int, feature_probability=1.0, *,
                           generator: torch.Generator | None = None, device=None,
                           dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Sparse inputs for the ``|x|`` task.

    Each entry is present with probability ``p`` (``feature_probability`` in (0, 1]: a scalar or
    anything that broadcasts to ``(n_instances, n_features)``) and then uniform on [-1, 1); otherwise 0.
    Returns ``(batch_size, n_instances, n_features)``.
    """
    device, p = _check_batch_args(batch_size, n_instances, n_features, feature_probability, generator, device, dtype)
    return _fill_signed_(torch.empty(batch_size, n_instances, n_features, dtype=dtype, device=device), 1.0 / p, generator)


def _fill_signed_(out: torch.Tensor, inv_p: torch.Tensor, generator) -> torch.Tensor:
    # one draw per entry: u < p means present, and 2 u / p - 1 is then uniform on [-1, 1)
    out.uniform_(0.0, 1.0, generator=generator).mul_(inv_p)
    present = out < 1.0
    return out.mul_(2.0).sub_(1.0).mul_(present)


class AbsValueModel(torch.nn.Module):
    """``n_instances`` independent ReLU networks ``y = ReLU(W2 ReLU(W1 x + b1) + b2)``.

    Parameters: ``W1 (n_instances, d_hidden, n_features)``, ``b1 (n_instances, d_hidden)``,
    ``W2 (n_instances, n_features, d_hidden)``, ``b2 (n_instances, n_features)``. Weights start
    Xavier-normal (from ``generator``), biases at 0.
    """

    def __init__(self, n_features: int, d_hidden: int, n_instances: int = 1, *,
                 generator: torch.Generator | None = None, device=None, dtype: torch.dtype = torch.float32):
        super().__init__()
        n = v.positive_int("n_features", n_features)
        m = v.positive_int("d_hidden", d_hidden)
        k = v.positive_int("n_instances", n_instances)
        v.dtype("dtype", dtype)
        device = v.sampling_device(device, generator)
        std = math.sqrt(2.0 / (n + m))
        self.W1 = torch.nn.Parameter(torch.randn(k, m, n, generator=generator, device=device, dtype=dtype) * std)
        self.b1 = torch.nn.Parameter(torch.zeros(k, m, device=device, dtype=dtype))
        self.W2 = torch.nn.Parameter(torch.randn(k, n, m, generator=generator, device=device, dtype=dtype) * std)
        self.b2 = torch.nn.Parameter(torch.zeros(k, n, device=device, dtype=dtype))

    @property
    def n_features(self) -> int:
        return self.W1.shape[-1]

    @property
    def d_hidden(self) -> int:
        return self.W1.shape[-2]

    @property
    def n_instances(self) -> int:
        return self.W1.shape[0]

    def _check(self, x) -> torch.Tensor:
        x = v.tensor("x", x, ndim=3)
        if x.shape[1:] != (self.n_instances, self.n_features):
            raise ValueError(f"x must have shape (batch, n_instances={self.n_instances}, n_features={self.n_features}), "
                             f"got {tuple(x.shape)}")
        return x

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """Neuron activations ``ReLU(W1 x + b1)``: ``x (batch, n_instances, n)`` -> ``(batch, n_instances, m)``."""
        x = self._check(x)
        return torch.relu(torch.einsum("kmn,bkn->bkm", self.W1, x) + self.b1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (batch, n_instances, n)`` -> ``y (batch, n_instances, n)``."""
        h = self.hidden(x)
        return torch.relu(torch.einsum("knm,bkm->bkn", self.W2, h) + self.b2)


def abs_loss(y: torch.Tensor, x: torch.Tensor, importance: torch.Tensor | None = None) -> torch.Tensor:
    """Importance-weighted squared error against ``|x|``, per instance.

    ``y, x``: ``(batch, n_instances, n)``; ``importance``: broadcastable to ``(n_instances, n)``
    (default 1). Returns ``(n_instances,)``: ``mean_batch sum_j I_j (y_j - |x_j|)^2``.
    """
    y = v.tensor("y", y, ndim=3)
    x = v.tensor("x", x, ndim=3)
    if y.shape != x.shape:
        raise ValueError(f"y must have the shape of x {tuple(x.shape)}, got {tuple(y.shape)}")
    v.non_empty("x", x, 0, "sample (an empty batch has no mean loss)")
    if importance is None:
        importance = torch.ones((), dtype=x.dtype, device=x.device)
    else:
        importance = _importance(importance, x.shape[1:], x.dtype, x.device)
    return _abs_loss(y, x, importance)


def _importance(importance, shape, dtype, device) -> torch.Tensor:
    try:
        importance = torch.as_tensor(importance, dtype=dtype, device=device)
        importance = torch.broadcast_to(importance, shape)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"importance must broadcast to (n_instances, n_features)={tuple(shape)}") from None
    if not torch.isfinite(importance).all() or (importance < 0).any():
        raise ValueError("importance must be finite and non-negative")
    return importance


def _abs_loss(y, x, importance):
    return ((y - x.abs()).pow(2) * importance).sum(-1).mean(0)


def train_abs_model(model: AbsValueModel, feature_probability, importance=None, *, steps: int = 5000,
                    batch_size: int = 1024, lr: float = 1e-3, generator: torch.Generator | None = None,
                    progress: bool = True) -> torch.Tensor:
    """Train every instance of ``model`` at once with Adam on fresh batches of signed sparse inputs.

    ``feature_probability``: in (0, 1], broadcast to ``(n_instances, n_features)`` (one value per
    instance: pass a tensor of shape ``(n_instances, 1)``). ``importance``: non-negative,
    broadcast to ``(n_instances, n_features)`` (default 1). The learning rate follows a cosine
    schedule down to 0. Returns the per-instance loss of every step, ``(steps, n_instances)``.
    """
    if not isinstance(model, AbsValueModel):
        raise ValueError(f"model must be an AbsValueModel, got {type(model).__name__}")
    steps = v.positive_int("steps", steps)
    batch_size = v.positive_int("batch_size", batch_size)
    lr = v.positive_float("lr", lr)
    shape = (model.n_instances, model.n_features)
    device, dtype = model.W1.device, model.W1.dtype
    inv_p = 1.0 / v.probability_tensor("feature_probability", feature_probability, shape, dtype=dtype, device=device)
    importance = (torch.ones(shape, dtype=dtype, device=device) if importance is None
                  else _importance(importance, shape, dtype, device))
    v.generator_on("generator", generator, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, foreach=False)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)))
    history = torch.empty(steps, model.n_instances, dtype=dtype)
    x = torch.empty(batch_size, *shape, dtype=dtype, device=device)
    for step in tqdm(range(steps), disable=not progress, desc="training |x| models"):
        _fill_signed_(x, inv_p, generator)
        loss = _abs_loss(model(x), x, importance)
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()
        schedule.step()
        history[step] = loss.detach().cpu()
    return history
